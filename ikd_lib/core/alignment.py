"""How alike two models' states are, and how much a state says about the target: linear CKA
and a linear probe. Plain float64 algebra on [N, D] matrices, one replica at a time.

Linear CKA (Kornblith et al. 2019, "Similarity of neural network representations revisited"):
with X [N, p] and Y [N, q] centred per column,

    CKA(X, Y) = ‖Yᵀ X‖_F² / (‖Xᵀ X‖_F · ‖Yᵀ Y‖_F)

It is 1 for identical states, invariant to an orthogonal rotation and to a global scale of
either side, and near 0 for independent ones (of order √(p·q)/N for independent random
states of N examples). It compares states of different widths (the student's 16 against the
teacher's 32).

Linear probe: ridge regression with an intercept (a small penalty on standardised features),
fitted on one split (training) and judged on another (test) by R² = 1 − SSE / SST, SST about
the judged split's own mean: 0 for a probe that predicts no better than that mean, negative
when worse.
"""

from __future__ import annotations

import numpy as np

RIDGE = 1e-3  # the probe's penalty on standardised features: a hair above least squares


def _matrix(x) -> np.ndarray:
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a matrix [examples, features], got shape {a.shape}")
    return a


def linear_cka(x, y) -> float:
    """Linear CKA of two states of the same N examples (rows); NaN when either is constant."""
    x, y = _matrix(x), _matrix(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA compares states of the same examples: {x.shape[0]} rows against {y.shape[0]}")
    x = x - x.mean(0)
    y = y - y.mean(0)
    denominator = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    if denominator == 0:
        return float("nan")
    return float(np.linalg.norm(y.T @ x) ** 2 / denominator)


def probe_r2(train_x, train_y, test_x, test_y, ridge: float = RIDGE) -> float:
    """R² on (test_x, test_y) of the linear map (with intercept) fitted on the training pair:
    ridge regression on the features standardised with the training split's mean and spread
    (features constant on it are dropped), penalty `ridge` per example, so near-collinear
    features cannot send the test predictions anywhere (plain least squares did, by 10⁵)."""
    train_x, test_x = _matrix(train_x), _matrix(test_x)
    train_y = np.asarray(train_y, dtype=np.float64).reshape(-1)
    test_y = np.asarray(test_y, dtype=np.float64).reshape(-1)
    mean, spread = train_x.mean(0), train_x.std(0)
    kept = spread > 1e-12
    z_train = (train_x[:, kept] - mean[kept]) / spread[kept]
    z_test = (test_x[:, kept] - mean[kept]) / spread[kept]
    n = len(train_y)
    coef = np.linalg.solve(
        z_train.T @ z_train / n + ridge * np.eye(z_train.shape[1]), z_train.T @ (train_y - train_y.mean()) / n
    )
    pred = z_test @ coef + train_y.mean()
    sst = float(((test_y - test_y.mean()) ** 2).sum())
    if sst == 0:
        return float("nan")
    return 1.0 - float(((test_y - pred) ** 2).sum()) / sst
