"""Every notebook is a pair (docs/notebooks.md): notebooks/<name>.py in jupytext's percent format
and notebooks/<name>.ipynb, with the same cells; the .ipynb is committed without outputs."""

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FORMATS = "ipynb,py:percent"


def cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source, tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def pair_differences(py: Path, ipynb: Path) -> list[str]:
    """What differs between the two files of a pair, as lines ([] when in sync)."""
    text, nb = jupytext.read(py), nbformat.read(ipynb, as_version=4)
    problems = []
    for name, metadata in (("py", text.metadata), ("ipynb", nb.metadata)):
        if metadata.get("jupytext", {}).get("formats") != FORMATS:
            problems.append(f"{name}: not paired as {FORMATS}")
    if text.metadata.get("kernelspec") != nb.metadata.get("kernelspec"):
        problems.append("the kernelspecs differ")
    a, b = cells(text), cells(nb)
    if len(a) != len(b):
        problems.append(f"{len(a)} cells in the .py, {len(b)} in the .ipynb")
    problems += [f"cell {i}: {x[:2]} != {y[:2]}" for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return problems


def test_every_notebook_has_both_files():
    py, ipynb = {p.stem for p in NOTEBOOKS.glob("*.py")}, {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert "workshop" in py and "table3_movielens" in py
    assert py == ipynb, f"unpaired: {sorted(py ^ ipynb)}; run `make notebooks`"


@pytest.mark.parametrize("name", sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
def test_the_pair_is_in_sync_and_the_notebook_has_no_outputs(name):
    py, ipynb = NOTEBOOKS / f"{name}.py", NOTEBOOKS / f"{name}.ipynb"
    problems = pair_differences(py, ipynb)
    assert not problems, f"{name} is out of sync, run `make notebooks`: {problems}"
    nb = nbformat.read(ipynb, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name}.ipynb has outputs: make notebooks"
    assert sum("parameters" in c.metadata.get("tags", ()) for c in code) == 1  # what papermill injects after
    assert nb.metadata["kernelspec"]["name"] == "ikd"


def test_an_edit_on_one_side_is_seen(tmp_path):
    """The check can fail: a changed line in the .py, a cell added to the .ipynb."""
    py, ipynb = NOTEBOOKS / "paper_vs_ours.py", NOTEBOOKS / "paper_vs_ours.ipynb"
    edited = tmp_path / "edited.py"
    edited.write_text(py.read_text().replace('profile = "cpu"', 'profile = "smoke"'))
    assert any("cell 1" in p for p in pair_differences(edited, ipynb))
    nb = nbformat.read(ipynb, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("one more"))
    longer = tmp_path / "longer.ipynb"
    nbformat.write(nb, longer)
    assert any("cells in the .py" in p for p in pair_differences(py, longer))
