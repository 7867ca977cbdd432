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
metric itself, so a method whose gains come later is not cut off early. These rules are
written once, in core/stopping.py (`EarlyStopping`), which the paper profile's DDP loop
calls too; this loop feeds it each epoch's per-example validation values. The
stack ends when every replica has stopped (or at `max_epochs`). Because Adam is
element-wise and the total loss is a sum of per-replica losses, replicas never interact.
A track with one replica per stack (the ViT track) uses the same loop with R = 1.

The loop runs where the method's parameters are (core/device.py): the caller places the
method and the task's tensors on a GPU, or leaves them on the CPU. The bookkeeping (per-
example validation values, the best errors, patience, the logs) stays on the CPU either
way, so early stopping decides on the same arithmetic wherever the model trains.
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
from .methods import Method
from .optim import PinnedAdam
from .stacked import ReplicaSubset, copy_replicas_, replica_generator, take_replicas
from .stopping import EarlyStopping
from .task import Task
from .warmup import SharedWarmup, load_training_state, restore_training_state, save_training_state


@dataclass
class StackResult:
    valid_metric: list[float]  # per replica, at its best epoch
    test_metric: list[float]  # per replica, at its best epoch (restored weights)
    best_epoch: list[int]  # per replica, 1-based (0: the model as initialised)
    epochs_run: int
    steps_run: int
    wall_s: float
    step_log: dict[str, np.ndarray] = field(repr=False)  # loss name -> [steps, R]
    epoch_log: dict[str, np.ndarray] = field(repr=False)  # "valid_metric" and mean train losses -> [epochs, R]


def phase_at(step: int, td: TDConfig | None) -> str:
    """ "joint" except in the "train E*, D* separately" schedule: first the student alone
    (N1 steps), then only E*, D* with the student frozen (N2 steps), then jointly."""
    if td is None or td.schedule == "together":
        return "joint"
    if step < td.warmup_student_steps:
        return "student"
    if step < td.warmup_steps:
        return "comm"
    return "joint"


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
            lines.append(
                f"  replica {r} (seed {seed}, weight {float(weights[r]):g}): "
                + ", ".join(f"{k}={v:.4g}" for k, v in comps.items())
            )
    lines.append("Fix: lower the learning rate or the distillation weight, or check the input data.")
    return "\n".join(lines)


def student_learns(params, on: bool) -> None:
    """Switch gradients to the student's parameters on or off. In the "comm" phase the student
    is frozen, so its gradients (which no optimiser would use) need not be computed: about a
    third of such a step. E*, D* get the same gradients either way: autograd runs their
    backward nodes in the same order, whether the student's are in the graph or not
    (tests/test_training.py::test_the_frozen_student_computes_no_gradient_and_changes_no_number)."""
    for p in params:
        p.requires_grad_(on)


def make_optimizers(method, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """One optimiser per parameter group ("student", "aux"), so a schedule can step either alone.
    PinnedAdam (optim.py): a replica's update is the same alone or anywhere in a stack."""
    return {
        name: PinnedAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, decoupled=cfg.optimizer == "adamw")
        for name, params in method.parameter_groups().items()
        if params
    }


