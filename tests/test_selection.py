"""Choices on validation, per seed (nested) and pooled, and the † marks, on hand-made records
whose seeds choose differently. Every expected choice and cell is written out by hand from
the rule in results.py's docstring and the README's protocol:
  - per seed: each seed takes the option with its own best validation metric;
  - pooled: one option for every seed, the best mean validation metric over seeds;
  - †: a paired two-sided t-test over seeds against the TD row, p < 0.05;
  - ‡: the same test after Holm's step-down correction over all the table's tests, adjusted p < 0.05.
"""

import csv
import io
import math

import pytest

from ikd_lib.core.results import best_cell, cell_for, index_records
from ikd_lib.core.tables import build_table, render_csv, render_markdown
from ikd_lib.movielens.tables import MOVIELENS_TABLES

BASE = {
    "profile": "test",
    "config_hash": "abc",
    "git_revision": "deadbeef",
    "config": {"teacher_hash": "t", "data": "d"},
}


def rec(variant, seed, test, valid, weight=1.0, task="Drama"):
    return {
        **BASE,
        "variant": variant,
        "task": task,
        "seed": seed,
        "test_metric": test,
        "valid_metric": valid,
        "distill_weight": weight,
    }


# KD at two weights; (validation, test) per seed. Seeds 0 and 2 prefer λ = 0.3 on validation,
# seed 1 prefers λ = 1; pooled, λ = 0.3 has the lower mean validation (0.9267 vs 0.93).
KD = [
    rec("kd", 0, test=0.88, valid=0.90, weight=0.3),
    rec("kd", 0, test=0.80, valid=0.95, weight=1.0),
    rec("kd", 1, test=0.97, valid=0.96, weight=0.3),
    rec("kd", 1, test=0.93, valid=0.91, weight=1.0),
    rec("kd", 2, test=0.89, valid=0.92, weight=0.3),
    rec("kd", 2, test=0.85, valid=0.93, weight=1.0),
]


def test_each_seed_chooses_on_its_own_validation():
    cell = cell_for(KD)
    assert cell.weights == [0.3, 1.0, 0.3] and cell.seeds == [0, 1, 2]
    assert cell.test == [0.88, 0.93, 0.89]
    # mean 0.90; deviations −0.02, 0.03, −0.01: sd = √(0.0014/2), se = sd/√3
    assert cell.mean == pytest.approx(0.90)
    assert cell.se == pytest.approx(math.sqrt(0.0007) / math.sqrt(3))
    assert cell.weight == "0.3/1/0.3"


def test_pooled_takes_one_choice_for_every_seed():
    cell = cell_for(KD, selection="pooled")
    assert cell.weights == [0.3, 0.3, 0.3] and cell.test == [0.88, 0.97, 0.89]
    assert cell.mean == pytest.approx((0.88 + 0.97 + 0.89) / 3)


def test_higher_is_better_flips_every_choice():
    # accuracy: the highest validation wins; seeds 0 and 2 now take λ = 1, seed 1 λ = 0.3
    assert cell_for(KD, higher_is_better=True).weights == [1.0, 0.3, 1.0]
    assert cell_for(KD, higher_is_better=True, selection="pooled").weights == [1.0, 1.0, 1.0]


def test_a_row_of_several_variants_chooses_per_seed_or_pooled():
    # "2-3 iterations": seed 0 prefers K = 2, seeds 1 and 2 K = 3 on validation;
    # pooled, K = 2 has the lower mean validation (0.90 vs 0.9033)
    records = [
        rec("td_k2", 0, 0.91, 0.89),
        rec("td_k3", 0, 0.95, 0.91),
        rec("td_k2", 1, 0.92, 0.905),
        rec("td_k3", 1, 0.90, 0.90),
        rec("td_k2", 2, 0.93, 0.905),
        rec("td_k3", 2, 0.96, 0.90),
    ]
    indexed = index_records(records)
    nested = best_cell(indexed, ["td_k2", "td_k3"], "Drama")
    assert nested.variants == ["td_k2", "td_k3", "td_k3"] and nested.test == [0.91, 0.90, 0.96]
    pooled = best_cell(indexed, ["td_k2", "td_k3"], "Drama", selection="pooled")
    assert pooled.variants == ["td_k2"] * 3 and pooled.test == [0.91, 0.92, 0.93]


