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
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch
from tqdm.auto import tqdm

_worker_experiment = None   # one experiment per worker process, built once


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


def _init_worker(factory) -> None:
    global _worker_experiment
    torch.set_num_threads(1)
    _worker_experiment = factory()


def _run_job(job):
    _worker_experiment.run_job(job)
    return job


def run_in_workers(factory, jobs: list, workers: int, progress: bool, desc: str = "runs") -> None:
    """Run the jobs (in the order given: largest first balances the workers) in `workers`
    fresh processes ("spawn": a forked child of a process that already used OpenMP can hang)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(factory,)) as pool:
        futures = [pool.submit(_run_job, job) for job in jobs]
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"{desc} ({workers} workers)",
                           disable=not progress):
            future.result()   # re-raises a worker's error (a NaN loss, say) here
