"""`make verify`: regenerate committed tables from scratch and compare them with the files.

    python -m ikd_lib.verify                                  # every committed table
    python -m ikd_lib.verify --tables table3 --genres Western # a part (TABLES=, GENRES= in make)
    python -m ikd_lib.verify --tables table4 --datasets cifar10 --seeds 0   # TABLES=, DATASETS=, SEEDS=

The regeneration runs in a temporary results store and a temporary cache, so the teacher
is trained again too: nothing computed earlier is reused, except a cached ViT teacher whose
weights hash is the one the committed table names (--fresh-teacher trains it again).
With fewer seeds, each regenerated seed's value and choices are compared with its own, each search starting
from the grid the committed table searched with all seeds (its CSV names it). Then, per cell of the committed
table: the difference of the means in standard errors, and every change of a per-seed
value, of bold, of †, of a chosen λ, l2 or variant. Any difference makes the exit status 1;
no kind of difference is excused. The reviewers' study (`--tables reviewers`) is compared
row by row of its CSV: per-seed values, means, standard errors and p-values.

First of all it runs `make verify-kernels` (kernels.py): on a machine whose kernels compute
other bits, the operation that differs is named before any table is regenerated.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
import tempfile
import time
from pathlib import Path

from . import kernels
from .core.determinism import REFERENCE_PROBE, pin_report
from .core.tables import cell_text, render_markdown
from .report import COMMITTED_PROFILE, TRACKS, output_dirs, table, track_of

FIELDS = (
    "mean_test",
    "se",
    "test_per_seed",
    "variant_per_seed",
    "distill_weight_per_seed",
    "l2_per_seed",
    "significant",
)


def committed_cells(table_key: str, tables_dir: Path) -> tuple[dict, dict]:
    """(row, task) -> CSV row, and (row, task) -> the Markdown cell text (bold, † and ‡ included)."""
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


PER_SEED = ("test_per_seed", "variant_per_seed", "distill_weight_per_seed", "l2_per_seed")


def _per_seed(row: dict, seeds: list[str]) -> dict:
    """The per-seed fields of a CSV row, for the given seeds only."""
    position = {s: i for i, s in enumerate(row["seeds"].split())}
    return {f: [row[f].split()[position[s]] for s in seeds] for f in PER_SEED}


def compare(built, committed_rows: dict, committed_texts: dict) -> list[str]:
    """Every difference between a regenerated table and the committed one, as lines. A cell
    regenerated for fewer seeds is compared seed by seed (values and choices). Holm's ‡ is
    compared only when every column was regenerated: its family is all the table's tests, so
    a part of the table corrects over fewer (its uncorrected † and p-values are compared)."""
    from .core.tables import render_csv

    fresh = {(r["row"], r["task"]): r for r in csv.DictReader(render_csv(built).splitlines())}
    whole = set(built.genres) == {task for _, task in committed_rows}
    fields = FIELDS + (("significant_holm",) if whole else ())
    problems = []
    for (label, task), new in fresh.items():
        old = committed_rows.get((label, task))
        if old is None:
            problems.append(f"{label} · {task}: not in the committed table")
            continue
        seeds = new["seeds"].split()
        if seeds != old["seeds"].split():  # a subset of the seeds: per-seed values and choices only
            if not set(seeds) <= set(old["seeds"].split()):
                problems.append(f"{label} · {task}: seeds {seeds} are not among the committed {old['seeds']}")
                continue
            was, now = _per_seed(old, seeds), _per_seed(new, seeds)
            problems += [
                f"{label} · {task}: seeds {' '.join(seeds)}: {f} {was[f]!r} -> {now[f]!r}"
                for f in PER_SEED
                if was[f] != now[f]
            ]
            continue
        changed = [f for f in fields if old[f] != new[f]]
        if changed:
            se = math.hypot(float(old["se"]), float(new["se"])) or float("nan")
            shift = (float(new["mean_test"]) - float(old["mean_test"])) / se
            line = (
                f"{label} · {task}: {float(old['mean_test']):.4f} -> {float(new['mean_test']):.4f} "
                f"({shift:+.2f} SE); changed: "
                + ", ".join(f"{f} {old[f]!r} -> {new[f]!r}" for f in changed if f not in ("mean_test", "se"))
            )
            problems.append(line)
        old_text = committed_texts.get((label, task))
        new_text = cell_text(built, label, task)
        if not whole and old_text is not None:
            old_text, new_text = old_text.replace("‡", ""), new_text.replace("‡", "")
        if old_text is not None and old_text != new_text and seeds == old["seeds"].split():
            problems.append(f"{label} · {task}: rendered {old_text!r} -> {new_text!r} (bold, † or ‡ changed)")
    for label, task in committed_rows:
        if task in built.genres and (label, task) not in fresh:
            problems.append(f"{label} · {task}: in the committed table, missing from the regeneration")
    return problems


STUDY_FIELDS = ("mean", "se", "values_per_seed", "p_value", "significant")


def compare_study(fresh_csv: str, committed_csv: Path) -> list[str]:
    """Every difference between a regenerated reviewers' study and the committed CSV, row by
    row (section, row, column, quantity); a row regenerated for fewer seeds, seed by seed."""

    def rows(text):
        return {(r["section"], r["row"], r["task"], r["quantity"]): r for r in csv.DictReader(text.splitlines())}

    fresh, committed = rows(fresh_csv), rows(committed_csv.read_text())
    problems = []
    for key, new in fresh.items():
        old, name = committed.get(key), " · ".join(key)
        if old is None:
            problems.append(f"{name}: not in the committed study")
            continue
        seeds = new["seeds"].split()
        if seeds != old["seeds"].split():
            position = {s: i for i, s in enumerate(old["seeds"].split())}
            if not set(seeds) <= set(position):
                problems.append(f"{name}: seeds {seeds} are not among the committed {old['seeds']}")
                continue
            was = [old["values_per_seed"].split()[position[s]] for s in seeds]
            if was != new["values_per_seed"].split():
                problems.append(f"{name}: seeds {' '.join(seeds)}: {was!r} -> {new['values_per_seed'].split()!r}")
            continue
        problems += [f"{name}: {f} {old[f]!r} -> {new[f]!r}" for f in STUDY_FIELDS if old[f] != new[f]]
    return problems


def verify_study(tables_dir: Path, tasks, seeds, workdir: Path) -> list[str]:
    """Regenerate the reviewers' study (its genres and seeds, or a subset) and compare it."""
    from .movielens import reviewers_tables
    from .movielens.reviewers import make_reviewers_experiment

    exp = make_reviewers_experiment(
        COMMITTED_PROFILE,
        genres=tasks,
        seeds=seeds,
        cache_dir=workdir / "cache",
        store_root=workdir / "store" / "reviewers",
    )
    if seeds:  # fewer seeds: every search starts from the grid the committed runs searched
        for key in ("table3", "table5", "table7", "table8"):
            if (tables_dir / f"{key}.csv").exists():
                start_from_committed(exp, key, committed_cells(key, tables_dir)[0])
        start_study_from_committed(exp, tables_dir / "reviewers.csv")
    study = reviewers_tables.build_study(exp, exp.run_study())
    problems = compare_study(reviewers_tables.render_study_csv(study), tables_dir / "reviewers.csv")
    print(
        f"\nreviewers ({', '.join(exp.profile.genres)}; seeds {' '.join(map(str, exp.profile.seeds))}): "
        f"{'identical' if not problems else f'{len(problems)} differences'}"
    )
    for line in problems:
        print("  - " + line)
    return problems


