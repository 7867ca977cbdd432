"""The knobs every track shares: the method (TD), training, input checks and hashing.

Every knob has a comment. A track's profiles (`movielens/profiles.py`, ...) bundle these
with its own models and data; `config_hash` names a configuration in the results store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass


# ---------------------------------------------------------------- input checks
def check_choice(what: str, value, valid) -> None:
    if value not in valid:
        import difflib

        close = difflib.get_close_matches(str(value), [str(v) for v in valid], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(map(str, valid))}.{hint}")


def check_positive_int(what: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


def check_nonnegative_int(what: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}")


# ---------------------------------------------------------------- the method (docs/method.md)
@dataclass(frozen=True)
class TDConfig:
    k_rounds: int = 1  # K: rounds of interactive communication; 0 switches L_interact off
    w_interact: float = 1.0  # w1: weight of L_interact
    w_message: float = 1.0  # w2: weight of L_MC (message consistency)
    w_state: float = 1.0  # w3: weight of L_SC (state consistency)
    noise_std: float = 0.0  # σ of the Gaussian noise added to s'_h ("add noise" variant)
    message_dim: int = 16  # m_d: width of the shared message space
    module: str = "linear"  # E*, D*: "linear" or "mlp" (Dense-ReLU-Dense); the paper tried both
    schedule: str = "together"  # "together" (one stage) or "separate" (warm-up, see below)
    warmup_student_steps: int = 1000  # N1 of "train E*, D* separately": student alone
    warmup_comm_steps: int = 500  # N2 of "train E*, D* separately": only E*, D*

    def __post_init__(self):
        check_nonnegative_int("k_rounds (K)", self.k_rounds)
        for name in ("w_interact", "w_message", "w_state", "noise_std"):
            value = getattr(self, name)
            if not value >= 0:  # also catches NaN
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        check_positive_int("message_dim (m_d)", self.message_dim)
        check_choice("module", self.module, ("linear", "mlp"))
        check_choice("schedule", self.schedule, ("together", "separate"))
        check_nonnegative_int("warmup_student_steps", self.warmup_student_steps)
        check_nonnegative_int("warmup_comm_steps", self.warmup_comm_steps)

    @property
    def warmup_steps(self) -> int:
        """Steps before everything trains together: N1 + N2 in the "separate" schedule, else 0."""
        return self.warmup_student_steps + self.warmup_comm_steps if self.schedule == "separate" else 0


# ---------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainConfig:
    lr: float = 3e-3  # learning rate (student and E*, D* alike)
    batch_size: int = 1024  # ratings per minibatch
    max_epochs: int = 40  # hard cap (after any warm-up schedule); early stopping usually ends sooner
    patience: int = 5  # epochs without a better validation metric before stopping
    weight_decay: float = 0.0  # Adam: coupled L2 on all trained weights; AdamW: decoupled decay
    optimizer: str = "adam"  # "adam" or "adamw" (decoupled weight decay, as ViT fine-tuning uses)
    start_guard: float = 0.0  # a trained epoch counts only if it beats the model as initialised on
    #                           validation by this many standard errors of the paired per-example
    #                           difference (0: off). Tiny validation splits cannot tell noise from gain.
    min_batches_per_epoch: int = 20  # sparse tasks use smaller batches, so an epoch is >= this many steps

    def batch_size_for(self, n_train: int) -> int:
        """Dense genres get `batch_size`; sparse ones smaller batches, so that early stopping
        sees comparable progress per epoch (Western has ~1.5k training ratings)."""
        return max(1, min(self.batch_size, -(-n_train // self.min_batches_per_epoch)))

    def __post_init__(self):
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("max_epochs", self.max_epochs)
        check_positive_int("patience", self.patience)
        check_positive_int("min_batches_per_epoch", self.min_batches_per_epoch)
        check_choice("optimizer", self.optimizer, ("adam", "adamw"))
        if not self.start_guard >= 0:
            raise ValueError(f"start_guard must be >= 0, got {self.start_guard!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")


# ---------------------------------------------------------------- hashing and checks
def as_dict(obj) -> dict:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj)


def config_hash(*parts) -> str:
    """A short, stable name for a configuration: sha256 of its canonical JSON."""
    blob = json.dumps([as_dict(p) if dataclasses.is_dataclass(p) else p for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
