"""The MovieLens teacher: one per seed, trained once on the ratings of all genres.

The teachers are trained as one stack with the same loop as every student (method
"student", early stopping on the all-genre validation RMSE), then frozen. One stack, not
the seeds split over the worker processes: a stack of another size moves the last elements
of a tensor between the fused Adam kernel's vectorised body and its scalar tail, which
round differently (tried: teachers 2 and 4 of stacks {0, 1, 2} and {3, 4} differed). Their
checkpoint is cached by config hash, so every later run, table and notebook reuses it.
The teacher never sees a validation or test rating of any genre: genre tasks share the
all-genre split membership.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ..core.config import config_hash
from ..core.device import hash_parts
from ..core.methods import Method, freeze
from ..core.optim import NUMERICS
from ..core.parallel import single_thread
from ..core.store import file_lock, readable
from ..core.train import train_stack
from .models import RatingModel, best_baseline, count_parameters
from .profiles import Profile
from .tasks import RatingTask


def teacher_config_hash(profile: Profile, data_fingerprint: str, device: torch.device | None = None) -> str:
    """A teacher trained on a GPU is another teacher (core/device.py); so is one trained by
    other optimiser numerics (core/optim.py: NUMERICS)."""
    return config_hash(
        "teacher",
        profile.teacher,
        profile.teacher_train,
        profile.teacher_l2,
        list(profile.seeds),
        data_fingerprint,
        NUMERICS,
        *hash_parts(device),
    )


def teacher_checkpoint(cache_dir: Path, key: str) -> Path:
    """Where the teacher stack of config hash `key` is cached."""
    return Path(cache_dir) / "teachers" / f"teacher-{key}.pt"


def build_teacher(profile: Profile, task: RatingTask) -> RatingModel:
    """One teacher per seed, its implicit sums over the all-genre training ratings."""
    return RatingModel(
        profile.teacher,
        task.n_users,
        task.n_items,
        profile.seeds,
        task.rating_offset,
        name="teacher",
        interactions=task.train.inputs,
        l2=profile.teacher_l2,
        bias_start=best_baseline(task)[:2],
    )


def load_or_train_teacher(
    profile: Profile,
    all_genres: RatingTask,
    data_fingerprint: str,
    cache_dir: Path,
    progress: bool = True,
    device: torch.device | None = None,
) -> tuple[RatingModel, dict]:
    """The frozen teacher stack (on the CPU, where the tracks compute its states) and a
    summary (hash, validation/test RMSE per seed, timing); trained on `device` if not cached."""
    key = teacher_config_hash(profile, data_fingerprint, device)
    path = teacher_checkpoint(cache_dir, key)
    teacher = build_teacher(profile, all_genres)
    with file_lock(path.with_suffix(".lock"), "the MovieLens teacher"):  # two runs never train it twice
        saved = load_checkpoint(path)
        if saved is not None:
            teacher.load_state_dict(saved["state_dict"])
            return freeze(teacher), saved["summary"]
        return _train_teacher(teacher, profile, all_genres, key, path, progress, device)


def load_checkpoint(path: Path) -> dict | None:
    """A cached checkpoint, or None; a damaged one is moved aside (named) to be retrained."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated or corrupt file: any unpickling error
        aside = path.with_name(path.name + ".damaged")
        os.replace(path, aside)
        print(f"damaged teacher checkpoint moved aside ({type(e).__name__}: {e}) -> {aside}; retraining")
        return None


def _train_teacher(teacher, profile, all_genres, key, path, progress, device=None):
    """Train the teacher stack on all genres (on `device`, default the CPU) and cache it (atomically)."""
    device = device or torch.device("cpu")
    method = Method(teacher, None, torch.zeros(len(profile.seeds)), all_genres).to(device)
    with single_thread():
        result = train_stack(
            method,
            all_genres.to(device) if device.type != "cpu" else all_genres,
            profile.teacher_train,
            profile.seeds,
            desc="teacher (all genres)",
            progress=progress,
            drop_stopped=True,
        )
    teacher.to("cpu")
    summary = {
        "config_hash": key,
        "seeds": list(profile.seeds),
        "valid_rmse": result.valid_metric,
        "test_rmse_all_genres": result.test_metric,
        "best_epoch": result.best_epoch,
        "wall_s": result.wall_s,
        "parameters": count_parameters(teacher),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
        torch.save({"state_dict": teacher.state_dict(), "summary": summary}, tmp)
    readable(tmp.name)
    os.replace(tmp.name, path)  # atomic: a killed run never leaves half a checkpoint
    return freeze(teacher), summary
