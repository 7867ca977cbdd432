"""One rulebook for both training loops (core/stopping.py).

The rules on their own (EarlyStopping fed by hand), then the same sequences of per-example
validation values fed to the in-process stacked loop (core/train.py's train_stack, its task's
per_example scripted) and to the paper profile's DDP loop (vision/paper/ddp.py's train_ddp, in
a process group of one, gloo on the CPU, its per_example scripted): both must take the decisions
the documented rules give (docs/protocol.md, "Training") — the restored epoch, the epoch they
stop after, and when epoch 0 wins, the start's weights restored — for a higher-is-better and a
lower-is-better metric, with and without the start guard, and with patience counted after a
warm-up.
"""

import ikd_lib  # noqa: F401  first: the floating-point pins, before torch

# isort: split

import dataclasses
import functools
from dataclasses import dataclass, replace

import pytest
import torch
import torch.distributed as dist

from ikd_lib.core.config import TDConfig, TrainConfig
from ikd_lib.core.methods import Method
from ikd_lib.core.stopping import EarlyStopping
from ikd_lib.core.task import ACCURACY, RMSE
from ikd_lib.core.train import train_stack

N = 8  # validation examples


def correct(k: int) -> torch.Tensor:
    """Per-example accuracy values: the first k of N examples right."""
    return (torch.arange(N) < k).float()


def squared(value: float) -> torch.Tensor:
    """Per-example squared errors all equal to value (RMSE sqrt(value))."""
    return torch.full((N,), value)


@dataclass(frozen=True)
class Case:
    name: str
    metric: object
    values: tuple  # per-example rows [N]: epoch 0 (the start), then epoch 1, 2, ...
    best_epoch: int  # what the rules restore
    epochs_run: int  # the epoch after which the loop stops
    patience: int = 2
    start_guard: float = 0.0
    max_epochs: int = 20
    warmup: int = 0  # steps of a "separate" schedule (1 step an epoch in both loops)


CASES = [
    # accuracy (higher is better): 2/8 -> 4, 6, 5, 6 right: epoch 2 is best; epochs 3 and 4 bring
    # no progress (6/8 does not beat 6/8), so patience 2 stops after epoch 4
    Case("accuracy", ACCURACY, (correct(2), correct(4), correct(6), correct(5), correct(6)), 2, 4),
    # RMSE (lower is better): 1.0 -> 0.9, 0.8, 0.7, then worse: epoch 3 is best, stop after 5
    Case("rmse", RMSE, tuple(map(squared, (1.0, 0.81, 0.64, 0.49, 0.64, 0.5))), 3, 5),
    # nothing beats the start: epoch 0 is restored, patience ends after 2 epochs
    Case("rmse_start_wins", RMSE, tuple(map(squared, (0.25, 0.36, 0.49))), 0, 2),
    # the start guard (2 standard errors of the paired difference): one and two more examples
    # right do not clear it (gain 1/8 against se 1/8; 2/8 against 2 x 0.164), so epoch 0 stays
    # the one restored although validation improved; patience follows the improvement itself
    Case(
        "accuracy_guard_keeps_start",
        ACCURACY,
        (correct(4), correct(5), correct(6), correct(5), correct(5)),
        0,
        4,
        start_guard=2.0,
    ),
    # ... and four more right (gain 0.5 against 2 x 0.189) clears it
    Case(
        "accuracy_guard_passes",
        ACCURACY,
        (correct(4), correct(5), correct(6), correct(8), correct(7), correct(7)),
        3,
        5,
        start_guard=2.0,
    ),
    # lower is better with the guard: one example's error halved does not clear 2 se
    Case(
        "rmse_guard_keeps_start",
        RMSE,
        (squared(1.0), torch.cat([torch.full((1,), 0.5), torch.ones(N - 1)]), squared(1.0), squared(1.0)),
        0,
        3,
        start_guard=2.0,
    ),
    # patience counts only epochs after a 2-step warm-up (epochs 1 and 2): nothing ever beats the
    # start, patience 1, so the first epoch that counts (3) ends training
    Case("warmup", RMSE, tuple(map(squared, (0.25, 0.36, 0.49, 0.64, 0.81))), 0, 3, patience=1, warmup=2),
]


def by_hand(case: Case) -> tuple[int, int]:
    """(best epoch, epochs run) from EarlyStopping alone, fed as a loop feeds it."""
    rules = EarlyStopping.start(case.metric, case.values[0][None], case.patience, case.start_guard)
    for epoch in range(1, case.max_epochs + 1):
        rules.update(epoch, case.values[epoch][None], past_warmup=epoch > case.warmup)
        if rules.stopped:
            return int(rules.best_epoch[0]), epoch
    raise AssertionError("never stopped")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_rules_decide_as_documented(case):
    assert by_hand(case) == (case.best_epoch, case.epochs_run)


