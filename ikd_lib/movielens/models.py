"""Rating models with taps at a lower and a higher layer (student g and teacher h), and the
"Bias only" reference model.

    u   = p_u + |N(u)|^-1/2 Σ_{j ∈ N(u)} y_j     the user: its embedding plus, SVD++-style, the
    i   = q_i + |M(i)|^-1/2 Σ_{v ∈ M(i)} z_v     items it rated (resp. the item's raters) in the
                                                 training split of the model's own task
    s_l = relu(W_low [u, i, u ⊙ i] + b)          the lower tap (u ⊙ i: the factor-model interaction)
    s_h = up(s_l)                                n_upper Dense-ReLU layers, same width as s_l
    ŷ   = w_head · s_h + b_u + b_i + μ           user and item biases; μ = mean training rating

Every rating model starts as a bias model: b_u, b_i are initialised to the classic baseline
estimates of its own training ratings (Koren 2008: item biases, then user biases, each a
mean of residuals shrunk towards 0, the shrinkage chosen on the task's validation split)
and the head to zero, so at epoch 0 it predicts b_u + b_i + μ. The training loop evaluates
epoch 0 too, so where the interaction part does not help on validation (a sparse genre), a
model keeps its biases.

Like timm's `forward_features` / `forward_head`, the pieces are public methods, so every
distillation method reads the taps it needs without model surgery; `forward` returns the
prediction and the dict of named states. Low and high share one width so the student's
encoder E_g can read both s_l and its decoded answer ŝ (docs/method.md, docs/protocol.md).

Regularisation, per replica (so a stack can try several strengths and each seed choose its
own on validation): `l2[r] · (‖p_u‖² + ‖q_i‖²)` of the examples in the batch (the embeddings,
as in SVD++; with `penalise_implicit`, ‖u‖² + ‖i‖², the implicit sums included: the student's
setting, so that a strong L2 shrinks it to its biases; the teacher's search found that this
penalty cost it 0.02 RMSE), plus
`bias_l2[r] · (b_u² + b_i²)`; it is returned as the state "penalty" and added to the task loss.
A genre's students take the bias_l2 that its Bias only model chose for the same seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core import blas
from ..core.determinism import sqrt as pinned_sqrt
from ..core.stacked import StackedEmbedding, StackedLinear, gather_rows
from .profiles import RatingModelConfig


class NormalisedInteractions(nn.Module):
    """The fixed sparse matrix A [n_owners, n_members], A[o, m] = |N(o)|^-1/2 for every pair,
    applied to the factors of every replica at once: A @ Y, [R, m, e] -> [R, n, e].

    A row of A is a bag of members, so A @ Y is `F.embedding_bag(mode="sum")` with A's values as
    per-sample weights, and the gradient A^T @ G is the same call on the stored transpose. Each
    output element is a sequential fused multiply-add over its row in (owner, member) order:
    bit for bit what `torch.sparse.mm` on the coalesced matrix gives here (tested), at a
    quarter of its cost (sparse.mm re-sorts A^T on every backward).
    """

    def __init__(self, owners: torch.Tensor, members: torch.Tensor, n_owners: int, n_members: int):
        super().__init__()
        counts = torch.bincount(owners, minlength=n_owners).clamp(min=1).float()
        matrix = torch.sparse_coo_tensor(
            torch.stack([owners, members]), counts.rsqrt()[owners], (n_owners, n_members), check_invariants=True
        ).coalesce()
        for prefix, m in (("", matrix), ("t_", matrix.t().coalesce())):
            rows, cols = m.indices()
            # persistent=False: rebuilt from the task's ratings, never part of a checkpoint
            self.register_buffer(prefix + "members", cols, persistent=False)
            self.register_buffer(prefix + "weights", m.values(), persistent=False)
            self.register_buffer(
                prefix + "offsets", torch.searchsorted(rows, torch.arange(m.shape[0])), persistent=False
            )

    def forward(self, factors: torch.Tensor) -> torch.Tensor:
        n_rep, n_members, dim = factors.shape
        flat = factors.permute(1, 0, 2).reshape(n_members, n_rep * dim)
        return _BagProduct.apply(flat, self).view(-1, n_rep, dim).permute(1, 0, 2)


class _BagProduct(torch.autograd.Function):
    """A @ Y with the gradient A^T @ G, both as sums over bags (see NormalisedInteractions)."""

    @staticmethod
    def forward(ctx, flat, a):
        ctx.a = a
        return F.embedding_bag(a.members, flat, a.offsets, mode="sum", per_sample_weights=a.weights)

    @staticmethod
    def backward(ctx, grad):
        a = ctx.a
        return F.embedding_bag(
            a.t_members, grad.contiguous(), a.t_offsets, mode="sum", per_sample_weights=a.t_weights
        ), None


BASELINE_SHRINKS = (1.0, 2.0, 5.0, 10.0, 25.0)  # ratings' worth of shrinkage towards 0, chosen on validation


def baseline_biases(
    pairs: torch.Tensor, ratings: torch.Tensor, n_users: int, n_items: int, shrink: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """b_i = Σ (r - μ) / (shrink + n_i), then b_u = Σ (r - μ - b_i) / (shrink + n_u)."""
    users, items = pairs[:, 0], pairs[:, 1]
    residual = ratings.double() - ratings.double().mean()
    item = torch.zeros(n_items, dtype=torch.float64).index_add_(0, items, residual)
    item /= shrink + torch.bincount(items, minlength=n_items)
    residual = residual - item[items]
    user = torch.zeros(n_users, dtype=torch.float64).index_add_(0, users, residual)
    user /= shrink + torch.bincount(users, minlength=n_users)
    return user.float(), item.float()


def best_baseline(task) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The baseline biases of a rating task's training split, with the shrinkage that gives
    the lowest validation RMSE (a closed form: every candidate costs one pass)."""
    best = None
    for shrink in BASELINE_SHRINKS:
        user, item = baseline_biases(task.train.inputs, task.train.target, task.n_users, task.n_items, shrink)
        valid = task.valid
        pred = user[valid.inputs[:, 0]] + item[valid.inputs[:, 1]] + task.rating_offset
        rmse = float(pinned_sqrt((pred - valid.target).pow(2).mean()))
        if best is None or rmse < best[0]:
            best = (rmse, user, item, shrink)
    return best[1], best[2], best[3]


