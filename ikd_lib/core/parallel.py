"""Run independent jobs (one stack each) in worker processes, one CPU thread each.

Why processes and one thread: the MovieLens models are small, so a step is a chain of tiny
ops. Two OpenMP threads on one step barely help (and collapse when another process
competes for the cores), while two processes with one thread each do twice the work. Every
run trains with one intra-op thread wherever it runs, so results do not depend on the
number of workers. Workers write finished runs to the results store themselves
(atomically); the parent reads them back.

This module knows no track: it receives a picklable `factory` (for example
`functools.partial(MovieLensExperiment, **args)`) that builds the experiment once per
worker, and calls `experiment.run_job(job)` for each job.

Two guarantees:
- workers die with their parent, whatever kills it (kill -9, a notebook kernel restart):
  the kernel sends them SIGKILL when the parent exits (Linux prctl), and a watchdog thread
  in each worker exits as soon as its parent is gone (any OS);
- workers never import the caller's script, only ikd_lib: a script that calls the library
  needs no `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import torch

_worker_experiment = None  # one experiment per worker process, built once


def default_workers() -> int:
    """IKD_WORKERS, else one worker per core."""
    value = os.environ.get("IKD_WORKERS")
    if value is not None:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"IKD_WORKERS must be a positive integer, got {value!r}")
        return int(value)
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def single_thread():
    """Train with one intra-op thread (see the module docstring), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when `parent_pid` does (see the module docstring)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)  # the parent is gone: stop at once, write nothing more

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()
    if os.getppid() != parent_pid:  # it died before the watch began
        os._exit(1)


def _init_worker(factory, parent_pid: int) -> None:
    global _worker_experiment
    die_with_parent(parent_pid)
    torch.set_num_threads(1)
    _worker_experiment = factory()


@contextlib.contextmanager
def _main_module_hidden():
    """While workers start, hide the caller's script from multiprocessing's "spawn", which
    would otherwise import it again in every worker (and run its top level once more:
    without a main guard, that starts the whole computation again and the pool breaks).
    Workers need only ikd_lib, which they import by name."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    try:
        if "__file__" in saved:
            del main.__file__
        if "__spec__" in saved:
            main.__spec__ = None
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def _run_job(job):
    _worker_experiment.run_job(job)
    return job


def run_in_workers(factory, jobs: list, workers: int, on_done=None, after=None, priority=None) -> None:
    """Run the jobs in `workers` fresh processes ("spawn": a forked child of a process that
    already used OpenMP can hang); `on_done(job)` is called in this process as each one
    finishes. `after[job]`: jobs (of `jobs`) that must finish before it starts (it reads
    their results); `priority[job]`: higher starts first (default: the order given).

    One pool for all jobs, a job started as soon as what it needs is done: no worker waits
    for a whole group of jobs to finish, and workers start once."""
    after = {job: set(after.get(job, ())) & set(jobs) for job in jobs} if after else {job: set() for job in jobs}
    rank = priority or {job: -i for i, job in enumerate(jobs)}
    waiting, finished, running = list(jobs), set(), {}

    def ready():
        return sorted((j for j in waiting if after[j] <= finished), key=lambda j: rank[j], reverse=True)

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(factory, os.getpid())
    ) as pool:
        while waiting or running:
            # keep at most one job per worker in flight, so the next free worker takes
            # the most urgent job that is ready *then*, not one queued earlier
            for job in ready()[: workers - len(running)]:
                waiting.remove(job)
                with _main_module_hidden():  # workers start on the first submits
                    running[pool.submit(_run_job, job)] = job
            if not running:
                raise ValueError(f"jobs wait for jobs that never run: {waiting}")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = future.result()  # re-raises a worker's error (a NaN loss, say) here
                del running[future]
                finished.add(job)
                if on_done is not None:
                    on_done(job)
