"""The rules of the reviewers' study's building blocks, each from its docstring or
docs/reviewers.md: CKA and the probe in float64 on any matrix-like input (core/alignment.py),
the count of training-only parameters (core/reviewer_methods.py), and the comparisons every
section renders (core/comparisons.py). Written for the mutants mutation testing found
unnoticed (docs/mutation.md); every input is a few numbers worked out by hand."""

import math
from dataclasses import replace

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


# ---------------------------------------------------------------- movielens/reviewers.py
@pytest.fixture(scope="module")
def study_exp(tmp_path_factory):
    from ikd_lib.movielens.reviewers import make_reviewers_experiment

    return make_reviewers_experiment("smoke", store_root=tmp_path_factory.mktemp("store"), progress=False, workers=1)


def test_a_new_study_adds_its_variants_named_by_their_values(tmp_path):
    """docs/reviewers.md: the control, one TD + KD per μ of KD's grid, one learning teacher per
    η ∈ {1e-4, 1e-3}, and a replay of each analysed row (same method, model and TD config). (An
    experiment of its own: what its construction decides is this test's.)"""
    from ikd_lib.movielens.reviewers import (
        FAMILIES,
        REPLAYED,
        make_reviewers_experiment,
        plus_kd_variant,
        sweep_task_name,
        thaw_variant,
    )

    exp = make_reviewers_experiment("smoke", store_root=tmp_path, progress=False, workers=1)
    profile = exp.profile
    kd10, thaw = plus_kd_variant(profile, 10.0), thaw_variant(profile, 1e-3)
    assert (kd10.key, kd10.label, kd10.method, kd10.kd_weight, kd10.td) == (
        "plus_kd10",
        "TD + KD (μ=10)",
        "td_kd",
        10.0,
        profile.td,
    )
    assert (thaw.key, thaw.label, thaw.method, thaw.teacher_lr, thaw.td) == (
        "thaw_lr0.001",
        "TD, teacher learns (η=0.001)",
        "td_teacher_learns",
        1e-3,
        profile.td,
    )
    assert FAMILIES["plus_kd"].grid(profile) == profile.distill_weights == (1.0,)
    assert FAMILIES["thaw"].grid(profile) == (1e-4, 1e-3)
    assert FAMILIES["plus_kd"].value(kd10) == 10.0 and FAMILIES["thaw"].value(thaw) == 1e-3
    oneway = exp.variants["oneway"]
    assert (oneway.label, oneway.method, oneway.td) == ("One-way control", "oneway", profile.td)
    assert {"plus_kd1", "thaw_lr0.0001", "thaw_lr0.001"} <= set(exp.variants)
    for key in REPLAYED:
        replay, base = exp.variants[f"cka_{key}"], exp.variants[key]
        assert (replay.label, replay.method, replay.td, replay.model, replay.replays) == (
            base.label,
            base.method,
            base.td,
            base.model,
            key,
        )
    assert sweep_task_name(1.0) == "Drama" and sweep_task_name(0.03) == "Drama 3%"


def test_each_variant_takes_its_choices_from_the_documented_row(study_exp, monkeypatch):
    """TD + KD and the learning teacher keep TD (default)'s λ per seed; the control searches
    TD's λ grid itself; a replay inherits λ and l2 from the row it repeats (the Student's replay
    no λ, its l2 from its own row); every study method distils (its l2: the Student's). KD's grid
    has two values here (the smoke profile's one value leaves nothing to inherit)."""
    exp, v = study_exp, study_exp.variants
    monkeypatch.setattr(exp, "profile", replace(exp.profile, distill_weights=(1.0, 10.0)))
    smoke_kd = replace(exp.profile, distill_weights=(1.0,))
    assert exp.weight_source(v["plus_kd1"]) == exp.weight_source(v["thaw_lr0.001"]) == "td"
    assert exp.weight_source(v["oneway"]) is None and exp.weight_grid(v["oneway"], "Drama") == exp.profile.td_weights
    assert exp.weight_source(v["cka_kd"]) == "kd" and exp.l2_source(v["cka_kd"]) == "student"
    assert exp.weight_source(v["cka_td_k0"]) == "td"  # what td_k0 itself inherits
    assert exp.weight_source(v["cka_student"]) is None and exp.l2_source(v["cka_student"]) == "student"
    assert exp.weight_grid(v["kd"], "Drama") == exp.profile.distill_weights  # the base rows as before
    assert all(exp.distills(v[k]) for k in ("oneway", "plus_kd1", "thaw_lr0.001"))
    assert exp.l2_source(v["oneway"]) == "student" and exp.l2_source(v["student"]) is None
    assert exp.inherited(v["cka_kd"]) == ["distill_weight", "l2"]
    monkeypatch.setattr(exp, "profile", smoke_kd)
    assert exp.weight_source(v["cka_kd"]) is None  # one value: its replay runs that value itself


