"""Golden values for every loss on fixed tensors (hand-computed in the comments)."""

import math

import pytest
import torch

from ikd_lib.core import losses

A = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # [R=1, B=2, D=2]
B = torch.tensor([[[0.0, 2.0], [3.0, 2.0]]])


def test_distance_is_mean_squared_error_per_replica():
    # (1 + 0 + 0 + 4) / 4 = 1.25
    assert losses.distance(A, B).tolist() == [1.25]
    stacked = losses.distance(torch.cat([A, B]), torch.cat([B, B]))
    assert stacked.tolist() == [1.25, 0.0]


def test_rating_mse_and_kd_ratings():
    pred, target = torch.tensor([[3.0, 4.0, 5.0]]), torch.tensor([[4.0, 4.0, 3.0]])
    # (1 + 0 + 4) / 3
    assert losses.rating_mse(pred, target).item() == pytest.approx(5 / 3)
    assert losses.kd_ratings(pred, target).item() == pytest.approx(5 / 3)


def test_kd_classes_golden_value():
    student = torch.tensor([[[0.0, 0.0]]])
    teacher = torch.tensor([[[math.log(3.0), 0.0]]])  # teacher probs (3/4, 1/4)
    # KL((3/4,1/4) || (1/2,1/2)) = 3/4 ln(3/2) + 1/4 ln(1/2); tau=1
    expected = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert losses.kd_classes(student, teacher, 1.0).item() == pytest.approx(expected, rel=1e-6)
    # tau = 2 scales logits by 1/2 and multiplies by tau^2 = 4
    half = torch.tensor([[[math.log(3.0) / 2, 0.0]]])
    p = torch.softmax(half, -1)[0, 0]
    expected2 = 4 * (p[0] * math.log(p[0] / 0.5) + p[1] * math.log(p[1] / 0.5)).item()
    assert losses.kd_classes(student, teacher, 2.0).item() == pytest.approx(expected2, rel=1e-6)


def test_fitnet_and_fd_apply_the_learned_map():
    double = lambda x: 2 * x  # noqa: E731
    # d(2A, B): 2A = [[2,4],[6,8]] -> (4 + 4 + 9 + 36) / 4 = 13.25
    assert losses.fitnet(A, B, double).item() == pytest.approx(13.25)
    assert losses.feature_distillation(A, B, double).item() == pytest.approx(13.25)


def test_message_and_state_consistency_golden_values():
    # L_MC = d(m_s, m_t)
    assert losses.message_consistency(A, B).item() == pytest.approx(1.25)
    # L_SC = d(D_g(m_t_high), s_h) + d(D_h(m_s_low), t_l) with D_g = x+1, D_h = 2x
    sc = losses.state_consistency(
        student_message_low=A,
        teacher_message_high=B,
        state_high=A,
        teacher_low=B,
        decode_student=lambda x: x + 1,
        decode_teacher=lambda x: 2 * x,
    )
    # d(B+1, A): B+1 = [[1,3],[4,3]] vs A -> (0+1+1+1)/4 = 0.75; d(2A, B) = 13.25
    assert sc.item() == pytest.approx(0.75 + 13.25)


def test_interact_golden_values_one_and_two_rounds():
    s_h = torch.full((1, 1, 1), 1.0)
    q1 = torch.full((1, 1, 1), 2.0)
    calls = []

    def teacher_up(x):
        calls.append(1)
        return x + 1

    mods = dict(
        decode_teacher=lambda x: 3 * x,
        teacher_up=teacher_up,
        encode_teacher=lambda x: x / 2,
        decode_student=lambda x: x - 1,
        encode_student=lambda x: 10 * x,
    )
    # round 1: D_h(2)=6, up=7, E_h=3.5, D_g=2.5 -> d = 1.5^2 = 2.25
    one, per_round = losses.interact(q1, s_h, k_rounds=1, **mods)
    assert one.item() == pytest.approx(2.25) and len(per_round) == 1 and len(calls) == 1
    # round 2: q2 = E_g(2.5) = 25; D_h = 75, up = 76, E_h = 38, D_g = 37 -> d = 36^2 = 1296
    calls.clear()
    two, per_round = losses.interact(q1, s_h, k_rounds=2, **mods)
    assert [v.item() for v in per_round] == pytest.approx([2.25, 1296.0])
    assert two.item() == pytest.approx((2.25 + 1296.0) / 2) and len(calls) == 2


