"""Checks on the committed outputs and the reproducibility machinery around them."""

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def committed_rows(table):
    with open(ROOT / "tables" / f"{table}.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_student_is_no_worse_than_bias_only_in_any_genre():
    """The scratch Student must clear the floor of a model of biases alone (issue 8): per
    genre, Student's mean test RMSE <= Bias only's + one standard error of the Student."""
    rows = {(r["row"], r["task"]): r for r in committed_rows("table3")}
    genres = sorted({task for _, task in rows})
    assert len(genres) == 8
    for genre in genres:
        student, floor = rows["Student", genre], rows["Bias only", genre]
        assert float(student["mean_test"]) <= float(floor["mean_test"]) + float(student["se"]), genre


def test_committed_tables_carry_their_provenance():
    for table in ("table3", "table5", "table7", "table8", "table4", "table6", "table9"):
        md = (ROOT / "tables" / f"{table}.md").read_text()
        assert "profile `cpu`" in md and "table hash `" in md and "runs at git" in md, table
        assert all(r["selection"] == "per_seed" for r in committed_rows(table)), table


def test_verify_finds_every_kind_of_difference(tmp_path):
    """make verify's comparison on a hand-made table: identical passes, any change is named."""
    from ikd_lib.core.tables import build_table, write_table
    from ikd_lib.movielens.tables import MOVIELENS_TABLES
    from ikd_lib.verify import committed_cells, compare

    def rec(variant, seed, test, valid, weight=0.0):
        return {
            "variant": variant,
            "task": "Drama",
            "seed": seed,
            "distill_weight": weight,
            "l2": 0.0,
            "test_metric": test,
            "valid_metric": valid,
            "profile": "t",
            "config_hash": "h",
            "git_revision": "r",
            "config": {"teacher_hash": "t", "data": "d"},
        }

    records = [rec("student", s, 0.95 + s / 1000, 0.9) for s in range(3)]
    records += [rec("kd", s, 0.90 + s / 1000, 0.8, w) for s in range(3) for w in (1.0, 10.0)]
    spec = MOVIELENS_TABLES["table3"]
    write_table(build_table(spec, records, ("Drama",)), tmp_path)
    rows, texts = committed_cells("table3", tmp_path)
    assert compare(build_table(spec, records, ("Drama",)), rows, texts) == []
    moved = [dict(r, test_metric=r["test_metric"] + 0.1) if r["variant"] == "kd" else r for r in records]
    problems = compare(build_table(spec, moved, ("Drama",)), rows, texts)
    assert any("KD · Drama" in p and "SE" in p for p in problems)
    assert any("bold, † or ‡ changed" in p for p in problems)  # Student is now the best
    chosen = [dict(r, valid_metric=0.7) if r["variant"] == "kd" and r["distill_weight"] == 10.0 else r for r in records]
    assert any("distill_weight_per_seed" in p for p in compare(build_table(spec, chosen, ("Drama",)), rows, texts))


def test_verify_compares_holms_mark_only_over_the_whole_table(tmp_path):
    """Holm's ‡ corrects over every test of the table: regenerating one of two columns corrects
    over half as many, so a ‡ there is not comparable (its uncorrected † is); regenerating every
    column compares it too."""
    from ikd_lib.core.tables import build_table, write_table
    from ikd_lib.movielens.tables import MOVIELENS_TABLES
    from ikd_lib.verify import committed_cells, compare

    def rec(variant, task, seed, test):
        return {
            "variant": variant,
            "task": task,
            "seed": seed,
            "distill_weight": 0.0,
            "l2": 0.0,
            "test_metric": test,
            "valid_metric": 0.9,
            "profile": "t",
            "config_hash": "h",
            "git_revision": "r",
            "config": {"teacher_hash": "t", "data": "d"},
        }

    records = [
        rec(v, t, s, base + s / 1000 + (0.01 if t == "Action" else 0.0))
        for v, base in (("student", 0.95), ("td", 0.90))
        for t in ("Drama", "Action")
        for s in range(3)
    ]
    spec = MOVIELENS_TABLES["table3"]
    write_table(build_table(spec, records, ("Drama", "Action")), tmp_path)
    rows, texts = committed_cells("table3", tmp_path)
    assert texts["Student", "Drama"].endswith("†‡")
    texts["Student", "Drama"] = texts["Student", "Drama"][:-1]  # as if a larger family had not marked it
    rows["Student", "Drama"] = dict(rows["Student", "Drama"], significant_holm="0")
    part = [r for r in records if r["task"] == "Drama"]
    assert compare(build_table(spec, part, ("Drama",)), rows, texts) == []
    whole = compare(build_table(spec, records, ("Drama", "Action")), rows, texts)
    assert any("Student · Drama" in p and "‡" in p for p in whole)
    assert any("significant_holm" in p for p in whole)


def test_makefile_rejects_an_unknown_profile_before_starting_anything():
    done = subprocess.run(["make", "-n", "tables", "PROFILE=fast"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "unknown PROFILE=fast; valid: smoke cpu paper" in done.stderr
    assert "papermill" not in done.stdout
    from ikd_lib.movielens.profiles import PROFILES

    makefile = (ROOT / "Makefile").read_text()
    assert f"PROFILES := {' '.join(PROFILES)}" in makefile  # the two lists agree


def probe_in_a_fresh_process(**env):
    code = (
        "import ikd_lib; from ikd_lib.core.determinism import pin_report; r = pin_report(); "
        "print(r['probe'], r['threads'], r['pinned'], r['openblas_core'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, **env}
    )
    return done.stdout.split()


def test_the_pins_hold_in_every_process_whatever_its_environment():
    plain = probe_in_a_fresh_process()
    crowded = probe_in_a_fresh_process(
        OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", MKL_CBWR="AUTO", OPENBLAS_CORETYPE="Sandybridge"
    )  # OpenBLAS's AVX kernels
    assert plain == crowded and plain[1:] == ["1", "True", "Haswell"]
    unpinned = probe_in_a_fresh_process(IKD_UNPINNED="1")
    assert unpinned[2] == "False"


def test_verify_excuses_no_difference_not_even_one_float32_ulp(tmp_path):
    """The one difference once measured between CPU vendors (one float32 ULP in a reported
    metric, from MKL's RSQRTPS-seeded square root; now pinned, determinism.sqrt) is no longer
    excused: one ULP that shows at 6 decimals is a difference."""
    import numpy as np

    from ikd_lib.core.tables import build_table, write_table
    from ikd_lib.movielens.tables import MOVIELENS_TABLES
    from ikd_lib.verify import committed_cells, compare

    def rec(variant, seed, test, valid, weight=0.0):
        return {
            "variant": variant,
            "task": "Drama",
            "seed": seed,
            "distill_weight": weight,
            "l2": 0.0,
            "test_metric": test,
            "valid_metric": valid,
            "profile": "t",
            "config_hash": "h",
            "git_revision": "r",
            "config": {"teacher_hash": "t", "data": "d"},
        }

    # 0.8830595 lies on a 6-digit rounding edge: one ULP down prints 0.883059 instead of 0.883060
    edge = float(np.float32(0.88305950))
    assert f"{edge:.6f}" != f"{float(np.nextafter(np.float32(edge), np.float32(0))):.6f}"
    records = [rec("student", s, 0.95 + s / 1000, 0.9) for s in range(3)]
    records += [rec("kd", s, edge if s == 1 else 0.90 + s / 1000, 0.8, w) for s in range(3) for w in (1.0, 10.0)]
    spec = MOVIELENS_TABLES["table3"]
    write_table(build_table(spec, records, ("Drama",)), tmp_path)
    rows, texts = committed_cells("table3", tmp_path)

    def shifted(ulps):
        down = lambda v: float(np.float32(v) - ulps * np.spacing(np.float32(v)))
        return [
            dict(r, test_metric=down(r["test_metric"])) if r["variant"] == "kd" and r["seed"] == 1 else r
            for r in records
        ]

    assert compare(build_table(spec, records, ("Drama",)), rows, texts) == []
    (line,) = compare(build_table(spec, shifted(1), ("Drama",)), rows, texts)
    assert "KD · Drama" in line and "test_per_seed" in line


def test_verify_compares_a_subset_of_seeds_seed_by_seed(tmp_path):
    from ikd_lib.core.tables import build_table, write_table
    from ikd_lib.movielens.tables import MOVIELENS_TABLES
    from ikd_lib.verify import committed_cells, compare

    def rec(variant, seed, test, valid, weight=0.0):
        return {
            "variant": variant,
            "task": "Drama",
            "seed": seed,
            "distill_weight": weight,
            "l2": 0.0,
            "test_metric": test,
            "valid_metric": valid,
            "profile": "t",
            "config_hash": "h",
            "git_revision": "r",
            "config": {"teacher_hash": "t", "data": "d"},
        }

    records = [rec("student", s, 0.95 + s / 1000, 0.9) for s in range(3)]
    records += [rec("kd", s, 0.90 + s / 1000, 0.8 + w / 100, w) for s in range(3) for w in (1.0, 10.0)]
    spec = MOVIELENS_TABLES["table3"]
    write_table(build_table(spec, records, ("Drama",)), tmp_path)
    rows, texts = committed_cells("table3", tmp_path)
    seed1 = [r for r in records if r["seed"] == 1]
    assert compare(build_table(spec, seed1, ("Drama",)), rows, texts) == []  # mean and SE not compared
    moved = [dict(r, test_metric=r["test_metric"] + 1e-3) if r["variant"] == "kd" else r for r in seed1]
    problems = compare(build_table(spec, moved, ("Drama",)), rows, texts)
    assert problems and all("seeds 1:" in p for p in problems) and "test_per_seed" in problems[0]
    chose = [dict(r, valid_metric=0.99) if r["variant"] == "kd" and r["distill_weight"] == 1.0 else r for r in seed1]
    assert any(
        "distill_weight_per_seed ['1'] -> ['10']" in p
        for p in compare(build_table(spec, chose, ("Drama",)), rows, texts)
    )


def test_paper_vs_ours_agrees_with_the_committed_tables(monkeypatch):
    """tables/paper_vs_ours.md is what the committed table CSVs and the packaged published values
    render: no track can leave it stale, and a committed table is never "not run" in it."""
    from ikd_lib import report
    from ikd_lib.core.paper import paper_vs_ours

    monkeypatch.delenv("IKD_PAPER_RESULTS", raising=False)
    tables = report.paper_tables("cpu")
    committed = {p.stem for p in (ROOT / "tables").glob("table*.csv")}
    assert set(tables) == {"table5", "table6", "table7", "table8", "table9"} & committed
    text = paper_vs_ours(tables, report.paper_results())
    assert text == (ROOT / "tables" / "paper_vs_ours.md").read_text(), (
        "tables/paper_vs_ours.md is stale: python -c 'from ikd_lib import report; report.write_paper_vs_ours()'"
    )
    assert "| ours | not run" not in text and "| not run | – | not run |" not in text


def test_verify_compares_the_reviewers_study_row_by_row(tmp_path):
    """A regenerated study row equal to the committed one passes; a moved per-seed value, mean or
    p-value is named; a subset of seeds is compared seed by seed; a row not committed is named."""
    from ikd_lib.verify import compare_study

    header = "section,row,task,quantity,mean,se,n_seeds,seeds,values_per_seed,tested_against,p_value,significant\n"
    committed = tmp_path / "reviewers.csv"
    committed.write_text(
        header + "control_rmse,Student,Drama,test RMSE,0.9,0.001,2,0 1,0.89 0.91,One-way control,0.01,1\n"
    )
    same = header + "control_rmse,Student,Drama,test RMSE,0.9,0.001,2,0 1,0.89 0.91,One-way control,0.01,1\n"
    assert compare_study(same, committed) == []
    moved = same.replace("0.89 0.91,One-way control,0.01", "0.89 0.92,One-way control,0.02")
    lines = compare_study(moved, committed)
    assert len(lines) == 2 and "values_per_seed" in lines[0] and "p_value" in lines[1]
    one_seed = header + "control_rmse,Student,Drama,test RMSE,0.91,0,1,1,0.91,One-way control,,0\n"
    assert compare_study(one_seed, committed) == []
    assert "seeds 1" in compare_study(one_seed.replace(",0.91,One", ",0.93,One"), committed)[0]
    other = same.replace("Drama", "Crime")
    assert compare_study(other, committed) == ["control_rmse · Student · Crime · test RMSE: not in the committed study"]
