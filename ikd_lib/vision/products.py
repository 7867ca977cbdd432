"""The ViT's products on the pinned OpenBLAS kernels (core/blas.py) when it runs on the CPU.

Why: under the floating-point pins (core/determinism.py) PyTorch computes a ViT's dense
products with MKL's COMPATIBLE branch, the only MKL branch on which Intel and AMD agree, and
an SSE2 path: 60% of a TD step went to `mm`/`addmm` and another 19% to the fused attention
kernel. numpy's OpenBLAS pinned to its Haswell kernels (AVX2 and FMA, blocking fixed when it
was built, one thread) gives the same bits on any x86-64 CPU with AVX2 at about the speed
of unpinned MKL (measured with `make bench`, see docs/performance.md).

`route_products(vit)` switches a timm VisionTransformer's modules to classes that compute
their products there, keeping their parameters, names and state dicts (the class of each
module is swapped in place; nothing is copied):

- every `nn.Linear` (qkv, proj, fc1, fc2, the head): `blas.linear`;
- attention: softmax(q·kᵀ·scale)·v with both products as `blas.batched_product` (timm's
  unfused formula, instead of the fused kernel, whose inner products run on MKL);
- the patch embedding, a convolution whose stride equals its kernel: patches flattened in
  the convolution weight's (channel, row, column) order and one `blas.linear` (instead of
  oneDNN, whose kernels pick blocking from the CPU's caches).

A module whose input lives on a GPU computes with torch's own kernels (the paper profile).
"""

from __future__ import annotations

import torch
from timm.layers.attention import Attention
from torch import nn

from ..core import blas


def _on_cpu(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype == torch.float32


class PinnedLinear(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _on_cpu(x):
            return super().forward(x)
        return blas.linear(x, self.weight, self.bias)


class PinnedAttention(Attention):
    def forward(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
        if not _on_cpu(x):
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        if attn_mask is not None or is_causal or self.gate is not None or self.attn_drop.p:
            raise NotImplementedError(
                "the pinned attention computes plain self-attention only (no mask, no gate, no attention dropout)"
            )
        B, N, _ = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        scores = blas.batched_product(q * self.scale, k.transpose(-2, -1))
        x = blas.batched_product(scores.softmax(dim=-1), v)
        x = self.norm(x.transpose(1, 2).reshape(B, N, self.attn_dim))
        return self.proj_drop(self.proj(x))


class PinnedPatchProjection(nn.Conv2d):
    """A convolution with stride = kernel and no padding, as one product over flattened patches."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _on_cpu(x):
            return super().forward(x)
        B, C, H, W = x.shape
        ph, pw = self.kernel_size
        gh, gw = H // ph, W // pw
        patches = x.reshape(B, C, gh, ph, gw, pw).permute(0, 2, 4, 1, 3, 5).reshape(B, gh * gw, C * ph * pw)
        out = blas.linear(patches, self.weight.reshape(self.out_channels, -1), self.bias)
        return out.transpose(1, 2).reshape(B, self.out_channels, gh, gw)


def _is_patch_projection(conv: nn.Conv2d) -> bool:
    return (
        conv.stride == conv.kernel_size
        and conv.padding == (0, 0)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    )


PINNED = {nn.Linear: PinnedLinear, Attention: PinnedAttention}  # timm's class -> its pinned twin


def route_products(vit: nn.Module, matmul: str = "openblas") -> nn.Module:
    """Swap the classes of `vit`'s linear, attention and patch-projection modules for the
    pinned ones (matmul="openblas") or back to timm's own ("torch"), in place (parameters
    untouched), and return it."""
    swap = PINNED if matmul == "openblas" else {v: k for k, v in PINNED.items()}
    for module in vit.modules():
        if type(module) in swap:
            module.__class__ = swap[type(module)]
    proj = getattr(getattr(vit, "patch_embed", None), "proj", None)
    if matmul == "openblas" and type(proj) is nn.Conv2d:
        if not _is_patch_projection(proj):
            raise ValueError(f"the patch embedding {proj} is not a plain patch projection (stride = kernel)")
        proj.__class__ = PinnedPatchProjection
    elif matmul != "openblas" and type(proj) is PinnedPatchProjection:
        proj.__class__ = nn.Conv2d
    vit.matmul = matmul
    return vit
