"""Thin method classes: each `forward_train(batch)` returns the prediction and a dict of
named losses (one value per replica); `weights` says how they add up. The pure losses
live in `losses.py`. Methods never change the teacher: it arrives frozen (`FrozenTeacher`),
its states for the batch arrive precomputed in the batch, and only TD calls it live.

Batch keys: users, items, ratings [R, B]; teacher_low, teacher_high [R, B, W_h];
teacher_pred [R, B].
"""
from __future__ import annotations

import torch
from torch import nn

from . import losses
from .comm import Communication
from .config import TDConfig, check_choice
from .stacked import StackedLinear


class FrozenTeacher(nn.Module):
    """The teacher's upper layers h_up, one teacher replica per student replica.

    Student replica r talks to the teacher trained with the same seed (`replica_index[r]`).
    The weights are copied out as buffers: they get no gradient and no optimiser sees them,
    yet gradients flow *through* them into D_h and E_g.
    """

    def __init__(self, teacher, replica_index: torch.Tensor):
        super().__init__()
        self.width = teacher.width
        self.n_layers = len(teacher.up_layers)
        for i, layer in enumerate(teacher.up_layers):
            self.register_buffer(f"w{i}", layer.weight.detach()[replica_index].clone())
            self.register_buffer(f"b{i}", layer.bias.detach()[replica_index].clone())
        self.eval()

    def up(self, state: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_layers):
            state = torch.relu(torch.baddbmm(getattr(self, f"b{i}"), state, getattr(self, f"w{i}")))
        return state


class Method(nn.Module):
    """Scratch student: L = L_task. Subclasses add their losses and auxiliary modules."""
    name = "student"
    uses_teacher = False

    def __init__(self, student, teacher: FrozenTeacher | None, distill_weight: torch.Tensor):
        super().__init__()
        self.student, self.teacher = student, teacher
        self.register_buffer("distill_weight", distill_weight.float())  # [R], the grid value per replica

    def forward_train(self, batch):
        pred, states = self.student(batch["users"], batch["items"])
        return pred, {"task": losses.rating_mse(pred, batch["ratings"])}, states

    def weights(self) -> dict[str, torch.Tensor | float]:
        return {"task": 1.0}

    def objective(self, named_losses) -> torch.Tensor:
        """Per-replica total; loss names without a weight (diagnostics) do not count."""
        w = self.weights()
        return sum(w[name] * value for name, value in named_losses.items() if name in w)

    def predict(self, users, items) -> torch.Tensor:
        return self.student(users, items)[0]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        student = list(self.student.parameters())
        ids = {id(p) for p in student}
        aux = [p for p in self.parameters() if id(p) not in ids]
        return {"student": student, "aux": aux}


class LogitKD(Method):
    """KD on the predicted rating: L_task + λ·d(ŷ, teacher's ŷ)."""
    name, uses_teacher = "kd", True

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        named["kd"] = losses.kd_ratings(pred, batch["teacher_pred"])
        return pred, named, states

    def weights(self):
        return {"task": 1.0, "kd": self.distill_weight}


class FitNet(Method):
    """Hint at the lower layer through a learned regressor r: L_task + λ·d(r(s_l), t_l)."""
    name, uses_teacher = "fitnet", True

    def __init__(self, student, teacher, distill_weight):
        super().__init__(student, teacher, distill_weight)
        self.regressor = StackedLinear(student.seeds, student.width, teacher.width, "fitnet.regressor")

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        named["fitnet"] = losses.fitnet(states["low"], batch["teacher_low"], self.regressor)
        return pred, named, states

    def weights(self):
        return {"task": 1.0, "fitnet": self.distill_weight}


class FeatureDistillation(Method):
    """Penultimate features through a learned projector p: L_task + λ·d(p(s_h), t_h)."""
    name, uses_teacher = "fd", True

    def __init__(self, student, teacher, distill_weight):
        super().__init__(student, teacher, distill_weight)
        self.projector = StackedLinear(student.seeds, student.width, teacher.width, "fd.projector")

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        named["fd"] = losses.feature_distillation(states["high"], batch["teacher_high"], self.projector)
        return pred, named, states

    def weights(self):
        return {"task": 1.0, "fd": self.distill_weight}


class Hybrid(FeatureDistillation):
    """KD + FD, one weight λ for both."""
    name = "hybrid"

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        named["kd"] = losses.kd_ratings(pred, batch["teacher_pred"])
        return pred, named, states

    def weights(self):
        return {"task": 1.0, "kd": self.distill_weight, "fd": self.distill_weight}


class TalkingModels(Method):
    """TD: L_task + λ·(w1·L_interact + w2·L_MC + w3·L_SC), METHOD.md."""
    name, uses_teacher = "td", True

    def __init__(self, student, teacher, distill_weight, td: TDConfig, noise_seed: int = 0):
        super().__init__(student, teacher, distill_weight)
        self.td = td
        self.comm = Communication(student.seeds, student.width, teacher.width, td.message_dim, td.module)
        # One noise stream per stack; noise draws depend on the stack, not on one replica.
        self.noise = torch.Generator().manual_seed(noise_seed) if td.noise_std > 0 else None

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        c = self.comm
        s_l, s_h, t_l, t_h = states["low"], states["high"], batch["teacher_low"], batch["teacher_high"]
        # the messages each side sends about x, shared by the three losses
        student_says_low, student_says_high = c.encode_student(s_l), c.encode_student(s_h)
        teacher_says_high = c.encode_teacher(t_h)
        named["interact"], per_round = losses.interact(
            student_says_low, s_h, c.decode_teacher, self.teacher.up, c.encode_teacher,
            c.decode_student, c.encode_student, self.td.k_rounds, self.td.noise_std, self.noise)
        for k, value in enumerate(per_round, start=1):
            named[f"interact_round{k}"] = value.detach()  # diagnostics for the plots
        named["message"] = losses.message_consistency(student_says_high, teacher_says_high)
        named["state"] = losses.state_consistency(student_says_low, teacher_says_high, s_h, t_l,
                                                  c.decode_student, c.decode_teacher)
        return pred, named, states

    def weights(self):
        lam = self.distill_weight
        return {"task": 1.0, "interact": lam * self.td.w_interact,
                "message": lam * self.td.w_message, "state": lam * self.td.w_state}


METHODS = {cls.name: cls for cls in (Method, LogitKD, FitNet, FeatureDistillation, Hybrid, TalkingModels)}


def build_method(name: str, student, teacher, distill_weight, td: TDConfig | None = None, noise_seed: int = 0):
    check_choice("method", name, tuple(METHODS))
    cls = METHODS[name]
    if cls.uses_teacher and teacher is None:
        raise ValueError(f"method {name!r} needs a teacher")
    if cls is TalkingModels:
        return cls(student, teacher, distill_weight, td or TDConfig(), noise_seed)
    return cls(student, teacher, distill_weight)
