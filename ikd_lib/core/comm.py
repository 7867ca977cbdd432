"""The four communication modules of TD: an encoder and a decoder for each side.

    E_g: student state -> message     D_g: message -> student state
    E_h: teacher state -> message     D_h: message -> teacher state

Each is linear or Dense-ReLU-Dense (hidden width = the wider of its two ends). They are
owned by the student's side of the stack (one set per replica) and trained with it; the
teacher's own weights never change.
"""

from __future__ import annotations

from torch import nn

from .stacked import StackedLinear, StackedMLP


def make_module(kind: str, seeds, d_in: int, d_out: int, stream: str, matmul: str = "torch") -> nn.Module:
    if kind == "linear":
        return StackedLinear(seeds, d_in, d_out, stream, matmul)
    if kind == "mlp":
        return StackedMLP(seeds, d_in, max(d_in, d_out), d_out, stream, matmul)
    raise ValueError(f"unknown communication module {kind!r}; valid: linear, mlp")


class Communication(nn.Module):
    def __init__(
        self, seeds, student_width: int, teacher_width: int, message_dim: int, kind: str, matmul: str = "torch"
    ):
        super().__init__()
        self.encode_student = make_module(kind, seeds, student_width, message_dim, "comm.E_g", matmul)
        self.decode_student = make_module(kind, seeds, message_dim, student_width, "comm.D_g", matmul)
        self.encode_teacher = make_module(kind, seeds, teacher_width, message_dim, "comm.E_h", matmul)
        self.decode_teacher = make_module(kind, seeds, message_dim, teacher_width, "comm.D_h", matmul)