def test_the_direction_comes_from_the_metric():
    """The same numbers, read as accuracy and as squared errors, go opposite ways."""
    start, later = torch.full((1, N), 0.5), torch.full((1, N), 0.75)
    up = EarlyStopping.start(ACCURACY, start, patience=3)
    down = EarlyStopping.start(RMSE, start, patience=3)
    assert up.update(1, later).tolist() == [True] and down.update(1, later).tolist() == [False]
    assert up.best_metric.tolist() == [0.75] and down.best_metric.tolist() == [pytest.approx(0.5**0.5)]


def test_replicas_no_longer_computed_make_no_progress():
    """A loop that stopped computing replica 1 passes only replica 0's values (slots): replica 1's
    metric is NaN, it neither improves nor resets its patience."""
    rules = EarlyStopping.start(RMSE, torch.ones(2, N), patience=5)
    improved = rules.update(1, torch.full((1, N), 0.25), slots=torch.tensor([0]))
    assert improved.tolist() == [True, False] and rules.best_epoch.tolist() == [1, 0]
    assert rules.last_valid[0] == 0.5 and torch.isnan(rules.last_valid[1]) and rules.stale.tolist() == [0, 1]


def test_state_dict_resumes_to_the_same_decisions():
    case = CASES[1]
    whole = EarlyStopping.start(case.metric, case.values[0][None], case.patience)
    for epoch in (1, 2, 3, 4, 5):
        whole.update(epoch, case.values[epoch][None])
        if epoch == 2:
            saved = whole.state_dict(with_start=True)
    resumed = EarlyStopping.resumed(case.metric, saved, case.patience)
    for epoch in (3, 4, 5):
        resumed.update(epoch, case.values[epoch][None])
    for key, value in whole.state_dict(with_start=True).items():
        assert torch.equal(value, resumed.state_dict(with_start=True)[key]), key
    assert set(EarlyStopping.start(RMSE, torch.ones(1, N), 2).state_dict()) == {
        "best_error",
        "best_seen",
        "best_epoch",
        "stale",
        "active",
    }  # the keys a shared warm-up keeps


def test_the_guard_passes_a_gain_only_above_it_and_always_at_zero():
    """`clearly_beats_start`: per replica, gain > guard · se of the paired per-example difference
    (strictly: a gain of exactly that many standard errors is not "larger"), and always true at
    guard 0, even for a replica worse than its start."""
    from ikd_lib.core.stopping import clearly_beats_start

    start = torch.zeros(3, 2, dtype=torch.float64)
    values = torch.tensor([[0.0, 2.0], [0.0, 2.5], [-1.0, -1.0]], dtype=torch.float64)  # accuracy-like
    # replica 0: gains 0, 2: mean 1, se = std / √2 = √2 / √2 = 1 (exactly); replica 1: mean 1.25, se 1.25
    at_zero = clearly_beats_start(values, start, ACCURACY, 0.0)
    assert at_zero.dtype == torch.bool and at_zero.tolist() == [True, True, True]
    assert clearly_beats_start(values, start, ACCURACY, 1.0).tolist() == [False, False, False]
    assert clearly_beats_start(values, start, ACCURACY, 0.99).tolist() == [True, True, False]
    assert clearly_beats_start(values[:1], start[:1], ACCURACY, 1.0).shape == (1,)


def test_the_rules_start_at_epoch_zero_with_the_documented_types():
    """Epoch 0 is the first best epoch: its error is the start's metric (as an error), every
    replica active, patience at 0; epochs and counters are long, `active` bool."""
    start = torch.tensor([[0.25, 0.25], [1.0, 4.0]])
    rules = EarlyStopping.start(RMSE, start, patience=2)
    assert rules.n_replicas == 2 and not rules.stopped
    assert rules.best_error.tolist() == pytest.approx([0.5, 2.5**0.5]) and torch.equal(
        rules.best_seen, rules.best_error
    )
    assert rules.best_epoch.dtype == rules.stale.dtype == torch.long and rules.active.dtype == torch.bool
    assert (
        rules.best_epoch.tolist() == [0, 0] and rules.stale.tolist() == [0, 0] and rules.active.tolist() == [True, True]
    )
    up = EarlyStopping.start(ACCURACY, torch.tensor([[1.0, 0.0, 1.0, 1.0]]), patience=1)
    assert up.best_error.tolist() == [-0.75] and up.best_metric.tolist() == [0.75]  # minimised as -accuracy


