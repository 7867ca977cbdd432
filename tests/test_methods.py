"""Methods: gradients reach exactly what should learn, the teacher never changes."""

import copy

import pytest
import torch

from ikd_lib.core.config import TDConfig, TrainConfig
from ikd_lib.core.methods import build_method
from ikd_lib.core.train import train_stack
from ikd_lib.movielens.models import FrozenTeacher, RatingModel, count_parameters

from conftest import TOY_STUDENT

SEEDS = (0, 1)


def make(name, task, teacher, td=None, seeds=SEEDS, weight=1.0):
    student = RatingModel(
        TOY_STUDENT,
        task.n_users,
        task.n_items,
        seeds,
        task.rating_offset,
        "student",
        interactions=task.train.inputs,
        l2=0.01,
    )
    index = torch.tensor([list(SEEDS).index(s) for s in seeds])
    frozen = FrozenTeacher(teacher, index) if name != "student" else None
    return build_method(name, student, frozen, torch.full((len(seeds),), weight), task, td), index


def one_step_grads(method, task, index):
    batch = task.batch("train", torch.stack([torch.arange(64)] * len(method.student.seeds)), index)
    _, named, _ = method.forward_train(batch)
    method.objective(named).sum().backward()
    return named


def test_td_gradients_reach_student_and_all_four_modules(toy_task, toy_teacher):
    method, index = make("td", toy_task, toy_teacher)
    one_step_grads(method, toy_task, index)
    comm = method.comm
    for module in (comm.encode_student, comm.decode_student, comm.encode_teacher, comm.decode_teacher):
        for p in module.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0
    for name, p in method.student.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # nothing else learns: the frozen teacher's weights are buffers, the stacked teacher has no grads
    assert all(not p.requires_grad for p in toy_teacher.parameters())
    assert {id(p) for p in method.parameters()} == {id(p) for g in method.parameter_groups().values() for p in g}


def test_interaction_gradient_flows_through_the_teacher_into_decode_teacher(toy_task, toy_teacher):
    # with only L_interact on, D_h learns only through h_up(D_h(q)); K = 0 cuts that path
    for k, expect_grad in ((1, True), (0, False)):
        method, index = make("td", toy_task, toy_teacher, TDConfig(k_rounds=k, w_message=0.0, w_state=0.0))
        one_step_grads(method, toy_task, index)
        grad = method.comm.decode_teacher.weight.grad
        assert (grad is not None and grad.abs().sum() > 0) == expect_grad


def test_teacher_stays_bit_identical_after_td_training(toy_task, toy_teacher):
    before = copy.deepcopy(toy_teacher.state_dict())
    cache_before = {k: v.clone() for k, v in toy_task.train.teacher.items()}
    method, index = make("td", toy_task, toy_teacher, TDConfig(k_rounds=2, noise_std=0.1))
    frozen_before = {k: v.clone() for k, v in method.teacher.state_dict().items()}
    train_stack(method, toy_task, TrainConfig(max_epochs=2, batch_size=128), SEEDS, index, progress=False)
    for k, v in toy_teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    for k, v in method.teacher.state_dict().items():
        assert torch.equal(v, frozen_before[k]), k
    for k, v in toy_task.train.teacher.items():
        assert torch.equal(v, cache_before[k]), k
    assert not toy_teacher.training


def test_k_rounds_are_run_and_logged(toy_task, toy_teacher):
    for k in (0, 1, 2, 3):
        method, index = make("td", toy_task, toy_teacher, TDConfig(k_rounds=k))
        named = one_step_grads(method, toy_task, index)
        rounds = [n for n in named if n.startswith("interact_round")]
        assert len(rounds) == k
        if k == 0:
            assert torch.equal(named["interact"], torch.zeros(2))
        else:
            assert (named["interact"] > 0).all()
            assert torch.allclose(named["interact"], torch.stack([named[r] for r in rounds]).mean(0))


