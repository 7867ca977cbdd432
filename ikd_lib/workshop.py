"""Small helpers for the workshop notebook (notebooks/workshop.py, paired with workshop.ipynb;
docs/notebooks.md). The teaching code (the conversation, the losses by hand, the
plots of messages) stays in the notebook; this module holds only what would distract there:
a synthetic toy rating problem, the live training plot, reading the committed Table 3, and
a mean with its standard error.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .core.config import TDConfig, TrainConfig
from .core.methods import Method, build_method, freeze
from .core.store import REPO_ROOT
from .core.train import train_stack
from .movielens.models import FrozenTeacher, RatingModel, best_baseline
from .movielens.profiles import RatingModelConfig
from .movielens.tasks import attach_teacher, rating_task

TABLE3 = REPO_ROOT / "tables" / "table3.csv"


# ---------------------------------------------------------------- numbers
def mean_se(values) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    values = np.asarray(list(values), dtype=float)
    se = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean()), float(se)


def fmt_mean_se(values, digits: int = 4) -> str:
    mean, se = mean_se(values)
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


# ---------------------------------------------------------------- the committed Table 3
def table3_cells(genre: str, path: Path | str = TABLE3) -> dict[str, str]:
    """Row label -> "mean ± se" of the committed Table 3 for `genre`, read by header names.

    Two layouts exist: the current one (columns `task`, `mean_test`) and an older one
    (`genre`, `mean_test_rmse`). A file that is missing, or has neither layout, or no
    cell for the genre, gives an empty dict: the notebook shows "not available".
    """
    path = Path(path)
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        task_col = next((c for c in ("task", "genre") if c in header), None)
        mean_col = next((c for c in ("mean_test", "mean_test_rmse") if c in header), None)
        if task_col is None or mean_col is None or "row" not in header:
            return {}
        cells = {}
        for row in reader:
            if row.get(task_col) != genre:
                continue
            try:
                mean = float(row[mean_col])
            except (TypeError, ValueError):
                continue
            se = row.get("se")
            profile = row.get("profile")
            text = f"{mean:.4f}" + (f" ± {float(se):.4f}" if se not in (None, "") else "")
            cells[row["row"]] = text + (f" ({profile} profile)" if profile else "")
    return cells


# ---------------------------------------------------------------- a toy problem with 2-D messages
def toy_ratings(n_users: int = 60, n_items: int = 40, n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Ratings from a rank-2 taste model plus noise, clipped to 1..5, random 80/10/10 split
    (the same generator as the tests' toy problem)."""
    rng = np.random.default_rng(seed)
    u_f, i_f = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    users, items = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    rating = np.clip(3 + (u_f[users] * i_f[items]).sum(1) + 0.3 * rng.normal(size=n), 1, 5)
    split = np.array(["train"] * int(0.8 * n) + ["valid"] * int(0.1 * n) + ["test"] * (n - int(0.9 * n)))
    return pd.DataFrame(
        {"user": users, "item": items, "rating": rating.astype("float32"), "split": rng.permutation(split)}
    )


def toy_problem(
    message_dim: int = 2, k_rounds: int = 3, distill_weight: float = 1.0, teacher_epochs: int = 15, seed: int = 0
):
    """A synthetic rating task, a small teacher trained on it (a second or two), and a fresh
    TD student (one replica) whose messages have `message_dim` numbers.

    Returns (task, method, teacher_index) ready for `train_stack`.
    """
    n_users, n_items = 60, 40
    task = rating_task("toy", toy_ratings(n_users, n_items), n_users, n_items)
    seeds = (seed,)
    teacher = RatingModel(
        RatingModelConfig(emb_dim=8, width=12, emb_std=0.1),
        n_users,
        n_items,
        seeds,
        task.rating_offset,
        "teacher",
        interactions=task.train.inputs,
        l2=0.01,
    )
    train_stack(
        Method(teacher, None, torch.zeros(1), task),
        task,
        TrainConfig(max_epochs=teacher_epochs, patience=3, batch_size=256),
        seeds,
        progress=False,
    )
    attach_teacher(task, freeze(teacher))
    student = RatingModel(
        RatingModelConfig(emb_dim=4, width=8, emb_std=0.1),
        n_users,
        n_items,
        seeds,
        task.rating_offset,
        "student",
        interactions=task.train.inputs,
        l2=0.01,
        bias_start=best_baseline(task)[:2],
    )
    teacher_index = torch.tensor([0])
    method = build_method(
        "td",
        student,
        FrozenTeacher(teacher, teacher_index),
        torch.tensor([distill_weight]),
        task,
        TDConfig(message_dim=message_dim, k_rounds=k_rounds),
    )
    return task, method, teacher_index


