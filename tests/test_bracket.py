"""Grids that bracket their per-seed choices (core/bracket.py), on toy validation values whose
every choice is worked out by hand below. The rule: each seed takes its best validation value
(ties to the smaller value, as results.cell_for); a choice is interior, at a declared bound, tied
with its inner neighbour (a flat stretch: grows nothing), or at an open edge (that side grows by
one factor `step`, never past its bound).
"""

import math

import pytest

from ikd_lib.core.bracket import (
    AT_BOUND,
    INTERIOR,
    OPEN_EDGE,
    TIED,
    axis_validation,
    bracket,
    choose,
    next_value,
    search,
)
from ikd_lib.core.results import cell_for

GRID = (1.0, 10.0, 100.0)
BOUNDS = (1e-3, 1e4)


def test_a_choice_at_the_upper_edge_grows_the_upper_side_only():
    """RMSE (lower is better). Seed 0: 0.89 at λ = 10 is its best, between 1 and 100: interior.
    Seed 1: 0.90 at λ = 100, the largest searched, and 100 is not the bound 1e4: open edge, so the
    next grid adds 100 * 10 = 1000 on the upper side and nothing on the lower side."""
    valid = {0: {1.0: 0.90, 10.0: 0.89, 100.0: 0.91}, 1: {1.0: 0.92, 10.0: 0.91, 100.0: 0.90}}
    b = bracket(GRID, valid, BOUNDS, step=10)
    assert b.choices == {0: 10.0, 1: 100.0} and b.kinds == {0: INTERIOR, 1: OPEN_EDGE}
    assert b.next_grid == (1.0, 10.0, 100.0, 1000.0) and b.new_values == (1000.0,) and not b.bracketed
    assert b.counts() == {"choices_interior": 1, "choices_at_bound": 0, "choices_tied": 0, "choices_at_open_edge": 1}
    assert b.upper.grown_to == 1000.0 and b.upper.seeds_open == (1,)
    assert b.lower.grown_to is None and b.lower.seeds_open == ()
    assert b.upper.why == "upper side grown to 1000: 1 seed(s) chose the open edge 100"
    assert b.lower.why == "lower side brackets: no seed chose the edge 1"


def test_the_metric_direction_flips_the_choices_and_the_side_that_grows():
    """The same numbers as accuracy (higher is better): seed 0 now takes 0.91 at λ = 100 (upper
    open edge), seed 1 takes 0.92 at λ = 1 (lower open edge): both sides grow, to 1000 and 0.1."""
    valid = {0: {1.0: 0.90, 10.0: 0.89, 100.0: 0.91}, 1: {1.0: 0.92, 10.0: 0.91, 100.0: 0.90}}
    b = bracket(GRID, valid, BOUNDS, step=10, higher_is_better=True)
    assert b.choices == {0: 100.0, 1: 1.0} and b.kinds == {0: OPEN_EDGE, 1: OPEN_EDGE}
    assert b.next_grid == (0.1, 1.0, 10.0, 100.0, 1000.0) and b.choices_at_open_edge == 2


def test_a_flat_stretch_is_a_tie_and_grows_nothing():
    """Every run restored its starting model: 0.9262 at every λ. The tie goes to the smallest λ,
    1, the lower edge, whose validation equals its inner neighbour's (λ = 10) exactly: tied, not
    a preference for less distillation, so the lower side does not grow. A second seed with the
    same flat stretch between 1 and 10 but a worse 100 is tied too."""
    valid = {0: {1.0: 0.9262, 10.0: 0.9262, 100.0: 0.9262}, 1: {1.0: 0.9262, 10.0: 0.9262, 100.0: 0.93}}
    b = bracket(GRID, valid, BOUNDS, step=10)
    assert b.choices == {0: 1.0, 1: 1.0} and b.kinds == {0: TIED, 1: TIED}
    assert b.bracketed and b.next_grid == GRID and b.new_values == ()
    assert b.counts() == {"choices_interior": 0, "choices_at_bound": 0, "choices_tied": 2, "choices_at_open_edge": 0}
    assert b.lower.seeds_tied == (0, 1) and b.lower.grown_to is None
    assert b.lower.why == (
        "lower side not grown: 2 seed(s) tied with 10 on a flat stretch at the edge 1 "
        "(a tie broken by the smaller value, not a preference)"
    )


