"""Budget curves (core/budget.py): the expected test metric of the configuration chosen on
validation among n drawn uniformly with replacement (Dodge et al. 2019), worked out by hand and
checked against an enumeration of every draw."""

import itertools

import numpy as np
import pytest

from ikd_lib.core import plots
from ikd_lib.core.budget import cell_curve, expected_test, table_curves
from ikd_lib.core.results import cell_for, choice_key
from ikd_lib.core.tables import Row, TableSpec


def rec(valid, test, weight=1.0, l2=0.0, variant="kd", seed=0, task="Drama"):
    return {
        "variant": variant,
        "task": task,
        "seed": seed,
        "distill_weight": weight,
        "l2": l2,
        "valid_metric": valid,
        "test_metric": test,
    }


# validation 0.90, 0.85, 0.88 with test 0.91, 0.86, 0.87 at λ = 1, 10, 100 (the docstring's example)
EXAMPLE = [rec(0.90, 0.91, 1.0), rec(0.85, 0.86, 10.0), rec(0.88, 0.87, 100.0)]


def by_enumeration(records, n, higher_is_better=False):
    """The definition: every ordered n-tuple of draws is equally likely; keep what the selection keeps."""
    kept = [
        min(draw, key=lambda r: choice_key(r, higher_is_better))["test_metric"]
        for draw in itertools.product(records, repeat=n)
    ]
    return float(np.mean(kept))


def test_the_estimator_is_its_closed_form_on_the_worked_example():
    """Ranked from chosen last: test 0.91 (valid 0.90), 0.87 (0.88), 0.86 (0.85).
    n = 1: (0.91 + 0.87 + 0.86) / 3 = 0.88; n = 2: (0.91 + 3·0.87 + 5·0.86) / 9 = 7.82 / 9;
    n = 3: (0.91 + 7·0.87 + 19·0.86) / 27 = 23.34 / 27."""
    assert expected_test(EXAMPLE, [1, 2, 3]) == pytest.approx([0.88, 7.82 / 9, 23.34 / 27], abs=1e-12)
    for n in (1, 2, 3, 4):
        assert expected_test(EXAMPLE, [n])[0] == pytest.approx(by_enumeration(EXAMPLE, n), abs=1e-12)


def test_one_draw_is_the_mean_over_configurations_and_many_are_the_validation_best():
    assert expected_test(EXAMPLE, [1])[0] == pytest.approx(np.mean([0.91, 0.86, 0.87]), abs=1e-12)
    # P(the validation-best is never drawn in 200) = (2/3)^200 ≈ 1e-35
    assert expected_test(EXAMPLE, [200])[0] == pytest.approx(0.86, abs=1e-12)
    assert expected_test(EXAMPLE, [200])[0] == pytest.approx(cell_for(EXAMPLE).test[0], abs=1e-12)
    # more draws never choose worse on validation; here that is also better on test
    curve = expected_test(EXAMPLE, range(1, 10))
    assert np.all(np.diff(curve) < 0)


def test_validation_ties_go_by_the_selections_tie_break():
    """λ = 1 and λ = 10 tie on validation (0.9); the selection keeps the smaller λ, so λ = 1 (test
    0.95) ranks above λ = 10 (test 0.85); λ = 100 (valid 0.95, test 0.80) is chosen last.
    n = 2: (0.80 + 3·0.85 + 5·0.95) / 9 = 8.10 / 9 = 0.9; n -> infinity: 0.95, cell_for's choice."""
    tied = [rec(0.9, 0.85, 10.0), rec(0.9, 0.95, 1.0), rec(0.95, 0.80, 100.0)]
    assert expected_test(tied, [2])[0] == pytest.approx(0.9, abs=1e-12)
    for n in (1, 2, 3):
        assert expected_test(tied, [n])[0] == pytest.approx(by_enumeration(tied, n), abs=1e-12)
    assert expected_test(tied, [300])[0] == pytest.approx(0.95, abs=1e-12) == cell_for(tied).test[0]
    # the tie-break goes on to l2, then the variant's name
    on_l2 = [rec(0.9, 0.85, l2=3.0), rec(0.9, 0.95, l2=0.3)]
    assert expected_test(on_l2, [300])[0] == pytest.approx(0.95, abs=1e-12)
    on_variant = [rec(0.9, 0.85, variant="td_k2"), rec(0.9, 0.95, variant="td")]
    assert expected_test(on_variant, [300])[0] == pytest.approx(0.95, abs=1e-12)


def test_higher_is_better_reverses_the_ranking():
    """The example's numbers as accuracy: ranked from chosen last test 0.86 (valid 0.85), 0.87
    (0.88), 0.91 (0.90). n = 2: (0.86 + 3·0.87 + 5·0.91) / 9 = 8.02 / 9."""
    assert expected_test(EXAMPLE, [2], higher_is_better=True)[0] == pytest.approx(8.02 / 9, abs=1e-12)
    assert expected_test(EXAMPLE, [2], higher_is_better=True)[0] == pytest.approx(
        by_enumeration(EXAMPLE, 2, higher_is_better=True), abs=1e-12
    )
    assert expected_test(EXAMPLE, [300], higher_is_better=True)[0] == pytest.approx(0.91, abs=1e-12)