@pytest.mark.parametrize(
    "name,aux", [("kd", None), ("fitnet", "regressor"), ("fd", "projector"), ("hybrid", "projector")]
)
def test_baselines_learn_their_own_modules(toy_task, toy_teacher, name, aux):
    method, index = make(name, toy_task, toy_teacher)
    named = one_step_grads(method, toy_task, index)
    assert set(method.weights()) <= set(named)
    if aux:
        assert getattr(method, aux).weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in method.student.parameters())


def test_student_ignores_the_teacher(toy_task, toy_teacher):
    method, index = make("student", toy_task, toy_teacher)
    named = one_step_grads(method, toy_task, index)
    assert list(named) == ["task", "penalty"] and method.teacher is None


def test_teacher_is_larger_than_the_student_in_the_real_profiles():
    from ikd_lib.movielens.profiles import PROFILES

    pairs = torch.tensor([[0, 0], [942, 1681]])
    for profile in PROFILES.values():
        student = RatingModel(profile.student, 943, 1682, (0,), 3.5, "student", interactions=pairs)
        teacher = RatingModel(profile.teacher, 943, 1682, (0,), 3.5, "teacher", interactions=pairs)
        ratio = count_parameters(teacher) / count_parameters(student)
        assert 9 <= ratio <= 11, (profile.name, ratio)  # "about 10x" (issue 8)


def test_same_seed_same_student_under_every_method(toy_task, toy_teacher):
    inits = [make(n, toy_task, toy_teacher)[0].student.state_dict() for n in ("student", "kd", "td")]
    for other in inits[1:]:
        for k in inits[0]:
            assert torch.equal(inits[0][k], other[k])
    different_seed = make("student", toy_task, toy_teacher, seeds=(1, 0))[0].student.state_dict()
    assert not torch.equal(different_seed["user_emb.weight"][0], inits[0]["user_emb.weight"][0])
    assert torch.equal(different_seed["user_emb.weight"][0], inits[0]["user_emb.weight"][1])


@pytest.mark.parametrize("name", ["student", "kd", "fitnet", "fd", "hybrid", "td"])
def test_a_method_reads_only_the_teacher_states_it_names(name, toy_task, toy_teacher):
    # the training loop gathers only Method.teacher_states: reading another one fails here
    method, index = make(name, toy_task, toy_teacher)
    rows = torch.stack([torch.arange(32)] * len(SEEDS))
    batch = toy_task.batch("train", rows, index if name != "student" else None, method.teacher_states)
    assert {k for k in batch if k.startswith("teacher_")} == {f"teacher_{s}" for s in method.teacher_states}
    _, named, _ = method.forward_train(batch)
    full = toy_task.batch("train", rows, index if name != "student" else None)
    _, named_full, _ = method.forward_train(full)
    assert named.keys() == named_full.keys()
    assert all(torch.equal(named[k], named_full[k]) for k in named)


def test_the_students_objective_is_its_task_loss_plus_its_own_penalty():
    """What the student learns from alone (the Student row, the 'separate' warm-up): task + L2
    penalty, each as given (a penalty left out would change every regularised number)."""
    from ikd_lib.core.methods import Method

    task, penalty = torch.tensor([0.5, 2.0]), torch.tensor([0.25, 0.125])
    assert torch.equal(Method.student_objective({"task": task, "penalty": penalty}), task + penalty)
    assert torch.equal(Method.student_objective({"task": task}), task)  # no penalty: the task alone


@pytest.mark.parametrize(
    "name,layer,stream", [("fitnet", "regressor", "fitnet.regressor"), ("fd", "projector", "fd.projector")]
)
def test_fitnet_and_fd_layers_start_from_their_own_named_stream(name, layer, stream, toy_task, toy_teacher):
    """The regressor and the projector are drawn from streams named after them (the committed
    tables depend on these names), computed as the student's layers are."""
    from ikd_lib.core.stacked import StackedLinear

    method, _ = make(name, toy_task, toy_teacher)
    built = getattr(method, layer)
    expected = StackedLinear(method.student.seeds, method.student.width, method.teacher.width, stream)
    assert torch.equal(built.weight, expected.weight) and torch.equal(built.bias, expected.bias)
    assert built.matmul == method.student.matmul == "openblas"