def test_a_tie_beside_an_open_edge_choice_is_counted_apart_and_the_side_still_grows():
    """Seed 0 is tied at λ = 1 (0.93 at 1 and 10); seed 1 prefers λ = 1 (0.90 < 0.91): open.
    The lower side grows to 0.1 for seed 1; seed 0 is counted as tied, not at the open edge.
    An interior tie (seed 2: 0.90 at 10 and 100, 0.95 at 1) goes to 10: interior."""
    valid = {
        0: {1.0: 0.93, 10.0: 0.93, 100.0: 0.94},
        1: {1.0: 0.90, 10.0: 0.91, 100.0: 0.92},
        2: {1.0: 0.95, 10.0: 0.90, 100.0: 0.90},
    }
    b = bracket(GRID, valid, BOUNDS, step=10)
    assert b.kinds == {0: TIED, 1: OPEN_EDGE, 2: INTERIOR} and b.choices[2] == 10.0
    assert b.next_grid == (0.1, 1.0, 10.0, 100.0)
    assert b.lower.why == (
        "lower side grown to 0.1: 1 seed(s) chose the open edge 1 "
        "(1 seed(s) tied with 10 on a flat stretch: not counted)"
    )


def test_an_edge_at_its_bound_is_not_grown_and_says_so():
    """The grid reaches the lower bound 1 itself: seed 0's choice of 1 (0.88, below 0.89) is at
    the bound, nothing more to search; it is counted at a bound even though it is not tied."""
    valid = {0: {1.0: 0.88, 10.0: 0.89, 100.0: 0.90}}
    b = bracket(GRID, valid, (1.0, 1e4), step=10)
    assert b.kinds == {0: AT_BOUND} and b.bracketed and b.next_grid == GRID
    assert b.lower.seeds_at_bound == (0,) and b.choices_at_bound == 1
    assert b.lower.why == "lower side at its bound 1: 1 seed(s) chose it, nothing more to search"


def test_growth_stops_at_the_bound_not_past_it():
    """100 * 10 = 1000 is past the upper bound 500: the grid grows to 500, the bound itself."""
    b = bracket(GRID, {0: {1.0: 0.9, 10.0: 0.8, 100.0: 0.7}}, (1e-3, 500.0), step=10)
    assert b.next_grid == (1.0, 10.0, 100.0, 500.0)
    assert next_value(1e-5, "lower", 10, 1e-9) == 1e-6  # 1e-5 / 10 is 1.0000000000000002e-06 unrounded
    assert next_value(3.0, "upper", 10, 1e6) == 30.0 and next_value(0.3, "lower", 10, 1e-3) == 0.03


def test_a_one_value_grid_has_both_edges():
    """λ ∈ {1}: the choice is at both edges. Both sides open: the next grid is 0.1, 1, 10. With
    the lower bound at 1, the upper side is still open, so the choice counts as at an open edge."""
    b = bracket((1.0,), {0: {1.0: 0.9}}, BOUNDS, step=10)
    assert b.next_grid == (0.1, 1.0, 10.0) and b.kinds == {0: OPEN_EDGE}
    b = bracket((1.0,), {0: {1.0: 0.9}}, (1.0, 1e3), step=10)
    assert b.next_grid == (1.0, 10.0) and b.kinds == {0: OPEN_EDGE} and b.lower.seeds_at_bound == (0,)
    b = bracket((1.0,), {0: {1.0: 0.9}}, (1.0, 1.0), step=10)
    assert b.bracketed and b.kinds == {0: AT_BOUND}


def test_the_choice_is_cell_fors_with_its_tie_break():
    """Equal validation at 1 and 10: the smaller, whatever the order the values come in; the
    same value cell_for takes from records carrying these numbers."""
    for line in ({10.0: 0.9, 1.0: 0.9, 100.0: 0.95}, {1.0: 0.9, 100.0: 0.95, 10.0: 0.9}):
        records = [
            {"variant": "kd", "seed": 0, "distill_weight": w, "valid_metric": v, "test_metric": 0.0}
            for w, v in line.items()
        ]
        assert choose(line) == 1.0 == cell_for(records).weights[0]
        assert choose(line, higher_is_better=True) == 100.0 == cell_for(records, higher_is_better=True).weights[0]


# ---------------------------------------------------------------- the driver
def toy_evaluate(optimum: dict, calls: list, records: list, sign: float = 1.0):
    """Validation (x - optimum)² in x = log10 λ, per seed, times `sign` (-1: accuracy-like, higher
    is better, same choices); the test metric is the validation plus 0.01. Logs every call and
    every record it 'ran'."""

    def evaluate(values):
        calls.append(tuple(values))
        out = {}
        for seed, best in optimum.items():
            out[seed] = {v: sign * (math.log10(v) - best) ** 2 for v in values}
            records.extend(
                {
                    "variant": "kd",
                    "task": "Drama",
                    "seed": seed,
                    "distill_weight": v,
                    "l2": 0.3,
                    "valid_metric": val,
                    "test_metric": val + 0.01,
                }
                for v, val in out[seed].items()
            )
        return out

    return evaluate


