"""Every table notebook runs end to end through papermill on the smoke profile."""
import os
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLE_NOTEBOOKS = {"table3_movielens": "table3", "table5_iterations": "table5",
                   "table7_consistency": "table7", "table8_noise_schedule": "table8"}


@pytest.mark.parametrize("notebook,table", TABLE_NOTEBOOKS.items())
def test_notebook_runs_on_smoke_profile_and_renders_its_table(notebook, table, smoke_dirs, monkeypatch):
    monkeypatch.setenv("IKD_RUNS_DIR", str(smoke_dirs))
    out = smoke_dirs / "notebooks" / f"{notebook}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(out),
                        parameters={"profile": "smoke"}, cwd=str(ROOT / "notebooks"), progress_bar=False)
    md = (smoke_dirs / "smoke" / "tables" / f"{table}.md").read_text()
    assert "profile `smoke`" in md and "Genre 1 (Drama)" in md and "Genre 2 (Western)" in md
    assert "–" not in md.split("## ")[0]      # every cell of our table is filled
    for ext in ("tex", "csv"):
        assert (smoke_dirs / "smoke" / "tables" / f"{table}.{ext}").stat().st_size > 0
    # the committed cpu tables are never touched by a smoke run
    assert not (ROOT / "tables" / f"{table}.md").exists() or "profile `smoke`" not in (ROOT / "tables" / f"{table}.md").read_text()
