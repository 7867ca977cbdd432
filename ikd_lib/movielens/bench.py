"""`make bench` for MovieLens: step cost of every method as ratios, what the floating-point
pins cost, the wall time of the MovieLens tables, and their speed-up over a plain loop.

    python -m ikd_lib.movielens.bench --profile cpu [--no-wall] [--unstacked]

Reported (absolute times depend on the machine, which is printed; ratios transfer):
  - step time per variant on a dense and a sparse genre (median of interleaved steps after
    warm-up, on the same batch: one stacked replica per seed, λ = 1, one thread, pinned), its
    ratio to the scratch Student and to the KD step, and the memory autograd keeps;
  - the pins' cost: the same steps unpinned (a fresh process), pinned / unpinned;
  - the stacking lever: one stacked step of all seeds against one step per seed;
  - wall time of every MovieLens table's runs (teacher included) from an empty store, and
    again from the full store; then the reviewers' study's own stacks on top (docs/reviewers.md);
    and against training the same runs one at a time with a plain loop (as other KD frameworks
    do): a sample of stacks is re-trained one replica at a time, and its slow-down, per kind of
    method, is applied to every stack's measured time;
  - with --unstacked: Table 3's own rows trained as stacks and one seed at a time (at one
    weight), and how far the numbers move.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..core.benchtools import machine, median_times, pins_cost, unpinned_step_times
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
        if t.layout == torch.strided:  # a sparse matrix saved for backward is data, not an activation
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
    order = epoch_order(seeds, len(task.train), epoch=1)[:, : cfg.batch_size_for(len(task.train))]

    def forward():
        batch = task.batch("train", order, teacher_index, method.teacher_states)  # the gather is part of a step
        return method.objective(method.forward_train(batch)[1]).sum()

    def step():
        total = forward()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        total.backward()
        for opt in optimizers:
            opt.step()

    return step, forward


def step_table(exp, genres, repeats, warmup) -> list[dict]:
    rows = []
    replicas = [Replica(1.0, 1.0, s) for s in exp.profile.seeds]  # the same batch and stack for every method
    for genre in genres:
        built = {key: make_step(exp, key, genre, replicas) for key in BENCH_VARIANTS}
        seconds = median_times({k: step for k, (step, _) in built.items()}, repeats, warmup)
        for key, (_, forward) in built.items():
            rows.append(
                {
                    "genre": genre,
                    "variant": key,
                    "replicas": len(replicas),
                    "batch": exp.profile.student_train.batch_size_for(len(exp.task(genre).train)),
                    "step_ms": seconds[key] * 1e3,
                    "activations_mib": saved_activations_mib(forward),
                    "vs_student": seconds[key] / seconds["student"],
                    "vs_kd": seconds[key] / seconds["kd"],
                }
            )
    return rows


def stacking_lever(exp, genre, repeats, warmup) -> dict:
    """One TD step for all seeds stacked vs the sum of one step per seed alone."""
    seeds = exp.profile.seeds
    steps = {"stacked": make_step(exp, "td", genre, [Replica(1.0, 1.0, s) for s in seeds])[0]}
    steps |= {f"seed{s}": make_step(exp, "td", genre, [Replica(1.0, 1.0, s)])[0] for s in seeds}
    seconds = median_times(steps, repeats, warmup)
    alone = sum(v for k, v in seconds.items() if k != "stacked")
    return {
        "genre": genre,
        "seeds": len(seeds),
        "stacked_ms": seconds["stacked"] * 1e3,
        "one_by_one_ms": alone * 1e3,
        "speedup": alone / seconds["stacked"],
    }


def all_table_variants(exp) -> list[str]:
    """Every variant behind Tables 3, 5, 7, 8 (what `make tables` runs)."""
    from ..report import table_variants

    return list(dict.fromkeys(v for key in MOVIELENS_TABLES for v in table_variants(key, exp)))


SAMPLE = (
    ("student", "Romance"),
    ("kd", "Romance"),
    ("td", "Romance"),
    ("student", "Western"),
    ("kd", "Western"),
    ("td", "Western"),
)  # re-trained one replica at a time
KINDS = {"student": ("student", "bias_only"), "kd": ("kd", "fitnet", "fd", "hybrid"), "td": ("td",)}


BUDGET_MIN = 20  # minutes for every MovieLens run (tables and the reviewers' study) on a 2-core machine


def kind_of(variant: str) -> str:
    return next((k for k, members in KINDS.items() if variant in members), "td")  # every TD ablation: "td"


def wall_times(profile, data_dir, plain_sample=SAMPLE, store=None, cache=None) -> dict:
    """The runs behind Tables 3, 5, 7, 8 from an empty store (teacher included), then from the
    full one; then the plain-loop estimate (module docstring). With `store` (and `cache`) the
    timed runs go there, so `make tables` can render exactly them afterwards."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = cache or tmp
        root = Path(store) if store else Path(tmp) / "store"
        start = time.perf_counter()
        exp = MovieLensExperiment(profile, data_dir=data_dir, cache_dir=cache, store_root=root, progress=False)
        out["runs_in_store_before"] = len(exp.stored())
        out["teacher_trained_now"] = not exp.is_prepared("teacher")
        pool_start = time.perf_counter()
        records = exp.run(all_table_variants(exp))  # the teacher trains in the pool, beside the Student stacks
        pool_s = time.perf_counter() - pool_start
        out["teacher_s"] = exp.teacher_summary["wall_s"]
        for spec in MOVIELENS_TABLES.values():
            build_table(spec, records, profile.genres)
        out["empty_store_s"] = time.perf_counter() - start
        out["workers"] = exp.workers
        out["runs"] = len(records)
        out["configurations"] = len({(r["variant"], r["task"]) for r in records})
        out |= training_time(
            records, exp.workers, pool_s, teacher_s=out["teacher_s"] if out["teacher_trained_now"] else 0.0
        )
        start = time.perf_counter()
        exp = MovieLensExperiment(profile, data_dir=data_dir, cache_dir=cache, store_root=root, progress=False)
        again = exp.run(all_table_variants(exp))
        out["full_store_s"] = time.perf_counter() - start
        assert again == records, "a rerun on the full store must load, not recompute"
        out["reviewers"] = reviewers_time(profile, data_dir, root, cache)
        if plain_sample:
            out["plain"] = plain_loop_estimate(exp, records, plain_sample, Path(tmp), cache)
            out["speedup_vs_plain"] = out["plain"]["estimated_s"] / out["empty_store_s"]
    return out


