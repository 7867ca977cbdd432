"""The worker pool starts a job only after the jobs it reads from, and as soon as they are
done (not after a whole wave); a job that waits for something that never runs is an error."""
import json
import time
from pathlib import Path

import pytest

from ikd_lib.core.parallel import run_in_workers


class Journal:
    """A stand-in experiment: each job notes when it started and ended."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def __call__(self):          # the factory: the "experiment" a worker builds
        return self

    def run_job(self, job):
        name, seconds = job
        start = time.time()
        time.sleep(seconds)
        (self.folder / f"{name}.json").write_text(json.dumps({"start": start, "end": time.time()}))


def test_a_job_starts_after_what_it_reads_and_no_later(tmp_path):
    slow, quick, reader, free = ("slow", 3.0), ("quick", 0.1), ("reader", 0.1), ("free", 0.1)
    # reader needs only quick: it must start after quick, but not wait for slow
    run_in_workers(Journal(tmp_path), [slow, quick, reader, free], workers=2,
                   after={reader: {quick}}, priority={slow: 3, quick: 2, reader: 1, free: 0})
    times = {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*.json")}
    assert set(times) == {"slow", "quick", "reader", "free"}
    assert times["reader"]["start"] >= times["quick"]["end"]
    assert times["reader"]["end"] < times["slow"]["end"], "the reader waited for an unrelated job"


def test_jobs_that_wait_on_each_other_are_refused(tmp_path):
    a, b = ("a", 0.0), ("b", 0.0)
    with pytest.raises(ValueError, match="never run"):
        run_in_workers(Journal(tmp_path), [a, b], workers=2, after={a: {b}, b: {a}})
