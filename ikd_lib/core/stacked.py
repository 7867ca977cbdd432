"""Layers that hold R independent replicas ("a stack") and run them in one batched op.

Why: on a 2-core laptop a small rating model is bound by per-op overhead, not FLOPs.
Training the 5 seeds (and the weight grid) of one method as one stacked model costs about
as much as training one. Each replica keeps its own weights, initialisation (drawn from
its own seeded generator), data order and early-stopping point, so a replica trained in
the stack and alone agree up to float rounding
(`tests/test_training.py::test_stacked_replica_matches_training_alone`).

Shapes: activations are [R, B, D] (replica, batch, feature), or [R, B, N, D] with a token
axis (a ViT's states; the layers then act per token). A layer stored with a single
replica (R=1, e.g. the frozen teacher) is broadcast over any stack.
"""

from __future__ import annotations

import hashlib
import math

import torch
from torch import nn

from . import blas


def replica_generator(seed: int, stream: str) -> torch.Generator:
    """A generator for one replica and one named purpose (e.g. "student.tower.0").

    Naming the stream keeps a module's initialisation independent of which other modules
    exist, so seed s gives the same student weights under every method (paired runs).
    """
    digest = hashlib.sha256(f"{seed}/{stream}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def _uniform(shape, bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


MATMULS = ("torch", "openblas")  # who computes a stacked layer's products (core/blas.py)


class StackedLinear(nn.Module):
    """R independent `nn.Linear(d_in, d_out)` layers; PyTorch's default initialisation.
    `matmul`: "torch" (baddbmm), or "openblas" (core/blas.py: faster for small layers under
    the pins, other numbers): a track chooses once for all its layers."""

    def __init__(self, seeds: tuple[int, ...], d_in: int, d_out: int, stream: str, matmul: str = "torch"):
        super().__init__()
        if matmul not in MATMULS:
            raise ValueError(f"unknown matmul {matmul!r}; valid: {', '.join(MATMULS)}")
        self.matmul = matmul
        bound = 1 / math.sqrt(d_in)
        weights, biases = [], []
        for seed in seeds:
            g = replica_generator(seed, stream)
            weights.append(_uniform((d_in, d_out), bound, g))
            biases.append(_uniform((1, d_out), bound, g))
        self.weight = nn.Parameter(torch.stack(weights))  # [R, d_in, d_out]
        self.bias = nn.Parameter(torch.stack(biases))  # [R, 1, d_out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.matmul == "openblas" and x.device.type == "cpu":  # on a GPU: torch's kernels
            return blas.affine(self.bias, x, self.weight)
        n_rep = self.weight.shape[0]
        if n_rep == 1 and x.shape[0] != 1:  # one shared layer applied to every replica
            out = torch.addmm(self.bias[0], x.reshape(-1, x.shape[-1]), self.weight[0])
            return out.reshape(*x.shape[:-1], -1)
        if x.dim() == 3:
            return torch.baddbmm(self.bias, x, self.weight)
        # a token axis (or more): per token, the same replica's weights
        out = torch.baddbmm(self.bias, x.reshape(x.shape[0], -1, x.shape[-1]), self.weight)
        return out.reshape(*x.shape[:-1], -1)


class StackedEmbedding(nn.Module):
    """R independent embedding tables, N(0, std²) initialisation. With `rows`, only those rows
    of the tables are kept (in that order), with the values the full tables would hold."""

    def __init__(
        self,
        seeds: tuple[int, ...],
        n_rows: int,
        dim: int,
        stream: str,
        std: float = 0.1,
        rows: torch.Tensor | None = None,
    ):
        super().__init__()
        tables = [torch.randn((n_rows, dim), generator=replica_generator(s, stream)) * std for s in seeds]
        if rows is not None:
            tables = [t[rows] for t in tables]
        self.weight = nn.Parameter(torch.stack(tables))  # [R, n_rows (or len(rows)), dim]

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        """index [R, B] (or [1, B], shared by all replicas) -> [R, B, dim]."""
        n_rep = self.weight.shape[0]
        if index.shape[0] != n_rep:
            index = index.expand(n_rep, -1)
        return gather_rows(self.weight, index)


def gather_rows(table: torch.Tensor, index: torch.Tensor, replica: torch.Tensor | None = None) -> torch.Tensor:
    """table [T, N, ...], index [R, B] -> [R, B, ...] with out[r, b] = table[replica[r], index[r, b]].

    `replica` defaults to r itself. One flat `index_select` is 2-4x faster on CPU than
    advanced indexing `table[replica[:, None], index]`, forward and backward.
    """
    n_rows = table.shape[1]
    if replica is None:
        replica = torch.arange(index.shape[0], device=index.device)
    flat = (replica[:, None] * n_rows + index).reshape(-1)
    out = table.reshape(-1, *table.shape[2:]).index_select(0, flat)
    return out.view(*index.shape, *table.shape[2:])


class StackedMLP(nn.Module):
    """Dense-ReLU-Dense, one per replica."""

    def __init__(self, seeds, d_in: int, d_hidden: int, d_out: int, stream: str, matmul: str = "torch"):
        super().__init__()
        self.inner = StackedLinear(seeds, d_in, d_hidden, f"{stream}.inner", matmul)
        self.outer = StackedLinear(seeds, d_hidden, d_out, f"{stream}.outer", matmul)

    def forward(self, x):
        return self.outer(torch.relu(self.inner(x)))


def take_replicas(module: nn.Module, index: torch.Tensor) -> dict[str, torch.Tensor]:
    """The parameters of `module` for the replicas in `index` (used to save a best state)."""
    return {name: p.detach()[index].clone() for name, p in module.named_parameters()}


@torch.no_grad()
def copy_replicas_(target: dict[str, torch.Tensor], module: nn.Module, mask: torch.Tensor) -> None:
    """Where mask[r] is true, copy replica r of `module`'s parameters into `target`."""
    for name, p in module.named_parameters():
        shape = (-1,) + (1,) * (p.dim() - 1)
        target[name].copy_(torch.where(mask.view(shape).to(p.device), p, target[name]))


class _Call(nn.Module):
    """Lets torch.func.functional_call run any function of a module, not only `forward`."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, fn, *args):
        return fn(self.module, *args)


class ReplicaSubset:
    """Computes a stacked `method` for the replicas `slots` only: `subset(fn, *args)` is
    `fn(method, *args)` with every per-replica tensor seen as `t[slots]`.

    Why: replicas stop early at different epochs; a stack that keeps computing the stopped
    ones spends ~40% of its time on work that is thrown away. Gradients flow back into the
    full parameters (zero for the other replicas) and the optimiser keeps stepping the full
    tensors, so each element of a surviving replica is updated by the same arithmetic at the
    same position as before: the numbers do not change
    (tests/test_training.py::test_dropping_stopped_replicas_changes_no_number). (Slicing
    the optimiser's state instead moves elements between the vectorised body and the scalar
    tail of the fused Adam kernel, which rounds differently.)

    Every parameter carries the replica axis first. Buffers with one are named in their
    module's `replica_buffers`; an undeclared buffer whose first axis has the stack's size
    is refused rather than guessed.
    """

    def __init__(self, method: nn.Module, slots: torch.Tensor):
        n_rep = len(method.distill_weight)
        self.call, self.slots, self.tensors = _Call(method), slots, {}
        for prefix, module in method.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, p in module.named_parameters(recurse=False):
                if p.dim() == 0 or p.shape[0] != n_rep:
                    raise ValueError(
                        f"cannot narrow the stack: parameter {dot}{name} has shape "
                        f"{tuple(p.shape)}, not a leading replica axis of {n_rep}"
                    )
                self.tensors[f"module.{dot}{name}"] = p
            declared = getattr(module, "replica_buffers", ())
            for name, b in module.named_buffers(recurse=False):
                if name in declared:
                    self.tensors[f"module.{dot}{name}"] = b
                elif b.dim() > 0 and b.shape[0] == n_rep:
                    raise ValueError(
                        f"cannot narrow the stack: buffer {dot}{name} has a leading axis of "
                        f"{n_rep} but is not in its module's replica_buffers"
                    )

    def __call__(self, fn, *args):
        narrowed = {key: t.index_select(0, self.slots.to(t.device)) for key, t in self.tensors.items()}
        return torch.func.functional_call(self.call, narrowed, (fn, *args), strict=False)
