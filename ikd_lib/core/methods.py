"""Thin method classes: each `forward_train(batch)` returns the prediction, a dict of
named losses (one value per replica) and the student's states; `weights` says how the
losses add up. The pure losses live in `losses.py`.

Any student and teacher work, whatever the track, if they offer the taps:
  student: `forward(inputs) -> (ŷ, {"low": s_l, "high": s_h})`, `seeds`, `width` (and, for
           readers, the pieces `forward_low`, `forward_up`, `forward_head`); optionally
           `matmul`, who computes its stacked layers' products (stacked.MATMULS), which the
           method's own layers (E*, D*, a regressor or projector) then use too. The states may
           also hold "penalty": the model's own regularisation per replica [R] (L2 on the
           embeddings a batch used, say), which the model adds to its objective;
  teacher: `up(t_l) -> t_h` (its upper layers h_up, frozen) and `width`.
States are [R, B, D] or [R, B, N, D] (a token axis); E*, D* act on the last axis.
The task supplies what depends on the output space: `task_loss(ŷ, y)` and
`kd_loss(ŷ, teacher's ŷ)` (MSE on a rating; τ²·KL on class logits).

Methods never change the teacher: its states for the batch arrive precomputed in the
batch (teacher_low, teacher_high, teacher_pred) and only TD calls its `up` live.
"""

from __future__ import annotations

import torch
from torch import nn

from . import losses
from .comm import Communication
from .config import TDConfig, check_choice
from .stacked import StackedLinear, replica_generator


def matmul_of(student) -> str:
    """Who computes the student's stacked products: the method's layers follow it."""
    return getattr(student, "matmul", "torch")


class Method(nn.Module):
    """Scratch student: L = L_task. Subclasses add their losses and auxiliary modules."""

    name = "student"
    uses_teacher = False
    teacher_states: tuple[str, ...] = ()  # the teacher's states forward_train reads (Task.batch gathers them)
    replica_buffers = ("distill_weight",)  # buffers with a replica axis (stacked.ReplicaSubset)

    def __init__(self, student, teacher, distill_weight: torch.Tensor, task):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.task_loss, self.kd_loss = task.task_loss, task.kd_loss
        self.register_buffer("distill_weight", distill_weight.float())  # [R], the grid value per replica

    def forward_train(self, batch):
        pred, states = self.student(batch["inputs"])
        named = {"task": self.task_loss(pred, batch["target"])}
        if "penalty" in states:
            named["penalty"] = states.pop("penalty")
        return pred, named, states

    def weights(self) -> dict[str, torch.Tensor | float]:
        return {"task": 1.0, "penalty": 1.0}

    def objective(self, named_losses) -> torch.Tensor:
        """Per-replica total; loss names without a weight (diagnostics) do not count."""
        w = self.weights()
        return sum(w[name] * value for name, value in named_losses.items() if name in w)

    @staticmethod
    def student_objective(named_losses) -> torch.Tensor:
        """What the student learns from alone: its task loss and its own regularisation."""
        return named_losses["task"] + named_losses.get("penalty", 0.0)

    def predict(self, inputs) -> torch.Tensor:
        return self.student(inputs)[0]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """ "student" and "aux" (E*, D*, a regressor or projector): what the optimiser trains.
        A frozen teacher's weights (requires_grad False) are in neither."""
        student = [p for p in self.student.parameters() if p.requires_grad]
        ids = {id(p) for p in student}
        aux = [p for p in self.parameters() if id(p) not in ids and p.requires_grad]
        return {"student": student, "aux": aux}

    def train(self, mode: bool = True):
        """The teacher stays in eval mode whatever the method's mode (no dropout, frozen norms)."""
        super().train(mode)
        if isinstance(self.teacher, nn.Module):
            self.teacher.eval()
        return self


class LogitKD(Method):
    """KD on the prediction: L_task + λ·kd(ŷ, teacher's ŷ); kd from the task."""

    name, uses_teacher, teacher_states = "kd", True, ("pred",)

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        named["kd"] = self.kd_loss(pred, batch["teacher_pred"])
        return pred, named, states

    def weights(self):
        return super().weights() | {"kd": self.distill_weight}


class FitNet(Method):
    """Hint at the lower layer through a learned regressor r: L_task + λ·d(r(s_l), t_l)."""

    name, uses_teacher, teacher_states = "fitnet", True, ("low",)

    def __init__(self, student, teacher, distill_weight, task):
        super().__init__(student, teacher, distill_weight, task)
        self.regressor = StackedLinear(
            student.seeds, student.width, teacher.width, "fitnet.regressor", matmul_of(student)
        )

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        named["fitnet"] = losses.fitnet(states["low"], batch["teacher_low"], self.regressor)
        return pred, named, states

    def weights(self):
        return super().weights() | {"fitnet": self.distill_weight}


