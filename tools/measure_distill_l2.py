"""Does letting each distilling method choose its own L2 (jointly with λ) change a verdict?

    python tools/measure_distill_l2.py [--genres Drama Western] > docs/distill_l2.md

Runs Table 3's rows (Student, KD, FitNet, FD, Hybrid, TD (default)) on a dense and a sparse genre
twice, each search growing until it brackets: once with every distilling method reusing the L2 the
Student chose per seed (Profile.distill_l2 = "student"), once with each method searching the
Student's L2 grid jointly with its λ ("own"). The store keeps both: a replica trained at the same
(λ, L2, seed) is the same run in either, so the second pass trains only what the first did not.
Prints, per genre and mode, each row's test RMSE, its per-seed choices, and the verdicts the tables
state (TD against the Student, against the better of KD and Hybrid; paired t-tests over seeds).
"""

from __future__ import annotations

import argparse

from ikd_lib.core.results import paired_p_value
from ikd_lib.core.store import git_revision
from ikd_lib.core.tables import build_table
from ikd_lib.movielens.experiment import MovieLensExperiment
from ikd_lib.movielens.profiles import get_profile
from ikd_lib.movielens.tables import MOVIELENS_TABLES

ROWS = ("student", "kd", "fitnet", "fd", "hybrid", "td")
LABELS = {"student": "Student", "kd": "KD", "fitnet": "FitNet", "fd": "FD", "hybrid": "Hybrid", "td": "TD (default)"}


def cells(mode: str, genres) -> dict:
    exp = MovieLensExperiment(get_profile("cpu", genres=genres, distill_l2=mode))
    records = exp.run(["teacher", "bias_only", *ROWS], desc=f"distill_l2={mode}")
    table = build_table(MOVIELENS_TABLES["table3"], records, genres)
    return {(key, genre): table.cells[LABELS[key], genre] for key in ROWS for genre in genres}, exp.last_run


def verdicts(cell, genre) -> list[str]:
    td, student = cell["td", genre], cell["student", genre]
    best = min((cell["kd", genre], cell["hybrid", genre]), key=lambda c: c.mean)
    best_name = "KD" if best is cell["kd", genre] else "Hybrid"
    return [
        f"TD − Student {td.mean - student.mean:+.4f} (p = {paired_p_value(td, student):.3g})",
        f"TD − {best_name} {td.mean - best.mean:+.4f} (p = {paired_p_value(td, best):.3g})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", nargs="+", default=["Drama", "Western"])
    genres = tuple(parser.parse_args().genres)
    results = {mode: cells(mode, genres) for mode in ("student", "own")}
    print("# Each method's own L2, or the Student's? (tools/measure_distill_l2.py)\n")
    print(
        f"Profile `cpu`, seeds 0-4, genres {', '.join(genres)}; every search grown until it brackets; "
        f'run at git {git_revision()}. The decision it informs: docs/protocol.md ("Each method\'s own L2?").\n'
    )
    for mode, (_, run) in results.items():
        print(f"- distill_l2 = {mode}: {run['computed']} of {run['stacks']} stacks computed, {run['wall_s']:.0f} s")
    for genre in genres:
        print(f"\n## {genre}\n")
        print("| row | RMSE, Student's L2 | λ / L2 per seed | RMSE, own L2 | λ / L2 per seed |")
        print("|---|---|---|---|---|")
        for key in ROWS:
            parts = []
            for mode in ("student", "own"):
                c = results[mode][0][key, genre]
                choice = " ".join(f"{w:g}/{v:g}" for w, v in zip(c.weights, c.l2s))
                parts += [f"{c.mean:.4f} ± {c.se:.4f}", choice]
            print(f"| {LABELS[key]} | " + " | ".join(parts) + " |")
        for mode in ("student", "own"):
            print(f"\n- {mode}: " + "; ".join(verdicts(results[mode][0], genre)))


if __name__ == "__main__":
    main()