def test_interact_k0_is_zero_and_calls_nothing():
    boom = lambda x: (_ for _ in ()).throw(AssertionError("called"))  # noqa: E731
    value, per_round = losses.interact(A, A, boom, boom, boom, boom, boom, k_rounds=0)
    assert value.tolist() == [0.0] and per_round == []


def test_interact_rejects_negative_k():
    with pytest.raises(ValueError, match="K"):
        losses.interact(A, A, None, None, None, None, None, k_rounds=-1)


def test_interact_noise_changes_the_answer_only_when_sigma_positive():
    ident = lambda x: x  # noqa: E731
    clean, _ = losses.interact(A, B, ident, ident, ident, ident, ident, k_rounds=1, noise_std=0.0)
    assert clean.item() == pytest.approx(losses.distance(B, A).item())
    g = torch.Generator().manual_seed(0)
    noisy, _ = losses.interact(
        A, B, ident, ident, ident, ident, ident, k_rounds=1, noise_std=0.5, generators=[g] * A.shape[0]
    )
    assert noisy.item() != pytest.approx(clean.item())


def test_interact_noise_is_gaussian_with_mean_0_and_spread_sigma_added_to_s_prime_h():
    """METHOD.md's "add noise" variant: s'_h = D_h(q_k) + ε, ε ~ N(0, σ²) element-wise; the
    teacher's upper layers read s'_h, and nothing else is noised. Recorded at h_up's input
    with D_h = 3x on a constant question, so ε = input − 3q."""
    sigma, n = 0.5, 40_000
    question = torch.full((1, n, 1), 2.0)
    seen = []

    def teacher_up(x):
        seen.append(x.clone())
        return x + 1.0

    ident = lambda x: x  # noqa: E731
    value, _ = losses.interact(
        question,
        torch.zeros(1, n, 1),
        lambda q: 3 * q,
        teacher_up,
        ident,
        ident,
        ident,
        k_rounds=1,
        noise_std=sigma,
        generators=[torch.Generator().manual_seed(0)],
    )
    eps = (seen[0] - 6.0).flatten()
    # mean 0 within 4 standard errors (σ/√n = 0.0025); spread σ within 2 %
    assert abs(float(eps.mean())) < 0.01
    assert float(eps.std()) == pytest.approx(sigma, rel=0.02)
    # Gaussian, not another law of that mean and spread: 68.3 % within ±σ, 95.4 % within ±2σ
    assert float((eps.abs() < sigma).float().mean()) == pytest.approx(0.683, abs=0.01)
    assert float((eps.abs() < 2 * sigma).float().mean()) == pytest.approx(0.954, abs=0.01)
    # the answer is h_up(s'_h) passed on unchanged (E_h = D_g = identity): ŝ = s'_h + 1, s_h = 0
    assert value.item() == pytest.approx(float(((seen[0] + 1.0) ** 2).mean()), rel=1e-6)


def test_interact_without_noise_draws_no_random_number():
    """σ = 0 is the clean conversation: nothing is drawn, so no random stream (the global one
    feeds a ViT's dropout) moves because TD ran without noise."""
    ident = lambda x: x  # noqa: E731
    before = torch.random.get_rng_state()
    losses.interact(A, B, ident, ident, ident, ident, ident, k_rounds=2, noise_std=0.0)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_interact_adds_each_replicas_own_generator_draws():
    """s'_h = D_h(q) + σ·ε with ε replica r's generator's next standard-normal draws, in order:
    the same seed gives the same noisy conversation, whichever other replicas share the stack."""
    seen = []

    def teacher_up(x):
        seen.append(x.clone())
        return x

    ident = lambda x: x  # noqa: E731
    two = torch.cat([A, 2 * A])  # [R=2, B=2, D=2]
    losses.interact(
        two,
        B.expand(2, -1, -1),
        ident,
        teacher_up,
        ident,
        ident,
        ident,
        k_rounds=1,
        noise_std=0.5,
        generators=[torch.Generator().manual_seed(3), torch.Generator().manual_seed(4)],
    )
    eps = [torch.randn(A.shape[1:], generator=torch.Generator().manual_seed(s)) for s in (3, 4)]
    assert torch.equal(seen[0], two + 0.5 * torch.stack(eps))


def test_distance_refuses_states_of_different_shapes_naming_both():
    with pytest.raises(ValueError, match=r"one shape, got \(1, 2, 2\) and \(1, 2\)"):
        losses.distance(A, A[..., 0])
