"""The SVD++-style implicit sums of the rating models (models.NormalisedInteractions).

They are computed as sums over bags (`F.embedding_bag`) instead of `torch.sparse.mm`, for
speed; the tables must not move because of it, and the arithmetic must be the same on
every x86-64 machine: a sequential fused multiply-add over each row, in (owner, member)
order, which the tests below pin bit for bit.
"""

import numpy as np
import torch

from ikd_lib.movielens.models import NormalisedInteractions


def random_interactions(n_owners=37, n_members=53, n_pairs=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    pairs = torch.unique(
        torch.stack(
            [torch.randint(0, n_owners, (n_pairs,), generator=g), torch.randint(0, n_members, (n_pairs,), generator=g)],
            1,
        ),
        dim=0,
    )
    pairs = pairs[torch.randperm(len(pairs), generator=g)]  # the order the ratings come in
    return pairs[:, 0], pairs[:, 1], n_owners, n_members


def coo_matrix(owners, members, n_owners, n_members):
    counts = torch.bincount(owners, minlength=n_owners).clamp(min=1).float()
    return torch.sparse_coo_tensor(
        torch.stack([owners, members]), counts.rsqrt()[owners], (n_owners, n_members), check_invariants=True
    ).coalesce()


def test_forward_and_gradient_are_bit_identical_to_sparse_mm():
    owners, members, n_o, n_m = random_interactions()
    a = NormalisedInteractions(owners, members, n_o, n_m)
    factors = torch.randn(3, n_m, 5, generator=torch.Generator().manual_seed(1), requires_grad=True)
    upstream = torch.randn(3, n_o, 5, generator=torch.Generator().manual_seed(2))

    out = a(factors)
    (grad,) = torch.autograd.grad(out, factors, upstream)

    coo = coo_matrix(owners, members, n_o, n_m)
    flat = factors.permute(1, 0, 2).reshape(n_m, -1)
    ref = torch.sparse.mm(coo, flat).view(n_o, 3, 5).permute(1, 0, 2)
    (ref_grad,) = torch.autograd.grad(ref, factors, upstream)
    assert out.shape == (3, n_o, 5)
    assert torch.equal(out, ref)
    assert torch.equal(grad, ref_grad)


def test_each_row_is_a_sequential_fused_multiply_add():
    """Pins the arithmetic: out[o] = fma(w, y[m_k], ... fma(w, y[m_1], 0)) over the row's
    members in increasing order, one rounding per term (emulated exactly in float64)."""
    owners, members, n_o, n_m = random_interactions(seed=3)
    a = NormalisedInteractions(owners, members, n_o, n_m)
    factors = torch.randn(1, n_m, 7, generator=torch.Generator().manual_seed(4))
    out = a(factors)[0].numpy()

    weights = torch.bincount(owners, minlength=n_o).float().rsqrt().numpy()  # |N(o)|^-1/2, as the model has it
    y = factors[0].double().numpy()
    expected = np.zeros((n_o, 7), np.float32)
    for o, m in sorted(zip(owners.tolist(), members.tolist())):
        # a float32 product is exact in float64, so one float64 add + one rounding = one fma
        expected[o] = (np.float64(weights[o]) * y[m] + expected[o]).astype(np.float32)
    assert np.array_equal(out, expected)


def test_a_user_with_no_ratings_gets_a_zero_sum_and_no_gradient_flows_to_unrated_items():
    owners = torch.tensor([0, 0, 2])  # owner 1 has rated nothing
    members = torch.tensor([1, 3, 1])  # members 0 and 2 are rated by no one
    a = NormalisedInteractions(owners, members, 3, 4)
    factors = torch.ones(2, 4, 3, requires_grad=True)
    out = a(factors)
    assert torch.equal(out[:, 1], torch.zeros(2, 3))
    assert torch.allclose(out[:, 0], torch.full((2, 3), 2**0.5))
    out.sum().backward()
    assert torch.equal(factors.grad[:, [0, 2]], torch.zeros(2, 2, 3))
    assert (factors.grad[:, [1, 3]] > 0).all()
