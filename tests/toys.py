"""A tiny synthetic *classification* track for tests: a model with taps and a token axis.

    x [B, N, F]  ->  s_l = relu(x W_low + b)            [R, B, N, D]   (per token)
                 ->  s_h = relu(s_l W_up + b) (n_upper) [R, B, N, D]
                 ->  logits = mean_tokens(s_h) W_head + b  [R, B, C]

It is built only from core pieces (StackedLinear, Task, ACCURACY, cross-entropy, τ²·KL),
so training TD and every baseline on it proves the core knows no track.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from ikd_lib.core import losses
from ikd_lib.core.config import TrainConfig
from ikd_lib.core.methods import Method
from ikd_lib.core.stacked import StackedLinear
from ikd_lib.core.task import ACCURACY, Split, Task
from ikd_lib.core.train import train_stack

N_TOKENS, N_FEATURES, N_CLASSES = 3, 6, 4
TEMPERATURE = 2.0


class TokenClassifier(nn.Module):
    def __init__(self, seeds, width: int, n_upper: int = 1, name: str = "student"):
        super().__init__()
        self.seeds, self.width = tuple(seeds), width
        self.low = StackedLinear(self.seeds, N_FEATURES, width, f"{name}.low")
        self.ups = nn.ModuleList(StackedLinear(self.seeds, width, width, f"{name}.up{i}") for i in range(n_upper))
        self.head = StackedLinear(self.seeds, width, N_CLASSES, f"{name}.head")

    def forward_low(self, inputs):
        n_rep = len(self.seeds)
        if inputs.shape[0] != n_rep:  # one batch shared by every replica
            inputs = inputs.expand(n_rep, *inputs.shape[1:])
        return torch.relu(self.low(inputs))

    def forward_up(self, state):
        for layer in self.ups:
            state = torch.relu(layer(state))
        return state

    def forward_head(self, state):
        return self.head(state.mean(-2))  # mean over tokens: [R, B, N, D] -> [R, B, C]

    def forward(self, inputs):
        low = self.forward_low(inputs)
        high = self.forward_up(low)
        return self.forward_head(high), {"low": low, "high": high}


class TeacherUp(nn.Module):
    """h_up of a single frozen teacher (R = 1), shared by every student replica."""

    def __init__(self, teacher: TokenClassifier):
        super().__init__()
        self.model, self.width = teacher, teacher.width

    def up(self, state):
        return self.model.forward_up(state)


def toy_rule(x: torch.Tensor) -> torch.Tensor:
    """Labels from a fixed nonlinear rule of the tokens (learnable, not linear)."""
    g = torch.Generator().manual_seed(123)
    a = torch.randn(N_FEATURES, 8, generator=g)
    b = torch.randn(8, N_CLASSES, generator=g)
    return (torch.tanh(x @ a).mean(-2) @ b).argmax(-1)


def classification_task(n=(1200, 300, 300), seed=0) -> Task:
    g = torch.Generator().manual_seed(seed)
    splits = {}
    for name, size in zip(("train", "valid", "test"), n):
        x = torch.randn(size, N_TOKENS, N_FEATURES, generator=g)
        splits[name] = Split(inputs=x, target=toy_rule(x))
    return Task(
        name="toy classes",
        metric=ACCURACY,
        task_loss=losses.class_cross_entropy,
        kd_loss=functools.partial(losses.kd_classes, temperature=TEMPERATURE),
        **splits,
    )


@torch.no_grad()
def attach_teacher(task: Task, teacher: TokenClassifier) -> Task:
    teacher.eval()
    for name in ("train", "valid", "test"):
        part = task.split(name)
        pred, states = teacher(part.inputs[None])
        part.teacher = {"low": states["low"], "high": states["high"], "pred": pred}
    return task


def trained_teacher(task: Task) -> TokenClassifier:
    """A wider, deeper teacher (R = 1), trained on the task, then frozen."""
    teacher = TokenClassifier((0,), width=24, n_upper=2, name="teacher")
    train_stack(
        Method(teacher, None, torch.zeros(1), task),
        task,
        TrainConfig(max_epochs=25, patience=25, batch_size=100, lr=1e-2),
        (0,),
        progress=False,
    )
    for p in teacher.parameters():
        p.requires_grad_(False)
        p.grad = None  # frozen from here on: no gradient left over from its own training
    return teacher.eval()