def test_tables_report_the_per_seed_choices_and_the_pooled_ones():
    td = [rec("td", s, 0.90 + 0.01 * s, 0.90) for s in range(3)]
    per_seed = build_table(MOVIELENS_TABLES["table3"], KD + td, ("Drama",))
    row = next(r for r in csv.DictReader(io.StringIO(render_csv(per_seed))) if r["row"] == "KD")
    assert row["distill_weight_per_seed"] == "0.3 1 0.3" and row["mean_test"] == "0.900000"
    assert row["selection"] == "per_seed"
    md = render_markdown(per_seed)
    assert "Cells whose seeds chose differently: 1 of 1." in md and "- KD: Drama: λ=0.3/1/0.3" in md
    pooled = build_table(MOVIELENS_TABLES["table3"], KD + td, ("Drama",), selection="pooled")
    row = next(r for r in csv.DictReader(io.StringIO(render_csv(pooled))) if r["row"] == "KD")
    assert row["distill_weight_per_seed"] == "0.3 0.3 0.3" and row["mean_test"] == "0.913333"
    assert row["selection"] == "pooled"
    assert "Cells whose seeds chose differently: 0 of 1." in render_markdown(pooled)


def test_the_dagger_marks_significant_rows_only():
    """TD's test RMSE per seed 0.90, 0.91, 0.92. Paired differences against it:
    Student +0.05, +0.051, +0.049 (t ≈ 86.6, p ≈ 1.3e-4): †;
    KD +0.01, +0.03, +0.02: mean 0.02, sd 0.01, t = 0.02/(0.01/√3) = 2√3 with 2 degrees of
    freedom, whose two-sided p is 1 − t/√(2 + t²) = 1 − √(12/14) ≈ 0.074: no †;
    FD +0.03, −0.01, +0.01: mean 0.01, sd 0.02, t = √3/2, p = 1 − √(3/11) ≈ 0.48: no †.
    Holm over the m = 3 tests (TD (default) is TD's own cell: no test): Student 3 × 1.3e-4 ≈ 4e-4
    < 0.05: ‡; KD 2 × 0.074 = 0.148; FD max(0.148, 1 × 0.48) = 0.48."""
    td = [0.90, 0.91, 0.92]
    rows = {"td": td, "student": [0.95, 0.961, 0.969], "kd": [0.91, 0.94, 0.94], "fd": [0.93, 0.90, 0.93]}
    records = [
        rec(v, s, test, 0.9, weight=0.0 if v == "student" else 1.0)
        for v, tests in rows.items()
        for s, test in enumerate(tests)
    ]
    table = build_table(MOVIELENS_TABLES["table3"], records, ("Drama",))
    assert table.p_values["KD", "Drama"] == pytest.approx(1 - math.sqrt(12 / 14), rel=1e-6)
    assert table.p_values["FD", "Drama"] == pytest.approx(1 - math.sqrt(3 / 11), rel=1e-6)
    assert table.p_values["Student", "Drama"] < 1e-3
    md = render_markdown(table)
    assert table.p_holm["Student", "Drama"] == pytest.approx(3 * table.p_values["Student", "Drama"], rel=1e-9)
    assert table.p_holm["KD", "Drama"] == pytest.approx(2 * (1 - math.sqrt(12 / 14)), rel=1e-6)
    assert table.p_holm["FD", "Drama"] == pytest.approx(1 - math.sqrt(3 / 11), rel=1e-6)
    assert "| Student | 0.9600 ± 0.0055†‡ |" in md
    assert "| KD | 0.9300 ± 0.0100 |" in md
    assert "| FD | 0.9200 ± 0.0100 |" in md
    assert "| TD | **0.9100 ± 0.0058** |" in md  # TD is not tested against itself
    rows = {r["row"]: r for r in csv.DictReader(io.StringIO(render_csv(table)))}
    assert [rows[v]["significant"] for v in ("Student", "KD", "FD")] == ["1", "0", "0"]
    assert [rows[v]["significant_holm"] for v in ("Student", "KD", "FD")] == ["1", "0", "0"]
    assert rows["KD"]["p_holm"] == f"{2 * (1 - math.sqrt(12 / 14)):.4g}" and rows["TD"]["p_holm"] == ""


