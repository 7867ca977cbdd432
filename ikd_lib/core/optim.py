"""Adam and AdamW whose every element is updated by the same arithmetic, wherever it sits
and whichever CPU computes it.

Why not torch.optim.Adam: its CPU kernels are vendor- or position-dependent, and so were our
numbers (measured on an Intel Xeon, torch 2.14.1, under the pins of determinism.py):
- the fused kernel computes a tensor's first elements in vector registers with fused
  multiply-adds and its last `numel mod 8` in scalar code without them, so the same replica
  rounded differently alone ([1, 1, 1]: the scalar tail), in a stack of 15 (a vector lane)
  and of 30: 2 of 4 KD replicas on Crime parted from their lone twin after 14-40 steps;
- the single-tensor and foreach kernels take `exp_avg_sq.sqrt()` from MKL's vector math
  library, whose kernel on the pinned COMPATIBLE branch starts from RSQRTPS, the CPU's own
  approximate reciprocal square root (its bits are the vendor's), so the ViT teacher,
  pre-trained with AdamW, came out with other weights on Intel than on AMD.

Here each step is a fixed sequence of single IEEE-754 float32 operations (multiply, add,
divide, square root), each correctly rounded: numpy's ufuncs on the CPU (one rounding per
call, never fused, the same bits in a vector lane or in a loop's tail and on any x86-64
SIMD width), torch's elementwise ops on a GPU (which need not match the CPU). So a replica's
update depends on nothing but its own numbers. The formulas are torch's Adam/AdamW (without
amsgrad): m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε).
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Part of every stack's and teacher's configuration: runs made with torch's Adam kernels (other
# numbers) are never taken for runs made with this one.
NUMERICS = "pinned-adam-1"


class PinnedAdam(torch.optim.Optimizer):
    """Adam (`decoupled=False`: weight decay added to the gradient) or AdamW (`decoupled=True`:
    the weights shrink by lr·weight_decay before the step), with the state torch's Adam keeps
    (step, exp_avg, exp_avg_sq), so its state_dict saves and loads the same way."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas!r}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        super().__init__(
            params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, decoupled=decoupled)
        )

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                update = _update_cpu if p.device.type == "cpu" else _update_torch
                update(p, p.grad, state["exp_avg"], state["exp_avg_sq"], int(state["step"]), group)
        return loss


def _scalars(step: int, group: dict) -> tuple[float, float, float]:
    """The step's scalars in double precision (then rounded once to float32 by the ops):
    the step size lr / (1 − β1ᵗ) and √(1 − β2ᵗ)."""
    beta1, beta2 = group["betas"]
    return group["lr"] / (1 - beta1**step), math.sqrt(1 - beta2**step), 1 - group["lr"] * group["weight_decay"]


def _update_cpu(p, grad, exp_avg, exp_avg_sq, step, group) -> None:
    """In place, with one scratch array: each line one ufunc, one rounding per element."""
    beta1, beta2 = group["betas"]
    step_size, bias_root, shrink = _scalars(step, group)
    w, g, m, v = (_array(t) for t in (p, grad, exp_avg, exp_avg_sq))
    scratch = np.empty_like(w)
    if group["weight_decay"] and group["decoupled"]:
        np.multiply(w, np.float32(shrink), out=w)
    elif group["weight_decay"]:
        g = np.add(g, np.multiply(w, np.float32(group["weight_decay"]), out=scratch))  # a new gradient array
    np.multiply(m, np.float32(beta1), out=m)
    np.add(m, np.multiply(g, np.float32(1 - beta1), out=scratch), out=m)
    np.multiply(v, np.float32(beta2), out=v)
    np.multiply(g, g, out=scratch)
    np.add(v, np.multiply(scratch, np.float32(1 - beta2), out=scratch), out=v)
    np.sqrt(v, out=scratch)
    np.divide(scratch, np.float32(bias_root), out=scratch)
    np.add(scratch, np.float32(group["eps"]), out=scratch)
    np.divide(m, scratch, out=scratch)
    np.subtract(w, np.multiply(scratch, np.float32(step_size), out=scratch), out=w)


def _array(t: torch.Tensor) -> np.ndarray:
    """A numpy view of a contiguous float32 tensor (parameters, gradients and states are)."""
    if t.dtype != torch.float32 or not t.is_contiguous():
        raise TypeError(f"PinnedAdam needs contiguous float32 tensors, got {t.dtype} with strides {t.stride()}")
    return t.detach().numpy()


def _update_torch(p, grad, exp_avg, exp_avg_sq, step, group) -> None:
    """The same sequence of single operations with torch's (GPU) kernels."""
    beta1, beta2 = group["betas"]
    step_size, bias_root, shrink = _scalars(step, group)
    if group["weight_decay"] and group["decoupled"]:
        p.mul_(shrink)
    elif group["weight_decay"]:
        grad = grad + p * group["weight_decay"]
    exp_avg.mul_(beta1).add_(grad * (1 - beta1))
    exp_avg_sq.mul_(beta2).add_((grad * grad) * (1 - beta2))
    denom = exp_avg_sq.sqrt().div_(bias_root).add_(group["eps"])
    p.sub_((exp_avg / denom) * step_size)