def reuse_cached_teacher(tables_dir: Path, key: str, cache: Path) -> str | None:
    """Copy the user's cached ViT teacher into the verification cache when its weights hash is
    the one the committed table names (so the check skips the teacher's pre-training, not its
    verification); a message saying what was done, or None when no committed hash is known."""
    import shutil

    import torch

    from .core.store import cache_root
    from .vision.teacher import weights_hash

    found = re.search(r"weights sha256 `([0-9a-f]+)`", (tables_dir / f"{key}.md").read_text())
    if not found:
        return None
    for path in sorted((cache_root(None) / "vision").glob("teacher-*.pt")):
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if weights_hash(saved["state_dict"]) == found.group(1):
            (cache / "vision").mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, cache / "vision" / path.name)
            return f"ViT teacher: the cached {path.name}, weights sha256 {found.group(1)} as committed (not retrained)"
    return f"ViT teacher: no cached teacher has the committed weights sha256 {found.group(1)}; training it"


AXES_OF_COLUMNS = {"distill_weight_grid": "distill_weight", "l2_grid": "l2"}
AXES_OF_NAMES = {"λ": "distill_weight", "L2": "l2", "μ": "plus_kd", "η": "thaw"}


def start_from_committed(exp, key: str, rows: dict) -> int:
    """Regenerating fewer seeds: start each search from the grid the committed table searched
    with all of them (its CSV says it per cell), so that each regenerated seed chooses on the
    same grid. Without this, a search grown for one seed can stop earlier than the committed one.
    Returns how many searches were given a start."""
    spec = exp.tables[key]
    started = 0
    for row in spec.rows:
        if len(row.candidates) != 1 or row.candidates[0].endswith("*"):
            continue
        for task in exp.task_names:
            committed = rows.get((row.label, task))
            for column, axis in AXES_OF_COLUMNS.items():
                words = committed.get(column, "") if committed else ""
                if words and words != "inherited":
                    exp.start_grids[row.candidates[0], task, axis] = tuple(float(v) for v in words.split())
                    started += 1
    return started


