"""`make bench`: step cost of every method as ratios, and the wall time of the MovieLens tables.

    python -m ikd_lib.movielens.bench --profile cpu [--no-wall] [--unstacked]

Reported, for one dense and one sparse genre:
  - step time per variant (median of repeated optimiser steps after warm-up, on the same
    batch: one stacked replica per seed, weight 1), its ratio to the scratch Student step
    and to the KD step measured in the same process, and the memory autograd keeps;
  - the stacking lever: one stacked step of all seeds against one step per seed;
  - wall time of every MovieLens table's runs (teacher included) from an empty store, and
    again from the full store (everything skipped);
  - with --unstacked: Table 3's own rows trained as stacks and one seed at a time (at one
    weight, to stay affordable), the time of each and how far the numbers move.
Ratios are what to quote: absolute times depend on the machine, which is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..core.experiment import Replica
from ..core.store import atomic_write_bytes, provenance, runs_dir
from ..core.tables import build_table
from ..core.train import epoch_order, make_optimizers
from .data import locate_ml100k
from .experiment import MovieLensExperiment
from .profiles import get_profile
from .tables import MOVIELENS_TABLES

BENCH_VARIANTS = ("student", "kd", "fitnet", "fd", "hybrid", "td", "td_k0", "td_k2", "td_k3")


def peak_rss_mib() -> float:
    """High-water mark of this process's resident memory (Linux), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def saved_activations_mib(forward) -> float:
    """Memory autograd keeps for the backward pass of one step (distinct saved tensors):
    the part of a step's peak memory that grows with the method, measured exactly."""
    seen = {}

    def pack(t):
        if t.layout == torch.strided:   # a sparse matrix saved for backward is data, not an activation
            seen[(t.data_ptr(), t.shape, t.stride())] = t.numel() * t.element_size()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        forward()
    return sum(seen.values()) / 2**20


def make_step(exp: MovieLensExperiment, variant_key: str, genre: str, replicas):
    """One optimiser step (gather, forward, backward, Adam) of a stack, and its forward alone."""
    variant, task = exp.variants[variant_key], exp.task(genre)
    method, seeds, teacher_index = exp.build_stack(variant, task, replicas)
    cfg = exp.train_config(variant)
    optimizers = list(make_optimizers(method, cfg).values())
    order = epoch_order(seeds, len(task.train), epoch=1)[:, :cfg.batch_size_for(len(task.train))]

    def forward():
        batch = task.batch("train", order, teacher_index)   # the gather is part of a step
        return method.objective(method.forward_train(batch)[1]).sum()

    def step():
        total = forward()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        total.backward()
        for opt in optimizers:
            opt.step()
    return step, forward


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


def step_table(exp, genres, repeats, warmup) -> list[dict]:
    rows = []
    replicas = [Replica(1.0, 1.0, s) for s in exp.profile.seeds]   # the same batch and stack for every method
    for genre in genres:
        built = {key: make_step(exp, key, genre, replicas) for key in BENCH_VARIANTS}
        seconds = median_times({k: step for k, (step, _) in built.items()}, repeats, warmup)
        for key, (_, forward) in built.items():
            rows.append({"genre": genre, "variant": key, "replicas": len(replicas),
                         "batch": exp.profile.student_train.batch_size_for(len(exp.task(genre).train)),
                         "step_ms": seconds[key] * 1e3, "activations_mib": saved_activations_mib(forward),
                         "vs_student": seconds[key] / seconds["student"], "vs_kd": seconds[key] / seconds["kd"]})
    return rows


def stacking_lever(exp, genre, repeats, warmup) -> dict:
    """One TD step for all seeds stacked vs the sum of one step per seed alone."""
    seeds = exp.profile.seeds
    steps = {"stacked": make_step(exp, "td", genre, [Replica(1.0, 1.0, s) for s in seeds])[0]}
    steps |= {f"seed{s}": make_step(exp, "td", genre, [Replica(1.0, 1.0, s)])[0] for s in seeds}
    seconds = median_times(steps, repeats, warmup)
    alone = sum(v for k, v in seconds.items() if k != "stacked")
    return {"genre": genre, "seeds": len(seeds), "stacked_ms": seconds["stacked"] * 1e3,
            "one_by_one_ms": alone * 1e3, "speedup": alone / seconds["stacked"]}


def all_table_variants(exp) -> list[str]:
    """Every variant behind Tables 3, 5, 7, 8 (what `make tables` runs)."""
    from ..report import table_variants
    return list(dict.fromkeys(v for key in MOVIELENS_TABLES for v in table_variants(key, exp)))


