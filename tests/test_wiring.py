"""Which taps and teacher outputs each method feeds its losses.

For every method, the named losses `forward_train` returns must equal an independent
computation written from docs/method.md on fixed tensors: plain tensor algebra on the models'
own weights, never the library's loss helpers. Both tracks' shapes are covered: the rating
models ([R, B, D] states) and the synthetic classifier ([R, B, N, D], a token axis).
The objective is checked too, with distinct values of λ, w1, w2, w3, so that each weight
scales its own loss. A wiring mistake (L_MC reading E_g(s_l), KD pulling towards the label, FitNet reading s_h,
...) changes at least one of these numbers.
"""

import pytest
import torch

from ikd_lib.core.config import TDConfig
from ikd_lib.core.methods import build_method
from ikd_lib.movielens.models import FrozenTeacher, RatingModel

from conftest import TOY_STUDENT
from toys import TEMPERATURE, TeacherUp, TokenClassifier, attach_teacher, classification_task, trained_teacher

SEEDS = (0, 1)
METHODS = ("student", "kd", "fitnet", "fd", "hybrid", "td")


# ---------------------------------------------------------------- plain algebra
def lin(x, layer, r):
    """One replica of a stacked linear layer, written out: x W_r + b_r."""
    return x @ layer.weight[r] + layer.bias[r, 0]


def d(a, b):
    return ((a - b) ** 2).mean()


def mse(pred, target):
    return ((pred - target) ** 2).mean()


def cross_entropy(logits, labels):
    log_p = logits - logits.logsumexp(-1, keepdim=True)
    return -log_p[torch.arange(len(labels)), labels].mean()


def kl_at_temperature(student_logits, teacher_logits, tau=TEMPERATURE):
    p_t = torch.softmax(teacher_logits / tau, -1)
    log_p_t = torch.log_softmax(teacher_logits / tau, -1)
    log_p_s = torch.log_softmax(student_logits / tau, -1)
    return tau**2 * (p_t * (log_p_t - log_p_s)).sum(-1).mean()


def expected_losses(method, r, s_l, s_h, y_hat, y, t_l, t_h, t_pred, teacher_up, task_loss, kd, penalty=None):
    """docs/method.md, for replica r: what each method's named losses must be."""
    name = method.name
    out = {"task": task_loss(y_hat, y)}
    if penalty is not None:
        out["penalty"] = penalty  # the student's own L2
    if name in ("kd", "hybrid"):
        out["kd"] = kd(y_hat, t_pred)  # towards the teacher, not the label
    if name == "fitnet":
        out["fitnet"] = d(lin(s_l, method.regressor, r), t_l)  # hint at the lower layer
    if name in ("fd", "hybrid"):
        out["fd"] = d(lin(s_h, method.projector, r), t_h)  # penultimate features
    if name == "td":
        c, K = method.comm, method.td.k_rounds
        E_g = lambda x: lin(x, c.encode_student, r)
        D_g = lambda x: lin(x, c.decode_student, r)
        E_h = lambda x: lin(x, c.encode_teacher, r)
        D_h = lambda x: lin(x, c.decode_teacher, r)
        q, rounds = E_g(s_l), []  # q_1 = E_g(s_l)
        for _ in range(K):
            answer = E_h(teacher_up(D_h(q)))  # a_k = E_h(h_up(D_h(q_k)))
            understood = D_g(answer)  # ŝ_k = D_g(a_k)
            rounds.append(d(s_h, understood))
            q = E_g(understood)  # q_{k+1} = E_g(ŝ_k)
        out["interact"] = torch.stack(rounds).mean() if K else torch.tensor(0.0)
        for k, value in enumerate(rounds, start=1):
            out[f"interact_round{k}"] = value
        out["message"] = d(E_g(s_h), E_h(t_h))  # L_MC
        out["state"] = d(D_g(E_h(t_h)), s_h) + d(D_h(E_g(s_l)), t_l)  # L_SC
    return out


def assert_wiring(method, named, expected_by_replica):
    for r, expected in enumerate(expected_by_replica):
        assert set(named) == set(expected), f"{method.name}: losses {sorted(named)} vs {sorted(expected)}"
        for key, value in expected.items():
            assert float(named[key][r]) == pytest.approx(float(value), rel=1e-5, abs=1e-7), (
                f"{method.name} replica {r}: {key}"
            )


# Distinct weights, so that every weight is checked against the loss it scales (a swap of
# w2 and w3, or a λ left out, changes the objective).
LAMBDAS = (0.7, 2.0)
W_INTERACT, W_MESSAGE, W_STATE = 0.3, 5.0, 0.07


def td_config(k):
    return TDConfig(k_rounds=k, message_dim=5, w_interact=W_INTERACT, w_message=W_MESSAGE, w_state=W_STATE)


