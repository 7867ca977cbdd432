"""The MovieLens layers' products on numpy's OpenBLAS (core/blas.py): right gradients, the
same numbers every time, the method's own layers following the student, a clear error when
the pinned kernels are not the ones loaded."""

import pytest
import torch

from ikd_lib.core import blas
from ikd_lib.core.methods import build_method
from ikd_lib.core.stacked import StackedLinear
from ikd_lib.movielens.models import FrozenTeacher, RatingModel

from conftest import TOY_STUDENT


def affine_inputs(dtype=torch.float64, n_rep=3, shared=False, tokens=False):
    g = torch.Generator().manual_seed(0)
    x_shape = (n_rep, 4, 6, 7) if tokens else (n_rep, 50, 7)
    w_rep = 1 if shared else n_rep
    return [
        torch.randn(shape, generator=g, dtype=dtype, requires_grad=True)
        for shape in ((w_rep, 1, 5), x_shape, (w_rep, 7, 5))
    ]


@pytest.mark.parametrize("shared,tokens", [(False, False), (True, False), (False, True)])
def test_affine_gradients_are_right(shared, tokens):
    # in float64 against finite differences; the shared-layer and token-axis paths too
    assert torch.autograd.gradcheck(blas.affine, affine_inputs(shared=shared, tokens=tokens))


def test_affine_matches_torch_and_repeats_bit_for_bit():
    bias, x, weight = affine_inputs(torch.float32)
    out = blas.affine(bias, x, weight)
    expected = torch.baddbmm(bias, x, weight)
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, atol=1e-5)
    out.sum().backward()
    grads = [t.grad.clone() for t in (bias, x, weight)]
    for t in (bias, x, weight):
        t.grad = None
    again = blas.affine(bias, x, weight)
    again.sum().backward()
    assert torch.equal(again, out) and all(torch.equal(t.grad, g) for t, g in zip((bias, x, weight), grads))


def test_rating_models_and_the_methods_layers_use_openblas(toy_task, toy_teacher):
    student = RatingModel(
        TOY_STUDENT,
        toy_task.n_users,
        toy_task.n_items,
        (0, 1),
        toy_task.rating_offset,
        "student",
        interactions=toy_task.train.inputs,
    )
    frozen = FrozenTeacher(toy_teacher, torch.tensor([0, 1]))
    assert student.matmul == "openblas" and frozen.matmul == "openblas"
    for name in ("fitnet", "fd", "td"):
        method = build_method(name, student, frozen, torch.ones(2), toy_task)
        layers = [m for m in method.modules() if isinstance(m, StackedLinear)]
        assert layers and {m.matmul for m in layers} == {"openblas"}, name
    # a student that names no matmul (the ViT track's) keeps torch's for the method's layers
    plain = torch.nn.Module()
    plain.seeds, plain.width = (0, 1), 16
    method = build_method("fd", plain, frozen, torch.ones(2), toy_task)
    assert method.projector.matmul == "torch"


def test_openblas_on_other_kernels_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(blas, "openblas_core", lambda: "SkylakeX")
    blas.check_openblas.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="'SkylakeX' kernels.*import ikd_lib.*OPENBLAS_CORETYPE=Haswell"):
            blas.affine(*affine_inputs(torch.float32))
        monkeypatch.setenv("IKD_UNPINNED", "1")  # unpinned (make bench's twin): whatever is loaded
        blas.check_openblas.cache_clear()
        blas.affine(*affine_inputs(torch.float32))
    finally:
        blas.check_openblas.cache_clear()


def test_unknown_matmul_is_refused():
    with pytest.raises(ValueError, match="unknown matmul 'mkl'; valid: torch, openblas"):
        StackedLinear((0,), 4, 4, "x", matmul="mkl")
