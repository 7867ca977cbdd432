"""The training loop's rules on models small enough to follow by hand (core/train.py's
docstring): each replica is judged against its *own* starting point, epochs are counted
after the warm-up, the start guard counts standard errors per replica, the optimiser is the
one the config names, and a non-finite loss is reported in the words the docs promise.

The student here predicts one number per replica (its only weight) for every rating; the
targets are all 0, so its validation RMSE is |weight| and Adam (whose first steps are about
lr long) walks it towards 0 by about lr a step.
"""

import numpy as np
import pytest
import torch
from torch import nn

from ikd_lib.core import losses
from ikd_lib.core.config import TDConfig, TrainConfig
from ikd_lib.core.methods import Method
from ikd_lib.core.stopping import clearly_beats_start
from ikd_lib.core.task import RMSE, Split, Task
from ikd_lib.core.train import describe_nonfinite, make_optimizers, train_stack


class Constant(nn.Module):
    """ŷ = w_r for every input of replica r."""

    def __init__(self, start):
        super().__init__()
        self.seeds = tuple(range(len(start)))
        self.weight = nn.Parameter(torch.tensor(start, dtype=torch.float32)[:, None])  # [R, 1]

    def forward(self, inputs):
        pred = self.weight.expand(self.weight.shape[0], inputs.shape[1])
        return pred, {}


def zeros_task(n_train=64, n_valid=16):
    def split(n):
        return Split(inputs=torch.zeros(n, 1), target=torch.zeros(n))

    return Task(
        "zeros",
        split(n_train),
        split(n_valid),
        split(n_valid),
        RMSE,
        task_loss=losses.rating_mse,
        kd_loss=losses.rating_mse,
    )


def train(start, task=None, drop_stopped=False, **config):
    task = task or zeros_task()
    method = Method(Constant(start), None, torch.zeros(len(start)), task)
    cfg = TrainConfig(**{"lr": 0.05, "batch_size": 16, "max_epochs": 3, "patience": 3, **config})
    return method, train_stack(method, task, cfg, method.student.seeds, progress=False, drop_stopped=drop_stopped)


def test_each_replica_is_judged_against_its_own_start():
    """Replica 0 starts at the optimum (RMSE 0) and cannot improve: its best epoch is 0, the
    start. Replica 1 starts at 1 and improves every epoch. Were both judged against the mean
    start (RMSE 0.5), replica 0's first epoch (RMSE 0 < 0.5) would count as progress."""
    method, result = train([0.0, 1.0])
    assert result.best_epoch == [0, 3]
    assert result.valid_metric[0] == 0.0 and result.valid_metric[1] < 1.0
    assert all(type(e) is int for e in result.best_epoch)  # epochs, as the records store them


def test_without_a_warmup_every_epoch_counts_even_with_one_step_an_epoch():
    """Nothing to warm up (no TD): max_epochs epochs run, also when an epoch is a single step
    (its one step must count as past the warm-up)."""
    assert TrainConfig(batch_size=64, min_batches_per_epoch=1).batch_size_for(64) == 64  # one step an epoch
    _, result = train([1.0], batch_size=64, max_epochs=3, patience=1, min_batches_per_epoch=1)
    assert result.steps_run == result.epochs_run == 3
    # patience 1: a replica that stops improving stops one epoch later, also at one step an epoch
    _, stuck = train([0.0], batch_size=64, max_epochs=5, patience=1, min_batches_per_epoch=1)
    assert stuck.epochs_run == 1


def test_an_epoch_equal_to_the_start_does_not_clearly_beat_it():
    """No gain at all: 0 > guard · 0 is false (the gain must exceed the guard, not reach it)."""
    same = torch.ones(1, 8)
    assert clearly_beats_start(same, same, RMSE, 2.0).tolist() == [False]


