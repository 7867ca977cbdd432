"""The worker pool starts a job only after the jobs it reads from, and as soon as they are
done (not after a whole wave); a job that waits for something that never runs is an error.

No clock decides an order here: each job notes which jobs had finished when it started,
and the slow job does not end until the reader has finished, so a pool that made the
reader wait for it would never finish the slow job (it gives up after DEADLINE_S and
says so: a bound on a failing run, not a measurement)."""

import json
import time
from pathlib import Path

import pytest

from ikd_lib.core.parallel import run_in_workers

DEADLINE_S = 300


class Journal:
    """A stand-in experiment: each job notes what had finished when it started, and may wait
    for another job to finish before it ends."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def __call__(self):  # the factory: the "experiment" a worker builds
        return self

    def finished(self):
        return sorted(p.stem for p in self.folder.glob("*.json"))

    def run_job(self, job):
        name, ends_after = job
        seen = self.finished()
        deadline = time.monotonic() + DEADLINE_S
        while ends_after and ends_after not in self.finished() and time.monotonic() < deadline:
            time.sleep(0.05)
        note = {
            "finished_at_start": seen,
            "waited_for": ends_after,
            "it_finished": not ends_after or ends_after in self.finished(),
        }
        tmp = self.folder / f"{name}.tmp"
        tmp.write_text(json.dumps(note))
        tmp.rename(self.folder / f"{name}.json")  # whole, so a reader never sees half a note


def test_a_job_starts_after_what_it_reads_and_no_later(tmp_path):
    # slow ends only once reader has finished; reader reads quick and outranks it, so a pool
    # that ignored `after` would start reader before quick, and one that ran waves (reader
    # after slow) would leave slow waiting for reader
    slow, quick, reader, free = ("slow", "reader"), ("quick", ""), ("reader", ""), ("free", "")
    run_in_workers(
        Journal(tmp_path),
        [slow, quick, reader, free],
        workers=2,
        after={reader: {quick}},
        priority={slow: 3, reader: 2, quick: 1, free: 0},
    )
    notes = {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}
    assert set(notes) == {"slow", "quick", "reader", "free"}
    assert "quick" in notes["reader"]["finished_at_start"], "the reader started before what it reads"
    assert notes["slow"]["it_finished"], "the reader waited for an unrelated job"
    assert "slow" not in notes["reader"]["finished_at_start"]


def test_jobs_that_wait_on_each_other_are_refused(tmp_path):
    a, b = ("a", ""), ("b", "")
    with pytest.raises(ValueError, match="never run"):
        run_in_workers(Journal(tmp_path), [a, b], workers=2, after={a: {b}, b: {a}})