def test_a_study_runs_config_names_what_it_changes(study_exp):
    exp, v = study_exp, study_exp.variants
    config = exp.run_config(v["plus_kd1"], "Western")
    assert config["study"] == {"replays": None, "kd_weight": 1.0, "teacher_lr": 0.0, "analysis": 1}
    assert exp.run_config(v["cka_fd"], "Western")["study"]["replays"] == "fd"
    assert "study" not in exp.run_config(v["kd"], "Western") and "subsample" not in config
    assert config["task"] == "Western" and exp.run_config(v["student"], "Drama 10%")["task"] == "Drama 10%"
    small = exp.run_config(v["student"], "Drama 10%")
    cut = exp._ratings("Drama 10%")
    assert (cut.name, cut.n_users, cut.n_items) == ("Drama 10%", exp.n_users, exp.n_items)
    n_train = int((exp._ratings("Drama")).train.inputs.shape[0])
    assert small["subsample"] == {"genre": "Drama", "fraction": 0.1, "seed": 0, "n_train": math.ceil(0.1 * n_train)}
    assert len(exp._ratings("Drama 10%").train) == math.ceil(0.1 * n_train)
    assert exp._ratings("Drama 10%") is exp._ratings("Drama 10%")  # cut once
    assert len(exp._ratings("Drama 10%").valid) == len(exp._ratings("Drama").valid)
    # the control's stacks cost half as much again as TD's; a subsample's cost counts its size
    assert exp.expected_cost(("oneway", "Western")) == 1.5 * exp.expected_cost(("td", "Western"))
    assert exp.expected_cost(("td", "Drama 10%")) < exp.expected_cost(("td", "Drama"))
    assert exp.expected_cost(("plus_kd1", "Western")) == exp.expected_cost(("td", "Western"))
    assert exp.expected_cost(("@teacher", "")) == 1.5 * exp.expected_cost(("td", "Drama"))  # as the track's


def test_the_study_builds_its_methods_and_teachers(study_exp, toy_task):
    from ikd_lib.core.reviewer_methods import OneWayControl, TalkingModelsTeacherLearns, TalkingModelsWithKD

    exp, v = study_exp, study_exp.variants
    task = exp.task("Western")
    index = torch.tensor([0, 1])
    learning = exp.teacher_for(v["thaw_lr0.001"], index)
    assert isinstance(learning, LearningTeacher) and isinstance(exp.teacher_for(v["plus_kd1"], index), FrozenTeacher)
    one = exp.teacher_for(v["plus_kd1"], torch.tensor([1]))  # replica 1's teacher only
    assert torch.equal(one.w0, exp.teacher.up_layers[0].weight.detach()[[1]])
    built = {}
    for key, cls in (("oneway", OneWayControl), ("plus_kd10", TalkingModelsWithKD)):
        exp.family_variant("plus_kd", 10.0)
        teacher = exp.teacher_for(v[key], index)
        built[key] = exp.make_method(v[key], exp.student_model(task, (0, 1)), teacher, torch.ones(2), task, 3)
        assert isinstance(built[key], cls)
    assert built["plus_kd10"].kd_weight == 10.0
    thaw = exp.make_method(v["thaw_lr0.001"], exp.student_model(task, (0, 1)), learning, torch.ones(2), task, 3)
    assert isinstance(thaw, TalkingModelsTeacherLearns) and thaw.teacher_lr == 1e-3
    kd = exp.make_method(
        v["kd"], exp.student_model(task, (0, 1)), exp.teacher_for(v["kd"], index), torch.ones(2), task, 0
    )
    assert type(kd).__name__ == "KD" or kd.name == "kd"
    # every study run is analysed (its observer), the table's own rows are not
    assert exp.training_observer(v["kd"], kd, task) is None
    observer = exp.training_observer(v["thaw_lr0.001"], thaw, task)
    assert observer.teacher_index.tolist() == [0, 1] and observer.before is not None
    control_observer = exp.training_observer(v["oneway"], built["oneway"], task)
    assert control_observer.teacher_check is None and control_observer.task is task

    # a stack's noise_seed reaches every method it builds (TD's ablation with noise; a study method)
    from ikd_lib.core.config import TDConfig as Config
    from ikd_lib.core.stacked import replica_generator
    from ikd_lib.movielens.reviewers import StudyVariant

    noisy = StudyVariant("noisy", "noisy", "td_kd", Config(noise_std=0.1), kd_weight=1.0)
    for variant in (noisy, v["td_noise"]):
        model = exp.student_model(task, (0, 1))
        method = exp.make_method(variant, model, exp.teacher_for(variant, index), torch.ones(2), task, 3)
        expected = [replica_generator(seed, "td.noise.3.1.0").initial_seed() for seed in (0, 1)]
        assert noise_seeds(method) == expected, variant.key


