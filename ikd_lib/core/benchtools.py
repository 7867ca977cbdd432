"""Pieces every track's `make bench` shares: the machine line, interleaved median step
times, and the cost of the floating-point pins (the same measurement, unpinned, in a fresh
process: the pins must be set before torch starts, so they cannot be lifted in-process)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from .determinism import pin_report


def machine() -> str:
    pins = pin_report()
    return (
        f"{pins['cpu']} ({pins['machine']}, {os.cpu_count()} cores); torch {torch.__version__}; "
        f"pins {'on' if pins['pinned'] else 'off'}, {pins['threads']} thread(s) per process, "
        f"ATen {pins['aten_cpu_capability']}, MKL_CBWR={pins['env']['MKL_CBWR']}"
    )


def median_times(steps: dict, repeats: int, warmup: int) -> dict:
    """Median seconds per step. Steps are interleaved (one of each per round), so a busy
    machine slows every method alike and the ratios stay fair."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def unpinned_step_times(module: str, args: list[str]) -> dict:
    """Run `python -m module --steps-json FILE args` with IKD_UNPINNED=1 and read its step times.
    The twin keeps the pinned thread count: the tables run one worker process per core with
    that many threads each, pinned or not, so only the floating-point paths are compared."""
    from .determinism import THREADS

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "steps.json")
        env = {**os.environ, "IKD_UNPINNED": "1", "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}
        for name in ("MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA"):
            env.pop(name, None)
        subprocess.run(
            [sys.executable, "-m", module, "--steps-json", out, *args], env=env, check=True, stdout=subprocess.DEVNULL
        )
        with open(out) as f:
            return json.load(f)


def pins_cost(pinned: list[dict], unpinned: list[dict], keys=("genre", "variant")) -> list[dict]:
    """Per step: pinned ms, unpinned ms, and their ratio (what the pins cost)."""
    other = {tuple(r[k] for k in keys): r for r in unpinned}
    rows = []
    for r in pinned:
        u = other.get(tuple(r[k] for k in keys))
        if u:
            rows.append(
                {
                    **{k: r[k] for k in keys},
                    "pinned_ms": r["step_ms"],
                    "unpinned_ms": u["step_ms"],
                    "ratio": r["step_ms"] / u["step_ms"],
                }
            )
    return rows
