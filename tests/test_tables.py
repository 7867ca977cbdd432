"""Selection on validation, mean ± SE, significance marks and rendering, on hand-made records."""

import csv
import io

import pytest

from ikd_lib.core.results import cell_for, paired_p_value
from ikd_lib.core.tables import build_table, render_csv, render_latex, render_markdown
from ikd_lib.movielens.tables import MOVIELENS_TABLES

BASE = {
    "profile": "test",
    "config_hash": "abc",
    "git_revision": "deadbeef",
    "config": {"teacher_hash": "t", "data": "d"},
}


def rec(variant, task, seed, test, valid, weight=1.0):
    return {
        **BASE,
        "variant": variant,
        "task": task,
        "seed": seed,
        "test_metric": test,
        "valid_metric": valid,
        "distill_weight": weight,
    }


def test_weight_is_chosen_on_validation_not_test():
    records = [rec("kd", "Drama", s, test=0.80, valid=0.95, weight=0.3) for s in range(3)] + [
        rec("kd", "Drama", s, test=0.90, valid=0.85, weight=1.0) for s in range(3)
    ]
    cell = cell_for(records)
    assert cell.weight == 1.0 and cell.mean == pytest.approx(0.90)


def test_mean_and_standard_error():
    cell = cell_for([rec("kd", "Drama", s, test=v, valid=1.0) for s, v in enumerate([1.0, 2.0, 3.0])])
    assert cell.mean == pytest.approx(2.0) and cell.se == pytest.approx(1.0 / 3**0.5)


def test_paired_t_test_pairs_by_seed():
    a = cell_for([rec("a", "g", s, test=1.0 + 0.01 * s, valid=1) for s in range(5)])
    b = cell_for([rec("b", "g", s, test=1.1 + 0.01 * s + 0.001 * (s % 2), valid=1) for s in range(5)])
    assert paired_p_value(a, b) < 1e-4  # a constant shift per seed is highly significant
    assert paired_p_value(a, a) != paired_p_value(a, a)  # identical cells: NaN


def test_td_row_is_best_variant_on_validation_and_table_renders():
    records = []
    for s in range(3):
        records += [
            rec("teacher", "Drama", s, 0.85, 0.85, 0.0),
            rec("student", "Drama", s, 0.95 + s * 1e-3, 0.95, 0.0),
            rec("kd", "Drama", s, 0.92 + s * 1e-3, 0.93),
            rec("td", "Drama", s, 0.93, 0.92),
            rec("td_k0", "Drama", s, 0.90 + s * 2e-3, 0.94),  # better on test, worse on validation
            rec("td_k2", "Drama", s, 0.91 + s * 1e-3, 0.91),
        ]  # best on validation
    table = build_table(MOVIELENS_TABLES["table3"], records, ("Drama",))
    assert table.cells["TD", "Drama"].variant == "td_k2"
    assert table.cells["TD (default)", "Drama"].variant == "td"
    md = render_markdown(table)
    assert "| TD | **0.9110 ± 0.0006** |" in md  # best student is bold; teacher not counted
    assert "| Student | 0.9510 ± 0.0006†‡ |" in md  # significantly worse than TD, also after Holm
    assert "- TD: Drama: td_k2" in md
    assert "profile `test`" in md and "deadbeef" in md
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    td = next(r for r in rows if r["row"] == "TD")
    assert td["variant_per_seed"] == "td_k2 td_k2 td_k2" and td["seeds"] == "0 1 2" and td["n_seeds"] == "3"
    assert "\\textbf{0.9110 $\\pm$ 0.0006}" in render_latex(table)


def test_missing_runs_render_as_dashes():
    table = build_table(MOVIELENS_TABLES["table3"], [rec("student", "Drama", 0, 0.9, 0.9, 0.0)], ("Drama", "Western"))
    md = render_markdown(table)
    assert "| KD | – |" in md and "| Student | **0.9000 ± 0.0000** |" in md


def test_table8_counts_separate_runs_that_restored_a_student_alone_epoch():
    """Drama-sized task: 1,000 training ratings at batch 50 -> 20 steps an epoch, so the
    student-alone warm-up of N1 = 100 steps is epochs 1-5; epoch 6 already holds E*, D* steps."""
    from ikd_lib.movielens.tables import restored_alone

    def separate(seed, best_epoch, n2):
        r = rec(f"td_separate{n2}", "Drama", seed, 0.9, 0.9)
        r.update(
            best_epoch=best_epoch,
            n_train=1000,
            config={
                **BASE["config"],
                "train": {"batch_size": 50, "min_batches_per_epoch": 20},
                "td": {"warmup_student_steps": 100},
            },
        )
        return r

    assert restored_alone(separate(0, 5, 50)) and restored_alone(separate(0, 0, 50))
    assert not restored_alone(separate(0, 6, 50))
    records = [separate(0, 3, 50), separate(1, 9, 50)]
    table = build_table(MOVIELENS_TABLES["table8"], records, ["Drama"])
    assert "In 1 of the 2 runs chosen" in render_markdown(table)
