"""PinnedAdam (core/optim.py) and the pinned square root (core/determinism.py): the same bits
wherever an element sits and on any CPU; otherwise the arithmetic of torch's Adam and AdamW."""

import ikd_lib  # noqa: F401  (first: the pins)

# isort: split
import io

import numpy as np
import pytest
import torch

from ikd_lib.core.determinism import sqrt as pinned_sqrt
from ikd_lib.core.optim import PinnedAdam


def correctly_rounded_sqrt(x: torch.Tensor) -> torch.Tensor:
    """float32 square roots through float64: rounding twice is exact for a square root (53 ≥ 2·24 + 2)."""
    return torch.from_numpy(np.sqrt(x.double().numpy()).astype(np.float32))


def test_the_pinned_square_root_is_correctly_rounded_and_is_torchs_on_the_cpu():
    """Under the old path (torch.sqrt: MKL's vector math, seeded by the CPU's approximate
    RSQRTPS) about 15 % of these were not correctly rounded on an Intel Xeon, 0-d tensors too
    (which L-BFGS's line search takes), and which ones depends on the vendor."""
    x = torch.rand(1_000_000, generator=torch.Generator().manual_seed(0)) * 100
    exact = correctly_rounded_sqrt(x)
    assert torch.equal(pinned_sqrt(x), exact)
    assert torch.equal(torch.sqrt(x), exact) and torch.equal(x.sqrt(), exact)  # pinned for all of torch
    assert all(torch.sqrt(x[i]) == exact[i] for i in range(2000))  # one at a time, 0-d
    inplace, out = x.clone(), torch.empty_like(x)
    inplace.sqrt_()
    torch.sqrt(x, out=out)
    assert torch.equal(inplace, exact) and torch.equal(out, exact)
    assert pinned_sqrt(torch.tensor(2.0)).shape == () and float(pinned_sqrt(torch.tensor(4.0))) == 2.0
    assert torch.equal(pinned_sqrt(x.view(1000, 1000).t()), exact.view(1000, 1000).t())  # strided
    assert torch.sqrt(torch.tensor([4, 9])).tolist() == [2.0, 3.0] and torch.sqrt(torch.tensor(-1.0)).isnan()
    assert torch.sqrt(x[:4].bfloat16()).dtype == torch.bfloat16
    grad = x[:5].clone().requires_grad_()
    grad.sqrt().sum().backward()
    assert torch.allclose(grad.grad, 0.5 / exact[:5])


def run(kind, params0, grads, **options):
    p = torch.nn.Parameter(params0.clone())
    opt = kind([p], lr=1e-2, **options)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach()


@pytest.mark.parametrize("decoupled, weight_decay", [(False, 0.0), (False, 0.1), (True, 0.05)])
def test_pinned_adam_follows_torchs_adam_up_to_rounding(decoupled, weight_decay):
    g = torch.Generator().manual_seed(1)
    start, grads = torch.randn(64, generator=g), [torch.randn(64, generator=g) for _ in range(30)]
    reference = torch.optim.AdamW if decoupled else torch.optim.Adam
    ours = run(PinnedAdam, start, grads, weight_decay=weight_decay, decoupled=decoupled)
    theirs = run(reference, start, grads, weight_decay=weight_decay, foreach=False)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-5)
    assert not torch.equal(ours, start)


@pytest.mark.parametrize("decoupled", [False, True])
def test_an_element_is_updated_by_the_same_bits_at_every_position(decoupled):
    """One replica's values alone ([1, n]) and at each position of stacks of 2-33 replicas: the
    fused torch kernel computed a tensor's last numel mod 8 elements without fused multiply-adds,
    so its twin alone and in a stack parted (this test fails with it)."""
    g = torch.Generator().manual_seed(2)
    steps, width = 200, 7  # the fused kernel's twins part in 12 of these 14 stacks by step 200
    mine = torch.randn(1, width, generator=g), [torch.randn(1, width, generator=g) for _ in range(steps)]
    alone = run(PinnedAdam, mine[0], mine[1], weight_decay=0.01, decoupled=decoupled)
    for size in (2, 5, 15, 30, 33):
        for pos in {0, 3 % size, size - 1}:
            others = torch.randn(size, width, generator=g)
            start = others.clone()
            start[pos] = mine[0][0]
            grads = []
            for k in range(steps):
                grad = torch.randn(size, width, generator=g)
                grad[pos] = mine[1][k][0]
                grads.append(grad)
            stacked = run(PinnedAdam, start, grads, weight_decay=0.01, decoupled=decoupled)
            assert torch.equal(stacked[pos], alone[0]), (size, pos)


def test_a_saved_and_loaded_state_goes_on_with_the_same_numbers():
    g = torch.Generator().manual_seed(3)
    start, grads = torch.randn(10, generator=g), [torch.randn(10, generator=g) for _ in range(8)]
    straight = run(PinnedAdam, start, grads)
    p = torch.nn.Parameter(start.clone())
    opt = PinnedAdam([p], lr=1e-2)
    for grad in grads[:4]:
        p.grad = grad.clone()
        opt.step()
    buffer = io.BytesIO()
    torch.save({"p": p.detach().clone(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)
    q = torch.nn.Parameter(saved["p"])
    opt2 = PinnedAdam([q], lr=1e-2)
    opt2.load_state_dict(saved["opt"])
    for grad in grads[4:]:
        q.grad = grad.clone()
        opt2.step()
    assert torch.equal(q.detach(), straight)


def test_bad_settings_are_refused_clearly():
    p = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="lr must be > 0"):
        PinnedAdam(p, lr=0)
    with pytest.raises(ValueError, match="betas"):
        PinnedAdam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="weight_decay"):
        PinnedAdam(p, weight_decay=-1)
    q = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    q.grad = torch.ones(2, dtype=torch.float64)
    with pytest.raises(TypeError, match="float32"):
        PinnedAdam([q]).step()
