"""The paper's published values ship with the package and are read by default; a missing or
malformed file is an error that names it; a clone on its own (no folder beside it) renders
Tables 5, 7, 8 and paper_vs_ours.md with the paper's values."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ikd_lib import report
from ikd_lib.core.paper import PaperValuesError, read_paper_values

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ROOT / "ikd_lib" / "paper_results.json"
PUBLISHED_TABLES = ("table5", "table6", "table7", "table8", "table9")


def test_the_packaged_values_are_the_default(monkeypatch):
    monkeypatch.delenv("IKD_PAPER_RESULTS", raising=False)
    assert report.paper_results_path() == PACKAGED
    values = report.paper_results()
    assert set(PUBLISHED_TABLES) <= set(values)
    assert "2310.03188" in values["citation"]
    # the appendix's first cell of Table 5 (Genre 1, no interaction): 1.0018 ± 0.0002
    assert values["table5"]["rows"]["No interaction"][0] == {"mean": 1.0018, "se": 0.0002}


def test_the_packaged_values_are_installed_with_the_package():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "[tool.setuptools.package-data]" in pyproject and '"paper_results.json"' in pyproject


def test_an_override_is_read_instead(monkeypatch):
    sample = ROOT / "tests" / "data" / "paper_results_sample.json"
    monkeypatch.setenv("IKD_PAPER_RESULTS", str(sample))
    assert report.paper_results_path() == sample
    assert report.paper_results()["note"].startswith("MADE-UP")


def test_a_missing_file_is_an_error_that_names_it(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.json"
    monkeypatch.setenv("IKD_PAPER_RESULTS", str(missing))
    with pytest.raises(PaperValuesError, match="nowhere.json does not exist"):
        report.paper_results()


@pytest.mark.parametrize(
    "content,problem",
    [
        ("{not json", "not readable JSON"),
        ("[1, 2]", "top level is not an object"),
        ('{"note": "no tables"}', "no table"),
        (
            json.dumps({"table5": {"title": "t", "columns": ["Genre 1"], "rows": {"TD": [{"mean": 1.0}]}}}),
            "table5: no metric",
        ),
        (
            json.dumps(
                {
                    "table5": {
                        "title": "t",
                        "metric": "RMSE",
                        "columns": ["Genre 1", "Genre 2"],
                        "rows": {"TD": [{"mean": 1.0}]},
                    }
                }
            ),
            "row 'TD': not one value per column",
        ),
        (
            json.dumps(
                {"table5": {"title": "t", "metric": "RMSE", "columns": ["Genre 1"], "rows": {"TD": [{"mean": "1.0"}]}}}
            ),
            "numeric mean",
        ),
    ],
)
def test_a_malformed_file_is_an_error_that_names_it(tmp_path, content, problem):
    path = tmp_path / "values.json"
    path.write_text(content)
    with pytest.raises(PaperValuesError) as error:
        read_paper_values(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_the_sample_used_by_other_tests_is_well_formed():
    read_paper_values(ROOT / "tests" / "data" / "paper_results_sample.json")


# Run inside the copy: its own ikd_lib, its own tables/, no IKD_PAPER_RESULTS.
IN_THE_COPY = """
import json
from ikd_lib import report
from ikd_lib.core.paper import paper_vs_ours
from ikd_lib.core.tables import published_section
path = report.paper_results_path()
values = report.paper_results()
tables = report.paper_tables("cpu")
out = {"path": str(path), "keys": sorted(values), "paper_vs_ours": paper_vs_ours(tables, values),
       "published": {k: published_section(t, values.get(t.spec.paper_key)) for k, t in tables.items()}}
print(json.dumps(out))
"""


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("this test copies the tracked files: it needs git and a git checkout")
    return (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
        .stdout.strip("\0")
        .split("\0")
    )


def test_a_clone_on_its_own_renders_the_comparison_with_the_papers_values(tmp_path):
    clone = tmp_path / "alone" / "ikd"  # nothing beside it: no sibling folder of the dev machines
    for name in tracked_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    assert not (clone.parent / "shared").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("IKD_PAPER_RESULTS", "PYTHONPATH")}
    done = subprocess.run(
        [sys.executable, "-c", IN_THE_COPY],
        cwd=clone,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(clone)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert Path(out["path"]) == clone / "ikd_lib" / "paper_results.json"
    assert set(PUBLISHED_TABLES) <= set(out["keys"])
    published = json.loads(PACKAGED.read_text())
    for key in ("table5", "table7", "table8"):
        # what write_table puts under a table (report.table passes it report.paper_results())
        section = "\n".join(out["published"][key])
        assert section.startswith("## The paper's published values"), key
        first_row, values = next(iter(published[key]["rows"].items()))
        assert f"| {first_row} | {values[0]['mean']:.4f} ± {values[0]['se']:.4f} |" in section, key
        assert section in (ROOT / "tables" / f"{key}.md").read_text(), key  # as committed
    # the comparison made in the copy is the committed one, paper's side included
    assert out["paper_vs_ours"] == (ROOT / "tables" / "paper_vs_ours.md").read_text()
    assert "| No interaction | paper | 1.0018 ± 0.0002 |" in out["paper_vs_ours"]
