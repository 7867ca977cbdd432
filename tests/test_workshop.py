"""The workshop notebook runs top to bottom on the smoke profile, with every exercise's solution.

The notebook (notebooks/workshop.ipynb, paired with its source notebooks/workshop.py) is executed by
papermill into a private folder with `solutions=True`; it writes its key numbers to the JSON
file named by its `results_path` parameter, which the assertions read:

- every loss the notebook computes by hand equals `method.forward_train` (K = 1 and K = 2),
  and every loss it reports is finite;
- the trained TD students beat the same students at initialisation on test RMSE;
- every exercise's solution cell ran;
- no stream output (stdout or stderr) holds a "Warning", and no cell failed.

Genre and epochs: at the smoke profile (a teacher trained for 3 epochs) a few epochs on Western
leave TD where it started (each student starts as a bias model fitted to the genre, and on
Western's 185 validation ratings 5 epochs do not move it), so the test runs the denser Sci-Fi,
where 5 epochs already move every seed. The default parameters (cpu profile, Western, 12 epochs)
are the class's, not the test's.
"""

import json
import math
import os
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "workshop.ipynb"
EXERCISES = ("k_rounds", "no_state_consistency", "noise", "small_genre")
PARAMETERS = {"profile": "smoke", "genre": "Sci-Fi", "epochs": 5, "exercise_epochs": 2, "solutions": True}


def numbers(tree):
    """Every number in a nested dict/list."""
    if isinstance(tree, dict):
        for value in tree.values():
            yield from numbers(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from numbers(value)
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield float(tree)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run the notebook once for every test in this file: (results dict, executed notebook)."""
    tmp = tmp_path_factory.mktemp("workshop")
    results_path = tmp / "results.json"
    out = tmp / "workshop.ipynb"
    env = {
        "IKD_RUNS_DIR": str(tmp / "runs"),
        # the kernel imports ikd_lib from this checkout, whatever the environment's install points at
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pm.execute_notebook(
            str(NOTEBOOK),
            str(out),
            parameters={**PARAMETERS, "results_path": str(results_path)},
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return json.loads(results_path.read_text()), nbformat.read(out, as_version=4)


def test_committed_notebook_has_no_outputs_and_a_parameters_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), (
        "commit the notebook without outputs (make notebooks clears them)"
    )
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for name in ("profile", "genre", "epochs", "exercise_epochs", "solutions", "results_path"):
        assert f"{name} =" in tagged[0].source
    ids = [c.id for c in nb.cells]
    assert len(set(ids)) == len(ids) and all(not i.isdigit() for i in ids)


def test_hand_computed_losses_match_forward_train_and_are_finite(executed):
    results, _ = executed
    for k in ("K=1", "K=2"):
        check = results["hand_check"][k]
        assert check, k
        for name, pair in check.items():
            assert len(pair["by_hand"]) == len(pair["forward_train"]) == 2  # the smoke profile's two seeds
            for mine, lib in zip(pair["by_hand"], pair["forward_train"]):
                assert math.isfinite(mine) and math.isfinite(lib), (k, name)
                assert mine == pytest.approx(lib, rel=1e-5, abs=1e-7), (k, name)
    assert set(results["hand_check"]["K=1"]) == {"task", "interact", "message", "state", "total"}
    for name, run in results["live"].items():
        if isinstance(run, dict):
            losses = list(numbers(run["final_train_losses"]))
            assert losses and all(math.isfinite(v) for v in losses), name
            assert {"task"} <= set(run["final_train_losses"])
    assert {"interact", "message", "state"} <= set(results["live"]["TD"]["final_train_losses"])
    assert all(math.isfinite(v) for v in numbers(results))


def test_trained_td_beats_the_untrained_student(executed):
    results, _ = executed
    live = results["live"]
    untrained, td = live["untrained_test_rmse"], live["TD"]["test_rmse"]
    assert len(untrained) == len(td) == 2
    assert sum(td) / len(td) < sum(untrained) / len(untrained)
    # the students started as the same model, and the message space is aligned after training
    assert max(untrained) - min(untrained) < 1e-6
    assert results["messages_after"]["paired"] < results["messages_after"]["shuffled"]


def test_every_exercise_solution_ran(executed):
    results, nb = executed
    for name in EXERCISES:
        assert results["exercises"][name]["solution_ran"] is True, name
    solution_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("if solutions:")]
    assert len(solution_cells) == len(EXERCISES)
    for cell in solution_cells:
        assert any(o.output_type == "display_data" and "image/png" in o.data for o in cell.outputs), cell.id
        assert any(o.output_type == "stream" and o.text.strip() for o in cell.outputs), cell.id


def test_outputs_are_clean(executed):
    _, nb = executed
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", cell.id
            if output.output_type == "stream":
                assert "Warning" not in output.text and "WARNING" not in output.text, (cell.id, output.text)
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert figures >= 9  # genre bars, toy messages, PCA before/after, live curves, four solutions


def test_table3_cells_reads_both_layouts_and_says_nothing_when_missing(tmp_path):
    from ikd_lib.workshop import table3_cells

    new = tmp_path / "new.csv"
    new.write_text("row,task,mean_test,se,profile\nTD,Western,0.87654,0.00432,cpu\nKD,Drama,0.9,0.001,cpu\n")
    old = tmp_path / "old.csv"
    old.write_text("table,row,genre_index,genre,mean_test_rmse,se\ntable3,Student,8,Western,0.913892,0.005591\n")
    assert table3_cells("Western", new) == {"TD": "0.8765 ± 0.0043 (cpu profile)"}
    assert table3_cells("Western", old) == {"Student": "0.9139 ± 0.0056"}
    assert table3_cells("Documentary", new) == {}
    assert table3_cells("Western", tmp_path / "absent.csv") == {}
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    assert table3_cells("Western", odd) == {}