def test_the_start_guard_is_on_for_any_positive_value_and_counts_per_replica():
    """Guard 0.5 (any value > 0 switches it on). Replica 0's gains (1, 0 alternating: mean 0.5,
    sd ≈ 0.53, se ≈ 0.19) clear 0.5·se; replica 1's gains (−1, 1.2 alternating: mean 0.1,
    sd ≈ 1.18, se ≈ 0.42) do not clear 0.5·se ≈ 0.21. Pooled over both replicas the mean
    and the spread would differ, so each replica must get its own."""
    start = torch.full((2, 8), 5.0)
    gains = torch.tensor([[1.0, 0.0] * 4, [-1.0, 1.2] * 4])
    assert clearly_beats_start(start - gains, start, RMSE, 0.5).tolist() == [True, False]
    # replica 1 alone at guard 0.1: 0.1 > 0.1 · 0.42, so it clears a smaller guard
    assert clearly_beats_start(start[1:] - gains[1:], start[1:], RMSE, 0.1).tolist() == [True]
    # and replica 0's gains next to a replica with a wide spread: still clear on their own
    wide = torch.tensor([[1.0, 0.0] * 4, [-9.0, 11.0] * 4])
    assert clearly_beats_start(start - wide, start, RMSE, 0.5).tolist() == [True, False]


@pytest.mark.parametrize("kind, decoupled", [("adam", False), ("adamw", True)])
def test_the_optimiser_is_the_pinned_adam_of_the_config_with_its_rate_and_decay(kind, decoupled):
    from ikd_lib.core.optim import PinnedAdam

    method = Method(Constant([1.0, 2.0]), None, torch.zeros(2), zeros_task())
    (opt,) = make_optimizers(method, TrainConfig(lr=0.02, weight_decay=0.05, optimizer=kind)).values()
    assert type(opt) is PinnedAdam
    assert opt.defaults["lr"] == 0.02 and opt.defaults["weight_decay"] == 0.05
    assert opt.defaults["decoupled"] is decoupled


def test_a_non_finite_loss_is_described_in_full():
    named = {"task": torch.tensor([0.5, float("nan")]), "interact": torch.tensor([0.25, 1.0])}
    text = describe_nonfinite(7, 2, named, (3, 4), torch.tensor([0.3, 1.0]), "td · Action")
    assert text == (
        "non-finite loss in td · Action at step 7 (epoch 2); stopping before more compute is spent.\n"
        "  replica 1 (seed 4, weight 1): task=nan, interact=1\n"
        "Fix: lower the learning rate or the distillation weight, or check the input data."
    )
    assert describe_nonfinite(7, 2, named, (3, 4), torch.ones(2)).startswith("non-finite loss at step 7")


def test_a_nan_loss_names_the_method_when_the_run_has_no_name():
    method = Method(Constant([float("nan")]), None, torch.zeros(1), zeros_task())
    with pytest.raises(FloatingPointError, match=r"^non-finite loss in student at step 0 \(epoch 1\); stopping"):
        train_stack(method, zeros_task(), TrainConfig(), (0,), progress=False)


def test_the_student_alone_warmup_computes_only_the_students_losses(toy_task, toy_teacher):
    """In the "separate" schedule's first N1 steps only the scratch student's losses are
    computed: the TD losses' columns of the step log are NaN there, finite afterwards."""
    from test_methods import SEEDS, make

    td = TDConfig(schedule="separate", warmup_student_steps=3, warmup_comm_steps=2)
    method, index = make("td", toy_task, toy_teacher, td)
    result = train_stack(
        method, toy_task, TrainConfig(max_epochs=1, batch_size=128), SEEDS, index, td=td, progress=False
    )
    interact = result.step_log["interact"]
    assert np.isnan(interact[:3]).all() and np.isfinite(interact[3:]).all()
    assert np.isfinite(result.step_log["task"]).all()


