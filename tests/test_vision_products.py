"""The ViT's products on the pinned OpenBLAS kernels (vision/products.py, core/blas.py): each
routed layer repeats bit for bit, agrees with torch's own product within float rounding, has
the right gradients, and a process on other kernels is refused with the fix."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from timm.layers.attention import Attention
from torch import nn

from ikd_lib.core import blas
from ikd_lib.vision.models import TappedViT, build_vit
from ikd_lib.vision.products import PinnedAttention, PinnedLinear, PinnedPatchProjection, route_products
from ikd_lib.vision.profiles import CPU_VIT, SMOKE_VIT


def twins(make):
    """The same module twice (same weights): torch's own and the routed one."""
    torch.manual_seed(0)
    plain = make()
    routed = route_products(make_copy(plain, make))
    return plain, routed


def make_copy(module, make):
    twin = make()
    twin.load_state_dict(module.state_dict())
    return twin


LAYERS = {
    "linear": (lambda: nn.Sequential(nn.Linear(64, 192)), (2, 17, 64)),
    "attention": (lambda: Attention(64, num_heads=4, qkv_bias=True), (3, 17, 64)),
    "patch": (lambda: _patch_embed(), (2, 3, 32, 32)),
}


def _patch_embed():
    m = nn.Module()
    m.patch_embed = nn.Module()
    m.patch_embed.proj = nn.Conv2d(3, 64, kernel_size=8, stride=8)
    m.forward = lambda x: m.patch_embed.proj(x)
    return m


def step(module, x):
    """Forward and backward once: the output and every gradient (input's included)."""
    x = x.clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    out = module(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return [out.detach(), x.grad] + [p.grad for p in module.parameters()]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_each_routed_layer_repeats_bit_for_bit_and_matches_torch(name):
    make, shape = LAYERS[name]
    plain, routed = twins(make)
    kinds = {type(m) for m in routed.modules()}
    assert kinds & {PinnedLinear, PinnedAttention, PinnedPatchProjection}, kinds
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    first, again, reference = step(routed, x), step(routed, x), step(plain, x)
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # the same step, the same bits
    for a, b in zip(first, reference):  # torch's product, within rounding
        assert a.shape == b.shape
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (a - b).abs().max()


def test_linear_and_batched_product_gradients_are_right():
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in ((5, 3, 7), (4, 7), (4,)))
    assert torch.autograd.gradcheck(blas.linear, (x, w, b))
    assert torch.autograd.gradcheck(blas.linear, (x, w, None))
    p, q = (torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in ((2, 3, 4, 5), (2, 3, 5, 6)))
    assert torch.autograd.gradcheck(blas.batched_product, (p, q))
    assert torch.autograd.gradcheck(
        blas.batched_product, (p, q.transpose(-1, -2).detach().requires_grad_().transpose(-1, -2))
    )  # a transposed view too


def test_batched_product_refuses_unequal_stacks():
    with pytest.raises(ValueError, match="equal stacks"):
        blas.batched_product(torch.zeros(2, 3, 4), torch.zeros(1, 4, 5))


def test_a_cpu_profile_vit_computes_every_product_on_the_pinned_route():
    vit = build_vit(CPU_VIT, 2, 10, seed=0)
    assert vit.matmul == "openblas" and TappedViT(vit, 1, 0).matmul == "openblas"
    assert type(vit.patch_embed.proj) is PinnedPatchProjection
    assert all(type(b.attn) is PinnedAttention for b in vit.blocks)
    linears = [m for m in vit.modules() if isinstance(m, nn.Linear)]
    assert linears and all(type(m) is PinnedLinear for m in linears)
    # no product left on torch's kernels: a forward and backward call neither mm, addmm, bmm nor
    # the fused attention (which run on MKL) nor a convolution (oneDNN)
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    with torch.profiler.profile() as prof:
        TappedViT(vit, 1, 0)(x)[0].sum().backward()
    names = {e.key for e in prof.key_averages()}
    assert not names & {
        "aten::mm",
        "aten::addmm",
        "aten::bmm",
        "aten::baddbmm",
        "aten::convolution",
        "aten::_scaled_dot_product_flash_attention_for_cpu",
    }, names


def test_the_torch_route_keeps_timms_modules_and_the_weights_are_the_same():
    routed = build_vit(SMOKE_VIT, 2, 10, seed=3)
    plain = build_vit(replace(SMOKE_VIT, matmul="torch"), 2, 10, seed=3)
    assert type(plain.blocks[0].attn) is Attention and type(plain.head) is nn.Linear
    assert all(torch.equal(a, b) for a, b in zip(routed.state_dict().values(), plain.state_dict().values()))


def test_a_vit_on_other_kernels_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(blas, "openblas_core", lambda: "SkylakeX")
    blas.check_openblas.cache_clear()
    try:
        vit = build_vit(SMOKE_VIT, 2, 10, seed=0)
        with pytest.raises(RuntimeError, match="'SkylakeX' kernels.*OPENBLAS_CORETYPE=Haswell"):
            TappedViT(vit, 1, 0)(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    finally:
        blas.check_openblas.cache_clear()


def test_an_unknown_matmul_and_a_strided_patch_embedding_are_refused():
    with pytest.raises(ValueError, match="matmul"):
        replace(SMOKE_VIT, matmul="mkl")
    m = nn.Module()
    m.patch_embed = nn.Module()
    m.patch_embed.proj = nn.Conv2d(3, 8, kernel_size=8, stride=4)
    with pytest.raises(ValueError, match="not a plain patch projection"):
        route_products(m)


def test_routing_back_to_torch_restores_timms_modules_and_numbers():
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    plain = build_vit(replace(SMOKE_VIT, matmul="torch"), 2, 10, seed=3)
    routed = route_products(build_vit(SMOKE_VIT, 2, 10, seed=3), "torch")
    assert routed.matmul == "torch" and type(routed.patch_embed.proj) is nn.Conv2d
    assert {type(m) for m in routed.modules()} == {type(m) for m in plain.modules()}
    assert torch.equal(TappedViT(routed, 1, 0)(x)[0], TappedViT(plain, 1, 0)(x)[0])


def test_a_view_numpy_cannot_hand_to_blas_is_copied_first():
    """numpy gives a matrix to OpenBLAS's gemm only when it is row- or column-major with a
    leading dimension at least its width; any other view (a broadcast, a strided slice) would
    take numpy's own loop, not the pinned kernel, so blas copies it first. A transpose is a
    flag to gemm: it is not copied."""
    g = torch.Generator().manual_seed(0)
    broadcast = torch.randn(1, 37, generator=g).expand(5, 37)  # strides (0, 1)
    strided = torch.randn(5, 74, generator=g)[:, ::2]  # strides (74, 2)
    base = torch.randn(6, 37, generator=g)
    for view in (broadcast, strided):
        handed = blas._np(view)
        assert handed.flags["C_CONTIGUOUS"] and (handed == view.numpy()).all()
    for view in (base, base.t()):  # row-major, column-major
        assert np.shares_memory(blas._np(view), base.numpy())
