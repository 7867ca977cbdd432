"""Small stacked matrix products on OpenBLAS's Haswell kernels: fast, and the same numbers
on every x86-64 CPU with AVX2 (both tracks' layers on the CPU use them).

Why: a MovieLens step is a chain of small products, [R, 1024, 16] @ [R, 16, 32] and the
like. Under the floating-point pins (determinism.py) PyTorch computes them with MKL on its
COMPATIBLE branch, the only MKL branch on which AMD and Intel CPUs agree; it is an SSE2
code path that spent about half of a TD step. numpy's OpenBLAS, with its kernels pinned to
one CPU type (OPENBLAS_CORETYPE=Haswell: AVX2 and FMA, blocking sizes fixed when it was
built, not read off the machine) and one thread, runs the same instructions in the same
order on any CPU that has AVX2, Intel or AMD: the same numbers, at about a third of MKL's
time for these shapes (measured here, one thread: [15, 1024, 16] @ [15, 16, 32] 0.46 ms
against 1.05 ms; a whole TD step 22% faster).

    affine(bias, x, weight) = x @ weight + bias     x [R, M, K], weight [R, K, N], bias [R, 1, N]

and its gradients (g @ weightᵀ, xᵀ @ g, and g summed over M), as one autograd Function. A
layer stored with one replica (weight [1, K, N]) is applied to every replica of x.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .determinism import PINNED_ENV, unpinned
from .openblas import openblas_core, set_openblas_threads

CORETYPE = PINNED_ENV["OPENBLAS_CORETYPE"]  # the kernels every machine runs ("Haswell")


@functools.lru_cache(maxsize=1)
def check_openblas() -> None:
    """Before the first product: one thread, and (under the pins) the pinned kernels, else a
    clear error instead of numbers that differ from the committed tables."""
    set_openblas_threads(1)  # one thread per process: its threads split products differently
    if unpinned():
        return
    core = openblas_core()
    if core is None:
        raise RuntimeError(
            "numpy does not use its bundled OpenBLAS (scipy-openblas), which the layers' "
            "products need for machine-independent numbers. Fix: install numpy from PyPI as "
            "pinned in constraints.txt (`make test` or `pip install -c constraints.txt -e .`)."
        )
    if core != CORETYPE:
        raise RuntimeError(
            f"numpy's OpenBLAS runs its {core!r} kernels, not the pinned {CORETYPE!r} ones, so "
            "the numbers would differ from the committed tables. numpy was loaded before "
            "ikd_lib could pin them. Fix: `import ikd_lib` before numpy (or pandas, ...) in a fresh "
            f"process, or export OPENBLAS_CORETYPE={CORETYPE} (the Makefile does)."
        )


# Called with every product's result when set (kernels.py hashes them: `make verify-kernels`).
product_observer = None


def _observed(out: torch.Tensor) -> torch.Tensor:
    if product_observer is not None:
        product_observer(out)
    return out


def _matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _observed(torch.from_numpy(np.matmul(a.numpy(), b.numpy())))


class _Affine(torch.autograd.Function):
    @staticmethod
    def forward(ctx, bias, x, weight):
        x, weight = x.detach().contiguous(), weight.detach().contiguous()
        ctx.save_for_backward(x, weight)
        out = _matmul(x, weight)
        out += bias.detach()
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        need_bias, need_x, need_weight = ctx.needs_input_grad
        return (
            grad.sum(1, keepdim=True) if need_bias else None,
            _matmul(grad, weight.transpose(1, 2)) if need_x else None,
            _matmul(x.transpose(1, 2), grad) if need_weight else None,
        )


def affine(bias: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x @ weight + bias per replica (see the module docstring); x may carry more axes
    between the replica and the feature axis ([R, B, N, K]): they are flattened."""
    check_openblas()
    shape = x.shape
    if weight.shape[0] == 1 and shape[0] != 1:  # one shared layer, applied to every replica
        x = x.reshape(1, -1, shape[-1])
    elif x.dim() != 3:
        x = x.reshape(shape[0], -1, shape[-1])
    return _Affine.apply(bias, x, weight).reshape(*shape[:-1], weight.shape[-1])


# ---------------------------------------------------------------- the ViT track's products
# Its layers keep torch's layouts (nn.Linear's weight [N, K], attention's [..., M, K] stacks),
# so that timm's modules, their state dicts and checkpoints stay as they are.


def _np(t: torch.Tensor) -> np.ndarray:
    # numpy hands a matrix to OpenBLAS's gemm when it is row- or column-major (a transpose is
    # a flag, not a copy); any other view would fall back to numpy's own loop, which is not
    # the pinned kernel, so it is copied first
    t = t.detach()
    rows, cols = t.shape[-2:]
    row_major = t.stride(-1) == 1 and t.stride(-2) >= max(cols, 1)
    column_major = t.stride(-2) == 1 and t.stride(-1) >= max(rows, 1)
    return (t if row_major or column_major else t.contiguous()).numpy()


def _mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return _observed(torch.from_numpy(np.matmul(_np(a), _np(b))))


class _Linear(torch.autograd.Function):
    """x [M, K] @ weightᵀ + bias, weight [N, K] as nn.Linear stores it."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = _mm(x, weight.t())
        if bias is not None:
            out += bias.detach()
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        return (
            _mm(grad, weight) if need_x else None,
            _mm(grad.t(), x) if need_weight else None,
            grad.sum(0) if need_bias and ctx.has_bias else None,
        )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """F.linear on the pinned OpenBLAS kernels (CPU tensors): x [..., K], weight [N, K]."""
    check_openblas()
    out = _Linear.apply(x.reshape(-1, x.shape[-1]), weight, bias)
    return out.reshape(*x.shape[:-1], weight.shape[0])


class _BatchedProduct(torch.autograd.Function):
    """a [..., M, K] @ b [..., K, N], one OpenBLAS gemm per matrix of the stack."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _mm(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (_mm(grad, b.transpose(-1, -2)) if need_a else None, _mm(a.transpose(-1, -2), grad) if need_b else None)


def batched_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """torch.matmul of two equally stacked CPU tensors on the pinned OpenBLAS kernels."""
    check_openblas()
    if a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"batched_product needs equal stacks, got {tuple(a.shape)} @ {tuple(b.shape)}")
    return _BatchedProduct.apply(a, b)
