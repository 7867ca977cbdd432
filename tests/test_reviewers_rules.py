"""The rules of the reviewers' study's building blocks, each from its docstring or
docs/reviewers.md: CKA and the probe in float64 on any matrix-like input (core/alignment.py),
the count of training-only parameters (core/reviewer_methods.py), and the comparisons every
section renders (core/comparisons.py). Written for the mutants mutation testing found
unnoticed (docs/mutation.md); every input is a few numbers worked out by hand."""

import math

import numpy as np
import pytest
import torch

from ikd_lib.core.alignment import linear_cka, probe_r2
from ikd_lib.core.config import TDConfig
from ikd_lib.core.methods import build_method
from ikd_lib.core.reviewer_methods import build_reviewer_method, training_only_parameters
from ikd_lib.movielens.models import FrozenTeacher, LearningTeacher, RatingModel

from conftest import TOY_STUDENT

TD = TDConfig(message_dim=3)


# ---------------------------------------------------------------- core/alignment.py
def test_cka_and_the_probe_compute_in_float64_whatever_the_input():
    """ "Plain float64 algebra": a float32 tensor (one that requires a gradient too) gives the
    same CKA and R² as its float64 copy, and float32 targets as their float64 copies."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = torch.randn(200, 7, generator=g) + x @ torch.randn(5, 7, generator=g)
    x64, y64 = x.double().numpy(), y.double().numpy()
    assert linear_cka(x, y) == linear_cka(x64, y64)
    assert linear_cka(x.clone().requires_grad_(True), y) == linear_cka(x64, y64)
    target = (x @ torch.randn(5, generator=g) + 3.0 + torch.randn(200, generator=g)).numpy()  # float32
    expected = probe_r2(x64[:150], target[:150].astype(np.float64), x64[150:], target[150:].astype(np.float64))
    assert probe_r2(x[:150], target[:150], x[150:], target[150:]) == expected
    assert probe_r2(x[:150].requires_grad_(True), target[:150], x[150:], target[150:]) == expected


def test_the_states_must_be_matrices_of_the_same_examples():
    with pytest.raises(ValueError, match=r"expected a matrix \[examples, features\], got shape \(4,\)"):
        linear_cka(np.ones(4), np.ones((4, 2)))
    with pytest.raises(ValueError, match="same examples: 3 rows against 4"):
        linear_cka(np.ones((3, 2)), np.ones((4, 5)))


def test_cka_is_one_for_identical_states_whose_norms_are_one():
    """1 for identical states, also where ‖XᵀX‖_F · ‖YᵀY‖_F is exactly 1 (only a constant state,
    whose product is 0, has no CKA)."""
    x = np.array([[0.5], [-0.5], [0.5], [-0.5]])  # centred, XᵀX = 1
    assert linear_cka(x, x) == 1.0
    assert math.isnan(linear_cka(np.full((4, 1), 2.0), x))


def test_the_probe_takes_targets_as_a_vector_or_a_column():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=60)
    vector = probe_r2(x[:40], y[:40], x[40:], y[40:])
    assert probe_r2(x[:40], y[:40, None], x[40:], y[40:]) == pytest.approx(vector, rel=1e-12)
    assert probe_r2(x[:40], y[:40], x[40:], y[40:, None]) == pytest.approx(vector, rel=1e-12)


def test_the_ridge_penalty_shrinks_the_slope_of_one_standardised_feature():
    """Penalty `ridge` on standardised features: with one feature z (mean 0, spread 1 on the
    training split) and y = z, the slope is 1 / (1 + ridge): at ridge 0.5, 2/3, and on the same
    split R² = 1 − (1/3)² = 8/9."""
    z = np.array([[-1.0], [1.0], [-1.0], [1.0]])
    y = z[:, 0]
    assert probe_r2(z, y, z, y, ridge=0.5) == pytest.approx(8 / 9, rel=1e-12)
    assert probe_r2(z, y, z, y, ridge=0.0) == pytest.approx(1.0, rel=1e-12)


def test_r2_is_about_the_judged_splits_own_mean():
    """R² = 1 − SSE/SST, SST about the judged split's mean: 0 for a probe no better than that
    mean, negative when worse, NaN when the judged targets are constant. A feature constant on
    the training split is dropped, so the probe predicts the training mean (10)."""
    x = np.ones((4, 1))
    train_y = [9.0, 11.0, 9.0, 11.0]
    assert probe_r2(x, train_y, x, [9.0, 11.0, 10.0, 10.0]) == 0.0  # its mean is 10
    assert probe_r2(x, train_y, x, [10.0, 12.0, 11.0, 11.0]) == pytest.approx(-2.0)  # SSE 6, SST 2
    assert math.isnan(probe_r2(x, train_y, x, [11.0, 11.0, 11.0, 11.0]))


# ---------------------------------------------------------------- core/reviewer_methods.py
def student(task, seeds):
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


def test_training_only_parameters_per_replica_count_a_learning_teachers_h_up(toy_task, toy_teacher):
    """Per replica, and an integer: E*, D* (TD, the control), plus the teacher's h_up where it
    learns (a second parameter group of the aux optimiser)."""
    for seeds in ((0,), (0, 1)):
        index = torch.arange(len(seeds))
        weights = torch.ones(len(seeds))
        td = build_method("td", student(toy_task, seeds), FrozenTeacher(toy_teacher, index), weights, toy_task, TD)
        per_replica = sum(p.numel() for p in td.comm.parameters()) // len(seeds)
        count = training_only_parameters(td)
        assert count == per_replica and isinstance(count, int)
        learning = LearningTeacher(toy_teacher, index)
        thaw = build_reviewer_method("td_teacher_learns", student(toy_task, seeds), learning, weights, toy_task, TD)
        up = sum(p.numel() for p in learning.parameters() if p.requires_grad) // len(seeds)
        assert up > 0 and training_only_parameters(thaw) == per_replica + up


def test_the_controls_modules_compute_as_the_student_does(toy_task, toy_teacher):
    """The method's layers follow the student's `matmul` (methods.matmul_of), the control's too."""
    assert TOY_STUDENT.matmul == "openblas"  # not the layers' default, "torch"
    control = build_reviewer_method(
        "oneway",
        student(toy_task, (0,)),
        FrozenTeacher(toy_teacher, torch.arange(1)),
        torch.ones(1),
        toy_task,
        TD,
    )
    layers = [m for m in control.comm.modules() if hasattr(m, "matmul")]
    assert layers and all(m.matmul == "openblas" for m in layers)


