"""The rulebook of early stopping and restoring, written once for every training loop: the
in-process stacked loop (`core/train.py`) and the paper profile's DDP loop
(`vision/paper/ddp.py`) both keep one `EarlyStopping` and feed it each epoch's per-example
validation values; it decides, per replica, which epoch is restored and when training stops.

The rules (docs/protocol.md, "Training"):
- **The metric's direction.** Everything is decided on `metric.as_error(metric)`, a number to
  minimise (RMSE itself; accuracy negated), so no loop hard-codes "higher is better".
- **Epoch 0 is a candidate.** The model as initialised is the first best epoch: a model that
  starts from something sensible (a rating model from its baseline biases) never ends worse
  on validation than it started.
- **The start guard.** With `start_guard` > 0, a trained epoch is restored only if it beats the
  start by more than `start_guard` standard errors of the paired per-example difference on
  validation (`clearly_beats_start`); on a split of a few hundred examples smaller gains are
  noise. The guard decides only what is restored.
- **Patience** follows the validation metric itself (the best seen so far, guarded or not), so
  a method whose gains come later is not cut off early; it counts only epochs with a step
  after a warm-up schedule (`past_warmup`), so the joint phase always gets its chance. A
  replica stops after `patience` such epochs without progress.

The loop keeps the weights: `update` returns, per replica, whether this epoch is now its best
(save its state), and at the end the loop restores the state saved last. The state that a
resumed run needs is `state_dict()` (with `start_values`, which a loop that re-evaluates its
start need not keep).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

STATE = ("best_error", "best_seen", "best_epoch", "stale", "active")  # what changes from epoch to epoch


def clearly_beats_start(values, start_values, metric, guard: float) -> torch.Tensor:
    """Per replica: is the gain over the starting model larger than `guard` standard errors of
    the paired per-example difference? (Always true when guard is 0.)"""
    if guard <= 0:
        return torch.ones(values.shape[0], dtype=torch.bool)
    gain = metric.as_error(start_values) - metric.as_error(values)  # > 0: better than the start
    se = gain.std(dim=1) / gain.shape[1] ** 0.5
    return gain.mean(1) > guard * se


@dataclass
class EarlyStopping:
    """Early stopping of R replicas at once (R = 1 for a model that is not stacked).

    `start_values` [R, N] are the per-example validation values of the model as initialised
    (squared errors, correct or not: `Metric.per_example`). All tensors live on the CPU."""

    metric: object  # core/task.py's Metric: per_example, finish, as_error
    patience: int
    start_guard: float
    start_values: torch.Tensor  # [R, N]: epoch 0, the model as initialised
    best_error: torch.Tensor  # [R]: the error of the epoch that would be restored (epoch 0 at first)
    best_seen: torch.Tensor  # [R]: the best error seen so far, guarded or not (patience)
    best_epoch: torch.Tensor  # [R] long: the epoch that would be restored (0: the start)
    stale: torch.Tensor  # [R] long: epochs past the warm-up since the last progress
    active: torch.Tensor  # [R] bool: still training
    last_valid: torch.Tensor | None = None  # [R]: the metric of the last epoch (NaN: not computed)

    @classmethod
    def start(cls, metric, start_values: torch.Tensor, patience: int, start_guard: float = 0.0) -> EarlyStopping:
        """The rules before the first epoch: epoch 0 is the best so far."""
        start_values = start_values.cpu()
        n_rep = start_values.shape[0]
        best_error = metric.as_error(metric.finish(start_values.mean(1)))
        return cls(
            metric,
            patience,
            start_guard,
            start_values,
            best_error,
            best_error.clone(),
            torch.zeros(n_rep, dtype=torch.long),
            torch.zeros(n_rep, dtype=torch.long),
            torch.ones(n_rep, dtype=torch.bool),
        )

    @property
    def n_replicas(self) -> int:
        return len(self.best_error)

    @property
    def stopped(self) -> bool:
        """Has every replica stopped?"""
        return not bool(self.active.any())

    @property
    def best_metric(self) -> torch.Tensor:
        """[R]: the metric (in its own direction) of the epoch that will be restored."""
        return self.metric.as_error(self.best_error)

    def update(
        self, epoch: int, values: torch.Tensor, past_warmup: bool = True, slots: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One epoch's decisions. `values` [R_live, N]: the per-example validation values of the
        replicas `slots` (default: all of them; a replica not computed any more counts as no
        progress). `past_warmup`: this epoch took a step after the warm-up (patience counts it).
        Returns `improved` [R] bool: the replicas whose state at this epoch is now the one to
        restore (the loop saves it)."""
        values = values.cpu()
        n_rep = self.n_replicas
        slots = torch.arange(n_rep) if slots is None else slots
        valid = self.metric.finish(values.mean(1))
        if len(slots) != n_rep:  # [R_live] -> [R], NaN for the replicas no longer trained
            full = torch.full((n_rep,), float("nan"), dtype=valid.dtype)
            full[slots] = valid
            valid = full
        self.last_valid = valid
        error = torch.where(torch.isnan(valid), float("inf"), self.metric.as_error(valid))
        progressed = self.active & (error < self.best_seen)
        self.best_seen = torch.where(progressed, error, self.best_seen)
        beats_start = torch.zeros(n_rep, dtype=torch.bool)
        beats_start[slots] = clearly_beats_start(values, self.start_values[slots], self.metric, self.start_guard)
        improved = self.active & (error < self.best_error) & beats_start
        self.best_error = torch.where(improved, error, self.best_error)
        self.best_epoch = torch.where(improved, torch.full_like(self.best_epoch, epoch), self.best_epoch)
        self.stale = torch.where(progressed, torch.zeros_like(self.stale), self.stale + int(past_warmup))
        self.active = self.active & (self.stale < self.patience)
        return improved

    def state_dict(self, with_start: bool = False) -> dict[str, torch.Tensor]:
        """What changes from epoch to epoch (and the start's values, if asked): all a resumed run
        needs besides the weights."""
        state = {k: getattr(self, k).clone() for k in STATE}
        return {**state, "start_values": self.start_values.clone()} if with_start else state

    def load_state_dict(self, state: dict) -> None:
        for k in STATE:
            setattr(self, k, state[k].cpu())
        if "start_values" in state:
            self.start_values = state["start_values"].cpu()

    @classmethod
    def resumed(cls, metric, state: dict, patience: int, start_guard: float = 0.0) -> EarlyStopping:
        """The rules as `state_dict(with_start=True)` left them."""
        rules = cls.start(metric, state["start_values"], patience, start_guard)
        rules.load_state_dict(state)
        return rules
