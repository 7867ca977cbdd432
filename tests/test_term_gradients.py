"""Each distillation term, alone, sends its gradient into the student where METHOD.md says.

The student also learns from L_task, so a term that lost its gradient (a stop-gradient on
s_h inside L_interact, say) would go unnoticed in a test of the total. Here each term is
backpropagated alone, and the student's layers that reach it only through the state the
term reads must get a gradient: its upper layers for terms that read s_h (L_interact,
L_MC, L_SC, FD), its lower layer for FitNet (s_l), its head for KD (ŷ).
"""

import pytest
import torch

from ikd_lib.core import losses
from ikd_lib.core.config import TDConfig
from ikd_lib.core.methods import build_method

from toys import TeacherUp, TokenClassifier, attach_teacher, classification_task, trained_teacher

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def classes():
    task = classification_task(n=(200, 50, 50))
    teacher = trained_teacher(task)
    return teacher, attach_teacher(task, teacher)


def reached(module) -> bool:
    return all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in module.parameters())


# (method, term) -> the student's part the term reaches only through the state it reads
CASES = [
    ("td", "interact", "ups"),
    ("td", "message", "ups"),
    ("td", "state", "ups"),
    ("td", "state", "low"),
    ("fd", "fd", "ups"),
    ("fitnet", "fitnet", "low"),
    ("kd", "kd", "head"),
    ("hybrid", "kd", "head"),
    ("hybrid", "fd", "ups"),
]


@pytest.mark.parametrize("name,term,part", CASES)
def test_each_term_alone_reaches_the_student(classes, name, term, part):
    teacher, task = classes
    student = TokenClassifier(SEEDS, width=8)
    method = build_method(
        name, student, TeacherUp(teacher), torch.tensor([0.5, 2.0]), task, TDConfig(k_rounds=2, message_dim=5)
    )
    batch = task.batch("train", torch.stack([torch.arange(40)] * 2), torch.zeros(2, dtype=torch.long))
    _, named, _ = method.forward_train(batch)
    named[term].sum().backward()
    assert reached(getattr(student, part)), f"{name}: {term} alone sends no gradient to the student's {part}"
    assert all(p.grad is None for p in teacher.parameters())  # the teacher never learns


def test_fitnet_alone_does_not_reach_the_upper_layers(classes):
    """FitNet reads s_l: its gradient stops below s_h (a hint read at s_h would reach them)."""
    teacher, task = classes
    student = TokenClassifier(SEEDS, width=8)
    method = build_method("fitnet", student, TeacherUp(teacher), torch.ones(2), task)
    batch = task.batch("train", torch.stack([torch.arange(40)] * 2), torch.zeros(2, dtype=torch.long))
    method.forward_train(batch)[1]["fitnet"].sum().backward()
    assert all(p.grad is None for p in student.ups.parameters())


def test_l_interact_pulls_s_h_towards_the_answer():
    """No stop-gradient on either side: ∂/∂s_h d(s_h, ŝ) = 2 (s_h − ŝ) / (B·D), and the
    question gets a gradient through the teacher's upper layers."""
    s_h = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], requires_grad=True)  # [R=1, B=2, D=2]
    question = torch.tensor([[[0.5, 0.0], [0.0, 0.5]]], requires_grad=True)
    double = lambda x: 2 * x  # noqa: E731
    ident = lambda x: x  # noqa: E731
    # ŝ = D_g(E_h(h_up(D_h(q)))) = 2q with D_h = 2x, the rest identities: [[1, 0], [0, 1]]
    value, _ = losses.interact(question, s_h, double, ident, ident, ident, ident, k_rounds=1)
    value.sum().backward()
    # s_h − ŝ = [[0, 2], [3, 3]]; 2/4 of it
    assert s_h.grad.tolist() == [[[0.0, 1.0], [1.5, 1.5]]]
    # ∂/∂q = −2·(s_h − ŝ)/4 · ∂ŝ/∂q (= 2): [[0, −2], [−3, −3]]
    assert question.grad.tolist() == [[[0.0, -2.0], [-3.0, -3.0]]]
