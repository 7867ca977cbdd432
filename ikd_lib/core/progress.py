"""Progress you can see while stacks train: stacks done out of stacks needed, elapsed and
remaining time (weighted by each stack's expected cost).

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
        self.computed_cost = 0.0
        self.lines = enabled and os.environ.get("IKD_PROGRESS") == "lines"
        self.bar = tqdm(total=len(costs), initial=len(self.done), desc=desc, leave=False,
                        disable=not enabled or self.lines or len(self.done) == len(costs))

    def advance(self, job) -> None:
        if job in self.done:
            return
        self.done.add(job)
        self.computed_cost += self.costs.get(job, 0.0)
        self.bar.update(1)
        self.bar.set_postfix_str(f"{job[0]} · {job[1]}")
        now = time.perf_counter()
        if self.lines and (now - self.last_line >= LINE_EVERY_S or len(self.done) == len(self.costs)):
            self.last_line = now
            print(f"  [{self.desc}] {len(self.done)}/{len(self.costs)} stacks · last {job[0]} · {job[1]} · "
                  f"{_clock(now - self.start)} elapsed · {self.remaining()}", file=sys.stdout, flush=True)

    def remaining(self) -> str:
        left = sum(c for j, c in self.costs.items() if j not in self.done)
        if not self.computed_cost:
            return "remaining time unknown yet"
        return f"about {_clock((time.perf_counter() - self.start) * left / self.computed_cost)} left"

    def close(self) -> float:
        self.bar.close()
        return time.perf_counter() - self.start
