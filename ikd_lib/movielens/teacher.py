"""The MovieLens teacher: one per seed, trained once on the ratings of all genres.

The teachers are trained as stacks with the same loop as every student (method
"student", early stopping on the all-genre validation RMSE), then frozen; the seeds are
split over the worker processes (same numbers as one stack: `seed_groups`). Their
checkpoint is cached by config hash, so every later run, table and notebook reuses it.
The teacher never sees a validation or test rating of any genre: genre tasks share the
all-genre split membership.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..core.config import config_hash
from ..core.methods import Method
from ..core.parallel import default_workers, map_in_workers, single_thread
from ..core.store import file_lock, readable
from ..core.train import train_stack
from ..core.methods import freeze
from .models import RatingModel, best_baseline, count_parameters
from .profiles import Profile
from .tasks import RatingTask


def teacher_config_hash(profile: Profile, data_fingerprint: str) -> str:
    return config_hash("teacher", profile.teacher, profile.teacher_train, profile.teacher_l2,
                       list(profile.seeds), data_fingerprint)


def build_teacher(profile: Profile, task: RatingTask) -> RatingModel:
    """One teacher per seed, its implicit sums over the all-genre training ratings."""
    return RatingModel(profile.teacher, task.n_users, task.n_items, profile.seeds, task.rating_offset,
                       name="teacher", interactions=task.train.inputs, l2=profile.teacher_l2,
                       bias_start=best_baseline(task)[:2])


def load_or_train_teacher(profile: Profile, all_genres: RatingTask, data_fingerprint: str,
                          cache_dir: Path, progress: bool = True) -> tuple[RatingModel, dict]:
    """The frozen teacher stack and a summary (hash, validation/test RMSE per seed, timing)."""
    key = teacher_config_hash(profile, data_fingerprint)
    path = Path(cache_dir) / "teachers" / f"teacher-{key}.pt"
    teacher = build_teacher(profile, all_genres)
    with file_lock(path.with_suffix(".lock"), "the MovieLens teacher"):   # two runs never train it twice
        saved = load_checkpoint(path)
        if saved is not None:
            teacher.load_state_dict(saved["state_dict"])
            return freeze(teacher), saved["summary"]
        return _train_teacher(teacher, profile, all_genres, key, path, progress)


def load_checkpoint(path: Path) -> dict | None:
    """A cached checkpoint, or None; a damaged one is moved aside (named) to be retrained."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:   # truncated or corrupt file: any unpickling error
        aside = path.with_name(path.name + ".damaged")
        os.replace(path, aside)
        print(f"damaged teacher checkpoint moved aside ({type(e).__name__}: {e}) -> {aside}; retraining")
        return None


def seed_groups(seeds: tuple[int, ...], workers: int) -> list[tuple[int, ...]]:
    """The seeds split into up to `workers` consecutive groups of at least two: a replica's
    numbers are the same in any stack of two or more (core/stacked.py), not in a stack of one."""
    n_groups = max(1, min(workers, len(seeds) // 2))
    sizes = [len(seeds) // n_groups + (i < len(seeds) % n_groups) for i in range(n_groups)]
    ends = [sum(sizes[:i + 1]) for i in range(n_groups)]
    return [tuple(seeds[end - size:end]) for size, end in zip(sizes, ends)]


def _train_group(args) -> tuple[dict, dict]:
    """Train the teachers of some seeds (in a worker process): their state and results."""
    profile, all_genres, seeds, progress = args
    teacher = build_teacher(replace(profile, seeds=seeds), all_genres)
    with single_thread():
        result = train_stack(Method(teacher, None, torch.zeros(len(seeds)), all_genres), all_genres,
                             profile.teacher_train, seeds, desc=f"teacher (all genres, seeds {list(seeds)})",
                             progress=progress, drop_stopped=True)
    return teacher.state_dict(), vars(result)


def replica_keys(model: torch.nn.Module) -> set[str]:
    """The state-dict entries with a leading replica axis: parameters and declared buffers."""
    keys = {name for name, _ in model.named_parameters()}
    for prefix, module in model.named_modules():
        dot = f"{prefix}." if prefix else ""
        keys |= {dot + name for name in getattr(module, "replica_buffers", ())}
    return keys


def _train_teacher(teacher, profile, all_genres, key, path, progress):
    """Train the teacher stack on all genres (its seeds split over the worker processes,
    same numbers) and cache it (atomically)."""
    groups = seed_groups(profile.seeds, default_workers())
    start = time.perf_counter()
    if len(groups) > 1:
        parts = map_in_workers(_train_group, [(profile, all_genres, g, False) for g in groups], len(groups))
    else:
        parts = [_train_group((profile, all_genres, groups[0], progress))]
    stacked = replica_keys(teacher)
    teacher.load_state_dict({k: torch.cat([state[k] for state, _ in parts]) if k in stacked else parts[0][0][k]
                             for k in parts[0][0]})
    results = [result for _, result in parts]
    summary = {"config_hash": key, "seeds": list(profile.seeds),
               "valid_rmse": sum((r["valid_metric"] for r in results), []),
               "test_rmse_all_genres": sum((r["test_metric"] for r in results), []),
               "best_epoch": sum((r["best_epoch"] for r in results), []), "wall_s": time.perf_counter() - start,
               "seed_groups": [list(g) for g in groups], "parameters": count_parameters(teacher)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
        torch.save({"state_dict": teacher.state_dict(), "summary": summary}, tmp)
    readable(tmp.name)
    os.replace(tmp.name, path)   # atomic: a killed run never leaves half a checkpoint
    return freeze(teacher), summary
