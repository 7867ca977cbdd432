"""Progress you can see while stacks train: stacks done out of stacks needed, the share of
the expected work done (each stack weighted by the experiment's `expected_cost`) and the
time elapsed.

No time left is printed: the pool starts the longest stacks first, so the stacks that finish
early are the cheap ones while the expensive ones are half done, and at the end one worker
waits for the other; a time extrapolated from the finished stacks was off by a factor of ten
at the start (11m42s predicted at 41 s) and too short at the end (45 s predicted, 80 s taken).
The share of work is what the cost model can say honestly.

In JupyterLab it is a tqdm bar (a widget); on a console, with IKD_PROGRESS=lines (what
`make tables` sets, streaming the notebooks' output with papermill's --log-output), it is
one plain line per finished stack, at most one every few seconds.
"""

from __future__ import annotations

import os
import sys
import time

from tqdm.auto import tqdm

LINE_EVERY_S = 5.0


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    def __init__(self, desc: str, costs: dict, done: set, enabled: bool = True):
        """costs: job -> expected cost, for every job needed; done: jobs already in the store."""
        self.desc, self.costs, self.done = desc, costs, set(done)
        self.start = self.last_line = time.perf_counter()
        self.lines = enabled and os.environ.get("IKD_PROGRESS") == "lines"
        self.bar = tqdm(
            total=len(costs),
            initial=len(self.done),
            desc=desc,
            leave=False,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} stacks [{elapsed}{postfix}]",
            disable=not enabled or self.lines or len(self.done) == len(costs),
        )

    def advance(self, job) -> None:
        if job in self.done:
            return
        self.done.add(job)
        self.bar.update(1)
        self.bar.set_postfix_str(f"{self.work_done()} · last {job[0]} · {job[1]}")
        now = time.perf_counter()
        if self.lines and (now - self.last_line >= LINE_EVERY_S or len(self.done) == len(self.costs)):
            self.last_line = now
            print(
                f"  [{self.desc}] {len(self.done)}/{len(self.costs)} stacks · last {job[0]} · {job[1]} · "
                f"{self.work_done()} · {_clock(now - self.start)} elapsed",
                file=sys.stdout,
                flush=True,
            )

    def work_done(self) -> str:
        """The expected cost of the stacks done (here or before, in the store) over that of all."""
        total = sum(self.costs.values())
        done = sum(c for j, c in self.costs.items() if j in self.done)
        return f"{100 * done / total:.0f}% of the expected work" if total else "no work"

    def close(self) -> float:
        self.bar.close()
        return time.perf_counter() - self.start