def test_a_tie_is_no_progress_and_keeps_the_earlier_epoch():
    """Progress and the restored epoch need a strictly better error; a tie counts toward patience."""
    rules = EarlyStopping.start(RMSE, torch.full((1, N), 1.0), patience=2)
    assert rules.update(1, torch.full((1, N), 0.25)).tolist() == [True]
    assert rules.update(2, torch.full((1, N), 0.25)).tolist() == [False]
    assert rules.best_epoch.tolist() == [1] and rules.stale.tolist() == [1] and not rules.stopped
    rules.update(3, torch.full((1, N), 0.25))
    assert rules.stopped and rules.stale.tolist() == [2]
    assert rules.update(4, torch.full((1, N), 0.01)).tolist() == [False]  # a stopped replica never improves
    assert rules.best_epoch.tolist() == [1]


def test_a_replica_no_longer_computed_keeps_the_values_precision():
    rules = EarlyStopping.start(RMSE, torch.ones(2, N, dtype=torch.float64), patience=3)
    rules.update(1, torch.full((1, N), 0.3, dtype=torch.float64), slots=torch.tensor([1]))
    assert rules.last_valid.dtype == torch.float64 and rules.last_valid[1].item() == 0.3**0.5
    assert torch.isnan(rules.last_valid[0]) and rules.best_epoch.tolist() == [0, 1]


def test_the_state_is_a_copy_and_a_state_without_the_start_keeps_it():
    rules = EarlyStopping.start(RMSE, torch.ones(1, N), patience=3)
    rules.update(1, torch.full((1, N), 0.25))
    state = rules.state_dict()
    assert "start_values" not in state and "start_values" in rules.state_dict(with_start=True)
    state["best_error"] += 1.0
    state["best_epoch"] += 5
    assert rules.best_error.tolist() == [0.5] and rules.best_epoch.tolist() == [1]  # a copy
    other = EarlyStopping.start(RMSE, torch.full((1, N), 4.0), patience=3)
    other.load_state_dict(rules.state_dict())
    assert other.best_epoch.tolist() == [1] and torch.equal(other.start_values, torch.full((1, N), 4.0))
    other.load_state_dict(rules.state_dict(with_start=True))
    assert torch.equal(other.start_values, torch.ones(1, N))


def test_no_guard_unless_asked_and_a_resumed_run_keeps_patience_and_guard():
    """start_guard defaults to 0 (no guard: any better epoch is restored), for a start and for a
    resumed run; a resumed run decides with the patience and guard it is given."""
    start, slightly = torch.ones(1, N), torch.cat([torch.full((1,), 0.99), torch.ones(N - 1)])[None]
    rules = EarlyStopping.start(RMSE, start, patience=3)
    assert rules.start_guard == 0.0 and rules.update(1, slightly).tolist() == [True]
    resumed = EarlyStopping.resumed(RMSE, EarlyStopping.start(RMSE, start, 3).state_dict(with_start=True), 3)
    assert (resumed.patience, resumed.start_guard) == (3, 0.0) and resumed.update(1, slightly).tolist() == [True]
    fresh = EarlyStopping.start(RMSE, start, 3).state_dict(with_start=True)
    guarded = EarlyStopping.resumed(RMSE, fresh, patience=3, start_guard=2.0)
    assert (guarded.patience, guarded.start_guard) == (3, 2.0)
    assert guarded.update(1, slightly).tolist() == [False]  # one example better: gain 1 se, not 2
    assert guarded.update(2, torch.full((1, N), 0.98)).tolist() == [True]  # every example: se 0


