"""The paper-vs-ours report: direction checks, ties, metric direction, missing cells, summary."""

import math

import pytest

from ikd_lib.core import paper as pv
from ikd_lib.core.results import Cell, paired_p_value
from ikd_lib.core.tables import BuiltTable
from ikd_lib.movielens.tables import MOVIELENS_TABLES

SEEDS = [0, 1, 2]


def cell(variant, test, weight=1.0):
    return Cell(
        seeds=SEEDS,
        records=[
            {"variant": variant, "seed": s, "distill_weight": weight, "l2": 0.0, "test_metric": t, "valid_metric": t}
            for s, t in zip(SEEDS, test)
        ],
    )


def built(key, genres, rows: dict[str, list[list[float]]]) -> BuiltTable:
    """rows: label -> per genre, test values per seed."""
    spec = MOVIELENS_TABLES.get(key, MOVIELENS_TABLES["table5"])
    cells = {(label, g): cell(label, tests) for label, per_genre in rows.items() for g, tests in zip(genres, per_genre)}
    return BuiltTable(
        spec,
        tuple(genres),
        cells,
        {},
        {"profile": "handmade", "table_hash": "abc123", "git_revisions": ["deadbeef"], "seeds": SEEDS},
    )


def published(metric, columns, rows: dict[str, list[float]]) -> dict:
    return {
        "title": "hand-made",
        "metric": metric,
        "columns": columns,
        "rows": {label: [{"mean": m, "se": 0.001} for m in means] for label, means in rows.items()},
    }


RMSE = "RMSE (lower is better), mean ± standard error"
ACC = "top-1 accuracy (higher is better), one run"


def test_metric_direction_is_read_from_the_metric_string():
    assert pv.higher_is_better(ACC) and pv.higher_is_better("accuracy")
    assert not pv.higher_is_better(RMSE) and not pv.higher_is_better("test RMSE")
    assert not pv.higher_is_better("error of the accuracy estimate (lower is better)")  # explicit wins
    with pytest.raises(ValueError):
        pv.higher_is_better("a score")
    assert pv.gain(0.9, 1.0, higher=False) == pytest.approx(0.1)  # lower RMSE: first row better
    assert pv.gain(0.9, 1.0, higher=True) == pytest.approx(-0.1)  # lower accuracy: first row worse


@pytest.mark.parametrize(
    "paper_gain,our_gain,expected",
    [
        (0.01, 0.002, "agree"),
        (-0.01, -0.5, "agree"),
        (0.01, -0.002, "disagree"),
        (-0.01, 0.3, "disagree"),
        (0.0, 0.01, "tie"),
        (0.0, None, "tie"),
        (0.01, None, "not run"),
        (None, 0.01, "not run"),
        (0.01, 0.0, "disagree"),
    ],
)  # our exact tie does not reproduce a direction
def test_verdict(paper_gain, our_gain, expected):
    assert pv.verdict(paper_gain, our_gain) == expected


def test_checks_per_genre_with_ties_missing_cells_and_p_values():
    # paper: 1 iteration beats no interaction in column 1, loses in 2, ties in 3
    paper = {
        "table5": published(
            RMSE,
            ["Genre 1", "Genre 2", "Genre 3"],
            {
                "No interaction": [1.00, 1.10, 1.05],
                "1 iteration": [0.99, 1.11, 1.05],
                "2-3 iterations": [0.98, 1.2, 1.0],
            },
        )
    }
    # ours: two genres only; 1 iteration better in both (agree in 1, disagree in 2); no 2-3 row
    ours = built(
        "table5",
        ["Drama", "Western"],
        {"No interaction": [[1.0, 1.1, 1.2], [1.0, 1.0, 1.0]], "1 iteration": [[0.9, 1.05, 1.1], [0.95, 0.97, 0.99]]},
    )
    checks = {(c.claim.question, c.column): c for c in pv.check_claims({"table5": ours}, paper)}
    first = "Does 1 iteration beat no interaction?"
    assert checks[first, "Genre 1"].verdict == "agree"
    assert checks[first, "Genre 1"].genre == "Drama"  # matched by rank
    assert checks[first, "Genre 1"].our_gain == pytest.approx(1.1 - 1.0166666, abs=1e-6)
    assert checks[first, "Genre 2"].verdict == "disagree"
    assert checks[first, "Genre 3"].verdict == "tie"  # the paper ties: not counted
    assert checks[first, "Genre 3"].genre is None
    p = checks[first, "Genre 1"].p_value
    assert p == paired_p_value(ours.cells["1 iteration", "Drama"], ours.cells["No interaction", "Drama"])
    assert 0 < p < 1
    # the 2-3 iterations row was not run: its checks cannot be decided
    assert checks["Do 2-3 iterations beat no interaction?", "Genre 1"].verdict == "not run"
    assert math.isnan(checks["Do 2-3 iterations beat no interaction?", "Genre 1"].p_value)

    counts = pv.summary_counts(list(checks.values()))
    assert counts["table5"]["agree"] == 1 and counts["table5"]["disagree"] == 1
    assert counts["table5"]["tie"] == 1 and counts["table5"]["not run"] == 6
    assert counts["overall"] == counts["table5"]


