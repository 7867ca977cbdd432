"""One training loop for every method and every track: Adam, minibatches, early stopping
on the task's validation metric (in its own direction), restore the best epoch.

The loop trains a *stack* of replicas at once (see stacked.py). Replica r has its own seed
(initialisation and data order), its own distillation weight, and its own early stopping:
its best state is saved whenever its validation metric improves, it stops improving after
`patience` epochs without progress, and at the end it is restored to its best epoch. The
model as initialised (epoch 0) is a candidate too: a model that starts from something
sensible (a rating model from its baseline biases) never ends worse on validation. With
`start_guard` > 0 a trained epoch must also beat that starting point by more than
`start_guard` standard errors of the paired per-example difference on validation to be
restored: on a split of a few hundred examples, smaller gains are indistinguishable from
noise. The guard only decides which epoch is restored; patience follows the validation
metric itself, so a method whose gains come later is not cut off early. The
stack ends when every replica has stopped (or at `max_epochs`). Because Adam is
element-wise and the total loss is a sum of per-replica losses, replicas never interact.
A track with one replica per stack (the ViT track) uses the same loop with R = 1.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import TDConfig, TrainConfig
from .console import bars_wanted
from .stacked import copy_replicas_, replica_generator, take_replicas
from .task import Task


@dataclass
class StackResult:
    valid_metric: list[float]        # per replica, at its best epoch
    test_metric: list[float]         # per replica, at its best epoch (restored weights)
    best_epoch: list[int]            # per replica, 1-based (0: the model as initialised)
    epochs_run: int
    steps_run: int
    wall_s: float
    step_log: dict[str, np.ndarray] = field(repr=False)    # loss name -> [steps, R]
    epoch_log: dict[str, np.ndarray] = field(repr=False)   # "valid_metric" and mean train losses -> [epochs, R]


def phase_at(step: int, td: TDConfig | None) -> str:
    """"joint" except in the "train E*, D* separately" schedule: first the student alone
    (N1 steps), then only E*, D* with the student frozen (N2 steps), then jointly."""
    if td is None or td.schedule == "together":
        return "joint"
    if step < td.warmup_student_steps:
        return "student"
    if step < td.warmup_student_steps + td.warmup_comm_steps:
        return "comm"
    return "joint"


def clearly_beats_start(values, start_values, metric, guard: float) -> torch.Tensor:
    """Per replica: is the gain over the starting model larger than `guard` standard errors of
    the paired per-example difference? (Always true when guard is 0.)"""
    if guard <= 0:
        return torch.ones(values.shape[0], dtype=torch.bool)
    gain = metric.as_error(start_values) - metric.as_error(values)     # > 0: better than the start
    se = gain.std(dim=1) / gain.shape[1] ** 0.5
    return gain.mean(1) > guard * se


def snapshot(module) -> dict[str, torch.Tensor]:
    """A copy of every parameter of a model that holds one replica and no replica axis."""
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def epoch_order(seeds: tuple[int, ...], n: int, epoch: int) -> torch.Tensor:
    """Data order [R, n]: a fresh permutation per seed and epoch; same seed, same order."""
    perms = {s: torch.randperm(n, generator=replica_generator(s, f"order.epoch{epoch}")) for s in set(seeds)}
    return torch.stack([perms[s] for s in seeds])


def describe_nonfinite(step, epoch, named, seeds, weights, context: str = "") -> str:
    where = f" in {context}" if context else ""
    lines = [f"non-finite loss{where} at step {step} (epoch {epoch}); stopping before more compute is spent."]
    for r, seed in enumerate(seeds):
        comps = {k: float(v.detach()[r]) for k, v in named.items()}
        if not all(np.isfinite(list(comps.values()))):
            lines.append(f"  replica {r} (seed {seed}, weight {float(weights[r]):g}): "
                         + ", ".join(f"{k}={v:.4g}" for k, v in comps.items()))
    lines.append("Fix: lower the learning rate or the distillation weight, or check the input data.")
    return "\n".join(lines)


def make_optimizers(method, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """One optimiser per parameter group ("student", "aux"), so a schedule can step either alone.
    Fused: one kernel for all tensors of a group, ~15% off a small step on CPU."""
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optimizer]
    return {name: kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
            for name, params in method.parameter_groups().items() if params}


def train_stack(method, task: Task, cfg: TrainConfig, seeds: tuple[int, ...],
                teacher_index: torch.Tensor | None = None, td: TDConfig | None = None,
                desc: str = "", progress: bool = True, on_epoch=None) -> StackResult:
    """Train a stack (replica r has seed seeds[r]) on `task`. `desc` names the run (variant
    and task) in the progress bar and in the error a non-finite loss raises. `on_epoch(epoch,
    epoch_log)`, if given, is called after every epoch (a live plot in the workshop, say)."""
    start_time = time.perf_counter()
    metric = task.metric
    optimizers = make_optimizers(method, cfg)
    steps_by_phase = {"student": ("student",), "comm": ("aux",), "joint": ("student", "aux")}
    warmup_steps = 0 if td is None or td.schedule == "together" else td.warmup_student_steps + td.warmup_comm_steps

    n_rep = len(seeds)
    best_state = take_replicas(method.student, torch.arange(n_rep)) if n_rep > 1 else snapshot(method.student)
    method.eval()
    start_values = task.per_example(method, "valid")               # epoch 0: the model as initialised
    best_error = metric.as_error(metric.finish(start_values.mean(1)))  # the best epoch that may be restored
    best_seen = best_error.clone()                                  # the best validation so far (patience)
    best_epoch = torch.zeros(n_rep, dtype=torch.long)
    stale = torch.zeros(n_rep, dtype=torch.long)   # epochs since the last improvement
    active = torch.ones(n_rep, dtype=torch.bool)
    step_rows, step_names = [], None
    epoch_rows: dict[str, list] = {}
    n_train, step, epoch = len(task.train), 0, 0
    batch_size = cfg.batch_size_for(n_train)

    # max_epochs counts the epochs after a warm-up schedule, so the joint phase always runs
    bar = tqdm(itertools.count(1), desc=desc or method.name, leave=False, disable=not bars_wanted(progress))
    joint_epochs = 0
    for epoch in bar:
        method.train()
        order = epoch_order(seeds, n_train, epoch)
        epoch_sums = None
        for begin in range(0, n_train, batch_size):
            phase = phase_at(step, td)
            batch = task.batch("train", order[:, begin:begin + batch_size], teacher_index)
            _, named, _ = method.forward_train(batch)
            total = method.student_objective(named) if phase == "student" else method.objective(named)
            if phase == "comm":
                total = total - method.student_objective(named)   # the student is frozen; only E*, D* learn
            if not bool(torch.isfinite(total).all()):
                raise FloatingPointError(describe_nonfinite(step, epoch, named, seeds, method.distill_weight,
                                                            desc or method.name))
            for opt in optimizers.values():
                opt.zero_grad(set_to_none=True)
            total.sum().backward()
            for group in steps_by_phase[phase]:
                if group in optimizers:
                    optimizers[group].step()
            row = torch.stack([v.detach() for v in named.values()])   # [n_losses, R]
            step_names = step_names or list(named)
            step_rows.append(row)
            epoch_sums = row if epoch_sums is None else epoch_sums + row
            step += 1

        method.eval()
        values = task.per_example(method, "valid")
        valid = metric.finish(values.mean(1))
        error = metric.as_error(valid)
        progressed = active & (error < best_seen)
        best_seen = torch.where(progressed, error, best_seen)
        improved = active & (error < best_error) & clearly_beats_start(values, start_values, metric, cfg.start_guard)
        if n_rep > 1:
            copy_replicas_(best_state, method.student, improved)
        elif bool(improved[0]):   # one model (a ViT is not stacked): keep all of it
            best_state = snapshot(method.student)
        best_error = torch.where(improved, error, best_error)
        best_epoch = torch.where(improved, torch.full_like(best_epoch, epoch), best_epoch)
        # patience counts only epochs after the warm-up, so the joint phase always gets its chance
        stale = torch.where(progressed, torch.zeros_like(stale), stale + int(step > warmup_steps))
        active &= stale < cfg.patience
        n_batches = -(-n_train // batch_size)
        epoch_rows.setdefault("valid_metric", []).append(valid.numpy())
        for name, value in zip(step_names, epoch_sums / n_batches):
            epoch_rows.setdefault(f"train_{name}", []).append(value.numpy())
        bar.set_postfix(best_valid=f"{float(metric.as_error(best_error.min())):.4f}", active=int(active.sum()))
        joint_epochs += int(step > warmup_steps)   # this epoch had at least one joint step
        if on_epoch is not None:
            on_epoch(epoch, {k: np.stack(v) for k, v in epoch_rows.items()})
        if not active.any() or joint_epochs >= cfg.max_epochs:
            break
    bar.close()

    with torch.no_grad():   # restore every replica's best epoch
        for name, p in method.student.named_parameters():
            p.copy_(best_state[name])
    method.eval()
    valid, test = task.evaluate(method, "valid"), task.evaluate(method, "test")
    steps = torch.stack(step_rows).numpy() if step_rows else np.zeros((0, 0, n_rep))
    return StackResult(
        valid_metric=valid.tolist(), test_metric=test.tolist(), best_epoch=best_epoch.tolist(),
        epochs_run=epoch, steps_run=step, wall_s=time.perf_counter() - start_time,
        step_log={name: steps[:, i, :] for i, name in enumerate(step_names or [])},
        epoch_log={k: np.stack(v) for k, v in epoch_rows.items()})