def test_ties_on_validation_go_to_the_smaller_weight_then_the_smaller_l2():
    records = [
        dict(rec("student", 0, 0.91, 0.90, weight=0.0), l2=0.1),
        dict(rec("student", 0, 0.92, 0.90, weight=0.0), l2=0.01),
        dict(rec("kd", 0, 0.93, 0.90, weight=3.0), l2=0.0),
        dict(rec("kd", 0, 0.94, 0.90, weight=1.0), l2=0.0),
    ]
    assert cell_for(records[:2]).l2s == [0.01]
    assert cell_for(records[2:]).weights == [1.0]


def test_pooled_rows_of_several_variants_follow_the_metric_direction():
    # accuracy: K = 3 at λ = 1 has the highest mean validation accuracy (0.8; λ = 3: 0.6; K = 2: 0.7)
    records = (
        [rec("td_k2", s, 0.70, 0.70) for s in range(2)]
        + [rec("td_k3", s, 0.60, 0.80) for s in range(2)]
        + [rec("td_k3", s, 0.65, 0.60, weight=3.0) for s in range(2)]
    )
    cell = best_cell(index_records(records), ["td_k2", "td_k3"], "Drama", higher_is_better=True, selection="pooled")
    assert cell.variants == ["td_k3", "td_k3"] and cell.weights == [1.0, 1.0]


def test_a_cell_reports_one_choice_or_each_seeds():
    one = cell_for([rec("kd", 0, 0.9, 0.9, weight=0.3)])
    assert one.weight == 0.3 and one.variant == "kd"
    records = [
        rec("td_k2", 0, 0.91, 0.89),
        rec("td_k3", 0, 0.95, 0.91),
        rec("td_k2", 1, 0.92, 0.905),
        rec("td_k3", 1, 0.90, 0.90),
    ]
    assert best_cell(index_records(records), ["td_k2", "td_k3"], "Drama").variant == "td_k2/td_k3"


def test_the_paired_test_uses_the_seeds_both_cells_have():
    """Seeds 0-2 against 1-3: pairs at seeds 1 and 2, differences 0.01 and 0.03: mean 0.02,
    sd 0.01·√2, t = 2 with 1 degree of freedom, two-sided p = 1 − (2/π)·atan(2) ≈ 0.295."""
    from ikd_lib.core.results import paired_p_value

    a = cell_for([rec("a", s, t, 0.9) for s, t in ((0, 0.5), (1, 0.91), (2, 0.93))])
    b = cell_for([rec("b", s, t, 0.9) for s, t in ((1, 0.90), (2, 0.90), (3, 0.1))])
    assert paired_p_value(a, b) == pytest.approx(1 - 2 / math.pi * math.atan(2), rel=1e-6)
    # only identical cells give NaN: differences of a few 1e-9 still give a p-value
    c = cell_for([rec("c", s, 0.9 + s * 1e-9, 0.9) for s in range(3)])
    d = cell_for([rec("d", s, 0.9 + s * 3e-9, 0.9) for s in range(3)])
    assert not math.isnan(paired_p_value(c, d)) and math.isnan(paired_p_value(c, c))


def test_pooled_chooses_one_l2_and_breaks_ties_by_the_smaller_weight():
    # l2 = 0.01 has the lower mean validation (0.90 vs 0.95): one record per seed, both at 0.01
    students = [
        dict(rec("student", s, 0.9, v, weight=0.0), l2=l2) for s in range(2) for l2, v in ((0.1, 0.95), (0.01, 0.90))
    ]
    cell = cell_for(students, selection="pooled")
    assert cell.seeds == [0, 1] and cell.l2s == [0.01, 0.01]
    # equal mean validation at λ = 3 and λ = 1: the smaller weight
    kd = [rec("kd", s, 0.9, 0.9, weight=w) for w in (3.0, 1.0) for s in range(2)]
    assert cell_for(kd, selection="pooled").weights == [1.0, 1.0]