def test_an_empty_training_split_is_refused_before_training():
    """No step would ever run, so neither max_epochs nor patience could end the loop."""
    task = zeros_task(n_train=0)
    method = Method(Constant([1.0]), None, torch.zeros(1), task)
    with pytest.raises(
        ValueError,
        match=r"student: the training split of 'zeros' is empty\. Fix: check the data "
        r"selection \(genre, class subset, fraction\) that built the task\.$",
    ):
        train_stack(method, task, TrainConfig(), (0,), progress=False)
    _, one = train([1.0], task=zeros_task(n_train=1), max_epochs=2)  # one example is enough
    assert one.steps_run == one.epochs_run == 2
    assert 0 < one.wall_s < 60  # seconds this call took


def test_an_epochs_logged_loss_is_the_mean_of_its_steps_and_on_epoch_sees_each_epoch():
    """epoch_log["train_<loss>"][e] is the mean of that epoch's step_log rows; on_epoch is
    called after every epoch with its number and the log so far ([epochs, R])."""
    seen = []
    method = Method(Constant([1.0, -2.0]), None, torch.zeros(2), zeros_task())
    cfg = TrainConfig(lr=0.05, batch_size=16, max_epochs=3, patience=3, min_batches_per_epoch=1)
    result = train_stack(
        method,
        zeros_task(),
        cfg,
        (0, 1),
        progress=False,
        on_epoch=lambda e, log: seen.append((e, {k: v.shape for k, v in log.items()})),
    )
    steps = result.step_log["task"]  # [12 steps, 2]: 4 steps an epoch
    assert steps.shape == (12, 2)
    expected = np.stack([steps[4 * e : 4 * e + 4].mean(0) for e in range(3)])
    np.testing.assert_allclose(result.epoch_log["train_task"], expected, rtol=1e-6)
    assert seen == [(e, {"valid_metric": (e, 2), "train_task": (e, 2)}) for e in (1, 2, 3)]


def test_a_loss_that_starts_later_is_nan_before_and_aligned_with_the_epochs(toy_task, toy_teacher):
    """The separate schedule computes L_interact from step N1 on (here in epoch 2): its epoch
    column is NaN for epoch 1 and as long as the validation column."""
    from test_methods import SEEDS, make

    td = TDConfig(schedule="separate", warmup_student_steps=25, warmup_comm_steps=2)
    method, index = make("td", toy_task, toy_teacher, td)
    cfg = TrainConfig(max_epochs=1, batch_size=128, min_batches_per_epoch=1)
    assert -(-len(toy_task.train) // 128) < 25  # epoch 1 is all student-alone steps
    log = train_stack(method, toy_task, cfg, SEEDS, index, td=td, progress=False).epoch_log
    assert log["train_interact"].shape == log["valid_metric"].shape
    assert np.isnan(log["train_interact"][0]).all() and np.isfinite(log["train_interact"][1:]).all()


def test_a_last_running_replica_goes_on_alone(monkeypatch):
    """With drop_stopped, replicas that stopped are no longer computed, down to one: replicas 0
    and 1 start at the optimum and stop after epoch 2 (patience 2; all three are computed until
    then), so replica 2 goes on alone. The numbers are those of the whole stack trained to the
    end (a replica computes the same bits in any stack, tests/test_stack_independence.py)."""
    import ikd_lib.core.train as loop

    narrowed = []
    real = loop.ReplicaSubset
    monkeypatch.setattr(
        loop, "ReplicaSubset", lambda method, slots: (narrowed.append(slots.tolist()), real(method, slots))[1]
    )
    _, dropped = train([0.0, 0.0, 1.0], drop_stopped=True, max_epochs=8, patience=2)
    assert narrowed == [[2]]
    _, whole = train([0.0, 0.0, 1.0], max_epochs=8, patience=2)
    assert narrowed == [[2]]  # the whole stack never narrows
    assert dropped.best_epoch == whole.best_epoch and dropped.best_epoch[:2] == [0, 0]
    assert dropped.best_epoch[2] >= 2 and dropped.epochs_run == whole.epochs_run
    assert dropped.valid_metric == whole.valid_metric and dropped.test_metric == whole.test_metric