def test_the_learning_teachers_own_rmse_moves_only_with_its_h_up(study_exp):
    """ŷ' = ŷ + (h_up'(t_l) − t_h)·w_head: with h_up as the teacher's, its all-genre validation
    RMSE per replica; scaled, another."""
    from ikd_lib.core.determinism import sqrt as pinned_sqrt

    exp = study_exp
    index = torch.tensor([1, 0])
    learning = LearningTeacher(exp.teacher, index)
    valid = exp.all_genres.valid
    with torch.no_grad():
        pred, _ = exp.teacher(valid.inputs[None])
    expected = pinned_sqrt((pred[index] - valid.target).pow(2).mean(1)).tolist()
    assert exp.teacher_valid_rmse(learning, index) == pytest.approx(expected, rel=1e-6)
    with torch.no_grad():
        learning.weights[0].mul_(1.5)
    assert exp.teacher_valid_rmse(learning, index) != pytest.approx(expected, rel=1e-6)


def test_the_study_runs_its_genres_then_the_sweep_then_each_familys_grown_values(study_exp, monkeypatch):
    """The genres' rows (the study's variants and each family's profile grid), then the sweep's
    methods on the sizes below 100 % (and Drama itself where the profile has it); then per genre
    the values each family's search grew."""
    from ikd_lib.core.experiment import NotInStore
    from ikd_lib.movielens.reviewers import SWEEP_METHODS

    exp = study_exp
    (per_genre, genres), (sweep, sizes) = exp.study_jobs()
    assert genres == ("Drama", "Western") and sweep == list(SWEEP_METHODS)
    assert sizes == ("Drama 1%", "Drama 3%", "Drama 10%", "Drama 30%", "Drama")
    assert per_genre[:6] == ["student", "kd", "fitnet", "fd", "hybrid", "oneway"]
    assert {"td", "td_k0", "cka_student", "cka_td"} <= set(per_genre) and "bias_only" not in per_genre
    assert per_genre[-3:] == ["plus_kd1", "thaw_lr0.0001", "thaw_lr0.001"]
    monkeypatch.setattr(exp, "profile", replace(exp.profile, genres=("Western",)))
    assert exp.study_jobs()[1][1] == ("Drama 1%", "Drama 3%", "Drama 10%", "Drama 30%")  # no Drama, no 100 %

    jobs = [(tuple(keys), tuple(tasks)) for keys, tasks in exp.study_jobs()]
    calls = []
    monkeypatch.setattr(exp, "run", lambda keys, tasks, desc: calls.append((keys, tuple(tasks))) or [("r", desc)])
    monkeypatch.setattr(exp, "stored", lambda keys, tasks: calls.append((keys, tuple(tasks))) or [("s",)])
    monkeypatch.setattr(exp, "grown_records", lambda genre: calls.append(("grown", genre, exp._load_only)) or [genre])
    assert exp.run_study() == [("r", "reviewers"), ("r", "reviewers"), "Western"]
    assert [(tuple(k), t) for k, t in calls[:2]] == jobs and calls[2] == ("grown", "Western", False)
    calls.clear()
    assert exp.stored_study() == [("s",), ("s",), "Western"]
    assert [(tuple(k), t) for k, t in calls[:2]] == jobs
    assert calls[-1] == ("grown", "Western", True)  # loading only: a search runs nothing

    def not_stored(genre):
        raise NotInStore(genre)

    monkeypatch.setattr(exp, "grown_records", not_stored)
    assert exp.stored_study() == [("s",), ("s",)]  # what is stored, a search not (yet) there left out


