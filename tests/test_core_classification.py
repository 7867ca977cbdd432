"""The core knows no track: TD and every baseline train on a tiny synthetic classification
model with taps and a token axis (tests/toys.py), through the same core code as MovieLens."""

import copy

import pytest
import torch

from ikd_lib.core.config import TDConfig, TrainConfig
from ikd_lib.core.methods import build_method
from ikd_lib.core.train import train_stack

from toys import N_CLASSES, TeacherUp, TokenClassifier, attach_teacher, classification_task, trained_teacher

SEEDS = (0, 1)
FAST = TrainConfig(max_epochs=8, patience=8, batch_size=100, lr=1e-2)
METHODS = ("student", "kd", "fitnet", "fd", "hybrid", "td")


@pytest.fixture(scope="module")
def teacher_and_task():
    task = classification_task()
    teacher = trained_teacher(task)
    return teacher, attach_teacher(task, teacher)


def make(name, teacher, task, td=None, weight=1.0):
    student = TokenClassifier(SEEDS, width=8)
    up = TeacherUp(teacher) if name != "student" else None
    method = build_method(name, student, up, torch.full((len(SEEDS),), weight), task, td)
    return method, torch.zeros(len(SEEDS), dtype=torch.long)  # both replicas talk to teacher 0


def test_the_teacher_learned_the_toy_rule(teacher_and_task):
    teacher, task = teacher_and_task
    accuracy = (task.test.teacher["pred"].argmax(-1) == task.test.target).float().mean()
    assert accuracy > 0.6  # chance is 1/4


@pytest.mark.parametrize("name", METHODS)
def test_every_method_trains_losses_fall_and_accuracy_beats_chance(teacher_and_task, name):
    teacher, task = teacher_and_task
    teacher_before = copy.deepcopy(teacher.state_dict())
    method, index = make(name, teacher, task, TDConfig(k_rounds=1, message_dim=4))
    start = task.evaluate(method, "valid").tolist()
    result = train_stack(
        method, task, FAST, SEEDS, index if name != "student" else None, td=getattr(method, "td", None), progress=False
    )
    log = result.epoch_log
    for loss in [k for k in log if k.startswith("train_") and "round" not in k]:
        assert (log[loss][-1] < log[loss][0]).all(), f"{name}: {loss} did not fall"
    assert min(result.test_metric) > 1.5 / N_CLASSES, f"{name}: accuracy {result.test_metric}"
    # the best epoch is restored, not the first: the first epoch with the highest validation
    # accuracy (or the start, epoch 0, if no epoch beat it)
    valid = log["valid_metric"]
    for r in range(len(SEEDS)):
        top = float(valid[:, r].max())
        best_epoch = int(valid[:, r].argmax()) + 1 if top > start[r] else 0
        assert result.best_epoch[r] == best_epoch, f"{name} replica {r}: epochs {valid[:, r]}"
        assert result.valid_metric[r] == pytest.approx(max(top, start[r]), abs=1e-6)
    assert max(result.best_epoch) > 1, f"{name}: the first epoch was the best, the test checks nothing"
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), f"{name} changed the teacher's {key}"
    assert not teacher.training


@pytest.mark.parametrize(
    "name,aux",
    [
        ("student", ()),
        ("kd", ()),
        ("fitnet", ("regressor",)),
        ("fd", ("projector",)),
        ("hybrid", ("projector",)),
        ("td", ("comm.encode_student", "comm.decode_student", "comm.encode_teacher", "comm.decode_teacher")),
    ],
)
def test_gradients_reach_exactly_the_student_and_its_own_modules(teacher_and_task, name, aux):
    teacher, task = teacher_and_task
    method, index = make(name, teacher, task, TDConfig(k_rounds=2, message_dim=4))
    batch = task.batch("train", torch.stack([torch.arange(50)] * len(SEEDS)), index if name != "student" else None)
    method.objective(method.forward_train(batch)[1]).sum().backward()
    learners = {n for n, p in method.named_parameters() if p.requires_grad}
    expected = {n for n, _ in method.student.named_parameters(prefix="student")}
    expected |= {n for prefix in aux for n, _ in method.get_submodule(prefix).named_parameters(prefix=prefix)}
    assert learners == expected
    for n, p in method.named_parameters():
        if n in expected:
            assert p.grad is not None and p.grad.abs().sum() > 0, n
        else:  # the teacher: frozen, no gradient
            assert p.grad is None and not p.requires_grad, n
    groups = method.parameter_groups()
    assert {id(p) for g in groups.values() for p in g} == {id(p) for n, p in method.named_parameters() if n in expected}


def test_k0_switches_interaction_off_on_classes(teacher_and_task):
    teacher, task = teacher_and_task
    batch_index = torch.stack([torch.arange(50)] * len(SEEDS))
    for k, path_open in ((0, False), (1, True)):
        method, index = make("td", teacher, task, TDConfig(k_rounds=k, w_message=0.0, w_state=0.0, message_dim=4))
        _, named, _ = method.forward_train(task.batch("train", batch_index, index))
        method.objective(named).sum().backward()
        assert torch.equal(named["interact"], torch.zeros(2)) != path_open
        grad = method.comm.decode_teacher.weight.grad  # D_h learns only through h_up(D_h(q))
        assert (grad is not None and grad.abs().sum() > 0) == path_open


def test_accuracy_tables_pick_the_highest_validation_and_bold_the_highest_mean():
    from ikd_lib.core.results import cell_for
    from ikd_lib.core.tables import Row, TableSpec, build_table, render_markdown

    base = {"profile": "t", "config_hash": "h", "git_revision": "r", "config": {"teacher_hash": "t", "data": "d"}}
    records = [
        {**base, "variant": v, "task": "toy", "seed": s, "distill_weight": w, "valid_metric": va, "test_metric": te}
        for v, w, va, te in (
            ("kd", 1.0, 0.70, 0.60),
            ("kd", 3.0, 0.80, 0.62),
            ("td", 1.0, 0.75, 0.66),
            ("td_k0", 1.0, 0.90, 0.64),
            ("student", 0.0, 0.5, 0.5),
        )
        for s in range(3)
    ]
    assert cell_for([r for r in records if r["variant"] == "kd"], higher_is_better=True).weight == 3.0
    spec = TableSpec(
        "tablex",
        "toy",
        (Row("Student", ("student",)), Row("KD", ("kd",)), Row("TD", ("td*",))),
        metric="top-1 accuracy",
        higher_is_better=True,
    )
    table = build_table(spec, records, ("toy",))
    assert table.cells["TD", "toy"].variant == "td_k0"  # highest validation accuracy
    md = render_markdown(table)
    assert "| TD | **0.6400 ± 0.0000** |" in md and "higher is better" in md and "highest mean" in md