@pytest.mark.parametrize("higher_is_better", [False, True])
def test_search_grows_until_every_choice_is_inside_and_chooses_what_a_plain_search_would(higher_is_better):
    """Seed 0's optimum at log10 λ = -2.2, seed 1's at 3.4; grid 1, 10, 100, bounds 1e-5-1e6.
    1st: seed 0 takes 1 (lower edge), seed 1 100 (upper edge): add 0.1 and 1000.
    2nd: 0.1 (edge; -1 is 1.2 from -2.2) and 1000 (edge): add 0.01 and 1e4.
    3rd: seed 0 takes 0.01 (|-2 + 2.2| = 0.2), the edge again: add 0.001; seed 1 takes 1000
    (|3 - 3.4| = 0.4 < |4 - 3.4| = 0.6): interior.
    4th: seed 0's 0.01 is between 0.001 (0.8 away) and 0.1: bracketed. Only new values are
    evaluated, and cell_for over every record run chooses the same λ per seed."""
    calls, records = [], []
    sign = -1.0 if higher_is_better else 1.0
    result = search(
        GRID,
        toy_evaluate({0: -2.2, 1: 3.4}, calls, records, sign),
        (1e-5, 1e6),
        step=10,
        higher_is_better=higher_is_better,
    )
    assert calls == [(1.0, 10.0, 100.0), (0.1, 1000.0), (0.01, 1e4), (0.001,)]
    assert result.grid == (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 1e4) and result.evaluations == 4
    assert result.last.choices == {0: 0.01, 1: 1000.0} and result.last.bracketed
    assert result.counts() == {
        "choices_interior": 2,
        "choices_at_bound": 0,
        "choices_tied": 0,
        "choices_at_open_edge": 0,
    }
    assert result.stopped_at_bound == ()
    assert result.message == "grid 0.001 0.01 0.1 1 10 100 1000 10000 after 4 evaluation(s); choices: 2 interior"
    plain = cell_for(records, higher_is_better)
    assert dict(zip(plain.seeds, plain.weights)) == result.last.choices
    assert set(result.valid[0]) == set(result.grid)


def test_search_stops_at_a_bound_and_says_so():
    """Validation keeps falling as λ grows (optimum at log10 λ = 9), bounds up to 1e4: the grid
    grows 1000, then 1e4, the bound, which both seeds choose: stopped at the upper bound."""
    calls, records = [], []
    result = search(GRID, toy_evaluate({0: 9.0, 1: 9.0}, calls, records), BOUNDS, step=10)
    assert calls == [(1.0, 10.0, 100.0), (1000.0,), (1e4,)]
    assert result.grid == (1.0, 10.0, 100.0, 1000.0, 1e4) and result.stopped_at_bound == ("upper",)
    assert result.counts()["choices_at_bound"] == 2 and result.last.choices == {0: 1e4, 1: 1e4}
    assert result.message == (
        "grid 1 10 100 1000 10000 after 3 evaluation(s); choices: 2 at a bound; stopped at a "
        "bound: upper side at its bound 10000: 2 seed(s) chose it, nothing more to search"
    )


def test_a_bracketed_grid_is_evaluated_once_and_kept():
    calls, records = [], []
    result = search(GRID, toy_evaluate({0: 1.0, 1: 0.8}, calls, records), BOUNDS, step=10)
    assert calls == [GRID] and result.grid == GRID and result.evaluations == 1
    assert result.message == "grid 1 10 100 after 1 evaluation(s); choices: 2 interior"


def test_evaluate_must_answer_what_was_asked():
    with pytest.raises(
        ValueError,
        match=r"evaluate\(\(1.0, 10.0, 100.0\)\) returned seed 0's values at \(1.0, 10.0\): "
        "it must return exactly the values asked for",
    ):
        search(GRID, lambda values: {0: {1.0: 0.9, 10.0: 0.8}}, BOUNDS, step=10)
    answers = iter([{0: {1.0: 0.9, 10.0: 0.95, 100.0: 0.99}}, {1: {0.1: 0.9}}])
    with pytest.raises(
        ValueError,
        match=r"evaluate returned seeds \[1\] for \(0.1,\), but \[0\] before: "
        "every call must answer for the same seeds",
    ):
        search(GRID, lambda values: next(answers), BOUNDS, step=10)