def test_a_family_search_stays_within_its_declared_bounds(study_exp, monkeypatch):
    """μ: KD's declared bounds; η: 1e-6 to 1e-2 when the profile's grids may grow, its own grid
    {1e-4, 1e-3} when they may not (smoke)."""
    from ikd_lib.movielens.reviewers import TEACHER_LR_BOUNDS

    exp = study_exp
    assert exp.family_bounds("thaw", "Western") == (1e-4, 1e-3)
    assert exp.family_bounds("plus_kd", "Western") == exp.search_bounds(exp.variants["kd"], "Western", "distill_weight")
    monkeypatch.setattr(exp, "profile", replace(exp.profile, weight_bounds=(0.1, 10.0)))
    assert exp.family_bounds("thaw", "Western") == TEACHER_LR_BOUNDS == (1e-6, 1e-2)
    assert exp.family_bounds("plus_kd", "Western") == (0.1, 10.0)


def test_a_worker_is_told_the_grown_variants_and_knows_them(study_exp, tmp_path):
    from ikd_lib.movielens.reviewers import ReviewersExperiment

    exp = study_exp
    assert exp.family_variant("thaw", 1e-5) == "thaw_lr1e-05" and exp.variants["thaw_lr1e-05"].teacher_lr == 1e-5
    assert exp.family_variant("plus_kd", 100.0) == "plus_kd100"
    factory = exp.worker_factory()
    assert set(factory.keywords["grown"]) >= {("thaw", 1e-5), ("plus_kd", 100.0)}
    assert ("plus_kd", 1.0) not in factory.keywords["grown"] and ("thaw", 1e-4) not in factory.keywords["grown"]
    assert factory.keywords["progress"] is False and factory.keywords["workers"] == 1
    assert exp.worker_args and all(factory.keywords[k] == value for k, value in exp.worker_args.items())
    worker = ReviewersExperiment(exp.profile, grown=(("thaw", 1e-5),), store_root=tmp_path, progress=False)
    assert worker.variants["thaw_lr1e-05"] == exp.variants["thaw_lr1e-05"]


# ---------------------------------------------------------------- the analysis of a trained stack
def analysed(toy_task, toy_teacher, name="td", check=None):
    from ikd_lib.movielens.reviewers import StackAnalysis

    index = torch.tensor([0, 1])
    teacher = LearningTeacher(toy_teacher, index) if name == "td_teacher_learns" else FrozenTeacher(toy_teacher, index)
    if name == "td_teacher_learns":
        method = build_reviewer_method(name, student(toy_task, (0, 1)), teacher, torch.ones(2), toy_task, TD)
    else:
        method = build_method(name, student(toy_task, (0, 1)), teacher, torch.ones(2), toy_task, TD)
    return method, StackAnalysis(method, toy_task, index, check)


def test_the_analysis_restores_what_else_trained_to_each_replicas_best_epoch(toy_task, toy_teacher):
    """E*, D* (and a learning teacher's h_up) as they were at the end of each replica's restored
    epoch, from a copy kept after every epoch (0: as initialised); the student is not touched."""
    method, analysis = analysed(toy_task, toy_teacher, "td_teacher_learns")
    names = set(analysis.others)
    assert names and not any(n.startswith("student.") for n in names)
    assert any(n.startswith("teacher.") for n in names) and any(n.startswith("comm.") for n in names)
    student_before = [p.detach().clone() for p in method.student.parameters()]
    copies = [analysis.snapshot()]
    for epoch in (1, 2):
        with torch.no_grad():
            for p in analysis.others.values():
                p.add_(float(epoch))
        analysis.on_epoch(epoch, {})
        copies.append(analysis.snapshot())
    with pytest.raises(RuntimeError, match="one copy per epoch from epoch 1; got epoch 4 after 2"):
        analysis.on_epoch(4, {})
    analysis.restore([1, 0])
    for name, p in analysis.others.items():
        assert torch.equal(p[0], copies[1][name][0]) and torch.equal(p[1], copies[0][name][1]), name
    assert all(torch.equal(p, q) for p, q in zip(method.student.parameters(), student_before))


def test_the_analysis_reads_the_states_documented(toy_task, toy_teacher):
    """On a split: the student's s_h, its teacher's t_h, the message E_g(s_h) and the teacher's
    first answer E_h(h_up(D_h(E_g(s_l)))) (TD); the student alone has no message."""
    method, analysis = analysed(toy_task, toy_teacher)
    states = analysis.states("test")
    part = toy_task.split("test")
    with torch.no_grad():
        _, own = method.student(part.inputs[None])
        c = method.comm
        answer = c.encode_teacher(method.teacher.up(c.decode_teacher(c.encode_student(own["low"]))))
    assert set(states) == {"s_h", "t_h", "message", "answer"}
    assert torch.equal(states["s_h"], own["high"]) and torch.equal(states["t_h"], part.teacher["high"][[0, 1]])
    assert torch.equal(states["message"], c.encode_student(own["high"]).detach())
    assert torch.equal(states["answer"], answer)
    _, alone = analysed(toy_task, toy_teacher, "student")
    assert set(alone.states("train")) == {"s_h", "t_h"}


