"""A warm-up that several runs share: the training state kept at the end of an epoch.

The "train E*, D* separately" schedules with N2 = 500 and N2 = 1000 take their first
N1 + 500 steps identically (same seeds, data order, losses and optimiser steps). The
first of them to train keeps its state at the last epoch boundary within those steps; the
others load it and go on from the next epoch (`core/train.py`), with exactly the numbers
of a run trained from its first step
(tests/test_training.py::test_a_shared_warmup_changes_no_number).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch

from .store import atomic_write_bytes

# Part of every kept state's name: bumped when what a model holds changes shape, so a state
# kept by older code is never loaded (2: a rating model's tables keep only its task's rows).
FORMAT = 2


@dataclass(frozen=True)
class SharedWarmup:
    """The first steps of a warm-up schedule that several runs take identically (the
    "separate" schedules with N2 = 500 and 1000 agree on their first N1 + 500 steps).
    The first of them to train keeps its state at the last epoch that ends within those
    steps; the others start from it instead of computing it again (same numbers)."""

    steps: int  # steps every sharing run takes identically
    path: Path  # where the state is kept (written atomically)


def save_training_state(path: Path, method, optimizers, **loop) -> None:
    """Everything training needs to go on from the end of an epoch: the trained weights and
    buffers (not the frozen teacher's), the optimisers' state and the loop's own variables."""
    trained = {id(p) for opt in optimizers.values() for group in opt.param_groups for p in group["params"]}
    # what the optimisers train, whether or not it requires a gradient right now (a student
    # frozen in the "comm" phase does not, train.student_learns)
    state = {
        "params": {n: p.detach().clone() for n, p in method.named_parameters() if id(p) in trained},
        "buffers": {n: b.clone() for n, b in method.named_buffers() if not n.startswith("teacher.")},
        "optimizers": {k: opt.state_dict() for k, opt in optimizers.items()},
        **loop,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_training_state(path: Path) -> dict | None:
    """The state save_training_state wrote, or None (not there, or unreadable: train again)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception:
        return None


@torch.no_grad()
def restore_training_state(state: dict, method, optimizers) -> None:
    params, buffers = dict(method.named_parameters()), dict(method.named_buffers())
    for name, value in state["params"].items():
        params[name].copy_(value)
    for name, value in state["buffers"].items():
        buffers[name].copy_(value)
    for key, opt in optimizers.items():
        opt.load_state_dict(state["optimizers"][key])
