"""The methods of the reviewers' study (docs/reviewers.md): a parameter-matched one-way
control, TD plus logit KD, and TD whose teacher's upper layers learn too.

They follow `methods.py`'s contract (`forward_train`, `weights`, `parameter_groups`) and
are trained by the same loop; a track builds them with `build_reviewer_method`.
"""

from __future__ import annotations

from . import losses
from .comm import Communication
from .config import TDConfig, check_choice
from .methods import Method, TalkingModels, matmul_of


class OneWayControl(Method):
    """Parameter-matched one-way control: TD's four modules E_g, D_g, E_h, D_h (the same
    shapes, hence the same parameter count, and the same initialisation streams), used only
    as two one-way hints from the teacher's fixed states:

        L_oneway = d(D_h(E_g(s_h)), t_h) + d(D_g(E_h(t_l)), s_l)

    the first maps the student's higher state into the teacher's space (feature distillation
    through the message bottleneck), the second maps the teacher's lower state into the
    student's (a hint at the lower layer). No rounds, no call of the teacher's upper layers,
    no message matched to another message (no L_MC), and neither term is a term of L_SC
    (which pairs t_h with s_h and s_l with t_l): L = L_task + λ·L_oneway."""

    name, uses_teacher, teacher_states = "oneway", True, ("low", "high")

    def __init__(self, student, teacher, distill_weight, task, td: TDConfig):
        super().__init__(student, teacher, distill_weight, task)
        self.comm = Communication(
            student.seeds, student.width, teacher.width, td.message_dim, td.module, matmul_of(student)
        )

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        c = self.comm
        named["oneway_high"] = losses.distance(
            c.decode_teacher(c.encode_student(states["high"])), batch["teacher_high"]
        )
        named["oneway_low"] = losses.distance(c.decode_student(c.encode_teacher(batch["teacher_low"])), states["low"])
        return pred, named, states

    def weights(self):
        lam = self.distill_weight
        return super().weights() | {"oneway_high": lam, "oneway_low": lam}


class TalkingModelsWithKD(TalkingModels):
    """TD plus the logit-KD term: L_TD (λ, w1-w3 as in TD) + μ·kd(ŷ, teacher's ŷ)."""

    name, teacher_states = "td_kd", ("low", "high", "pred")

    def __init__(
        self, student, teacher, distill_weight, task, td: TDConfig, noise_seed: int = 0, kd_weight: float = 0.0
    ):
        super().__init__(student, teacher, distill_weight, task, td, noise_seed)
        if not kd_weight >= 0:
            raise ValueError(f"kd_weight (μ) must be >= 0, got {kd_weight!r}")
        self.kd_weight = float(kd_weight)

    def forward_train(self, batch):
        pred, named, states = super().forward_train(batch)
        named["kd"] = self.kd_loss(pred, batch["teacher_pred"])
        return pred, named, states

    def weights(self):
        return super().weights() | {"kd": self.kd_weight}


class TalkingModelsTeacherLearns(TalkingModels):
    """TD whose teacher's upper layers h_up train too, at their own learning rate: the teacher
    module's parameters (one copy per replica, requires_grad) join the "aux" optimiser as a
    second parameter group with `teacher_lr`. Its higher state t_h = h_up(t_l) is computed
    live from the precomputed t_l (the teacher's lower layers stay frozen), so L_MC and L_SC
    see the teacher as it is now. The teacher has no loss of its own here: it learns only
    what helps the conversation."""

    name, teacher_states = "td_teacher_learns", ("low",)

    def __init__(
        self, student, teacher, distill_weight, task, td: TDConfig, noise_seed: int = 0, teacher_lr: float = 1e-4
    ):
        super().__init__(student, teacher, distill_weight, task, td, noise_seed)
        if not teacher_lr > 0:
            raise ValueError(f"teacher_lr must be > 0, got {teacher_lr!r}")
        if not any(p.requires_grad for p in teacher.parameters()):
            raise ValueError(
                "the teacher's upper layers must be trainable parameters for this method; "
                "give it a teacher module whose h_up weights require a gradient"
            )
        self.teacher_lr = float(teacher_lr)

    def forward_train(self, batch):
        batch = dict(batch, teacher_high=self.teacher.up(batch["teacher_low"]))
        return super().forward_train(batch)

    def parameter_groups(self):
        groups = super().parameter_groups()
        teacher = [p for p in self.teacher.parameters() if p.requires_grad]
        ids = {id(p) for p in teacher}
        aux = [p for p in groups["aux"] if id(p) not in ids]
        # one optimiser steps E*, D* and h_up together; h_up at its own (small) learning rate
        return {"student": groups["student"], "aux": [{"params": aux}, {"params": teacher, "lr": self.teacher_lr}]}


REVIEWER_METHODS = {cls.name: cls for cls in (OneWayControl, TalkingModelsWithKD, TalkingModelsTeacherLearns)}


def build_reviewer_method(
    name: str,
    student,
    teacher,
    distill_weight,
    task,
    td: TDConfig,
    noise_seed: int = 0,
    kd_weight: float = 0.0,
    teacher_lr: float = 1e-4,
):
    check_choice("reviewer method", name, tuple(REVIEWER_METHODS))
    if teacher is None:
        raise ValueError(f"method {name!r} needs a teacher")
    if name == "oneway":
        return OneWayControl(student, teacher, distill_weight, task, td)
    if name == "td_kd":
        return TalkingModelsWithKD(student, teacher, distill_weight, task, td, noise_seed, kd_weight)
    return TalkingModelsTeacherLearns(student, teacher, distill_weight, task, td, noise_seed, teacher_lr)


def training_only_parameters(method) -> int:
    """Numbers per replica that exist only while training: what the optimiser trains besides
    the student (E*, D*, a regressor or projector), the teacher's h_up where it learns."""
    count = 0
    for group in method.parameter_groups()["aux"]:
        params = group["params"] if isinstance(group, dict) else [group]
        count += sum(p.numel() for p in params)
    return count // len(method.distill_weight)