def test_the_analysis_rows_are_cka_and_probes_at_the_restored_epoch(toy_task, toy_teacher):
    from types import SimpleNamespace

    from ikd_lib.movielens.reviewers import ANALYSIS_FORMAT

    rmse = iter([[0.9, 0.8], [0.95, 0.85]])
    method, analysis = analysed(toy_task, toy_teacher, "td_teacher_learns", check=lambda: next(rmse))
    rows = analysis.finish(SimpleNamespace(best_epoch=[0, 0]))
    train, test = analysis.states("train"), analysis.states("test")
    y_train, y_test = toy_task.train.target.numpy(), toy_task.test.target.numpy()

    def flat(x, r):
        return x[r].reshape(-1, x.shape[-1]).double().numpy()

    for r, row in enumerate(rows):
        assert row["format"] == ANALYSIS_FORMAT == 1
        assert row["cka_high"] == linear_cka(flat(test["s_h"], r), flat(test["t_h"], r))
        for name, key in (("state", "s_h"), ("message", "message"), ("answer", "answer"), ("teacher", "t_h")):
            assert row[f"r2_{name}"] == probe_r2(flat(train[key], r), y_train, flat(test[key], r), y_test), name
    assert [(row["teacher_valid_rmse_before"], row["teacher_valid_rmse_after"]) for row in rows] == [
        (0.9, 0.95),
        (0.8, 0.85),
    ]
    _, alone = analysed(toy_task, toy_teacher, "student")
    assert set(alone.finish(SimpleNamespace(best_epoch=[0, 0]))[1]) == {"format", "cka_high", "r2_state", "r2_teacher"}


# ---------------------------------------------------------------- core/comparisons.py
def test_a_comparison_renders_each_rule_a_reader_sees():
    """A cell: mean ± SE over its seeds (SE 0 for one seed, which has no test), "–" where a row
    has no values; bold for the best mean at the shown digits (ties: every one of them; "higher":
    the largest); † where p < 0.05; a sign where differences are signed. A comparison without a
    caption renders its heading, then the table."""
    from ikd_lib.core.comparisons import Comparison, Entry, csv_rows, render_markdown

    assert Entry({3: 0.5}).se == 0.0 and Entry({3: 0.5}).seeds == [3] and math.isnan(Entry({3: 0.5}).p)
    values = {
        ("a", "g"): {0: 0.5, 1: 0.7},  # 0.600 ± 0.100
        ("b", "g"): {0: 0.6, 1: 0.6004},  # 0.6002: 0.600 at 3 digits, a tie with a
        ("c", "g"): {0: 0.2},
    }
    c = Comparison("k", "Title", "q", [("g", "G"), ("h", "H")], ["a", "b", "c"], values, better="higher", digits=3)
    assert c.best_rows("g") == {"a", "b"} and c.best_rows("h") == set()
    assert c.text("a", "g") == "**0.600 ± 0.100**" and c.text("c", "g") == "0.200 ± 0.000" and c.text("a", "h") == "–"
    assert render_markdown(c, level=2) == (
        "## Title\n\n| Row | G | H |\n|---|---:|---:|\n| a | **0.600 ± 0.100** | – |\n"
        "| b | **0.600 ± 0.000** | – |\n| c | 0.200 ± 0.000 | – |\n"
    )
    plain = Comparison("k", "T", "q", [("g", "G")], ["c"], values)
    assert plain.best_rows("g") == set() and plain.text("c", "g") == "0.2000 ± 0.0000"
    assert csv_rows(plain) == [["k", "c", "g", "q", "0.200000", "0.000000", 1, "0", "0.200000", "", "", 0, ""]]
    signed = Comparison(
        "d",
        "D",
        "q",
        [("g", "G")],
        ["x"],
        {("x", "g"): {0: 0.010, 1: 0.011, 2: 0.0105}},
        against_zero=True,
        signed=True,
    )
    assert signed.text("x", "g") == "+0.0105 ± 0.0003†"
    assert csv_rows(signed)[0][9:12] == ["0", f"{signed.entry('x', 'g').p:.4g}", 1]