# ---------------------------------------------------------------- a joint grid, one axis at a time
def test_a_joint_grid_is_bracketed_one_axis_at_a_time_through_each_seeds_choice():
    """KD over λ ∈ {1, 10, 100} x l2 ∈ {0.3, 3}. Seed 0's best is (λ = 10, l2 = 3) at 0.80.
    Along λ at l2 = 3: 0.85, 0.80, 0.82 (interior). Along l2 at λ = 10: 0.90 at 0.3, 0.80 at 3:
    the upper edge of the l2 grid, which grows to 30. The other records (l2 = 0.3 off λ = 10)
    are on neither line."""
    valid = {
        (1.0, 0.3): 0.88,
        (10.0, 0.3): 0.90,
        (100.0, 0.3): 0.86,
        (1.0, 3.0): 0.85,
        (10.0, 3.0): 0.80,
        (100.0, 3.0): 0.82,
    }
    records = [
        {"variant": "kd", "seed": 0, "distill_weight": w, "l2": l2, "valid_metric": v, "test_metric": 0.0}
        for (w, l2), v in valid.items()
    ]
    assert axis_validation(records, "distill_weight") == {0: {1.0: 0.85, 10.0: 0.80, 100.0: 0.82}}
    assert axis_validation(records, "l2") == {0: {0.3: 0.90, 3.0: 0.80}}
    assert bracket(GRID, axis_validation(records, "distill_weight"), BOUNDS, 10).bracketed
    assert bracket((0.3, 3.0), axis_validation(records, "l2"), (1e-3, 1e3), 10).next_grid == (0.3, 3.0, 30.0)
    with pytest.raises(ValueError, match=r"unknown axis 'lambda'; valid: distill_weight, l2"):
        axis_validation(records, "lambda")
    with pytest.raises(ValueError, match=r"seed 0 has two records at l2 = 3 with the same variant, distill_weight"):
        axis_validation(records + records[-2:-1], "l2")


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "grid, bounds, step, message",
    [
        (
            (10.0, 1.0),
            BOUNDS,
            10,
            r"the grid must be increasing without repeats, got \(10.0, 1.0\): "
            r"pass tuple\(sorted\(set\(grid\)\)\)",
        ),
        ((1.0, 1.0), BOUNDS, 10, r"increasing without repeats"),
        ((), BOUNDS, 10, r"an empty grid searches nothing: give at least one value"),
        (
            (0.0, 1.0),
            BOUNDS,
            10,
            r"grid values must be positive and finite, got \(0.0, 1.0\): .* use a small positive "
            r"value \(e.g. 1e-5\) for 'almost none', not 0",
        ),
        (
            GRID,
            (2.0, 1e4),
            10,
            r"the lower bound 2 is inside the grid \(1.0, 10.0, 100.0\) \(its smallest value is 1\): "
            r"lower the bound to at most 1 or drop the grid values below 2",
        ),
        (
            GRID,
            (1e-3, 50.0),
            10,
            r"the upper bound 50 is inside the grid \(1.0, 10.0, 100.0\) \(its largest value is "
            r"100\): raise the bound to at least 100 or drop the grid values above 50",
        ),
        (GRID, (0.0, 1e4), 10, r"bounds must be \(lo, hi\) with 0 < lo <= hi, both finite, got \(0.0, 10000.0\)"),
        (GRID, (1e-3, math.inf), 10, r"bounds must be"),
        (
            GRID,
            BOUNDS,
            0,
            r"step must be a factor above 1, got 0: e.g. 10, so that the next value on a side is its "
            r"edge / 10 or edge \* 10",
        ),
        (GRID, BOUNDS, -10, r"step must be a factor above 1, got -10"),
        (GRID, BOUNDS, 1, r"step must be a factor above 1, got 1"),
    ],
)
def test_bad_input_is_refused_naming_the_fix(grid, bounds, step, message):
    valid = {0: {v: 0.9 for v in grid}}
    with pytest.raises(ValueError, match=message):
        bracket(grid, valid, bounds, step)
    with pytest.raises(ValueError, match=message):
        search(grid, lambda values: {0: {v: 0.9 for v in values}}, bounds, step)


def test_validation_values_must_cover_the_grid_and_nothing_else():
    with pytest.raises(
        ValueError,
        match=r"seed 1 has no validation value at 100 \(the grid is \(1.0, 10.0, 100.0\)\): "
        "evaluate every grid value for every seed first",
    ):
        bracket(GRID, {0: {1.0: 0.9, 10.0: 0.9, 100.0: 0.9}, 1: {1.0: 0.9, 10.0: 0.9}}, BOUNDS, 10)
    with pytest.raises(
        ValueError,
        match=r"seed 0 has validation values off the grid \(1.0, 10.0, 100.0\), at 1000: "
        "pass the grid that was searched",
    ):
        bracket(GRID, {0: {1.0: 0.9, 10.0: 0.9, 100.0: 0.9, 1000.0: 0.8}}, BOUNDS, 10)
    with pytest.raises(ValueError, match=r"no seed's validation values were given"):
        bracket(GRID, {}, BOUNDS, 10)
    with pytest.raises(ValueError, match=r"seed 0 has a NaN validation value"):
        bracket(GRID, {0: {1.0: math.nan, 10.0: 0.9, 100.0: 0.9}}, BOUNDS, 10)
