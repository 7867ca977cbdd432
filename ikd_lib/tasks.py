"""Rating tasks as tensors in memory: no DataLoader, no per-example Python work.

A `RatingTask` holds the train/valid/test ratings of one downstream task (one genre, or
all genres for the teacher) and, once a teacher is attached, the teacher's frozen states
and predictions for every rating, computed once and shared by every method and seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

SPLITS = ("train", "valid", "test")


@dataclass
class RatingSplit:
    users: torch.Tensor     # [N] int64, 0-based
    items: torch.Tensor     # [N] int64, 0-based
    ratings: torch.Tensor   # [N] float32
    teacher: dict[str, torch.Tensor] = field(default_factory=dict)  # low/high [R_t, N, W], pred [R_t, N]

    def __len__(self) -> int:
        return len(self.ratings)


@dataclass
class RatingTask:
    name: str
    n_users: int
    n_items: int
    train: RatingSplit
    valid: RatingSplit
    test: RatingSplit

    @property
    def rating_offset(self) -> float:
        """Mean training rating: the bias every model starts from."""
        return float(self.train.ratings.mean())

    def split(self, name: str) -> RatingSplit:
        return getattr(self, name)


def rating_task(name: str, ratings_table, n_users: int, n_items: int) -> RatingTask:
    """From a tidy ratings DataFrame (user, item, rating, split) to tensors."""
    parts = {}
    for split in SPLITS:
        rows = ratings_table[ratings_table["split"] == split]
        if len(rows) == 0:
            raise ValueError(f"task {name!r} has no {split} ratings; it is too sparse to train and evaluate")
        parts[split] = RatingSplit(
            users=torch.as_tensor(rows["user"].to_numpy(), dtype=torch.int64),
            items=torch.as_tensor(rows["item"].to_numpy(), dtype=torch.int64),
            ratings=torch.as_tensor(rows["rating"].to_numpy(), dtype=torch.float32))
    return RatingTask(name, n_users, n_items, **parts)


@torch.no_grad()
def attach_teacher(task: RatingTask, teacher, chunk: int = 65536) -> RatingTask:
    """Run the frozen (stacked) teacher once over every rating of the task and keep its
    lower state, higher state and prediction: the inputs are fixed, so these never change."""
    teacher.eval()
    for split in SPLITS:
        part = task.split(split)
        outs = {"low": [], "high": [], "pred": []}
        for start in range(0, len(part), chunk):
            users = part.users[None, start:start + chunk]
            items = part.items[None, start:start + chunk]
            pred, states = teacher(users, items)
            outs["low"].append(states["low"])
            outs["high"].append(states["high"])
            outs["pred"].append(pred)
        part.teacher = {k: torch.cat(v, dim=1) for k, v in outs.items()}
    return task