def noise_seeds(method):
    return [g.initial_seed() for g in method.noise]


def test_td_plus_kd_and_the_learning_teacher_are_td_with_tds_noise_streams(toy_task, toy_teacher):
    """Both change one thing of TD: their noise streams are TD's for the same noise_seed (7
    here; 0 when none is given), TD + KD without a μ is TD (μ = 0), and the learning teacher
    without an η learns at 1e-4."""
    from ikd_lib.core.methods import TalkingModels
    from ikd_lib.core.reviewer_methods import TalkingModelsTeacherLearns, TalkingModelsWithKD

    td = TDConfig(message_dim=3, noise_std=0.1)
    seeds, weights = (0, 1), torch.tensor([1.0, 10.0])

    def frozen():
        return FrozenTeacher(toy_teacher, torch.arange(2))

    def learning():
        return LearningTeacher(toy_teacher, torch.arange(2))

    reference = noise_seeds(TalkingModels(student(toy_task, seeds), frozen(), weights, toy_task, td, noise_seed=7))
    default = noise_seeds(TalkingModels(student(toy_task, seeds), frozen(), weights, toy_task, td))
    assert reference != default
    for name, teacher in (("td_kd", frozen), ("td_teacher_learns", learning)):
        built = build_reviewer_method(name, student(toy_task, seeds), teacher(), weights, toy_task, td, noise_seed=7)
        assert noise_seeds(built) == reference, name
        assert noise_seeds(build_reviewer_method(name, student(toy_task, seeds), teacher(), weights, toy_task, td)) == (
            default
        ), name
    for cls, teacher in ((TalkingModelsWithKD, frozen), (TalkingModelsTeacherLearns, learning)):
        assert noise_seeds(cls(student(toy_task, seeds), teacher(), weights, toy_task, td, 7)) == reference
        assert noise_seeds(cls(student(toy_task, seeds), teacher(), weights, toy_task, td)) == default
    assert TalkingModelsWithKD(student(toy_task, seeds), frozen(), weights, toy_task, td).weights()["kd"] == 0.0
    assert build_reviewer_method("td_kd", student(toy_task, seeds), frozen(), weights, toy_task, td).kd_weight == 0.0
    assert TalkingModelsTeacherLearns(student(toy_task, seeds), learning(), weights, toy_task, td).teacher_lr == 1e-4
    thaw = build_reviewer_method("td_teacher_learns", student(toy_task, seeds), learning(), weights, toy_task, td)
    assert thaw.teacher_lr == 1e-4


def test_the_learning_teachers_groups_keep_the_methods_contract(toy_task, toy_teacher):
    """ "student" and "aux" (methods.py): the student's parameters, then E*, D* and h_up at η."""
    learning = LearningTeacher(toy_teacher, torch.arange(2))
    model = student(toy_task, (0, 1))
    thaw = build_reviewer_method("td_teacher_learns", model, learning, torch.ones(2), toy_task, TD, teacher_lr=1e-3)
    groups = thaw.parameter_groups()
    assert set(groups) == {"student", "aux"}
    assert [id(p) for p in groups["student"]] == [id(p) for p in model.parameters() if p.requires_grad]
    assert groups["aux"][1] == {"params": list(learning.parameters()), "lr": 1e-3}


def test_bad_choices_are_refused_with_a_message_that_names_the_fix(toy_task, toy_teacher):
    teacher, weights = FrozenTeacher(toy_teacher, torch.arange(1)), torch.ones(1)
    with pytest.raises(ValueError, match=r"unknown reviewer method 'onway'; valid: oneway, td_kd, td_teacher_learns"):
        build_reviewer_method("onway", student(toy_task, (0,)), teacher, weights, toy_task, TD)
    with pytest.raises(ValueError, match="method 'oneway' needs a teacher"):
        build_reviewer_method("oneway", student(toy_task, (0,)), None, weights, toy_task, TD)
    with pytest.raises(ValueError, match=r"kd_weight \(μ\) must be >= 0, got -1.0"):
        build_reviewer_method("td_kd", student(toy_task, (0,)), teacher, weights, toy_task, TD, kd_weight=-1.0)
    learning = LearningTeacher(toy_teacher, torch.arange(1))
    with pytest.raises(ValueError, match="teacher_lr must be > 0, got 0"):
        build_reviewer_method(
            "td_teacher_learns", student(toy_task, (0,)), learning, weights, toy_task, TD, teacher_lr=0
        )
    with pytest.raises(
        ValueError,
        match="^the teacher's upper layers must be trainable parameters for this method; give it a teacher module "
        "whose h_up weights require a gradient$",
    ):
        build_reviewer_method("td_teacher_learns", student(toy_task, (0,)), teacher, weights, toy_task, TD)