def reviewers_time(profile, data_dir, store, cache) -> dict:
    """The reviewers' study (docs/reviewers.md) on top of the tables: from the store that holds
    the tables' runs, only its own stacks train (the control, TD + KD, the learning teacher,
    the analysed re-runs, the data-size sweep)."""
    from .reviewers import ReviewersExperiment

    start = time.perf_counter()
    exp = ReviewersExperiment(profile, data_dir=data_dir, cache_dir=cache, store_root=store, progress=False)
    exp.run_study()  # its searches grown too (TD + KD's μ, the learning teacher's η)
    return {"wall_s": time.perf_counter() - start, **exp.study_counts}


def training_time(records, workers: int, pool_s: float, teacher_s: float = 0.0) -> dict:
    """Seconds the stacks trained (each stack once), by variant, and how busy the workers
    were while the stacks ran (1.0: no worker ever waited); `teacher_s`: the teacher's
    training when it ran in the pool too."""
    stacks = {(r["variant"], r["task"]): r["stack_wall_s"] for r in records}
    by_variant: dict[str, float] = {"teacher (all genres)": teacher_s} if teacher_s else {}
    for (variant, _), seconds in stacks.items():
        by_variant[variant] = by_variant.get(variant, 0.0) + seconds
    training = sum(stacks.values()) + teacher_s
    return {
        "training_s": training,
        "pool_s": pool_s,
        "busy": training / (workers * pool_s) if pool_s else 0.0,
        "training_by_variant": dict(sorted(by_variant.items(), key=lambda kv: -kv[1])),
    }


def plain_loop_estimate(exp, records, sample, tmp: Path, cache) -> dict:
    """Every run trained alone, one after another in one process: the sample's stacks are
    re-trained that way (same code, replicas unstacked), their slow-down per kind of method is
    applied to every stack's measured training time, and the teacher is added once."""
    stacks = {(r["variant"], r["task"]): r["stack_wall_s"] for r in records}
    alone = MovieLensExperiment(
        exp.profile,
        data_dir=None,
        cache_dir=cache,
        store_root=tmp / "alone",
        progress=False,
        stack_replicas=False,
        workers=1,
    )
    slowdown = {}
    for variant, genre in sample:
        records_alone = alone.run([variant], [genre])
        slowdown.setdefault(kind_of(variant), []).append(records_alone[0]["stack_wall_s"] / stacks[variant, genre])
    factor = {k: statistics.mean(v) for k, v in slowdown.items()}
    estimated = exp.teacher_summary["wall_s"] + sum(
        wall * factor[kind_of(variant)] for (variant, _), wall in stacks.items() if variant != "teacher"
    )
    return {
        "slowdown_per_kind": factor,
        "sampled_stacks": len(sample),
        "stacks": len(stacks),
        "stacked_cpu_s": sum(stacks.values()),
        "estimated_s": estimated,
    }