def start_study_from_committed(exp, committed_csv: Path) -> int:
    """The same for the reviewers' study: each searched row of its CSV ("searched": "λ: 1 10 100;
    L2: inherited"), the rows of one variant and the families (TD + KD's μ, the learning
    teacher's η)."""
    from .movielens import reviewers_tables as rt

    variants = {r.label: r.candidates[0] for r in (*rt.MAIN_ROWS, *rt.SWEEP_ROWS) if len(r.candidates) == 1}
    families = {rt.PLUS_KD: "plus_kd", rt.LEARNS: "thaw"}
    started = 0
    with open(committed_csv, newline="") as f:
        for r in csv.DictReader(f):
            for part in filter(None, (p.strip() for p in r.get("searched", "").split(";"))):
                name, _, words = part.partition(": ")
                if words == "inherited" or name not in AXES_OF_NAMES:
                    continue
                grid = tuple(float(v) for v in words.split())
                if r["row"] in families and AXES_OF_NAMES[name] == families[r["row"]]:
                    exp.family_start[families[r["row"]], r["task"]] = grid
                elif r["row"] in variants and AXES_OF_NAMES[name] in ("distill_weight", "l2"):
                    exp.start_grids[variants[r["row"]], r["task"], AXES_OF_NAMES[name]] = grid
                else:
                    continue
                started += 1
    return started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="*", default=None, help="table keys (default: every committed table)")
    parser.add_argument(
        "--genres",
        "--tasks",
        "--datasets",
        nargs="*",
        default=None,
        dest="tasks",
        help="columns to regenerate (default: all of the table's)",
    )
    parser.add_argument(
        "--seeds", nargs="*", type=int, default=None, help="seeds to regenerate (default: all); compared seed by seed"
    )
    parser.add_argument(
        "--fresh-teacher",
        action="store_true",
        help="train the ViT teacher again even when a cached one has the committed weights",
    )
    parser.add_argument("--keep", default=None, help="keep the temporary store and cache in this folder")
    args = parser.parse_args(argv)
    tables_dir = output_dirs(COMMITTED_PROFILE)[0]
    keys = args.tables or [
        k for track in TRACKS.values() for k in track.tables() if (tables_dir / f"{k}.csv").exists()
    ] + ["reviewers"]
    kernels_ok = kernels.check()
    pins = pin_report()
    print(
        f"machine: {pins['cpu']}; floating-point probe {pins['probe']} "
        f"({'matches' if pins['probe_matches_reference'] else 'DIFFERS from'} the reference machine's "
        f"{REFERENCE_PROBE}); OpenBLAS kernels {pins['openblas_core']}; pins {'on' if pins['pinned'] else 'OFF'}"
    )
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ikd-verify-"))
    start = time.perf_counter()
    experiments, total = {}, []
    for key in keys:
        if key == "reviewers":
            total += verify_study(tables_dir, args.tasks, args.seeds, workdir)
            continue
        track = track_of(key)
        if track.name not in experiments:
            if track.name == "vision" and not args.fresh_teacher:
                said = reuse_cached_teacher(tables_dir, key, workdir / "cache")
                if said:
                    print(said)
            experiments[track.name] = track.experiment(
                COMMITTED_PROFILE,
                tasks=args.tasks,
                seeds=args.seeds,
                cache_dir=workdir / "cache",
                store_root=workdir / "store" / track.name,
            )
        exp = experiments[track.name]
        rows, texts = committed_cells(key, tables_dir)
        if args.seeds:  # every committed table of the track: a table reads other tables' rows' choices
            for other in track.tables():
                if (tables_dir / f"{other}.csv").exists():
                    start_from_committed(exp, other, committed_cells(other, tables_dir)[0])
        built = table(exp, key, write=False)
        problems = compare(built, rows, texts)
        total += problems
        print(
            f"\n{key} ({', '.join(exp.task_names)}): {len(built.cells)} cells regenerated, "
            f"{'identical' if not problems else f'{len(problems)} differences'}"
        )
        for line in problems:
            print("  - " + line)
        if problems:
            print(render_markdown(built))
    verdict = "PASS, every cell identical" if not total else f"FAIL, {len(total)} differences"
    if not kernels_ok:
        verdict += " (and the kernels differ from the reference machine's: see above)"
    print(f"\nmake verify: {verdict} ({time.perf_counter() - start:.0f} s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
