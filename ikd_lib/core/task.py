"""A downstream task as tensors in memory, and the metric it is judged by.

Every track turns its data into a `Task`: three `Split`s (inputs, targets, and the frozen
teacher's states for every example, computed once), the task loss, the logit-KD loss, and
a `Metric` that knows its direction (RMSE: lower is better; accuracy: higher is better).
The training loop, the method classes, the choices on validation and the tables read only
this, so they never need to know which track they serve.

Shapes: `inputs` is [N, ...] (a rating's (user, item) ids [N, 2]; an image [N, C, H, W]);
`target` is [N]; `teacher[name]` is [R_t, N, ...] for R_t teacher replicas. A minibatch
gathers rows per replica: index [R, B] -> inputs [R, B, ...], teacher states [R, B, ...].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .determinism import sqrt as pinned_sqrt
from .stacked import gather_rows

SPLITS = ("train", "valid", "test")
TEACHER_STATES = ("low", "high", "pred")  # t_l, t_h, and the teacher's prediction (rating or logits)


@dataclass(frozen=True)
class Metric:
    """What a table reports. `per_example(pred [R, B, ...], target [B]) -> [R, B]`; the
    metric of a split is `finish(mean of per_example)` per replica."""

    name: str  # "RMSE", "top-1 accuracy"
    higher_is_better: bool
    per_example: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    finish: Callable[[torch.Tensor], torch.Tensor] = lambda mean: mean

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    def as_error(self, value):
        """A number to minimise: the metric itself, or its negation when higher is better."""
        return -value if self.higher_is_better else value


def _squared_error(pred, target):
    return (pred - target).pow(2)


def _correct(logits, target):
    return (logits.argmax(-1) == target).float()


RMSE = Metric("RMSE", higher_is_better=False, per_example=_squared_error, finish=pinned_sqrt)
ACCURACY = Metric("top-1 accuracy", higher_is_better=True, per_example=_correct)


def take_rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values [N, ...], index [R, B] -> [R, B, ...]: `values[index]`, as one flat
    `index_select` (a copy, so the same numbers; advanced indexing takes a slower path)."""
    return values.index_select(0, index.reshape(-1)).view(*index.shape, *values.shape[1:])


@dataclass
class Split:
    inputs: torch.Tensor  # [N, ...]
    target: torch.Tensor  # [N]
    teacher: dict[str, torch.Tensor] = field(default_factory=dict)  # low/high/pred -> [R_t, N, ...]

    def __len__(self) -> int:
        return len(self.target)

    def to(self, device) -> Split:
        return Split(
            self.inputs.to(device), self.target.to(device), {name: t.to(device) for name, t in self.teacher.items()}
        )


@dataclass
class Task:
    name: str
    train: Split
    valid: Split
    test: Split
    metric: Metric
    task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (pred, target) -> [R]
    kd_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (pred, teacher pred) -> [R]
    eval_chunk: int = 32768  # examples per forward pass when evaluating a whole split

    def split(self, name: str) -> Split:
        return getattr(self, name)

    def to(self, device) -> Task:
        """The same task (same class and settings) with its splits' tensors on `device`."""
        return dataclasses.replace(self, **{name: self.split(name).to(device) for name in SPLITS})

    def batch(
        self,
        split: str,
        index: torch.Tensor,
        teacher_index: torch.Tensor | None,
        teacher_states: tuple[str, ...] = TEACHER_STATES,
    ) -> dict:
        """One minibatch per replica: rows index [R, B] of a split, with the frozen teacher's
        states `teacher_states` of replica teacher_index[r] when a teacher is attached and asked
        for. A method names the states it reads (`Method.teacher_states`): gathering the others
        would copy [R, B, width] tensors every step for nothing (logit KD reads only "pred")."""
        part = self.split(split)
        batch = {"inputs": take_rows(part.inputs, index), "target": take_rows(part.target, index)}
        if teacher_index is not None and part.teacher:
            for name in teacher_states:
                batch[f"teacher_{name}"] = gather_rows(part.teacher[name], index, teacher_index)
        return batch

    @torch.no_grad()
    def per_example(self, method, split: str) -> torch.Tensor:
        """The metric's per-example values [R, N] on a whole split (squared errors, correct or not)."""
        part = self.split(split)
        values = []
        for start in range(0, len(part), self.eval_chunk):
            pred = method.predict(part.inputs[None, start : start + self.eval_chunk])
            values.append(self.metric.per_example(pred, part.target[None, start : start + self.eval_chunk]))
        return torch.cat(values, dim=1)

    def evaluate(self, method, split: str) -> torch.Tensor:
        """The metric per replica [R] on a whole split (every replica sees every example)."""
        return self.metric.finish(self.per_example(method, split).mean(1))