def unstacked_comparison(profile, data_dir) -> dict:
    """Table 3's own rows (Teacher ... Hybrid, TD (default)) trained as stacks and with every
    seed alone (the plain reference), at one weight λ = 1 so the reference stays affordable:
    wall time of each, and how far each cell moves, in standard errors."""
    profile = replace(profile, distill_weights=(1.0,), td_weights=(1.0,))
    variants = [v for v in MOVIELENS_TABLES["table3"].variants if not v.endswith("*")]
    tables, seconds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for stacked in (True, False):
            exp = MovieLensExperiment(
                profile,
                data_dir=data_dir,
                cache_dir=tmp,
                progress=False,
                store_root=Path(tmp) / f"store-{stacked}",
                stack_replicas=stacked,
            )
            start = time.perf_counter()
            tables[stacked] = build_table(MOVIELENS_TABLES["table3"], exp.run(variants), profile.genres)
            seconds[stacked] = time.perf_counter() - start
    cells = []
    for key, alone in tables[False].cells.items():
        if key[0] == "TD":
            continue
        cell = tables[True].cells[key]
        se = max((cell.se**2 + alone.se**2) ** 0.5, 1e-12)
        cells.append(
            {
                "row": key[0],
                "genre": key[1],
                "stacked": cell.mean,
                "alone": alone.mean,
                "diff_in_se": (cell.mean - alone.mean) / se,
            }
        )
    return {
        "stacked_s": seconds[True],
        "alone_s": seconds[False],
        "cells": cells,
        "max_abs_diff_in_se": max(abs(c["diff_in_se"]) for c in cells),
        "max_abs_diff_rmse": max(abs(c["stacked"] - c["alone"]) for c in cells),
        "within_1_se": sum(abs(c["diff_in_se"]) <= 1 for c in cells),
        "n_cells": len(cells),
    }