def test_a_cell_curve_is_the_mean_of_its_seeds_curves():
    """Seed 0: the example (n = 1: 0.88, n = 2: 7.82/9, n = 3: 23.34/27); seed 1: two
    configurations, valid 0.80 (test 0.90) and 0.70 (test 0.70): n = 1: 0.80, n = 2: (0.90 + 3·0.70)/4
    = 0.75, n = 3: (0.90 + 7·0.70)/8 = 0.725. The curve runs to the larger N, 3."""
    seed1 = [rec(0.80, 0.90, 1.0, seed=1), rec(0.70, 0.70, 10.0, seed=1)]
    curve = cell_curve(EXAMPLE + seed1, "KD")
    assert curve.label == "KD" and curve.task == "Drama" and curve.seeds == [0, 1] and curve.n_configs == [3, 2]
    assert curve.budgets.tolist() == [1, 2, 3]
    assert curve.per_seed[1] == pytest.approx([0.80, 0.75, 0.725], abs=1e-12)
    assert curve.expected == pytest.approx(
        [(0.88 + 0.80) / 2, (7.82 / 9 + 0.75) / 2, (23.34 / 27 + 0.725) / 2], abs=1e-12
    )
    assert curve.chosen_test == cell_for(EXAMPLE + seed1).test == [0.86, 0.70]
    assert cell_curve(EXAMPLE + seed1, n_max=6).budgets.tolist() == [1, 2, 3, 4, 5, 6]


SPEC = TableSpec(
    key="table3",
    title="Toy",
    metric="RMSE",
    higher_is_better=False,
    rows=(
        Row("Teacher", ("teacher",), reference=True),
        Row("Student", ("student",)),
        Row("KD", ("kd",)),
        Row("TD (default)", ("td",), csv_only=True),
        Row("TD", ("td*",)),
    ),
)


def test_table_curves_follow_the_rows_of_the_table():
    """The teacher (a reference row) and CSV-only rows get no curve; the TD row pools every TD
    variant run (td at λ = 1, 10 and td_k2 at λ = 1: N = 3); a row not run on a task has none."""
    records = [
        rec(0.8, 0.8, 0.0, variant="teacher"),
        rec(0.95, 0.95, 0.0, 0.3, "student"),
        rec(0.93, 0.94, 0.0, 3.0, "student"),
        rec(0.90, 0.91, 1.0, variant="td"),
        rec(0.89, 0.92, 10.0, variant="td"),
        rec(0.88, 0.90, 1.0, variant="td_k2"),
        rec(0.9, 0.9, 1.0, variant="kd", task="Crime"),
    ]
    curves = table_curves(SPEC, records, ("Drama", "Crime"))
    assert sorted(curves) == [("KD", "Crime"), ("Student", "Drama"), ("TD", "Drama")]
    assert curves["TD", "Drama"].n_configs == [3] and curves["Student", "Drama"].n_configs == [2]
    assert curves["TD", "Drama"].chosen_test == [0.90]  # td_k2, validation 0.88
    assert curves["KD", "Crime"].expected.tolist() == [0.9]


def test_bad_input_is_refused_with_what_to_give():
    with pytest.raises(ValueError, match=r"no configurations: a budget curve needs at least one run"):
        expected_test([], [1])
    with pytest.raises(
        ValueError,
        match=r"seed 0 has more than one run of \[\('kd', 1.0, 0.0\)\] \(variant, λ, l2\): "
        "give one record per configuration and seed",
    ):
        expected_test([rec(0.9, 0.9), rec(0.8, 0.8)], [1])
    with pytest.raises(ValueError, match=r"budgets are numbers of configurations tried, each at least 1, got \[0, 1\]"):
        expected_test(EXAMPLE, [0, 1])
    with pytest.raises(ValueError, match=r"KD has no runs: no budget curve"):
        cell_curve([], "KD")


def test_the_budget_figure_has_a_panel_per_task_and_a_line_per_row(tmp_path):
    records = [
        rec(v, t, w, variant=variant, seed=s, task=task)
        for task in ("Drama", "Crime")
        for s in (0, 1)
        for variant, grid in (("kd", (1.0, 10.0, 100.0)), ("td", (1.0, 10.0)))
        for w, v, t in zip(grid, (0.90, 0.85, 0.88), (0.91, 0.86, 0.87))
    ]
    curves = table_curves(SPEC, records, ("Drama", "Crime"))
    metric = plots.FigureMetric("RMSE", "rating stars", higher_is_better=False, task_loss="MSE")
    fig = plots.plot_budget_curves(curves, ("Drama", "Crime"), metric, title="Table 3")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["Drama", "Crime"]
    assert [[line.get_label() for line in ax.get_lines()] for ax in axes] == [["KD", "TD"], ["KD", "TD"]]
    assert axes[0].get_lines()[0].get_xdata().tolist() == [1, 2, 3]  # KD tried 3 values, TD 2
    assert axes[0].get_lines()[1].get_xdata().tolist() == [1, 2]
    assert axes[0].get_ylabel() == "expected test RMSE\n(lower is better)"
    assert axes[0].get_xlabel() == "configurations tried (n)"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["KD", "TD"]
    assert fig._suptitle.get_text().startswith("Table 3\nExpected test RMSE of the configuration chosen on validation")
    accuracy = plots.FigureMetric("top-1 accuracy", "fraction", higher_is_better=True, task_loss="CE")
    assert "higher is better" in plots.plot_budget_curves(curves, ("Drama",), accuracy).axes[0].get_ylabel()
    paths = plots.save_figure(fig, tmp_path, "budget")
    assert [p.name for p in paths] == ["budget.png", "budget.pdf"]
