"""`make bench` for the ViT track: the teacher's pre-training time, step cost of every method
as ratios (TD against logit KD above all), what the floating-point pins cost, and the wall
time of all runs of Tables 4, 6, 9.

    python -m ikd_lib.vision.bench --profile cpu [--no-wall]

Steps: one optimiser step (forward, backward, AdamW) on the same batch of 128 CIFAR-10
images with the teacher's cached states, one thread, pinned; median of interleaved steps
after warm-up. Wall: the runs of Tables 4, 6, 9 from an empty results store with the
teacher already cached (its pre-training is timed on its own, once).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..core.benchtools import machine, median_times, pins_cost, unpinned_step_times
from ..core.experiment import Replica
from ..core.plots import replica_column
from ..core.store import atomic_write_bytes, provenance, runs_dir
from ..core.train import make_optimizers
from .experiment import VisionExperiment
from .products import route_products
from .profiles import get_profile
from .tables import TABLES

BENCH_VARIANTS = ("student", "kd", "fitnet", "fd", "hybrid", "td", "td_k0", "td_k2")


def make_step(exp: VisionExperiment, variant_key: str, dataset: str, batch_size: int):
    variant, task = exp.variants[variant_key], exp.task(dataset)
    method, seeds, teacher_index = exp.build_stack(variant, task, [Replica(1.0, 0.0, 0)])
    optimizers = list(make_optimizers(method, exp.train_config(variant)).values())
    rows = torch.arange(batch_size)[None]

    def step():
        batch = task.batch("train", rows, teacher_index, method.teacher_states)
        total = method.objective(method.forward_train(batch)[1]).sum()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        total.backward()
        for opt in optimizers:
            opt.step()

    return step


def use_torch_products(exp: VisionExperiment) -> None:
    """The unpinned twin: the same cached teacher, every product on torch's own kernels (MKL,
    the fused attention, oneDNN), as code that does not care about other machines would run."""
    route_products(exp.teacher.vit, "torch")
    exp.teacher.matmul = "torch"
    exp.profile = replace(exp.profile, vit=replace(exp.profile.vit, matmul="torch"))


def step_table(exp, dataset, repeats, warmup, batch_size=128) -> list[dict]:
    batch_size = min(batch_size, len(exp.splits[dataset].train.y))  # the smoke profile has fewer images
    steps = {key: make_step(exp, key, dataset, batch_size) for key in BENCH_VARIANTS}
    seconds = median_times(steps, repeats, warmup)
    return [
        {
            "genre": dataset,
            "variant": key,
            "batch": batch_size,
            "step_ms": s * 1e3,
            "images_per_s": batch_size / s,
            "vs_kd": s / seconds["kd"],
            "vs_student": s / seconds["student"],
        }
        for key, s in seconds.items()
    ]


BUDGET_MIN = 55  # minutes for every ViT table's runs from an empty store on a 2-core machine


def wall_time(profile, cache_dir, store=None) -> dict:
    """All runs of Tables 4, 6, 9 from an empty store (a temporary one, or `store`: then the
    timed runs are the ones `make tables` reads afterwards), the teacher and probes cached."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(store) if store else Path(tmp) / "store"
        exp = VisionExperiment(profile, cache_dir=cache_dir, store_root=root, progress=False)
        already = len(exp.stored())
        keys = list(dict.fromkeys(v for spec in TABLES.values() for v in spec.variants if not v.endswith("*")))
        keys += [v for v in exp.variants if v.startswith("td") and v not in keys]
        start = time.perf_counter()
        records = exp.run(keys)
        seconds = time.perf_counter() - start
        return {
            "runs_s": seconds,
            "runs": len(records),
            "workers": exp.workers,
            "levelling": levelling(exp, records),
            "runs_in_store_before": already,
            "store": str(root),
            "stacks": len({(r["variant"], r["task"]) for r in records}),
            "train_cpu_s": sum({(r["variant"], r["task"]): r["stack_wall_s"] for r in records}.values()),
        }


def levelling(exp: VisionExperiment, records: list[dict]) -> dict:
    """Had validation accuracy levelled off when training ended? Per trained run: the gain of
    its last two epochs over its best before them, in standard errors of its validation
    accuracy (binomial: sqrt(p(1-p)/n), n = the dataset's validation images)."""
    rows = []
    for r in records:
        if not r.get("log_file"):
            continue
        with np.load(exp.store.root / r["log_file"]) as log:
            valid = log["epoch/valid_metric"][:, replica_column(r)]
        valid = valid[~np.isnan(valid)]
        if len(valid) < 3:
            continue
        best = float(valid.max())
        se = max(np.sqrt(best * (1 - best) / len(exp.splits[r["task"]].valid.y)), 1e-12)
        rows.append(
            {
                "gain_se": float(valid[-2:].max() - valid[:-2].max()) / se,
                "best_at_last": int(np.argmax(valid)) == len(valid) - 1,
            }
        )
    gains = np.array([x["gain_se"] for x in rows])
    return {
        "runs": len(rows),
        "best_at_last_epoch": sum(x["best_at_last"] for x in rows),
        "gain_over_1se": int((gains > 1).sum()),
        "gain_over_2se": int((gains > 2).sum()),
        "median_gain_se": float(np.median(gains)) if len(gains) else float("nan"),
    }