# ---------------------------------------------------------------- the two loops, fed the same values
def stacked_loop(case: Case, toy_task, toy_teacher) -> tuple[int, int, bool]:
    """train_stack on a small model with the task's validation values scripted: (best epoch,
    epochs run, whether the restored weights are the start's)."""
    from test_loop_rules import Constant, zeros_task
    from test_methods import make

    td = None
    if case.warmup:  # a TD stack of the toy rating task, one step an epoch
        td = TDConfig(schedule="separate", warmup_student_steps=1, warmup_comm_steps=case.warmup - 1)
        method, index = make("td", toy_task, toy_teacher, td)
        task, batch = toy_task, len(toy_task.train)
    else:
        task, index, batch = zeros_task(n_train=16), None, 16
        method = Method(Constant([1.0]), None, torch.zeros(1), task)
    assert -(-len(task.train) // batch) == 1
    task = dataclasses.replace(task, metric=case.metric)  # a copy that judges by the case's metric
    start = {k: v.detach().clone() for k, v in method.student.named_parameters()}
    real, fed = task.per_example, iter(case.values)  # the real values after the loop (test split, ...)

    def per_example(m, split):
        if split == "valid":
            row = next(fed, None)
            if row is not None:
                return row.expand(len(m.student.seeds), N).clone()
        return real(m, split)

    task.per_example = per_example
    cfg = TrainConfig(
        lr=0.01,
        batch_size=batch,
        max_epochs=case.max_epochs,
        patience=case.patience,
        start_guard=case.start_guard,
        min_batches_per_epoch=1,
    )
    result = train_stack(method, task, cfg, method.student.seeds, index, td=td, progress=False)
    assert len(set(result.best_epoch)) == 1  # every replica was fed the same values
    restored = all(torch.equal(p, start[k]) for k, p in method.student.named_parameters())
    return result.best_epoch[0], result.epochs_run, restored


@pytest.fixture(scope="module")
def process_group():
    """A process group of one (gloo): train_ddp as torchrun would run it on one CPU."""
    if dist.is_initialized():
        pytest.skip("a process group is already set up in this process")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def ddp_loop(case: Case, tmp_path, monkeypatch) -> tuple[int, int, bool]:
    """train_ddp on the smoke ViT with its validation values scripted: (best epoch, epochs run,
    whether the restored weights are the start's)."""
    from ikd_lib.vision.paper import ddp

    from test_vision_ddp import RedOrNot, build

    method, _, states = build()
    if case.warmup:
        method.td = replace(method.td, schedule="separate", warmup_student_steps=1, warmup_comm_steps=case.warmup - 1)
    start = ddp.trained_state(method, copy=True)
    fed = iter(case.values)
    monkeypatch.setattr(ddp, "per_example", lambda *args, **kwargs: next(fed)[None])
    cfg = TrainConfig(
        lr=1e-3,
        batch_size=16,
        max_epochs=case.max_epochs,
        patience=case.patience,
        start_guard=case.start_guard,
        weight_decay=0.05,
        optimizer="adamw",
        min_batches_per_epoch=1,
    )
    result = ddp.train_ddp(
        method,
        states,
        RedOrNot(16, seed=0),
        RedOrNot(N, seed=1),
        cfg,
        tmp_path / "run",
        seed=0,
        progress=False,
        num_workers=0,
        metric=case.metric,
    )  # 16 images: one step an epoch
    end = ddp.trained_state(method)
    restored = all(torch.equal(end[k], v) for k, v in start.items())
    valid = case.metric.finish(case.values[result.best_epoch].mean())
    assert result.valid_metric == pytest.approx(float(valid))  # the metric of the restored epoch
    return result.best_epoch, result.epochs_run, restored


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_stacked_and_the_ddp_loop_decide_the_same(
    case, toy_task, toy_teacher, process_group, tmp_path, monkeypatch
):
    expected = (case.best_epoch, case.epochs_run, case.best_epoch == 0)
    assert stacked_loop(case, toy_task, toy_teacher) == expected
    assert ddp_loop(case, tmp_path, monkeypatch) == expected


def test_a_resumed_ddp_run_keeps_the_start_and_its_guard(process_group, tmp_path, monkeypatch):
    """Killed after epoch 2 of the guarded case, a resumed run still compares with epoch 0's
    values (kept in the checkpoint, not evaluated again) and restores the same epoch."""
    from ikd_lib.vision.paper import ddp

    from test_vision_ddp import RedOrNot, build

    case = CASES[4]  # accuracy_guard_passes: best epoch 3, stops after 5
    cfg = TrainConfig(
        lr=1e-3,
        batch_size=16,
        max_epochs=2,
        patience=case.patience,
        start_guard=case.start_guard,
        optimizer="adamw",
        min_batches_per_epoch=1,
    )
    run = functools.partial(
        ddp.train_ddp,
        train_set=RedOrNot(16, seed=0),
        valid_set=RedOrNot(N, seed=1),
        checkpoint_dir=tmp_path / "run",
        seed=0,
        progress=False,
        num_workers=0,
        metric=case.metric,
    )
    fed = iter(case.values)
    monkeypatch.setattr(ddp, "per_example", lambda *args, **kwargs: next(fed)[None])
    method, _, states = build()
    first = run(method, states, cfg=cfg)
    assert (first.best_epoch, first.epochs_run) == (0, 2)
    method, _, states = build()
    second = run(method, states, cfg=replace(cfg, max_epochs=case.max_epochs))
    assert (second.best_epoch, second.epochs_run, second.resumed_from_epoch) == (3, 5, 2)
    assert next(fed, None) is None  # epoch 0 was not evaluated again