def test_a_dagger_needs_p_strictly_below_alpha_and_notes_may_be_missing(monkeypatch):
    """† and the CSV's "significant": p < 0.05, so p = 0.05 exactly is not significant. A row
    without a note has an empty notes cell; a row missing in a column is skipped there only;
    LaTeX escapes braces."""
    from ikd_lib.core.comparisons import Comparison, Entry, csv_rows, render_latex, render_markdown

    values = {("a", "g"): {0: 1.0, 1: 2.0}, ("b", "h"): {0: 3.0, 1: 3.5}}
    c = Comparison(
        "k", "T {x}", "q", [("g", "G"), ("h", "H")], ["a", "b"], values, row_notes={"a": "n"}, notes_header="N"
    )
    assert render_markdown(c).splitlines()[-2:] == ["| a | n | 1.5000 ± 0.5000 | – |", "| b |  | – | 3.2500 ± 0.2500 |"]
    latex = render_latex(c)
    assert r"a & n & 1.5000 $\pm$ 0.5000 & – \\" in latex and r"b &  & – & 3.2500 $\pm$ 0.2500 \\" in latex
    assert r"\caption{T \{x\}. }" in latex
    assert [(r[1], r[2]) for r in csv_rows(c)] == [("a", "g"), ("b", "h")]
    monkeypatch.setattr(c, "entry", lambda row, task: Entry({0: 1.0, 1: 2.0}, 0.05))
    assert c.text("a", "g") == "1.5000 ± 0.5000" and csv_rows(c)[0][10:12] == ["0.05", 0]
    monkeypatch.setattr(c, "entry", lambda row, task: Entry({0: 1.0, 1: 2.0}, 0.0499))
    assert c.text("a", "g") == "1.5000 ± 0.5000†" and csv_rows(c)[0][10:12] == ["0.0499", 1]


def test_a_subsample_is_a_table_like_the_original():
    """Only fractions in (0, 1]; the kept ratings in a table of the same columns, indexed 0..n-1."""
    import pandas as pd

    from ikd_lib.movielens.reviewers import subsample_training

    split = ["train"] * 6 + ["valid", "test"]
    table = pd.DataFrame({"user": range(8), "item": range(8), "rating": [3.0] * 8, "split": split}, index=range(10, 18))
    sub = subsample_training(table, 0.5)
    assert list(sub.columns) == list(table.columns) and list(sub.index) == list(range(5))
    assert sorted(sub["split"]) == ["test", "train", "train", "train", "valid"]
    for bad in (1.5, -0.1):
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\], got "):
            subsample_training(table, bad)


def test_a_family_search_runs_its_own_values_on_its_own_genre(tmp_path, monkeypatch):
    """family_search runs what is missing, the family's variants on the one genre (in the worker
    pool, through `run`), and nothing when loading only."""
    from ikd_lib.movielens.reviewers import make_reviewers_experiment

    exp = make_reviewers_experiment("smoke", store_root=tmp_path, progress=False, workers=1)
    calls, loaded = [], []

    def run(keys, tasks, desc="runs"):
        calls.append((list(keys), tuple(tasks)))
        return []

    def run_variant(variant, genre):
        loaded.append((variant.key, genre))
        return [{"seed": s, "valid_metric": 0.9} for s in exp.profile.seeds]

    monkeypatch.setattr(exp, "run", run)
    monkeypatch.setattr(exp, "run_variant", run_variant)
    found = exp.family_search("thaw", "Western")
    assert found.grid == (1e-4, 1e-3)
    assert calls == [(["thaw_lr0.0001", "thaw_lr0.001"], ("Western",))]
    assert loaded == [("thaw_lr0.0001", "Western"), ("thaw_lr0.001", "Western")]
    assert exp.family_search("thaw", "Western") is found  # searched once per genre
    calls.clear()
    with exp.loading_only():
        exp.family_search("plus_kd", "Drama")
    assert calls == []


def test_the_study_is_made_for_a_profile_its_genres_and_seeds(tmp_path):
    """make_reviewers_experiment: the cpu profile unless another is named; genres and seeds
    narrow it."""
    from ikd_lib.movielens.reviewers import make_reviewers_experiment

    assert make_reviewers_experiment(store_root=tmp_path / "a", progress=False).profile.name == "cpu"
    narrow = make_reviewers_experiment("smoke", genres=["Western"], seeds=[1], store_root=tmp_path / "b")
    assert (narrow.profile.name, narrow.profile.genres, narrow.profile.seeds) == ("smoke", ("Western",), (1,))