def expected_objective(name, losses, lam):
    """METHOD.md's objective, written out per method: L_task (+ the student's own L2) plus
    λ·kd (KD), λ·d(r(s_l), t_l) (FitNet), λ·d(p(s_h), t_h) (FD), λ·(kd + fd) (Hybrid) and
    λ·(w1·L_interact + w2·L_MC + w3·L_SC) (TD); diagnostics (interact_round*) do not count."""
    total = losses["task"] + losses.get("penalty", 0.0)
    if name == "kd":
        total = total + lam * losses["kd"]
    if name == "fitnet":
        total = total + lam * losses["fitnet"]
    if name == "fd":
        total = total + lam * losses["fd"]
    if name == "hybrid":
        total = total + lam * (losses["kd"] + losses["fd"])
    if name == "td":
        total = total + lam * (
            W_INTERACT * losses["interact"] + W_MESSAGE * losses["message"] + W_STATE * losses["state"]
        )
    return total


def assert_objective(method, named, expected_by_replica):
    objective = method.objective(named)
    for r, expected in enumerate(expected_by_replica):
        want = float(expected_objective(method.name, expected, LAMBDAS[r]))
        assert float(objective[r]) == pytest.approx(want, rel=1e-5), f"{method.name} replica {r}: objective"


CASES = [(name, 1) for name in METHODS if name != "td"] + [("td", k) for k in (0, 1, 2)]


# ---------------------------------------------------------------- the rating track
@pytest.mark.parametrize("name,k", CASES)
def test_rating_methods_feed_the_right_taps(toy_task, toy_teacher, name, k):
    task = toy_task
    index = torch.tensor([1, 0])  # student replica r talks to teacher replica index[r]
    student = RatingModel(
        TOY_STUDENT,
        task.n_users,
        task.n_items,
        SEEDS,
        task.rating_offset,
        "student",
        interactions=task.train.inputs,
        l2=torch.tensor([0.3, 0.05]),
    )
    teacher = FrozenTeacher(toy_teacher, index) if name != "student" else None
    method = build_method(name, student, teacher, torch.tensor(LAMBDAS), task, td_config(k))
    rows = torch.stack([torch.arange(40), torch.arange(40, 80)])
    batch = task.batch("train", rows, index)
    # SVD++ sums, written out: A[u, j] = |N(u)|^-1/2 for every training pair (u, j)
    pairs = task.train.inputs
    rated_by_user, raters_of_item = torch.zeros(task.n_users, task.n_items), torch.zeros(task.n_items, task.n_users)
    n_u, n_i = torch.bincount(pairs[:, 0], minlength=task.n_users), torch.bincount(pairs[:, 1], minlength=task.n_items)
    for user, item in pairs.tolist():
        rated_by_user[user, item] += n_u[user] ** -0.5
        raters_of_item[item, user] += n_i[item] ** -0.5
    with torch.no_grad():
        _, named, _ = method.forward_train(batch)
        expected = []
        for r in range(len(SEEDS)):
            users, items = task.train.inputs[rows[r], 0], task.train.inputs[rows[r], 1]
            y = task.train.target[rows[r]]

            # the rating model written out for replica m (both built on the train split)
            def tower(model, m, users=users, items=items):
                U = model.user_emb.weight[m] + rated_by_user @ model.user_implicit.weight[m]
                I = model.item_emb.weight[m] + raters_of_item @ model.item_implicit.weight[m]  # noqa: E741 (U, I)
                u, i = U[users], I[items]
                low = torch.relu(lin(torch.cat([u, i, u * i], -1), model.low_layer, m))
                high = torch.relu(lin(low, model.up_layers[0], m))
                b_u, b_i = model.user_bias.weight[m][users, 0], model.item_bias.weight[m][items, 0]
                pred = lin(high, model.head_layer, m)[:, 0] + b_u + b_i + model.rating_offset
                p_u, q_i = model.user_emb.weight[m][users], model.item_emb.weight[m][items]
                penalty = (
                    model.l2[m] * ((p_u**2).sum(-1) + (q_i**2).sum(-1)).mean()
                    + model.cfg.bias_l2 * (b_u**2 + b_i**2).mean()
                )
                return low, high, pred, penalty

            s_l, s_h, y_hat, penalty = tower(student, r)
            t_l, t_h, t_pred, _ = tower(toy_teacher, int(index[r]))
            teacher_up = lambda x, m=int(index[r]): torch.relu(lin(x, toy_teacher.up_layers[0], m))
            expected.append(
                expected_losses(
                    method, r, s_l, s_h, y_hat, y, t_l, t_h, t_pred, teacher_up, task_loss=mse, kd=mse, penalty=penalty
                )
            )
    assert_wiring(method, named, expected)
    assert_objective(method, named, expected)