class FeatureDistillation(Method):
    """Penultimate features through a learned projector p: L_task + λ·d(p(s_h), t_h)."""

    name, uses_teacher, teacher_states = "fd", True, ("high",)

    def __init__(self, student, teacher, distill_weight, task):
        super().__init__(student, teacher, distill_weight, task)
        self.projector = StackedLinear(student.seeds, student.width, teacher.width, "fd.projector", matmul_of(student))

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        named["fd"] = losses.feature_distillation(states["high"], batch["teacher_high"], self.projector)
        return pred, named, states

    def weights(self):
        return super().weights() | {"fd": self.distill_weight}


class Hybrid(FeatureDistillation):
    """KD + FD, one weight λ for both."""

    name, teacher_states = "hybrid", ("high", "pred")

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        named["kd"] = self.kd_loss(pred, batch["teacher_pred"])
        return pred, named, states

    def weights(self):
        return super().weights() | {"kd": self.distill_weight}


class TalkingModels(Method):
    """TD: L_task + λ·(w1·L_interact + w2·L_MC + w3·L_SC), docs/method.md."""

    name, uses_teacher, teacher_states = "td", True, ("low", "high")
    replica_buffers = Method.replica_buffers + ("noise_stream",)

    def __init__(self, student, teacher, distill_weight, task, td: TDConfig, noise_seed: int = 0):
        super().__init__(student, teacher, distill_weight, task)
        self.td = td
        self.comm = Communication(
            student.seeds, student.width, teacher.width, td.message_dim, td.module, matmul_of(student)
        )
        # One noise stream per replica, named by its seed and λ (and the stack's configuration
        # through noise_seed): a replica draws the same noise alone or anywhere in any stack.
        # `noise_stream` [R] says which stream each row of a (narrowed) stack reads.
        self.noise = (
            [
                replica_generator(seed, f"td.noise.{noise_seed}.{weight!r}")
                for seed, weight in zip(student.seeds, distill_weight.tolist())
            ]
            if td.noise_std > 0
            else None
        )
        self.register_buffer("noise_stream", torch.arange(len(distill_weight)), persistent=False)

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        c = self.comm
        s_l, s_h, t_l, t_h = states["low"], states["high"], batch["teacher_low"], batch["teacher_high"]
        # the messages each side sends about x, shared by the three losses
        student_says_low, student_says_high = c.encode_student(s_l), c.encode_student(s_h)
        teacher_says_high = c.encode_teacher(t_h)
        named["interact"], per_round = losses.interact(
            student_says_low,
            s_h,
            c.decode_teacher,
            self.teacher.up,
            c.encode_teacher,
            c.decode_student,
            c.encode_student,
            self.td.k_rounds,
            self.td.noise_std,
            None if self.noise is None else [self.noise[r] for r in self.noise_stream.tolist()],
        )
        for k, value in enumerate(per_round, start=1):
            named[f"interact_round{k}"] = value.detach()  # diagnostics for the plots
        named["message"] = losses.message_consistency(student_says_high, teacher_says_high)
        named["state"] = losses.state_consistency(
            student_says_low, teacher_says_high, s_h, t_l, c.decode_student, c.decode_teacher
        )
        return pred, named, states

    def weights(self):
        lam = self.distill_weight
        return Method.weights(self) | {
            "interact": lam * self.td.w_interact,
            "message": lam * self.td.w_message,
            "state": lam * self.td.w_state,
        }


METHODS = {cls.name: cls for cls in (Method, LogitKD, FitNet, FeatureDistillation, Hybrid, TalkingModels)}


def build_method(name: str, student, teacher, distill_weight, task, td: TDConfig | None = None, noise_seed: int = 0):
    """`task`: anything with `task_loss` and `kd_loss` (a `core.task.Task`)."""
    check_choice("method", name, tuple(METHODS))
    cls = METHODS[name]
    if cls.uses_teacher and teacher is None:
        raise ValueError(f"method {name!r} needs a teacher")
    if cls is TalkingModels:
        return cls(student, teacher, distill_weight, task, td or TDConfig(), noise_seed)
    return cls(student, teacher, distill_weight, task)


def freeze(model: nn.Module) -> nn.Module:
    """A teacher: eval mode, no gradients to its weights (gradients still pass through it)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
        p.grad = None
    return model