def test_higher_is_better_flips_the_direction():
    """The same numbers mean the opposite under accuracy and under RMSE."""
    rows = {"No interaction": [0.90], "1 iteration": [0.95], "2 iterations": [0.95]}
    ours_rows = {
        "No interaction": [[0.90, 0.91, 0.92]],
        "1 iteration": [[0.95, 0.96, 0.94]],
        "2 iterations": [[0.95, 0.96, 0.94]],
    }
    acc = pv.check_claims(
        {"table6": built("table6", ["CIFAR10"], ours_rows)}, {"table6": published(ACC, ["CIFAR10"], rows)}
    )
    first = acc[0]
    assert first.claim.a == "1 iteration" and first.paper_gain > 0 and first.our_gain > 0
    assert first.verdict == "agree"
    # under RMSE the paper's "1 iteration" (0.95) loses to "No interaction" (0.90)
    rmse_paper = {
        "table5": published(
            RMSE, ["Genre 1"], {"No interaction": [0.90], "1 iteration": [0.95], "2-3 iterations": [0.95]}
        )
    }
    rmse = pv.check_claims(
        {
            "table5": built(
                "table5", ["Drama"], {"No interaction": [[0.90, 0.91, 0.92]], "1 iteration": [[0.95, 0.96, 0.94]]}
            )
        },
        rmse_paper,
    )
    assert rmse[0].paper_gain < 0 and rmse[0].our_gain < 0 and rmse[0].verdict == "agree"


def test_consistency_ablations_compare_with_td_default_not_the_td_row():
    paper = {"table7": published(RMSE, ["Genre 1"], {"No L_MC": [1.01], "No L_SC": [1.02], "TD": [1.00]})}
    # our TD row (best variant) beats No L_MC, but the default it was removed from does not
    ours = built(
        "table7",
        ["Drama"],
        {
            "No L_MC": [[1.0, 1.0, 1.0]],
            "No L_SC": [[1.1, 1.1, 1.1]],
            "TD": [[0.9, 0.9, 0.9]],
            "TD (default)": [[1.05, 1.06, 1.04]],
        },
    )
    checks = {c.claim.b: c for c in pv.check_claims({"table7": ours}, paper)}
    assert checks["No L_MC"].our_gain == pytest.approx(-0.05) and checks["No L_MC"].verdict == "disagree"
    assert checks["No L_SC"].our_gain == pytest.approx(0.05) and checks["No L_SC"].verdict == "agree"


def test_markdown_report_has_summary_cells_not_run_and_provenance(tmp_path):
    paper = {
        "note": "not a table",
        "table5": published(
            RMSE,
            ["Genre 1", "Genre 2"],
            {"No interaction": [1.00, 1.10], "1 iteration": [0.99, 1.11], "2-3 iterations": [0.98, 1.2]},
        ),
        "table6": {
            "title": "ViT",
            "metric": ACC,
            "columns": ["CIFAR10"],
            "rows": {
                "No interaction": [{"mean": 0.94089, "se": None}],
                "1 iteration": [{"mean": 0.941, "se": None}],
                "2 iterations": [{"mean": 0.941, "se": None}],
            },
        },
    }
    ours = built(
        "table5",
        ["Drama"],
        {"No interaction": [[1.0, 1.1, 1.2]], "1 iteration": [[0.9, 1.05, 1.1]], "2-3 iterations": [[1.3, 1.3, 1.3]]},
    )
    path = pv.write_paper_vs_ours({"table5": ours}, paper, tmp_path)
    text = path.read_text()
    assert path.name == "paper_vs_ours.md"
    assert "never tuned towards the paper" in text and "matched by rank" in text
    # table 5: 3 claims x 2 columns; Genre 2 is missing in ours. Agree: 1 vs none (G1).
    # Disagree: 2-3 vs none (G1), 2-3 vs 1 (G1). Table 6: 3 not run, of which the 2-vs-1 tie is a tie.
    assert "| Table 5 | hand-made | 1 | 2 | 0 | 3 | 1 |" in text  # agree with p = 0.038
    assert "| Table 6 | ViT | 0 | 0 | 1 | 2 | 0 |" in text
    assert "| **overall** | all tables | 1 | 2 | 1 | 5 | 1 |" in text
    assert "Direction agreement, overall: 1 of 3 (33%)" in text
    assert "| Genre 1 (Drama) |" in text and "| Genre 2 |" in text  # our genre named by rank
    assert "0.94089" in text and "0.94100" in text  # published decimals kept
    assert "| | ours | not run |" in text  # Table 6 has no built table
    assert "| | ours | 1.1000 ± 0.0577 | – |" in text  # ours, and a missing cell
    assert "table hash `abc123`" in text and "deadbeef" in text
