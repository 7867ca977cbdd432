"""Every table notebook of both tracks runs end to end through papermill on the smoke profile,
and the paper-vs-ours notebook compares whatever the stores hold."""

from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLE_NOTEBOOKS = {
    "table3_movielens": ("table3", "Genre 1 (Drama)"),
    "table5_iterations": ("table5", "Genre 2 (Western)"),
    "table7_consistency": ("table7", "Genre 1 (Drama)"),
    "table8_noise_schedule": ("table8", "(Western)"),
    "table4_vit": ("table4", "CIFAR-10"),
    "table6_vit_iterations": ("table6", "CIFAR-10"),
    "table9_vit_noise": ("table9", "CIFAR-10"),
}


def execute(name, smoke_dirs, monkeypatch, **parameters):
    monkeypatch.setenv("IKD_RUNS_DIR", str(smoke_dirs))
    # a made-up sample in the published format, so the tests do not depend on the published numbers
    monkeypatch.setenv("IKD_PAPER_RESULTS", str(ROOT / "tests" / "data" / "paper_results_sample.json"))
    out = smoke_dirs / "notebooks" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"),
        str(out),
        parameters={"profile": "smoke", **parameters},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    return out


@pytest.mark.parametrize("notebook,expected", TABLE_NOTEBOOKS.items())
def test_notebook_runs_on_smoke_profile_and_renders_its_table(notebook, expected, smoke_dirs, monkeypatch):
    table, header = expected
    execute(notebook, smoke_dirs, monkeypatch)
    md = (smoke_dirs / "smoke" / "tables" / f"{table}.md").read_text()
    assert "profile `smoke`" in md and header in md
    assert "–" not in md.split("## ")[0]  # every cell of our table is filled
    for ext in ("tex", "csv"):
        assert (smoke_dirs / "smoke" / "tables" / f"{table}.{ext}").stat().st_size > 0
    # the committed cpu tables are never touched by a smoke run
    committed = ROOT / "tables" / f"{table}.md"
    assert not committed.exists() or "profile `smoke`" not in committed.read_text()


def test_paper_vs_ours_notebook_compares_both_tracks(smoke_dirs, monkeypatch):
    for notebook in ("table5_iterations", "table6_vit_iterations"):  # fill both stores first
        execute(notebook, smoke_dirs, monkeypatch)
    execute("paper_vs_ours", smoke_dirs, monkeypatch)
    text = (smoke_dirs / "smoke" / "tables" / "paper_vs_ours.md").read_text()
    assert "profile `smoke`" in text and "Genre 1 (Drama)" in text and "CIFAR10 (cifar10)" in text
    committed = ROOT / "tables" / "paper_vs_ours.md"  # a smoke run never overwrites the committed report
    assert not committed.exists() or "profile `smoke`" not in committed.read_text()


def test_reviewers_notebook_renders_the_study_on_the_smoke_profile(smoke_dirs, monkeypatch):
    """The reviewers' study (docs/reviewers.md) end to end: its table with the five sections and
    both figures; a learning teacher's "before" is the frozen teacher's own all-genre validation
    RMSE; the analysed re-runs repeat the choices their rows made per seed."""
    execute("reviewers", smoke_dirs, monkeypatch)
    text = (smoke_dirs / "smoke" / "tables" / "reviewers.md").read_text()
    assert "profile `smoke`" in text and "Genre 1 (Drama)" in text and "1% (n=" in text
    for heading in ("## 1. ", "## 2. ", "## 3. ", "## 4. ", "## 5. "):
        assert heading in text
    for ext in ("tex", "csv"):
        assert (smoke_dirs / "smoke" / "tables" / f"reviewers.{ext}").stat().st_size > 0
    for name in ("reviewers_data_size", "reviewers_alignment"):
        assert (smoke_dirs / "smoke" / "figures" / f"{name}.png").stat().st_size > 0
    assert (
        not (ROOT / "tables" / "reviewers.md").exists()
        or "profile `smoke`" not in (ROOT / "tables" / "reviewers.md").read_text()
    )

    from ikd_lib.core.results import cell_for
    from ikd_lib.movielens.reviewers import make_reviewers_experiment

    exp = make_reviewers_experiment("smoke", progress=False, store_root=smoke_dirs / "smoke")
    records = exp.stored_study()
    valid = exp.teacher_summary["valid_rmse"]
    learning = [r for r in records if r["variant"].startswith("thaw_")]
    assert learning
    for r in learning:
        before = r["analysis"]["teacher_valid_rmse_before"]
        assert before == pytest.approx(valid[exp.profile.seeds.index(r["seed"])], rel=1e-5)
    for genre in exp.profile.genres:
        chosen = cell_for([r for r in records if r["variant"] == "kd" and r["task"] == genre])
        again = [r for r in records if r["variant"] == "cka_kd" and r["task"] == genre]
        assert {(r["seed"], r["distill_weight"], r["l2"]) for r in again} == {
            (r["seed"], r["distill_weight"], r["l2"]) for r in chosen.records
        }