class RatingModel(nn.Module):
    replica_buffers = ("l2", "bias_l2")  # settings per replica (stacked.ReplicaSubset)

    def __init__(
        self,
        cfg: RatingModelConfig,
        n_users: int,
        n_items: int,
        seeds: tuple[int, ...],
        rating_offset: float,
        name: str,
        interactions: torch.Tensor,
        l2: torch.Tensor | float = 0.0,
        bias_start=None,
        bias_l2: torch.Tensor | float | None = None,
        rows: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """interactions: the (user, item) pairs of the task's training split [N, 2], from which
        the implicit sums are built; bias_start: (user, item) biases to start from (else 0).
        l2, bias_l2: the regularisation strengths per replica (bias_l2 defaults to the config's).
        rows: the (user ids, item ids) that the task's ratings use (`task_rows`); the embedding
        tables keep only those rows (see `factors`). None: every user and item."""
        super().__init__()
        self.cfg, self.seeds, self.name = cfg, tuple(seeds), name
        self.n_users, self.n_items = n_users, n_items
        user_rows, item_rows = rows if rows is not None else (None, None)
        # ids -> table rows (None: the tables hold every id); not part of a checkpoint
        self.register_buffer("user_slot", slots(user_rows, n_users), persistent=False)
        self.register_buffer("item_slot", slots(item_rows, n_items), persistent=False)

        def emb(n, stream, kept):
            return StackedEmbedding(seeds, n, cfg.emb_dim, f"{name}.{stream}", cfg.emb_std, rows=kept)

        self.user_emb, self.item_emb = emb(n_users, "user_emb", user_rows), emb(n_items, "item_emb", item_rows)
        if cfg.implicit:
            self.user_implicit = emb(n_items, "user_implicit", item_rows)
            self.item_implicit = emb(n_users, "item_implicit", user_rows)
            users, items = self.to_rows(interactions[:, 0], interactions[:, 1])
            n_u, n_i = self.user_emb.weight.shape[1], self.item_emb.weight.shape[1]
            self.rated_by_user = NormalisedInteractions(users, items, n_u, n_i)
            self.raters_of_item = NormalisedInteractions(items, users, n_i, n_u)
        self.user_bias, self.item_bias = start_biases(seeds, n_users, n_items, name, bias_start)
        features = (3 if cfg.product else 2) * cfg.emb_dim
        self.matmul = cfg.matmul  # the method's own layers (E*, D*, ...) follow it (core/methods.py)
        self.low_layer = StackedLinear(seeds, features, cfg.width, f"{name}.low", cfg.matmul)
        self.up_layers = nn.ModuleList(
            StackedLinear(seeds, cfg.width, cfg.width, f"{name}.up{i}", cfg.matmul) for i in range(cfg.n_upper)
        )
        self.head_layer = StackedLinear(seeds, cfg.width, 1, f"{name}.head", cfg.matmul)
        with torch.no_grad():  # epoch 0 predicts exactly the biases
            self.head_layer.weight.zero_()
            self.head_layer.bias.zero_()
        self.register_buffer("rating_offset", torch.tensor(float(rating_offset)))
        # regularisation strengths are settings, not learned state: kept out of checkpoints
        self.register_buffer(
            "l2", torch.as_tensor(l2, dtype=torch.float32).expand(len(self.seeds)).clone(), persistent=False
        )
        bias_l2 = cfg.bias_l2 if bias_l2 is None else bias_l2
        self.register_buffer(
            "bias_l2", torch.as_tensor(bias_l2, dtype=torch.float32).expand(len(self.seeds)).clone(), persistent=False
        )

    @property
    def width(self) -> int:
        return self.cfg.width

    def to_rows(self, users: torch.Tensor, items: torch.Tensor):
        """User and item ids -> rows of the embedding tables."""
        if self.user_slot is not None:
            users, items = self.user_slot[users], self.item_slot[items]
        return users, items

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The user and item vectors of every replica: [R, n_users, e], [R, n_items, e] (with
        `rows`: only the task's users and items). A genre's student keeps only the rows its
        genre's ratings use (Western: 491 of 943 users, 27 of 1,682 items): any other row is
        never read and never gets a gradient, so it would only cost time in every step's
        full-table work (the implicit sums, the gradient buffers, Adam). The numbers are
        those of the full tables, bit for bit
        (tests/test_training.py::test_a_genre_student_keeps_only_its_genres_rows_with_the_same_numbers)."""
        users, items = self.user_emb.weight, self.item_emb.weight
        if self.cfg.implicit:
            users = users + self.rated_by_user(self.user_implicit.weight)
            items = items + self.raters_of_item(self.item_implicit.weight)
        return users, items

    def _indices(self, inputs: torch.Tensor):
        """Rows of the embedding tables [R, B] for the (user, item) ids of a batch."""
        index_u, index_i = self.to_rows(inputs[..., 0], inputs[..., 1])
        n_rep = self.user_emb.weight.shape[0]  # not len(seeds): a narrowed stack (ReplicaSubset) has fewer
        if index_u.shape[0] != n_rep:  # one batch shared by every replica
            index_u = index_u.expand(n_rep, -1)
            index_i = index_i.expand(n_rep, -1)
        return index_u, index_i

    def _pair(self, inputs: torch.Tensor):
        users, items = self.factors()
        index_u, index_i = self._indices(inputs)
        return gather_rows(users, index_u), gather_rows(items, index_i)

    def forward_low(self, inputs: torch.Tensor) -> torch.Tensor:
        """[R, B, 2] (user, item) ids -> s_l [R, B, width]."""
        return self._low(*self._pair(inputs))

    def _low(self, u, i):
        features = [u, i, u * i] if self.cfg.product else [u, i]
        return torch.relu(self.low_layer(torch.cat(features, dim=-1)))

    def forward_up(self, state_low: torch.Tensor) -> torch.Tensor:
        """s_l -> s_h. For the teacher this is h_up, the part that 'interprets' a message."""
        state = state_low
        for layer in self.up_layers:
            state = torch.relu(layer(state))
        return state

    def biases(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_bias(inputs[..., 0]).squeeze(-1), self.item_bias(inputs[..., 1]).squeeze(-1)

    def forward_head(self, state_high: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """s_h [R, B, width] -> predicted rating [R, B]; the biases belong to the inputs."""
        user_bias, item_bias = self.biases(inputs)
        return self.head_layer(state_high).squeeze(-1) + user_bias + item_bias + self.rating_offset

    def forward(self, inputs):
        u, i = self._pair(inputs)
        state_low = self._low(u, i)
        state_high = self.forward_up(state_low)
        user_bias, item_bias = self.biases(inputs)
        pred = self.head_layer(state_high).squeeze(-1) + user_bias + item_bias + self.rating_offset
        if self.cfg.penalise_implicit:
            p_u, q_i = u, i  # the whole user and item vectors, implicit sums included
        else:
            index_u, index_i = self._indices(inputs)
            p_u, q_i = gather_rows(self.user_emb.weight, index_u), gather_rows(self.item_emb.weight, index_i)
        penalty = self.l2 * ((p_u**2).sum(-1) + (q_i**2).sum(-1)).mean(-1) + self.bias_l2 * (
            user_bias**2 + item_bias**2
        ).mean(-1)
        return pred, {"low": state_low, "high": state_high, "penalty": penalty}


def slots(kept: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """id -> position in `kept` (-1 for an id not kept); None when every id is kept."""
    if kept is None:
        return None
    slot = torch.full((n,), -1, dtype=torch.long)
    slot[kept] = torch.arange(len(kept))
    return slot


def task_rows(task) -> tuple[torch.Tensor, torch.Tensor]:
    """The user ids and item ids (sorted) that any rating of the task uses, in any split."""
    pairs = torch.cat([task.split(name).inputs for name in ("train", "valid", "test")])
    return pairs[:, 0].unique(), pairs[:, 1].unique()


class BiasOnly(nn.Module):
    """The floor every student must clear: ŷ = b_u + b_i + μ, with l2 · (b_u² + b_i²) per
    replica. It has no hidden state, so it is only ever trained alone (the "Bias only" row)."""

    replica_buffers = ("l2",)

    def __init__(
        self,
        n_users: int,
        n_items: int,
        seeds: tuple[int, ...],
        rating_offset: float,
        l2: torch.Tensor | float = 0.0,
        name: str = "bias_only",
        bias_start=None,
    ):
        super().__init__()
        self.seeds, self.name = tuple(seeds), name
        self.user_bias, self.item_bias = start_biases(seeds, n_users, n_items, name, bias_start)
        self.register_buffer("rating_offset", torch.tensor(float(rating_offset)))
        self.register_buffer(
            "l2", torch.as_tensor(l2, dtype=torch.float32).expand(len(self.seeds)).clone(), persistent=False
        )

    def forward(self, inputs):
        user_bias = self.user_bias(inputs[..., 0]).squeeze(-1)
        item_bias = self.item_bias(inputs[..., 1]).squeeze(-1)
        penalty = self.l2 * (user_bias**2 + item_bias**2).mean(-1)
        return user_bias + item_bias + self.rating_offset, {"penalty": penalty}


def start_biases(seeds, n_users, n_items, name, bias_start):
    """User and item bias tables per replica, at `bias_start` = (user, item) when given."""
    user_bias = StackedEmbedding(seeds, n_users, 1, f"{name}.user_bias", std=0.0)
    item_bias = StackedEmbedding(seeds, n_items, 1, f"{name}.item_bias", std=0.0)
    if bias_start is not None:
        user, item = bias_start
        with torch.no_grad():
            user_bias.weight.copy_(user[None, :, None].expand_as(user_bias.weight))
            item_bias.weight.copy_(item[None, :, None].expand_as(item_bias.weight))
    return user_bias, item_bias


def count_parameters(model: nn.Module, per_replica: bool = True) -> int:
    """Trainable numbers in one replica (or the whole stack)."""
    total = sum(p.numel() for p in model.parameters())
    n_rep = len(getattr(model, "seeds", (0,)))
    return total // n_rep if per_replica else total


class FrozenTeacher(nn.Module):
    """The teacher's upper layers h_up, one teacher replica per student replica.

    Student replica r talks to the teacher trained with the same seed (`replica_index[r]`).
    The weights are copied out as buffers: they get no gradient and no optimiser sees them,
    yet gradients flow *through* them into D_h and E_g.
    """

    def __init__(self, teacher: RatingModel, replica_index: torch.Tensor):
        super().__init__()
        self.width, self.matmul = teacher.width, teacher.matmul
        self.n_layers = len(teacher.up_layers)
        self.replica_buffers = tuple(f"{kind}{i}" for i in range(self.n_layers) for kind in "wb")
        for i, layer in enumerate(teacher.up_layers):
            self.register_buffer(f"w{i}", layer.weight.detach()[replica_index].clone())
            self.register_buffer(f"b{i}", layer.bias.detach()[replica_index].clone())
        self.eval()

    def up(self, state: torch.Tensor) -> torch.Tensor:
        product = blas.affine if self.matmul == "openblas" and state.device.type == "cpu" else torch.baddbmm
        for i in range(self.n_layers):
            state = torch.relu(product(getattr(self, f"b{i}"), state, getattr(self, f"w{i}")))
        return state


class LearningTeacher(nn.Module):
    """The teacher's upper layers h_up as trainable parameters, one copy per student replica
    (copied from the teacher trained with the replica's seed): the "teacher learns too"
    variant of the reviewers' study. The teacher itself (its cache, every other run) is
    never touched: only these copies change."""

    def __init__(self, teacher: RatingModel, replica_index: torch.Tensor):
        super().__init__()
        self.width, self.matmul = teacher.width, teacher.matmul
        self.weights = nn.ParameterList(
            nn.Parameter(layer.weight.detach()[replica_index].clone()) for layer in teacher.up_layers
        )
        self.biases = nn.ParameterList(
            nn.Parameter(layer.bias.detach()[replica_index].clone()) for layer in teacher.up_layers
        )

    def up(self, state: torch.Tensor) -> torch.Tensor:
        product = blas.affine if self.matmul == "openblas" and state.device.type == "cpu" else torch.baddbmm
        for weight, bias in zip(self.weights, self.biases):
            state = torch.relu(product(bias, state, weight))
        return state