# ---------------------------------------------------------------- the live training plot
DIAGNOSTIC_LOSSES = ("penalty",)  # shown nowhere: the model's own L2, not part of the story
LOSS_LABELS = {
    "task": "L_task = mean (ŷ - y)², stars²",
    "kd": "KD: d(ŷ, teacher's ŷ)",
    "interact": "L_interact",
    "message": "L_MC",
    "state": "L_SC",
}


class LiveCurves:
    """An `on_epoch(epoch, epoch_log)` callback for `train_stack` that redraws one figure in
    place after every epoch: the validation RMSE of every method trained so far (mean over
    seeds; epoch 0 is the untrained student) and the training losses of the method running now.

        live = LiveCurves(start_rmse)
        live.start("TD"); train_stack(..., on_epoch=live)
    """

    COLOURS = {"Student": "tab:grey", "KD": "tab:blue", "TD": "tab:orange"}

    def __init__(self, start_rmse: float, title: str = ""):
        from IPython.display import display
        from matplotlib.figure import Figure

        self.start_rmse, self.title = float(start_rmse), title
        self.valid: dict[str, np.ndarray] = {}
        self.losses: dict[str, dict[str, np.ndarray]] = {}
        self.current: str | None = None
        self.fig = Figure(figsize=(11, 4), layout="constrained")
        self.ax_rmse, self.ax_loss = self.fig.subplots(1, 2)
        self._draw()
        self.handle = display(self.fig, display_id=True)

    def start(self, name: str) -> None:
        self.current = name

    def __call__(self, epoch: int, epoch_log: dict) -> None:
        self.valid[self.current] = epoch_log["valid_metric"].mean(1)
        self.losses[self.current] = {
            name[len("train_") :]: values.mean(1)
            for name, values in epoch_log.items()
            if name.startswith("train_")
            and not name.startswith("train_interact_round")
            and name[len("train_") :] not in DIAGNOSTIC_LOSSES
        }
        self._draw()
        self.handle.update(self.fig)

    def _draw(self) -> None:
        ax = self.ax_rmse
        ax.clear()
        ax.axhline(
            self.start_rmse,
            color="black",
            linestyle=":",
            linewidth=1,
            label=f"untrained student ({self.start_rmse:.4f})",
        )
        for name, curve in self.valid.items():
            epochs = np.arange(len(curve) + 1)
            ax.plot(
                epochs,
                np.concatenate([[self.start_rmse], curve]),
                marker="o",
                markersize=3,
                color=self.COLOURS.get(name),
                label=name,
            )
        ax.set_xlabel("epoch (0 = before training)")
        ax.set_ylabel("validation RMSE (stars), mean over seeds")
        ax.set_title("Validation error while training (lower is better)")
        ax.legend(loc="best", fontsize=8)
        ax = self.ax_loss
        ax.clear()
        losses = self.losses.get(self.current, {})
        for name, curve in losses.items():
            ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", markersize=3, label=LOSS_LABELS.get(name, name))
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("mean training loss per epoch (log scale)")
        ax.set_title(f"{self.current or 'no method yet'}: loss components")
        if losses:
            ax.legend(loc="best", fontsize=8)
        if self.title:
            self.fig.suptitle(self.title)