# ---------------------------------------------------------------- the synthetic classification track
@pytest.fixture(scope="module")
def classes():
    task = classification_task(n=(400, 100, 100))
    teacher = trained_teacher(task)
    return teacher, attach_teacher(task, teacher)


@pytest.mark.parametrize("name,k", CASES)
def test_classification_methods_feed_the_right_taps(classes, name, k):
    teacher, task = classes
    student = TokenClassifier(SEEDS, width=8)
    method = build_method(
        name, student, TeacherUp(teacher) if name != "student" else None, torch.tensor(LAMBDAS), task, td_config(k)
    )
    rows = torch.stack([torch.arange(30), torch.arange(30, 60)])
    index = torch.zeros(2, dtype=torch.long)
    batch = task.batch("train", rows, index)
    with torch.no_grad():
        _, named, _ = method.forward_train(batch)
        expected = []
        for r in range(len(SEEDS)):
            x, y = task.train.inputs[rows[r]], task.train.target[rows[r]]

            def tower(model, m, x=x):  # the classifier written out: per token, then mean over tokens
                low = torch.relu(lin(x, model.low, m))
                high = low
                for layer in model.ups:
                    high = torch.relu(lin(high, layer, m))
                return low, high, lin(high.mean(-2), model.head, m)

            def teacher_up(state):
                for layer in teacher.ups:
                    state = torch.relu(lin(state, layer, 0))
                return state

            s_l, s_h, y_hat = tower(student, r)
            t_l, t_h, t_pred = tower(teacher, 0)
            expected.append(
                expected_losses(
                    method,
                    r,
                    s_l,
                    s_h,
                    y_hat,
                    y,
                    t_l,
                    t_h,
                    t_pred,
                    teacher_up,
                    task_loss=cross_entropy,
                    kd=kl_at_temperature,
                )
            )
    assert_wiring(method, named, expected)
    assert_objective(method, named, expected)


# ---------------------------------------------------------------- each weight on its own loss
# Losses as powers of ten, so each weight's product lands in its own decimal place.
POWERS = {
    "task": 1.0,
    "penalty": 10.0,
    "kd": 100.0,
    "fitnet": 1e3,
    "fd": 1e4,
    "interact": 1e5,
    "message": 1e6,
    "state": 1e7,
    "interact_round1": 1e8,
}
# By hand, for λ = 0.5 and 2 (w1, w2, w3 = 0.3, 5, 0.07 for TD):
OBJECTIVES = {
    "student": (11.0, 11.0),  # task + penalty
    "kd": (11 + 0.5 * 100, 11 + 2 * 100),  # + λ·kd
    "fitnet": (11 + 0.5 * 1e3, 11 + 2 * 1e3),  # + λ·fitnet
    "fd": (11 + 0.5 * 1e4, 11 + 2 * 1e4),  # + λ·fd
    "hybrid": (11 + 0.5 * 10_100, 11 + 2 * 10_100),  # + λ·(kd + fd)
    "td": (11 + 0.5 * 5_730_000, 11 + 2 * 5_730_000),
}  # + λ·(0.3e5 + 5e6 + 0.07e7)


@pytest.mark.parametrize("name", METHODS)
def test_each_weight_scales_its_own_loss(classes, name):
    teacher, task = classes
    method = build_method(
        name,
        TokenClassifier(SEEDS, width=8),
        TeacherUp(teacher) if name != "student" else None,
        torch.tensor([0.5, 2.0]),
        task,
        td_config(1),
    )
    named = {key: torch.full((2,), value) for key, value in POWERS.items()}
    assert method.objective(named).tolist() == pytest.approx(OBJECTIVES[name], rel=1e-9)


def test_td_adds_noise_of_spread_sigma_to_what_the_teacher_reads(classes):
    """TD with σ = 0.3: the teacher's upper layers read s'_h = D_h(E_g(s_l)) + ε with ε of
    mean 0 and spread σ (the distribution itself: test_losses.py)."""
    teacher, task = classes
    seen = []

    class Recording(TeacherUp):
        def up(self, state):
            seen.append(state.detach().clone())
            return super().up(state)

    method = build_method(
        "td",
        TokenClassifier(SEEDS, width=8),
        Recording(teacher),
        torch.tensor(LAMBDAS),
        task,
        TDConfig(k_rounds=1, message_dim=5, noise_std=0.3),
    )
    batch = task.batch("train", torch.stack([torch.arange(100)] * 2), torch.zeros(2, dtype=torch.long))
    with torch.no_grad():
        _, _, states = method.forward_train(batch)
        c = method.comm
        eps = (seen[0] - c.decode_teacher(c.encode_student(states["low"]))).flatten()
    assert abs(float(eps.mean())) < 0.03  # σ/√n ≈ 0.004 for n = 7,200
    assert float(eps.std()) == pytest.approx(0.3, rel=0.05)
