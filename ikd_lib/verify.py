"""`make verify`: regenerate committed tables from scratch and compare them with the files.

    python -m ikd_lib.verify                                  # every committed table
    python -m ikd_lib.verify --tables table3 --genres Western # a part (TABLES=, GENRES= in make)

The regeneration runs in a temporary results store and a temporary cache, so the teacher
is trained again too: nothing computed earlier is reused. Then, per cell of the committed
table: the difference of the means in standard errors, and every change of a per-seed
value, of bold, of †, of a chosen λ, l2 or variant. The promised tolerance is none: any
difference makes the exit status 1. The machine's floating-point probe is printed beside
the reference machine's (core/determinism.py), so a difference can be traced to the CPU.
"""
from __future__ import annotations

import argparse
import csv
import math
import re
import sys
import tempfile
from pathlib import Path

from .core.determinism import REFERENCE_PROBE, pin_report
from .core.tables import cell_text, render_markdown
from .report import COMMITTED_PROFILE, TRACKS, output_dirs, table, track_of

FIELDS = ("mean_test", "se", "test_per_seed", "variant_per_seed", "distill_weight_per_seed", "l2_per_seed",
          "significant")


def committed_cells(table_key: str, tables_dir: Path) -> tuple[dict, dict]:
    """(row, task) -> CSV row, and (row, task) -> the Markdown cell text (bold and † included)."""
    with open(tables_dir / f"{table_key}.csv", newline="") as f:
        rows = {(r["row"], r["task"]): r for r in csv.DictReader(f)}
    texts, header = {}, None
    for line in (tables_dir / f"{table_key}.md").read_text().splitlines():
        if line.startswith("| Method |"):
            header = [re.search(r"\(([^()]*)\)\s*$", h.strip()) for h in line.strip("|").split("|")[1:]]
            header = [m.group(1) if m else None for m in header]
        elif line.startswith("| ") and header and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            for task, text in zip(header, cells[1:]):
                if task:
                    texts[cells[0], task] = text
        elif not line.strip():
            header = None
    return rows, texts


def compare(built, committed_rows: dict, committed_texts: dict) -> list[str]:
    """Every difference between a regenerated table and the committed one, as lines."""
    from .core.tables import render_csv
    fresh = {(r["row"], r["task"]): r for r in csv.DictReader(render_csv(built).splitlines())}
    problems = []
    for (label, task), new in fresh.items():
        old = committed_rows.get((label, task))
        if old is None:
            problems.append(f"{label} · {task}: not in the committed table")
            continue
        changed = [f for f in FIELDS if old[f] != new[f]]
        if changed:
            se = math.hypot(float(old["se"]), float(new["se"])) or float("nan")
            shift = (float(new["mean_test"]) - float(old["mean_test"])) / se
            problems.append(f"{label} · {task}: {float(old['mean_test']):.4f} -> {float(new['mean_test']):.4f} "
                            f"({shift:+.2f} SE); changed: " + ", ".join(
                                f"{f} {old[f]!r} -> {new[f]!r}" for f in changed if f not in ("mean_test", "se")))
        old_text = committed_texts.get((label, task))
        new_text = cell_text(built, label, task)
        if old_text is not None and old_text != new_text:
            problems.append(f"{label} · {task}: rendered {old_text!r} -> {new_text!r} (bold or † changed)")
    for (label, task) in committed_rows:
        if task in built.genres and (label, task) not in fresh:
            problems.append(f"{label} · {task}: in the committed table, missing from the regeneration")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="*", default=None, help="table keys (default: every committed table)")
    parser.add_argument("--genres", "--tasks", nargs="*", default=None, dest="tasks",
                        help="columns to regenerate (default: all of the table's)")
    parser.add_argument("--keep", default=None, help="keep the temporary store and cache in this folder")
    args = parser.parse_args(argv)
    tables_dir = output_dirs(COMMITTED_PROFILE)[0]
    keys = args.tables or [k for track in TRACKS.values() for k in track.tables()
                           if (tables_dir / f"{k}.csv").exists()]
    pins = pin_report()
    print(f"machine: {pins['cpu']}; floating-point probe {pins['probe']} "
          f"({'matches' if pins['probe_matches_reference'] else 'DIFFERS from'} the reference machine's "
          f"{REFERENCE_PROBE}); OpenBLAS kernels {pins['openblas_core']}; pins {'on' if pins['pinned'] else 'OFF'}")
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ikd-verify-"))
    experiments, total = {}, []
    for key in keys:
        track = track_of(key)
        if track.name not in experiments:
            experiments[track.name] = track.experiment(COMMITTED_PROFILE, tasks=args.tasks,
                                                       cache_dir=workdir / "cache",
                                                       store_root=workdir / "store" / track.name)
        exp = experiments[track.name]
        built = table(exp, key, write=False)
        rows, texts = committed_cells(key, tables_dir)
        problems = compare(built, rows, texts)
        total += problems
        print(f"\n{key} ({', '.join(exp.task_names)}): {len(built.cells)} cells regenerated, "
              f"{'identical' if not problems else f'{len(problems)} differences'}")
        for line in problems:
            print("  - " + line)
        if problems:
            print(render_markdown(built))
    print(f"\nmake verify: {'PASS, every cell identical' if not total else f'FAIL, {len(total)} differences'}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