def test_train_mode_reaches_the_student_and_never_the_teacher(toy_task, toy_teacher):
    """`method.train()` (no argument) puts the student and E*, D* in training mode; the teacher
    stays in eval mode whatever the method's mode."""
    method, _ = make("td", toy_task, toy_teacher)
    method.eval()
    method.train()
    assert method.training and method.student.training and method.comm.training
    assert not method.teacher.training
    method.train(False)
    assert not method.student.training and not method.teacher.training


def test_freeze_makes_a_teacher_eval_mode_without_gradients(toy_task):
    from ikd_lib.core.methods import freeze

    model = RatingModel(
        TOY_STUDENT,
        toy_task.n_users,
        toy_task.n_items,
        SEEDS,
        toy_task.rating_offset,
        "m",
        interactions=toy_task.train.inputs,
    )
    model.train()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    assert freeze(model) is model
    assert not model.training
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())


def test_td_draws_each_replicas_noise_from_its_own_stream_named_by_seed_weight_and_noise_seed(toy_task, toy_teacher):
    """One generator per replica, seeded from (its seed, its λ, `noise_seed`: the experiment
    passes one derived from the stack's configuration without its replica list), so a replica
    draws the same noise alone or in any stack; 0 when none is given."""
    from ikd_lib.core.methods import TalkingModels
    from ikd_lib.core.stacked import replica_generator

    td = TDConfig(noise_std=0.1)
    student = RatingModel(
        TOY_STUDENT,
        toy_task.n_users,
        toy_task.n_items,
        SEEDS,
        toy_task.rating_offset,
        "student",
        interactions=toy_task.train.inputs,
    )
    frozen = FrozenTeacher(toy_teacher, torch.tensor([0, 1]))
    weights = torch.tensor([1.0, 10.0])

    def seeds_of(method):
        return [g.initial_seed() for g in method.noise]

    expected = [replica_generator(s, f"td.noise.7.{w!r}").initial_seed() for s, w in zip(SEEDS, (1.0, 10.0))]
    assert seeds_of(build_method("td", student, frozen, weights, toy_task, td, noise_seed=7)) == expected
    default = [replica_generator(s, f"td.noise.0.{w!r}").initial_seed() for s, w in zip(SEEDS, (1.0, 10.0))]
    assert seeds_of(build_method("td", student, frozen, weights, toy_task, td)) == default
    assert seeds_of(TalkingModels(student, frozen, weights, toy_task, td)) == default
    assert len(set(expected + default)) == 4
    assert build_method("td", student, frozen, weights, toy_task, TDConfig()).noise is None  # no noise, no stream


def test_td_modules_compute_as_the_students_layers_do(toy_task, toy_teacher):
    method, _ = make("td", toy_task, toy_teacher)
    c = method.comm
    modules = (c.encode_student, c.decode_student, c.encode_teacher, c.decode_teacher)
    assert method.student.matmul == "openblas"
    assert all(m.matmul == "openblas" for m in modules)


def test_build_method_names_an_unknown_method_and_a_missing_teacher(toy_task):
    student = RatingModel(
        TOY_STUDENT,
        toy_task.n_users,
        toy_task.n_items,
        SEEDS,
        toy_task.rating_offset,
        "student",
        interactions=toy_task.train.inputs,
    )
    with pytest.raises(ValueError, match=r"unknown method 'tdd'; valid: .*td.*Did you mean 'td'"):
        build_method("tdd", student, None, torch.ones(2), toy_task)
    with pytest.raises(ValueError, match=r"method 'kd' needs a teacher"):
        build_method("kd", student, None, torch.ones(2), toy_task)