def train_stack(
    method,
    task: Task,
    cfg: TrainConfig,
    seeds: tuple[int, ...],
    teacher_index: torch.Tensor | None = None,
    td: TDConfig | None = None,
    desc: str = "",
    progress: bool = True,
    on_epoch=None,
    drop_stopped: bool = False,
    shared_warmup: SharedWarmup | None = None,
) -> StackResult:
    """Train a stack (replica r has seed seeds[r]) on `task`. `desc` names the run (variant
    and task) in the progress bar and in the error a non-finite loss raises. `on_epoch(epoch,
    epoch_log)`, if given, is called after every epoch (a live plot in the workshop, say).

    With `drop_stopped`, a replica that has stopped is no longer computed: the others go on
    alone (stacked.ReplicaSubset), with the same numbers at less cost. Its columns of
    the logs are NaN from then on, as for replicas trained alone.

    With `shared_warmup`, the state at the end of the last epoch within its steps is read
    from its path if there (training goes on from there), else written there."""
    start_time = time.perf_counter()
    device = next(method.student.parameters()).device
    if teacher_index is not None:
        teacher_index = teacher_index.to(device)
    metric = task.metric
    optimizers = make_optimizers(method, cfg)
    steps_by_phase = {"student": ("student",), "comm": ("aux",), "joint": ("student", "aux")}
    student_params = [p for p in method.student.parameters() if p.requires_grad]
    student_frozen = False
    warmup_steps = td.warmup_steps if td else 0

    n_rep = len(seeds)
    best_state = take_replicas(method.student, torch.arange(n_rep)) if n_rep > 1 else snapshot(method.student)
    method.eval()
    # epoch 0, the model as initialised, is the first candidate (core/stopping.py: the rules)
    rules = EarlyStopping.start(metric, task.per_example(method, "valid"), cfg.patience, cfg.start_guard)
    # the replicas still computed: all of them, until some stop (with drop_stopped)
    slots, live_seeds, live_teacher = torch.arange(n_rep), tuple(seeds), teacher_index
    drop_stopped = drop_stopped and n_rep > 1
    subset = None  # a stacked.ReplicaSubset once some replicas are no longer computed

    def run(fn, *args):
        """fn(method, *args) for the replicas in `slots`."""
        return fn(method, *args) if subset is None else subset(fn, *args)

    def losses_of(m, batch, phase):
        # the student-alone warm-up needs only the scratch student's losses: the TD losses
        # would be computed and then ignored (their columns of the log stay NaN there)
        _, named, _ = Method.forward_train(m, batch) if phase == "student" else m.forward_train(batch)
        total = m.student_objective(named) if phase == "student" else m.objective(named)
        if phase == "comm":
            total = total - m.student_objective(named)  # the student is frozen; only E*, D* learn
        return named, total

    step_rows: list[dict[str, torch.Tensor]] = []  # per step: loss name -> [R]
    loss_names: list[str] = []  # in the order they first appear
    epoch_rows: dict[str, list] = {}
    n_train, step, epoch = len(task.train), 0, 0
    if n_train < 1:  # no step would ever be taken, and patience counts only epochs with steps
        raise ValueError(
            f"{desc or method.name}: the training split of {task.name!r} is empty. "
            "Fix: check the data selection (genre, class subset, fraction) that built the task."
        )
    batch_size = cfg.batch_size_for(n_train)

    def full(values: torch.Tensor) -> torch.Tensor:
        """[..., R_live] -> [..., R], NaN for the replicas no longer trained."""
        if len(slots) == n_rep:
            return values
        out = torch.full((*values.shape[:-1], n_rep), float("nan"), dtype=values.dtype)
        out[..., slots] = values
        return out

    # max_epochs counts the epochs after a warm-up schedule, so the joint phase always runs
    joint_epochs, first_epoch = 0, 1
    share_epoch = shared_warmup.steps // -(-n_train // batch_size) if shared_warmup else 0
    saved = load_training_state(shared_warmup.path) if share_epoch >= 1 else None
    if saved is not None:  # another run already trained the shared steps
        restore_training_state(saved, method, optimizers)
        best_state, step_rows, loss_names, epoch_rows = (
            saved[k] for k in ("best_state", "step_rows", "loss_names", "epoch_rows")
        )
        rules.load_state_dict(saved)
        first_epoch, step = saved["epoch"] + 1, saved["step"]
    bar = tqdm(itertools.count(first_epoch), desc=desc or method.name, leave=False, disable=not bars_wanted(progress))
    for epoch in bar:
        method.train()
        order = epoch_order(live_seeds, n_train, epoch).to(device)
        epoch_sums, epoch_counts = {}, {}
        for begin in range(0, n_train, batch_size):
            phase = phase_at(step, td)
            if (phase == "comm") != student_frozen:
                student_frozen = phase == "comm"
                student_learns(student_params, not student_frozen)
            batch = task.batch("train", order[:, begin : begin + batch_size], live_teacher, method.teacher_states)
            named, total = run(losses_of, batch, phase)
            if not bool(torch.isfinite(total).all()):
                raise FloatingPointError(
                    describe_nonfinite(
                        step, epoch, named, live_seeds, method.distill_weight.cpu()[slots], desc or method.name
                    )
                )
            for opt in optimizers.values():
                opt.zero_grad(set_to_none=True)
            total.sum().backward()
            for group in steps_by_phase[phase]:
                if group in optimizers:
                    optimizers[group].step()
            row = {name: full(value.detach().cpu()) for name, value in named.items()}
            loss_names += [name for name in row if name not in loss_names]
            step_rows.append(row)
            for name, value in row.items():
                epoch_sums[name] = epoch_sums[name] + value if name in epoch_sums else value
                epoch_counts[name] = epoch_counts.get(name, 0) + 1
            step += 1

        method.eval()
        # [R_live, N] per-example values; patience counts only epochs after the warm-up
        improved = rules.update(epoch, run(task.per_example, "valid"), step > warmup_steps, slots)
        if n_rep > 1:
            copy_replicas_(best_state, method.student, improved)
        elif bool(improved[0]):  # one model (a ViT is not stacked): keep all of it
            best_state = snapshot(method.student)
        active = rules.active
        epoch_rows.setdefault("valid_metric", []).append(rules.last_valid.numpy())  # NaN if not computed
        for name in loss_names:  # the epoch's mean; NaN for an epoch before a loss was computed
            column = epoch_rows.setdefault(f"train_{name}", [np.full(n_rep, np.nan, np.float32)] * (epoch - 1))
            column.append(
                (epoch_sums[name] / epoch_counts[name]).numpy()
                if name in epoch_sums
                else np.full(n_rep, np.nan, np.float32)
            )
        bar.set_postfix(best_valid=f"{float(metric.as_error(rules.best_error.min())):.4f}", active=int(active.sum()))
        joint_epochs += int(step > warmup_steps)  # this epoch had at least one joint step
        if on_epoch is not None:
            on_epoch(epoch, {k: np.stack(v) for k, v in epoch_rows.items()})
        if epoch == share_epoch and saved is None:
            assert len(slots) == n_rep and joint_epochs == 0, "no replica stops within a warm-up"
            save_training_state(
                shared_warmup.path,
                method,
                optimizers,
                epoch=epoch,
                step=step,
                best_state=best_state,
                **rules.state_dict(),
                step_rows=step_rows,
                loss_names=loss_names,
                epoch_rows=epoch_rows,
            )
        if rules.stopped or joint_epochs >= cfg.max_epochs:
            break
        if drop_stopped and not bool(active[slots].all()):
            # a replica computes the same numbers in any stack, a last one alone included
            # (tests/test_stack_independence.py)
            keep = torch.nonzero(active).flatten()
            slots, subset = keep, ReplicaSubset(method, keep)
            live_seeds = tuple(seeds[i] for i in slots.tolist())
            live_teacher = None if teacher_index is None else teacher_index[slots.to(device)]
    bar.close()
    student_learns(student_params, True)

    with torch.no_grad():  # restore every replica's best epoch
        for name, p in method.student.named_parameters():
            p.copy_(best_state[name])
    method.eval()
    valid, test = task.evaluate(method, "valid"), task.evaluate(method, "test")
    missing = np.full(n_rep, np.nan, np.float32)
    step_log = {
        name: np.stack([row[name].numpy() if name in row else missing for row in step_rows]) for name in loss_names
    }
    return StackResult(
        valid_metric=valid.tolist(),
        test_metric=test.tolist(),
        best_epoch=rules.best_epoch.tolist(),
        epochs_run=epoch,
        steps_run=step,
        wall_s=time.perf_counter() - start_time,
        step_log=step_log,
        epoch_log={k: np.stack(v) for k, v in epoch_rows.items()},
    )
