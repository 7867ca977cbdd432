"""The reviewers' study (issue 20, docs/reviewers.md): the control's parameter count, linear
CKA and the probe on known inputs, the nested seeded subsamples, TD + KD at μ = 0, and the
teacher that learns while the frozen one does not move."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from ikd_lib.core.alignment import linear_cka, probe_r2
from ikd_lib.core.config import TDConfig, TrainConfig
from ikd_lib.core.methods import build_method
from ikd_lib.core.reviewer_methods import build_reviewer_method, training_only_parameters
from ikd_lib.core.train import make_optimizers, train_stack
from ikd_lib.movielens.models import FrozenTeacher, LearningTeacher, RatingModel
from ikd_lib.movielens.reviewers import subsample_training

from conftest import TOY_STUDENT

SEEDS = (0, 1)
TD = TDConfig(message_dim=3)
TRAIN = TrainConfig(max_epochs=3, patience=3, batch_size=256)


def student(task, seeds=SEEDS):
    return RatingModel(
        TOY_STUDENT,
        task.n_users,
        task.n_items,
        seeds,
        task.rating_offset,
        "student",
        interactions=task.train.inputs,
        l2=0.01,
    )


def teacher_index(seeds=SEEDS):
    return torch.arange(len(seeds))


# ---------------------------------------------------------------- 1. the control's parameters
def test_the_control_has_exactly_tds_training_only_parameters_and_trains_all_of_them(toy_task, toy_teacher):
    """docs/reviewers.md: the control owns E_g, D_g, E_h, D_h at TD's shapes, so its count is
    (d_g·m + m) + (m·d_g + d_g) + (d_h·m + m) + (m·d_h + d_h), TD's; and every one of those
    numbers gets a gradient from L_oneway (no parameter is there only to be counted)."""
    d_g, d_h, m = TOY_STUDENT.width, toy_teacher.width, TD.message_dim
    expected = (d_g * m + m) + (m * d_g + d_g) + (d_h * m + m) + (m * d_h + d_h)
    weights = torch.ones(len(SEEDS))
    control = build_reviewer_method(
        "oneway", student(toy_task), FrozenTeacher(toy_teacher, teacher_index()), weights, toy_task, TD
    )
    td = build_method("td", student(toy_task), FrozenTeacher(toy_teacher, teacher_index()), weights, toy_task, TD)
    assert training_only_parameters(control) == training_only_parameters(td) == expected
    fd = build_method("fd", student(toy_task), FrozenTeacher(toy_teacher, teacher_index()), weights, toy_task)
    assert training_only_parameters(fd) == d_g * d_h + d_h  # its projector p
    batch = toy_task.batch("train", torch.arange(64).expand(len(SEEDS), -1), teacher_index(), control.teacher_states)
    _, named, _ = control.forward_train(batch)
    assert "message" not in named and "state" not in named and "interact" not in named  # no TD loss
    (control.objective(named) - control.student_objective(named)).sum().backward()  # λ·L_oneway, as trained
    for name, p in control.comm.named_parameters():
        assert p.grad is not None and bool((p.grad.abs().flatten(1).sum(1) > 0).all()), name


def test_the_control_is_two_one_way_hints_written_out(toy_task, toy_teacher):
    """L_oneway = d(D_h(E_g(s_h)), t_h) + d(D_g(E_h(t_l)), s_l), replica by replica."""
    control = build_reviewer_method(
        "oneway", student(toy_task), FrozenTeacher(toy_teacher, teacher_index()), torch.tensor([2.0, 5.0]), toy_task, TD
    )
    batch = toy_task.batch("train", torch.arange(50).expand(2, -1), teacher_index(), control.teacher_states)
    _, named, states = control.forward_train(batch)
    c = control.comm

    def lin(x, layer, r):
        return x @ layer.weight[r] + layer.bias[r, 0]

    for r in range(2):
        s_l, s_h = states["low"][r], states["high"][r]
        t_l, t_h = batch["teacher_low"][r], batch["teacher_high"][r]
        high = ((lin(lin(s_h, c.encode_student, r), c.decode_teacher, r) - t_h) ** 2).mean()
        low = ((lin(lin(t_l, c.encode_teacher, r), c.decode_student, r) - s_l) ** 2).mean()
        assert float(named["oneway_high"][r].detach()) == pytest.approx(float(high.detach()), rel=1e-5)
        assert float(named["oneway_low"][r].detach()) == pytest.approx(float(low.detach()), rel=1e-5)
    assert control.weights()["oneway_high"].tolist() == [2.0, 5.0] == control.weights()["oneway_low"].tolist()


# ---------------------------------------------------------------- 3. CKA and the probe
def test_linear_cka_on_known_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 16))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)  # identical
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))  # orthogonal
    y = rng.normal(size=(4000, 32)) + x @ rng.normal(size=(16, 32))  # related, another width
    assert linear_cka(x @ q, y) == pytest.approx(linear_cka(x, y), rel=1e-10)  # invariant to a rotation
    assert linear_cka(3.0 * x + 7.0, y) == pytest.approx(linear_cka(x, y), rel=1e-10)  # to scale and shift
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-10)
    independent = linear_cka(x, rng.normal(size=(4000, 32)))
    assert independent < 0.02  # ≈ √(16·32)/4000 = 0.006 expected
    # one column each: linear CKA is the squared Pearson correlation
    a, b = rng.normal(size=200), rng.normal(size=200)
    b = a + 2 * b
    assert linear_cka(a[:, None], b[:, None]) == pytest.approx(np.corrcoef(a, b)[0, 1] ** 2, rel=1e-10)
    assert math.isnan(linear_cka(np.ones((10, 2)), x[:10]))  # a constant state has no geometry


def test_the_probe_scores_r2_on_the_judged_split():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 8))
    w = rng.normal(size=8)
    y = x @ w + 3.0
    assert probe_r2(x[:2000], y[:2000], x[2000:], y[2000:]) == pytest.approx(1.0, abs=1e-4)  # exact linear rule
    noise = rng.normal(size=3000)
    assert abs(probe_r2(x[:2000], noise[:2000], x[2000:], noise[2000:])) < 0.02  # nothing to find
    # R² = 1 − SSE/SST with SST about the judged split's mean: half the variance explained
    z = rng.normal(size=(20000, 1))
    target = z[:, 0] + rng.normal(size=20000)
    assert probe_r2(z[:10000], target[:10000], z[10000:], target[10000:]) == pytest.approx(0.5, abs=0.03)


# ---------------------------------------------------------------- 2. the subsamples
def ratings_table(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    split = rng.choice(["train", "valid", "test"], size=n, p=[0.8, 0.1, 0.1])
    return pd.DataFrame(
        {
            "user": rng.integers(0, 50, n),
            "item": rng.integers(0, 30, n),
            "rating": rng.integers(1, 6, n).astype("float32"),
            "split": split,
            "row": np.arange(n),
        }
    )


def test_the_subsamples_are_nested_seeded_and_keep_validation_and_test():
    table = ratings_table()
    n_train = int((table["split"] == "train").sum())
    kept = {}
    for fraction in (0.01, 0.03, 0.1, 0.3, 1.0):
        sub = subsample_training(table, fraction, seed=0)
        train = set(sub.loc[sub["split"] == "train", "row"])
        assert len(train) == math.ceil(fraction * n_train)
        for split in ("valid", "test"):  # untouched, in order
            assert sub.loc[sub["split"] == split, "row"].tolist() == table.loc[table["split"] == split, "row"].tolist()
        kept[fraction] = train
    fractions = sorted(kept)
    for small, large in zip(fractions, fractions[1:]):
        assert kept[small] < kept[large]  # nested
    assert kept[1.0] == set(table.loc[table["split"] == "train", "row"])
    again = subsample_training(table, 0.1, seed=0)
    assert set(again.loc[again["split"] == "train", "row"]) == kept[0.1]  # seeded: the same seed, the same subset
    other = subsample_training(table, 0.1, seed=1)
    assert set(other.loc[other["split"] == "train", "row"]) != kept[0.1]  # another seed, another subset
    with pytest.raises(ValueError, match="fraction"):
        subsample_training(table, 0.0)


# ---------------------------------------------------------------- 4. TD + KD
def train_method(method, task):
    torch.manual_seed(0)
    return train_stack(method, task, TRAIN, SEEDS, teacher_index=teacher_index(), td=TD, progress=False)


def test_td_plus_kd_with_kd_weight_zero_is_td_bit_for_bit(toy_task, toy_teacher):
    weights = torch.tensor([1.0, 3.0])
    td = build_method("td", student(toy_task), FrozenTeacher(toy_teacher, teacher_index()), weights, toy_task, TD)
    zero = build_reviewer_method(
        "td_kd", student(toy_task), FrozenTeacher(toy_teacher, teacher_index()), weights, toy_task, TD, kd_weight=0.0
    )
    a, b = train_method(td, toy_task), train_method(zero, toy_task)
    assert a.valid_metric == b.valid_metric and a.test_metric == b.test_metric and a.best_epoch == b.best_epoch
    for (name, p), q in zip(td.student.named_parameters(), zero.student.parameters()):
        assert torch.equal(p, q), name
    # the KD term is there and counts once μ > 0: logit KD towards the teacher's prediction
    some = build_reviewer_method(
        "td_kd", student(toy_task), FrozenTeacher(toy_teacher, teacher_index()), weights, toy_task, TD, kd_weight=2.0
    )
    batch = toy_task.batch("train", torch.arange(40).expand(2, -1), teacher_index(), some.teacher_states)
    pred, named, _ = some.forward_train(batch)
    assert named["kd"].tolist() == pytest.approx(((pred - batch["teacher_pred"]) ** 2).mean(-1).tolist(), rel=1e-6)
    assert some.weights()["kd"] == 2.0 and some.weights()["interact"].tolist() == [1.0, 3.0]
    assert train_method(some, toy_task).valid_metric != a.valid_metric


# ---------------------------------------------------------------- 5. the learning teacher
def test_the_learning_teacher_changes_while_the_frozen_one_stays_bit_identical(toy_task, toy_teacher):
    original = copy.deepcopy(dict(toy_teacher.named_parameters()))
    weights = torch.ones(2)
    frozen = FrozenTeacher(toy_teacher, teacher_index())
    frozen_before = {k: v.clone() for k, v in frozen.named_buffers()}
    train_method(build_method("td", student(toy_task), frozen, weights, toy_task, TD), toy_task)
    for name, value in frozen.named_buffers():
        assert torch.equal(value, frozen_before[name]), name  # the frozen copy: bit-identical

    learning = LearningTeacher(toy_teacher, teacher_index())
    start = [p.detach().clone() for p in learning.parameters()]
    method = build_reviewer_method(
        "td_teacher_learns", student(toy_task), learning, weights, toy_task, TD, teacher_lr=1e-3
    )
    aux = make_optimizers(method, TRAIN)["aux"]
    teacher_ids = {id(p) for p in learning.parameters()}
    lrs = {id(p): group["lr"] for group in aux.param_groups for p in group["params"]}
    assert all(lrs[i] == 1e-3 for i in teacher_ids)  # its own learning rate
    assert all(lr == TRAIN.lr for i, lr in lrs.items() if i not in teacher_ids)
    train_method(method, toy_task)
    assert all(not torch.equal(p, s) for p, s in zip(learning.parameters(), start))  # it learned
    for name, p in toy_teacher.named_parameters():  # the teacher itself never moves
        assert torch.equal(p, original[name]), name


def test_the_learning_teachers_higher_state_is_computed_live(toy_task, toy_teacher):
    """L_MC and L_SC read t_h = h_up(t_l) of the teacher as it is now, not the frozen t_h."""
    learning = LearningTeacher(toy_teacher, teacher_index())
    method = build_reviewer_method("td_teacher_learns", student(toy_task), learning, torch.ones(2), toy_task, TD)
    batch = toy_task.batch("train", torch.arange(40).expand(2, -1), teacher_index(), ("low", "high"))
    before = method.forward_train(batch)[1]["message"].detach().clone()
    with torch.no_grad():
        learning.weights[0].mul_(1.5)
    after = method.forward_train(batch)[1]["message"]
    assert not torch.equal(before, after)


def test_a_frozen_teacher_is_refused_by_the_learning_variant(toy_task, toy_teacher):
    with pytest.raises(ValueError, match="trainable"):
        build_reviewer_method(
            "td_teacher_learns",
            student(toy_task),
            FrozenTeacher(toy_teacher, teacher_index()),
            torch.ones(2),
            toy_task,
            TD,
        )


# ---------------------------------------------------------------- the study's tables
def test_a_comparison_tests_each_row_against_its_reference_over_shared_seeds():
    from scipy import stats

    from ikd_lib.core.comparisons import Comparison, csv_rows, difference, render_markdown

    ref = {0: 1.00, 1: 1.10, 2: 0.95, 3: 1.05}
    row = {0: 0.90, 1: 1.02, 2: 0.90, 3: 0.96, 9: 0.1}  # seed 9: not shared, not tested
    c = Comparison(
        "k",
        "t",
        "test RMSE",
        [("g", "G")],
        ["ref", "row"],
        {("ref", "g"): ref, ("row", "g"): row},
        reference="ref",
        better="lower",
    )
    shared = [0, 1, 2, 3]
    expected = stats.ttest_rel([row[s] for s in shared], [ref[s] for s in shared]).pvalue
    assert c.entry("row", "g").p == pytest.approx(expected, rel=1e-12)
    assert math.isnan(c.entry("ref", "g").p)
    assert c.best_rows("g") == {"row"} and "**" in c.text("row", "g")
    diff = Comparison(
        "d",
        "t",
        "difference",
        [("g", "G")],
        ["row − ref"],
        {("row − ref", "g"): difference(row, ref)},
        against_zero=True,
        signed=True,
    )
    assert diff.entry("row − ref", "g").p == pytest.approx(expected, rel=1e-12)  # the same paired test
    assert diff.entry("row − ref", "g").mean == pytest.approx(np.mean([row[s] - ref[s] for s in shared]))
    assert "-0.0800" in render_markdown(diff)
    assert csv_rows(c)[1][9] == "ref" and csv_rows(diff)[0][9] == "0"


def test_every_analysed_run_has_the_teacher_states_it_is_compared_with(tmp_path):
    """The Student's replay (cka_student) trains without a teacher, but its analysis compares its
    s_h with the teacher's t_h: its task must carry them in whichever worker trains it (a fresh
    `make verify TABLES=reviewers` once met a task without them)."""
    from ikd_lib.movielens.reviewers import make_reviewers_experiment

    exp = make_reviewers_experiment(
        "smoke", genres=["Western"], store_root=tmp_path / "store", progress=False, workers=1
    )
    assert exp.preparations(exp.variants["cka_student"]) == ("teacher",)
    assert exp.preparations(exp.variants["student"]) == ()  # the table's own Student needs none
    assert "high" in exp.task_for(exp.variants["cka_student"], "Western").train.teacher