def wall_times(profile, data_dir) -> dict:
    """The runs behind Tables 3, 5, 7, 8 from an empty store (teacher included), then from the full one."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        exp = MovieLensExperiment(profile, data_dir=data_dir, cache_dir=tmp, store_root=Path(tmp) / "store",
                                  progress=False)
        records = exp.run(all_table_variants(exp))
        for spec in MOVIELENS_TABLES.values():
            build_table(spec, records, profile.genres)
        out["empty_store_s"] = time.perf_counter() - start
        out["workers"] = exp.workers
        out["runs"] = len(records)
        out["configurations"] = len({(r["variant"], r["task"]) for r in records})
        start = time.perf_counter()
        exp = MovieLensExperiment(profile, data_dir=data_dir, cache_dir=tmp, store_root=Path(tmp) / "store",
                                  progress=False)
        again = exp.run(all_table_variants(exp))
        out["full_store_s"] = time.perf_counter() - start
        assert again == records, "a rerun on the full store must load, not recompute"
    return out


def unstacked_comparison(profile, data_dir) -> dict:
    """Table 3's own rows (Teacher ... Hybrid, TD (default)) trained as stacks and with every
    seed alone (the plain reference), at one weight λ = 1 so the reference stays affordable:
    wall time of each, and how far each cell moves, in standard errors."""
    profile = replace(profile, distill_weights=(1.0,), td_weights=(1.0,))
    variants = [v for v in MOVIELENS_TABLES["table3"].variants if not v.endswith("*")]
    tables, seconds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for stacked in (True, False):
            exp = MovieLensExperiment(profile, data_dir=data_dir, cache_dir=tmp, progress=False,
                                      store_root=Path(tmp) / f"store-{stacked}", stack_replicas=stacked)
            start = time.perf_counter()
            tables[stacked] = build_table(MOVIELENS_TABLES["table3"], exp.run(variants), profile.genres)
            seconds[stacked] = time.perf_counter() - start
    cells = []
    for key, alone in tables[False].cells.items():
        if key[0] == "TD":
            continue
        cell = tables[True].cells[key]
        se = max((cell.se**2 + alone.se**2) ** 0.5, 1e-12)
        cells.append({"row": key[0], "genre": key[1], "stacked": cell.mean, "alone": alone.mean,
                      "diff_in_se": (cell.mean - alone.mean) / se})
    return {"stacked_s": seconds[True], "alone_s": seconds[False], "cells": cells,
            "max_abs_diff_in_se": max(abs(c["diff_in_se"]) for c in cells),
            "max_abs_diff_rmse": max(abs(c["stacked"] - c["alone"]) for c in cells),
            "within_1_se": sum(abs(c["diff_in_se"]) <= 1 for c in cells), "n_cells": len(cells)}


def render(report: dict) -> str:
    lines = [f"# make bench — profile `{report['profile']}`", "",
             f"Machine: {report['machine']}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
             f"git {report['provenance']['git_revision']}.", "",
             "## Step time per method (median; gather, forward, backward and Adam; the same batch and one replica per seed for every method)", "",
             "| genre | variant | replicas | batch | step ms | × Student | × KD | saved activations MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["steps"]:
        lines.append(f"| {r['genre']} | {r['variant']} | {r['replicas']} | {r['batch']} | {r['step_ms']:.2f} | "
                     f"{r['vs_student']:.2f} | {r['vs_kd']:.2f} | {r['activations_mib']:.1f} |")
    s = report["stacking"]
    lines += ["", f"Stacking lever ({s['genre']}, TD K=1): {s['seeds']} seeds in one stacked step "
              f"{s['stacked_ms']:.2f} ms vs one step per seed {s['one_by_one_ms']:.2f} ms: {s['speedup']:.2f}× faster.", ""]
    lines += [f"Peak resident memory of the whole bench process: {report['peak_rss_mib']:.0f} MiB.", ""]
    w = report.get("wall")
    if w:
        lines += ["## Wall time of the MovieLens tables (runs of Tables 3, 5, 7, 8, teacher training included)", "",
                  f"- from an empty store: {w['empty_store_s']:.1f} s with {w['workers']} worker processes "
                  f"({w['configurations']} variant × genre configurations, {w['runs']} runs)",
                  f"- from the full store: {w['full_store_s']:.1f} s", ""]
    u = report.get("unstacked")
    if u:
        lines += ["## Stacked against one-seed-at-a-time (Table 3's own rows, λ = 1)", "",
                  f"Stacked: {u['stacked_s']:.1f} s; every seed alone: {u['alone_s']:.1f} s "
                  f"({u['alone_s'] / u['stacked_s']:.2f}× slower). {u['within_1_se']}/{u['n_cells']} cells "
                  f"within 1 SE; largest move {u['max_abs_diff_in_se']:.2f} SE "
                  f"({u['max_abs_diff_rmse']:.5f} RMSE).", "",
                  "| row | genre | stacked | alone | difference / SE |", "|---|---|---:|---:|---:|"]
        lines += [f"| {c['row']} | {c['genre']} | {c['stacked']:.4f} | {c['alone']:.4f} | {c['diff_in_se']:+.2f} |"
                  for c in u["cells"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--genres", nargs=2, default=None, help="a dense and a sparse genre (default: first, last)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-wall", action="store_true", help="skip the wall-time runs")
    parser.add_argument("--unstacked", action="store_true",
                        help="also train Table 3's own rows one seed at a time and compare")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    genres = tuple(args.genres or (profile.genres[0], profile.genres[-1]))
    data_dir = locate_ml100k()
    exp = MovieLensExperiment(profile, data_dir=data_dir, store_root=Path(tempfile.mkdtemp()), progress=False)
    report = {"profile": profile.name, "genres": genres, "provenance": provenance(),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}",
              "steps": step_table(exp, genres, args.repeats, args.warmup),
              "stacking": stacking_lever(exp, genres[0], args.repeats, args.warmup)}
    out = runs_dir(profile.name) / "bench"

    def write():   # after every part, so a long bench that is stopped keeps what it measured
        report["peak_rss_mib"] = peak_rss_mib()
        atomic_write_bytes(out / "bench.md", render(report).encode())
        atomic_write_bytes(out / "bench.json", json.dumps(report, indent=1, default=str).encode())
    write()
    if not args.no_wall:
        report["wall"] = wall_times(profile, data_dir)
        write()
    if args.unstacked:
        report["unstacked"] = unstacked_comparison(profile, data_dir)
        write()
    print(render(report))
    print(f"written to {out}/bench.md and bench.json")


if __name__ == "__main__":
    main()