def render(report: dict) -> str:
    lines = [
        f"# make bench (MovieLens) — profile `{report['profile']}`",
        "",
        f"Machine: {report['machine']}; git {report['provenance']['git_revision']}.",
        "",
        "## Step time per method (median; gather, forward, backward and Adam; the same batch and one replica "
        "per seed for every method)",
        "",
        "| genre | variant | replicas | batch | step ms | × Student | × KD | saved activations MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["steps"]:
        lines.append(
            f"| {r['genre']} | {r['variant']} | {r['replicas']} | {r['batch']} | {r['step_ms']:.2f} | "
            f"{r['vs_student']:.2f} | {r['vs_kd']:.2f} | {r['activations_mib']:.1f} |"
        )
    if report.get("pins"):
        lines += [
            "",
            "## What the floating-point pins cost (the same steps unpinned in a fresh process, with the same one "
            "thread)",
            "",
            "| genre | variant | pinned ms | unpinned ms | pinned / unpinned |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {r['genre']} | {r['variant']} | {r['pinned_ms']:.2f} | {r['unpinned_ms']:.2f} | {r['ratio']:.2f} |"
            for r in report["pins"]
        ]
    s = report["stacking"]
    lines += [
        "",
        f"Stacking lever ({s['genre']}, TD K=1): {s['seeds']} seeds in one stacked step "
        f"{s['stacked_ms']:.2f} ms vs one step per seed {s['one_by_one_ms']:.2f} ms: {s['speedup']:.2f}× faster.",
        "",
    ]
    lines += [f"Peak resident memory of the whole bench process: {report['peak_rss_mib']:.0f} MiB.", ""]
    w = report.get("wall")
    if w:
        lines += [
            "## Wall time of the MovieLens tables (runs of Tables 3, 5, 7, 8, teacher training included)",
            "",
            f"- from an empty store: {w['empty_store_s']:.1f} s with {w['workers']} worker processes "
            f"({w['configurations']} variant × genre configurations, {w['runs']} runs, "
            f"{w['runs_in_store_before']} in the store before)",
            f"- of which the teacher (trained once and cached; a job of the worker pool, beside the "
            f"stacks that need no teacher): {w['teacher_s']:.1f} s"
            + ("" if w.get("teacher_trained_now", True) else " (read from the cache, not trained in this run)"),
            f"- from the full store: {w['full_store_s']:.1f} s",
        ]
        if "training_s" in w:
            top = ", ".join(f"{k} {v:.0f} s" for k, v in w["training_by_variant"].items())
            lines += [
                f"- the stacks trained {w['training_s']:.0f} s in all over {w['workers']} workers, in "
                f"{w['pool_s']:.0f} s of wall time: the workers were busy {100 * w['busy']:.0f}% of it",
                f"- training by variant: {top}",
            ]
        study = w.get("reviewers")
        if study:
            total = w["empty_store_s"] + study["wall_s"]
            lines += [
                f"- the reviewers' study on top (docs/reviewers.md; from the store holding the tables' runs): "
                f"{study['wall_s']:.1f} s, {study['computed']} of its {study['stacks']} stacks trained",
                f"- `make tables TRACK=movielens`'s runs in all (tables and the study, from an empty store): "
                f"{total / 60:.1f} min against a budget of {BUDGET_MIN} min: "
                + ("within it" if total <= 60 * BUDGET_MIN else "**over it**"),
            ]
        lines += [""]
        plain = w.get("plain")
        if plain:
            factors = ", ".join(f"{k} {v:.1f}×" for k, v in plain["slowdown_per_kind"].items())
            lines += [
                f"Against a plain loop (every run trained alone, one after another, one process): estimated "
                f"{plain['estimated_s']:.0f} s, so the tables' runs are **{w['speedup_vs_plain']:.1f}× faster**. "
                f"The estimate re-trains {plain['sampled_stacks']} of the {plain['stacks']} stacks one replica at "
                f"a time and applies their slow-down per kind of method ({factors}) to every stack's measured "
                f"training time ({plain['stacked_cpu_s']:.0f} s in all, over {w['workers']} workers), plus "
                "the teacher once.",
                "",
            ]
    u = report.get("unstacked")
    if u:
        lines += [
            "## Stacked against one-seed-at-a-time (Table 3's own rows, λ = 1)",
            "",
            f"Stacked: {u['stacked_s']:.1f} s; every seed alone: {u['alone_s']:.1f} s "
            f"({u['alone_s'] / u['stacked_s']:.2f}× slower). {u['within_1_se']}/{u['n_cells']} cells "
            f"within 1 SE; largest move {u['max_abs_diff_in_se']:.2f} SE "
            f"({u['max_abs_diff_rmse']:.5f} RMSE).",
            "",
            "| row | genre | stacked | alone | difference / SE |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {c['row']} | {c['genre']} | {c['stacked']:.4f} | {c['alone']:.4f} | {c['diff_in_se']:+.2f} |"
            for c in u["cells"]
        ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--genres", nargs=2, default=None, help="a dense and a sparse genre (default: first, last)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-wall", action="store_true", help="skip the wall-time runs")
    parser.add_argument(
        "--unstacked", action="store_true", help="also train Table 3's own rows one seed at a time and compare"
    )
    parser.add_argument(
        "--store", default=None, help="time the runs into this results store (default: a temporary one)"
    )
    parser.add_argument("--cache", default=None, help="the cache for data and teacher (default: a temporary one)")
    parser.add_argument("--steps-json", default=None, help=argparse.SUPPRESS)  # the unpinned twin's output
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    genres = tuple(args.genres or (profile.genres[0], profile.genres[-1]))
    data_dir = locate_ml100k()
    out = runs_dir(profile.name) / "bench"
    report = {"profile": profile.name, "genres": genres, "provenance": provenance(), "machine": machine()}

    def write():  # after every part, so a long bench that is stopped keeps what it measured
        report["peak_rss_mib"] = peak_rss_mib()
        if "steps" in report:
            atomic_write_bytes(out / "bench.md", render(report).encode())
        atomic_write_bytes(out / "bench.json", json.dumps(report, indent=1, default=str).encode())

    if not args.no_wall and not args.steps_json:  # first, while the cache holds no teacher
        report["wall"] = wall_times(profile, data_dir, store=args.store, cache=args.cache)
        write()
    exp = MovieLensExperiment(
        profile, data_dir=data_dir, cache_dir=args.cache, store_root=Path(tempfile.mkdtemp()), progress=False
    )
    steps = step_table(exp, genres, args.repeats, args.warmup)
    if args.steps_json:
        Path(args.steps_json).write_text(json.dumps(steps))
        return
    unpinned = unpinned_step_times(
        "ikd_lib.movielens.bench",
        ["--profile", profile.name, "--genres", *genres, "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
        + (["--cache", args.cache] if args.cache else []),
    )
    report |= {
        "steps": steps,
        "pins": pins_cost(steps, unpinned),
        "stacking": stacking_lever(exp, genres[0], args.repeats, args.warmup),
    }
    write()
    if args.unstacked:
        report["unstacked"] = unstacked_comparison(profile, data_dir)
        write()
    print(render(report))
    print(f"written to {out}/bench.md and bench.json")


if __name__ == "__main__":
    main()