def test_cells_that_share_one_seed_or_none_have_no_p_value():
    """A paired test needs two pairs: one shared seed (or none) gives NaN, not an error, and
    the row then gets no †."""
    from ikd_lib.core.results import paired_p_value

    a = cell_for([rec("a", s, t, 0.9) for s, t in ((0, 0.5), (1, 0.91))])
    one = cell_for([rec("b", s, t, 0.9) for s, t in ((1, 0.70), (2, 0.90))])
    none = cell_for([rec("c", s, t, 0.9) for s, t in ((2, 0.70), (3, 0.90))])
    assert math.isnan(paired_p_value(a, one)) and math.isnan(paired_p_value(a, none))


def test_pooled_ties_on_validation_weight_and_l2_go_to_the_first_variant_by_name():
    """Two variants whose pooled options tie on mean validation, weight and l2: the row takes
    the variant whose name sorts first ("td_a" before "td_b"), whatever the records' order."""
    records = [rec(v, s, t, 0.9, weight=1.0) for v, t in (("td_b", 0.7), ("td_a", 0.8)) for s in range(2)]
    for order in (records, records[::-1]):
        cell = cell_for(order, selection="pooled")
        assert [r["variant"] for r in cell.records] == ["td_a", "td_a"] and cell.test == [0.8, 0.8]


def test_an_unknown_selection_is_refused_naming_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown selection 'nested'; valid: per_seed, pooled"):
        cell_for(KD, selection="nested")


def test_a_paired_test_of_unequal_lists_is_refused_with_both_lengths():
    from ikd_lib.core.results import paired_p

    with pytest.raises(ValueError, match=r"a paired test needs one value per seed on both sides, got 3 and 2"):
        paired_p([0.1, 0.2, 0.3], [0.1, 0.2])


def test_holm_adjusts_step_down_with_a_running_maximum():
    """Four tests, p = 0.01, 0.04, 0.03, 0.005 and one NaN (no test: not in the family).
    Sorted 0.005, 0.01, 0.03, 0.04; adjusted = running max of (4, 3, 2, 1) × p:
    0.02, 0.03, 0.06, max(0.06, 0.04) = 0.06. At α = 0.05 the first two survive, as the step-down
    rule says: 0.005 < 0.05/4, 0.01 < 0.05/3, 0.03 ≥ 0.05/2 stops."""
    from ikd_lib.core.results import holm_adjusted

    p = {"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005, "none": float("nan")}
    adjusted = holm_adjusted(p)
    assert adjusted.keys() == {"a", "b", "c", "d"}
    assert [adjusted[k] for k in "dacb"] == pytest.approx([0.02, 0.03, 0.06, 0.06], abs=1e-15)
    # equal p-values get equal adjusted values; a product above 1 is 1; an empty family is empty
    assert holm_adjusted({"x": 0.02, "y": 0.02, "z": 0.9}) == pytest.approx({"x": 0.06, "y": 0.06, "z": 0.9})
    assert holm_adjusted({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}
    assert holm_adjusted({}) == {} and holm_adjusted({"n": float("nan")}) == {}


def test_holm_agrees_with_the_step_down_rule_on_random_families():
    """Adjusted p < α exactly when every smaller-or-equal p_(j) is below α/(m − j + 1)."""
    import numpy as np

    from ikd_lib.core.results import holm_adjusted

    rng = np.random.default_rng(0)
    for _ in range(200):
        p = dict(enumerate(rng.uniform(0, 0.1, size=rng.integers(1, 12)).tolist()))
        ranked = sorted(p, key=p.get)
        m, alpha = len(ranked), 0.05
        rejected, going = set(), True
        for j, key in enumerate(ranked, start=1):
            going = going and p[key] < alpha / (m - j + 1)
            if going:
                rejected.add(key)
        assert {k for k, v in holm_adjusted(p).items() if v < alpha} == rejected
