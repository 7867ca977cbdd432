"""Rating tasks as tensors in memory: no DataLoader, no per-example Python work.

A `RatingTask` is a core `Task` (train/valid/test splits, RMSE, MSE task loss, MSE logit
KD) for one downstream task: one genre, or all genres for the teacher. Inputs are the
(user, item) ids of each rating, [N, 2]; targets the ratings. Once a teacher is attached,
each split also holds the teacher's frozen states and predictions for every rating,
computed once and shared by every method and seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core import losses
from ..core.task import RMSE, SPLITS, Split, Task


@dataclass
class RatingTask(Task):
    n_users: int = 0
    n_items: int = 0

    @property
    def rating_offset(self) -> float:
        """Mean training rating: the bias every model starts from."""
        return float(self.train.target.mean())


def rating_task(name: str, ratings_table, n_users: int, n_items: int) -> RatingTask:
    """From a tidy ratings DataFrame (user, item, rating, split) to tensors."""
    parts = {}
    for split in SPLITS:
        rows = ratings_table[ratings_table["split"] == split]
        if len(rows) == 0:
            raise ValueError(f"task {name!r} has no {split} ratings; it is too sparse to train and evaluate")
        pairs = np.stack([rows["user"].to_numpy(), rows["item"].to_numpy()], axis=1).astype(np.int64)
        parts[split] = Split(
            inputs=torch.from_numpy(pairs), target=torch.tensor(rows["rating"].to_numpy(), dtype=torch.float32)
        )
    return RatingTask(
        name=name,
        metric=RMSE,
        task_loss=losses.rating_mse,
        kd_loss=losses.kd_ratings,
        n_users=n_users,
        n_items=n_items,
        **parts,
    )


@torch.no_grad()
def attach_teacher(task: RatingTask, teacher, chunk: int = 65536) -> RatingTask:
    """Run the frozen (stacked) teacher once over every rating of the task and keep its
    lower state, higher state and prediction: the inputs are fixed, so these never change."""
    teacher.eval()
    for split in SPLITS:
        part = task.split(split)
        outs = {"low": [], "high": [], "pred": []}
        for start in range(0, len(part), chunk):
            pred, states = teacher(part.inputs[None, start : start + chunk])
            outs["low"].append(states["low"])
            outs["high"].append(states["high"])
            outs["pred"].append(pred)
        part.teacher = {k: torch.cat(v, dim=1) for k, v in outs.items()}
    return task
