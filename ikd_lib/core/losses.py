"""Pure loss functions. Each returns one value per replica: shape [R] for [R, B, ...] inputs.

`distance` is d(a, b) of docs/method.md: mean squared error over batch, tokens and features
(choice); states are [R, B, D] (a rating model) or [R, B, N, D] (a ViT, N tokens).
The modules (encoders, decoders, the teacher's upper layers) come in as callables, so the
losses read exactly like the equations and can be tested on fixed tensors.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Module = Callable[[torch.Tensor], torch.Tensor]


def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """d(a, b) for states [R, B, D] or [R, B, N, D] -> [R]: the mean over all but the replica axis."""
    if a.shape != b.shape:
        raise ValueError(f"d(a, b) needs states of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return (a - b).pow(2).mean(dim=tuple(range(1, a.dim())))


def class_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_task for classes: logits [R, B, C], labels [R, B] (or [B]) -> [R]."""
    labels = labels.expand(logits.shape[:-1])
    per_example = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    return per_example.view(logits.shape[:-1]).mean(-1)


def rating_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_task for ratings: [R, B] predictions, [R, B] (or [B]) targets -> [R]."""
    return (pred - target).pow(2).mean(dim=-1)


def kd_ratings(pred: torch.Tensor, teacher_pred: torch.Tensor) -> torch.Tensor:
    """Logit KD for a regression output: d(ŷ, teacher prediction)."""
    return rating_mse(pred, teacher_pred)


def kd_classes(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Logit KD for classes: τ² · KL(teacher_τ ‖ student_τ), averaged over the batch. [R, B, C] -> [R]."""
    log_p_student = F.log_softmax(logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1)
    return kl.mean(-1) * temperature**2


def fitnet(state_low: torch.Tensor, teacher_low: torch.Tensor, regressor: Module) -> torch.Tensor:
    """FitNet hint at the lower layer: d(r(s_l), t_l)."""
    return distance(regressor(state_low), teacher_low)


def feature_distillation(state_high: torch.Tensor, teacher_high: torch.Tensor, projector: Module) -> torch.Tensor:
    """FD on the penultimate features: d(p(s_h), t_h)."""
    return distance(projector(state_high), teacher_high)


def interact(
    question,
    state_high,
    decode_teacher: Module,
    teacher_up: Module,
    encode_teacher: Module,
    decode_student: Module,
    encode_student: Module,
    k_rounds: int,
    noise_std: float = 0.0,
    generators: list[torch.Generator] | None = None,
):
    """L_interact over K rounds of conversation; returns (mean over rounds [R], per-round list).

        q_1 = E_g(s_l)                                   (`question`, computed by the caller)
        s'_h = D_h(q_k) + ε;  a_k = E_h(h_up(s'_h));  ŝ_k = D_g(a_k);  q_{k+1} = E_g(ŝ_k)
        L_interact = mean_k d(s_h, ŝ_k)

    No stop-gradient: the student's s_h moves towards the answer and the answer towards
    s_h; gradients pass through the frozen teacher's upper layers into D_h and E_g.
    """
    if k_rounds < 0:
        raise ValueError(f"k_rounds (K) must be >= 0, got {k_rounds}")
    if k_rounds == 0:  # "no interaction"
        return state_high.new_zeros(state_high.shape[0]), []
    per_round = []
    for k in range(k_rounds):
        teacher_state = decode_teacher(question)  # the teacher reads it as its own s'_h
        if noise_std > 0:
            # one generator per replica (its own stream, whatever the stack), drawn on the CPU
            # (where the generators live), so a GPU run draws the same noise
            noise = torch.stack([torch.randn(teacher_state.shape[1:], generator=g) for g in generators])
            noise = noise.to(teacher_state.device)
            teacher_state = teacher_state + noise_std * noise
        answer = encode_teacher(teacher_up(teacher_state))  # thinks with its upper layers, answers
        understood = decode_student(answer)  # ŝ_k, at the student's higher layer
        per_round.append(distance(state_high, understood))
        if k + 1 < k_rounds:
            question = encode_student(understood)  # restates what it understood
    return torch.stack(per_round).mean(0), per_round


def message_consistency(student_message_high, teacher_message_high):
    """L_MC = d(E_g(s_h), E_h(t_h)): both sides describe x with the same message."""
    return distance(student_message_high, teacher_message_high)


def state_consistency(
    student_message_low, teacher_message_high, state_high, teacher_low, decode_student: Module, decode_teacher: Module
):
    """L_SC = d(D_g(E_h(t_h)), s_h) + d(D_h(E_g(s_l)), t_l): a message decoded by the other
    side lands on that side's own state. This pins messages to states (no collapse).
    Takes the messages E_g(s_l) and E_h(t_h), which TD computes once for all its losses."""
    to_student = distance(decode_student(teacher_message_high), state_high)
    to_teacher = distance(decode_teacher(student_message_low), teacher_low)
    return to_student + to_teacher