def render(report: dict) -> str:
    t = report["teacher"]
    lines = [
        f"# make bench (ViT) — profile `{report['profile']}`",
        "",
        f"Machine: {report['machine']}; git {report['provenance']['git_revision']}.",
        "",
        f"Teacher pre-training (once, cached; {t['epochs']} epochs on {t['n_images']:,} images, "
        f"{t.get('threads', '?')} threads): {t['wall_s'] / 60:.1f} min"
        + (" (read from the cached teacher's record)" if report.get("teacher_cached") else "")
        + ".",
        "",
        "## Step time per method (median; forward, backward and AdamW; 128 images; one thread)",
        "",
        "| variant | step ms | images/s | × Student | × KD |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['variant']} | {r['step_ms']:.0f} | {r['images_per_s']:.0f} | {r['vs_student']:.2f} | {r['vs_kd']:.2f} |"
        for r in report["steps"]
    ]
    if report.get("pins"):
        lines += [
            "",
            "## What the floating-point pins cost (the same steps in a fresh process, unpinned, on torch's own "
            "kernels (MKL, fused attention, oneDNN), with the same one thread)",
            "",
            "| variant | pinned ms | unpinned ms | pinned / unpinned |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {r['variant']} | {r['pinned_ms']:.0f} | {r['unpinned_ms']:.0f} | {r['ratio']:.2f} |"
            for r in report["pins"]
        ]
    w = report.get("wall")
    if w:
        lines += [
            "",
            "## Wall time of Tables 4, 6, 9 (every run, from an empty store; teacher and probes cached)",
            "",
            f"{w['runs_s'] / 60:.1f} min with {w['workers']} worker processes ({w['stacks']} variant × dataset "
            f"stacks, {w['runs']} runs, {w['runs_in_store_before']} of them in the store before; "
            f"{w['train_cpu_s'] / 60:.1f} min of training in all), against a budget of {BUDGET_MIN} min for "
            f"the ViT tables on a 2-core machine: "
            + ("within it." if w["runs_s"] <= 60 * BUDGET_MIN else "**over it**."),
        ]
    lv = report.get("levelling")
    if lv:
        lines += [
            "",
            "## Had validation accuracy levelled off? (the runs above, or those in --store)",
            "",
            f"Of {lv['runs']} trained runs, {lv['best_at_last_epoch']} had their best validation accuracy at "
            f"the last epoch; {lv['gain_over_1se']} gained more than one standard error of their validation "
            f"accuracy in the last two epochs, {lv['gain_over_2se']} more than two (median gain "
            f"{lv['median_gain_se']:+.2f} SE).",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-wall", action="store_true", help="skip the wall-time runs")
    parser.add_argument(
        "--store", default=None, help="time the runs into this results store (default: a temporary one)"
    )
    parser.add_argument("--steps-json", default=None, help=argparse.SUPPRESS)  # the unpinned twin's output
    parser.add_argument("--matmul", default=None, help=argparse.SUPPRESS)  # the twin: "torch"
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    cache = None
    from ..core.store import cache_root

    cached_before = any((cache_root(cache) / "vision").glob("teacher-*.pt"))
    exp = VisionExperiment(profile, store_root=Path(tempfile.mkdtemp()), progress=not args.steps_json, workers=1)
    if args.matmul == "torch":
        use_torch_products(exp)
    steps = step_table(exp, args.dataset, args.repeats, args.warmup)
    if args.steps_json:
        Path(args.steps_json).write_text(json.dumps(steps))
        return
    unpinned = unpinned_step_times(
        "ikd_lib.vision.bench",
        [
            "--profile",
            profile.name,
            "--dataset",
            args.dataset,
            "--repeats",
            str(args.repeats),
            "--warmup",
            str(args.warmup),
            "--matmul",
            "torch",
        ],
    )
    teacher = {**exp.teacher_summary, "threads": profile.pretrain.threads}
    report = {
        "profile": profile.name,
        "provenance": provenance(),
        "machine": machine(),
        "teacher": teacher,
        "teacher_cached": cached_before,
        "steps": steps,
        "pins": pins_cost(steps, unpinned),
    }
    out = runs_dir(profile.name) / "bench"
    write = lambda: (
        atomic_write_bytes(out / "bench_vision.md", render(report).encode()),
        atomic_write_bytes(out / "bench_vision.json", json.dumps(report, indent=1, default=str).encode()),
    )
    write()
    if not args.no_wall:
        report["wall"] = wall_time(profile, None, args.store)
        report["levelling"] = report["wall"].pop("levelling")
    elif args.store:  # the runs already in a store
        stored = VisionExperiment(profile, store_root=Path(args.store), progress=False, workers=1)
        report["levelling"] = levelling(stored, stored.stored())
    write()
    print(render(report))
    print(f"written to {out}/bench_vision.md and bench_vision.json")


if __name__ == "__main__":
    main()
