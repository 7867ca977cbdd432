"""The training loop: TD learns, messages stay informative, bad losses stop the run,
replicas in a stack behave as if trained alone, same seed gives the same result."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from ikd_lib.core.config import TDConfig, TrainConfig
from ikd_lib.core.optim import PinnedAdam
from ikd_lib.core.train import phase_at, train_stack
from ikd_lib.core.warmup import SharedWarmup

from test_methods import SEEDS, make

FAST = TrainConfig(max_epochs=12, patience=12, batch_size=128, lr=1e-2)


def test_td_loss_falls_and_beats_its_starting_point(toy_task, toy_teacher):
    """The starting point is the model as initialised (epoch 0), not the first trained epoch."""
    method, index = make("td", toy_task, toy_teacher)
    start = toy_task.evaluate(method, "valid").tolist()
    result = train_stack(method, toy_task, FAST, SEEDS, index, td=method.td, progress=False)
    log = result.epoch_log
    for name in ("train_task", "train_interact", "train_message", "train_state"):
        assert (log[name][-1] < log[name][0]).all(), name
    assert all(v < s for v, s in zip(result.valid_metric, start))  # the restored model beats the start
    assert min(result.best_epoch) >= 1


def test_start_guard_at_the_cpu_profile_value_counts_standard_errors_of_the_mean():
    """The guard of the `cpu` profile (2.0): a trained epoch counts when its mean per-example
    gain over the start exceeds 2 standard errors, se = sd (n − 1 in the denominator) / √n.
    16 examples with gains 0 and 2 alternating: mean 1, sd = √(16/15) ≈ 1.033, se ≈ 0.258,
    so 1 > 2·0.258 clears the guard (it would not against 2 sd = 2.07: the √n decides).
    Gains c ± 1 with c = 0.508: 2·se ≈ 0.5164 > c, not clear (with sd over n, 2·se = 0.5 < c)."""
    from ikd_lib.core.stopping import clearly_beats_start
    from ikd_lib.core.task import ACCURACY, RMSE
    from ikd_lib.movielens.profiles import get_profile

    guard = get_profile("cpu").student_train.start_guard
    assert guard == 2.0
    start = torch.full((1, 16), 5.0)  # squared errors at epoch 0
    clear = start - torch.tensor([0.0, 2.0] * 8)  # lower is better: a gain
    close = start - torch.tensor([0.508 - 1, 0.508 + 1] * 8)
    assert clearly_beats_start(clear, start, RMSE, guard).tolist() == [True]
    assert clearly_beats_start(close, start, RMSE, guard).tolist() == [False]
    assert clearly_beats_start(start + 1.0, start, RMSE, 0.0).tolist() == [True]  # guard 0: off
    # accuracy (higher is better): 12 of 16 examples turn correct: mean 0.75, se = √(0.2)/4 ≈ 0.112
    right = torch.tensor([[1.0] * 12 + [0.0] * 4])
    assert clearly_beats_start(right, torch.zeros(1, 16), ACCURACY, guard).tolist() == [True]
    assert clearly_beats_start(torch.zeros(1, 16), right, ACCURACY, guard).tolist() == [False]


def test_messages_do_not_collapse(toy_task, toy_teacher):
    method, index = make("td", toy_task, toy_teacher)
    train_stack(method, toy_task, FAST, SEEDS, index, td=method.td, progress=False)
    batch = toy_task.batch("valid", torch.stack([torch.arange(200)] * 2), index)
    with torch.no_grad():
        _, states = method.student(batch["inputs"])
        student_msg = method.comm.encode_student(states["high"])
        teacher_msg = method.comm.encode_teacher(batch["teacher_high"])
    # messages vary across inputs as much as the states they describe (not a constant)
    for msg, state in ((student_msg, states["high"]), (teacher_msg, batch["teacher_high"])):
        spread = msg.std(dim=1).mean(-1)  # per replica, across the batch
        assert (spread > 0.1 * state.std(dim=1).mean(-1)).all()
    # and they carry the input: messages of different ratings are not interchangeable
    corr = np.corrcoef(student_msg[0, :, 0].numpy(), teacher_msg[0, :, 0].numpy())[0, 1]
    assert np.isfinite(corr) and abs(corr) > 0.2


def test_nan_loss_stops_with_step_and_components(toy_task, toy_teacher):
    method, index = make("td", toy_task, toy_teacher, weight=1.0)
    with torch.no_grad():
        method.comm.decode_teacher.weight[1] = float("nan")
    with pytest.raises(FloatingPointError) as err:
        train_stack(method, toy_task, FAST, SEEDS, index, progress=False)
    text = str(err.value)
    assert "step 0" in text and "replica 1 (seed 1" in text and "interact=" in text and "replica 0" not in text


def test_restores_best_epoch_per_replica(toy_task, toy_teacher):
    method, index = make("kd", toy_task, toy_teacher)
    cfg = TrainConfig(max_epochs=15, patience=3, batch_size=64, lr=3e-2)
    result = train_stack(method, toy_task, cfg, SEEDS, index, progress=False)
    curve = result.epoch_log["valid_metric"]
    for r in range(2):
        best = int(result.best_epoch[r])
        # best within the epochs before this replica ran out of patience (the stack may go on)
        stopped = min(best + cfg.patience, len(curve))
        assert curve[best - 1, r] == pytest.approx(curve[:stopped, r].min())
        assert (curve[best:stopped, r] >= curve[best - 1, r]).all()
        assert result.valid_metric[r] == pytest.approx(curve[best - 1, r], abs=1e-6)


def test_stacked_replica_matches_training_alone(toy_task, toy_teacher):
    """Tolerance: 1e-4 RMSE; replicas differ from solo runs only by float rounding of batched matmuls."""
    cfg = TrainConfig(max_epochs=6, patience=6, batch_size=128)
    stacked, index = make("td", toy_task, toy_teacher, seeds=SEEDS)
    both = train_stack(stacked, toy_task, cfg, SEEDS, index, progress=False)
    for r, seed in enumerate(SEEDS):
        alone, alone_index = make("td", toy_task, toy_teacher, seeds=(seed,))
        solo = train_stack(alone, toy_task, cfg, (seed,), alone_index, progress=False)
        assert solo.best_epoch[0] == both.best_epoch[r]
        assert solo.test_metric[0] == pytest.approx(both.test_metric[r], abs=1e-4)
        assert solo.valid_metric[0] == pytest.approx(both.valid_metric[r], abs=1e-4)


def test_same_seed_same_result(toy_task, toy_teacher):
    runs = []
    for _ in range(2):
        method, index = make("td", toy_task, toy_teacher, TDConfig(noise_std=0.1))
        runs.append(
            train_stack(
                method, toy_task, TrainConfig(max_epochs=3, batch_size=128), SEEDS, index, td=method.td, progress=False
            )
        )
    assert runs[0].test_metric == runs[1].test_metric
    assert np.array_equal(runs[0].step_log["interact"], runs[1].step_log["interact"])


def test_separate_schedule_steps_each_side_in_turn_then_both(toy_task, toy_teacher, monkeypatch):
    from ikd_lib.core import train as train_module

    td = TDConfig(schedule="separate", warmup_student_steps=3, warmup_comm_steps=3)
    assert [phase_at(s, td) for s in range(7)] == ["student"] * 3 + ["comm"] * 3 + ["joint"]
    assert phase_at(0, TDConfig()) == "joint"
    stepped = []
    real = train_module.make_optimizers

    def spy(method, cfg):
        optimizers = real(method, cfg)
        for name, opt in optimizers.items():

            def step(*args, _name=name, _step=opt.step, **kwargs):
                stepped.append(_name)
                return _step(*args, **kwargs)

            opt.step = step
        return optimizers

    monkeypatch.setattr(train_module, "make_optimizers", spy)
    method, index = make("td", toy_task, toy_teacher, td)
    # 3 steps per epoch; max_epochs counts only epochs after the 6 warm-up steps
    cfg = TrainConfig(max_epochs=1, batch_size=len(toy_task.train) // 3 + 1, min_batches_per_epoch=1)
    result = train_stack(method, toy_task, cfg, SEEDS, index, td=td, progress=False)
    assert stepped == ["student"] * 3 + ["aux"] * 3 + ["student", "aux"] * 3
    assert result.epochs_run == 3


def test_start_guard_restores_the_start_unless_the_gain_is_clear(toy_task, toy_teacher):
    """With an impossible guard no trained epoch may be restored: every replica ends as it
    started, yet training runs on while validation improves (patience ignores the guard)."""
    method, index = make("student", toy_task, toy_teacher)
    start = toy_task.evaluate(method, "valid")
    cfg = TrainConfig(max_epochs=6, patience=2, batch_size=128, lr=1e-2, start_guard=1e9)
    result = train_stack(method, toy_task, cfg, SEEDS, None, progress=False)
    assert result.best_epoch == [0, 0]
    assert result.valid_metric == pytest.approx(start.tolist(), abs=1e-6)
    assert result.epochs_run > cfg.patience + 1  # the validation kept improving, so it kept going
    assert (result.epoch_log["valid_metric"].min(0) < start.numpy()).all()
    # a guard of 0 restores the best epoch, as without a guard
    method, index = make("student", toy_task, toy_teacher)
    free = train_stack(method, toy_task, replace(cfg, start_guard=0.0), SEEDS, None, progress=False)
    assert min(free.best_epoch) >= 1 and all(v < s for v, s in zip(free.valid_metric, start.tolist()))


@pytest.mark.parametrize("name, td", [("td", None), ("td", TDConfig(noise_std=0.1)), ("kd", None), ("student", None)])
def test_dropping_stopped_replicas_changes_no_number(toy_task, toy_teacher, name, td):
    """A stack that stops computing its stopped replicas (drop_stopped) ends with exactly the
    same numbers as one that computes them to the end; only the logs differ, NaN where a
    replica was no longer trained. TD with noise too: each replica draws from its own stream."""
    seeds = (0, 1, 0, 1)
    cfg = TrainConfig(max_epochs=12, patience=1, batch_size=64, lr=1e-2)
    runs = []
    for drop in (False, True):
        method, index = make(name, toy_task, toy_teacher, *((td,) if td else ()), seeds=seeds)
        method.distill_weight.copy_(torch.tensor([0.1, 0.1, 30.0, 30.0]))
        runs.append(train_stack(method, toy_task, cfg, seeds, index, td=td, progress=False, drop_stopped=drop))
        if drop:
            restored = toy_task.evaluate(method, "test").tolist()  # `method` ends with every best replica
    kept, dropped = runs
    assert dropped.valid_metric == kept.valid_metric
    assert dropped.test_metric == kept.test_metric == restored
    assert dropped.best_epoch == kept.best_epoch
    valid_kept, valid_dropped = kept.epoch_log["valid_metric"], dropped.epoch_log["valid_metric"]
    trained = ~np.isnan(valid_dropped)
    assert (~trained).any(), "no replica stopped before the others: the test checks nothing"
    assert trained[:, :].any(0).all() and trained[-1].any()
    assert np.array_equal(valid_dropped[trained], valid_kept[trained])
    for key, values in dropped.step_log.items():
        present = ~np.isnan(values)
        assert np.array_equal(values[present], kept.step_log[key][present]), key


@pytest.mark.parametrize(
    "shared_steps, n1, batch, min_batches, shared_epochs",
    [
        (20, 12, 480, 5, 4),  # 2,400 ratings, 5 steps an epoch: 20 steps are 4 whole epochs
        (7, 12, 480, 5, 1),  # 7 steps: the last whole epoch within them is the first
        (24, 16, 500, 1, 4),  # 4.8 batches of 500 are 5 steps an epoch (the last one short)
    ],
)
def test_a_shared_warmup_changes_no_number(
    shared_steps, n1, batch, min_batches, shared_epochs, toy_task, toy_teacher, tmp_path, monkeypatch
):
    """ "Train E*, D* separately" with N2 = 16 starts from the state that the N2 = 8 run kept
    at its last epoch within their common first N1 + 8 steps, and ends with exactly the
    numbers (and logs) of the same run trained from the first step."""
    import ikd_lib.core.train as train

    seeds = (0, 1, 0, 1)
    cfg = TrainConfig(max_epochs=8, patience=1, batch_size=batch, lr=1e-2, min_batches_per_epoch=min_batches)
    assert cfg.batch_size_for(len(toy_task.train)) == batch
    saved_epochs = []
    monkeypatch.setattr(
        train,
        "save_training_state",
        lambda *a, real=train.save_training_state, **k: (saved_epochs.append(k["epoch"]), real(*a, **k)),
    )

    def run(n2, shared=None):
        td = TDConfig(schedule="separate", warmup_student_steps=n1, warmup_comm_steps=n2)
        method, index = make("td", toy_task, toy_teacher, td, seeds=seeds)
        return train_stack(
            method, toy_task, cfg, seeds, index, td=td, progress=False, drop_stopped=True, shared_warmup=shared
        )

    restored = []
    monkeypatch.setattr(
        train, "restore_training_state", lambda *a, real=train.restore_training_state: (restored.append(1), real(*a))
    )
    shared = SharedWarmup(shared_steps, tmp_path / "warmup.pt")
    alone = run(16)
    run(8, shared)  # writes the shared start
    assert shared.path.exists() and not restored and saved_epochs == [shared_epochs]
    resumed = run(16, shared)  # starts from it
    assert restored == [1]
    for field in ("valid_metric", "test_metric", "best_epoch", "epochs_run", "steps_run"):
        assert getattr(resumed, field) == getattr(alone, field), field
    for log in ("step_log", "epoch_log"):
        for key, values in getattr(alone, log).items():
            assert np.array_equal(getattr(resumed, log)[key], values, equal_nan=True), (log, key)
    if shared_steps == 20:
        assert np.isnan(alone.epoch_log["valid_metric"]).any(), "no replica was dropped: part of the path is untested"


def test_the_frozen_student_computes_no_gradient_and_changes_no_number(toy_task, toy_teacher, monkeypatch):
    """In the "comm" phase of the separate schedule the student gets no gradient at all (its
    parameters stop requiring one), and every number equals a run that computes the student's
    gradients and throws them away, as the loop did before."""
    import ikd_lib.core.train as train

    seeds = (0, 1, 0, 1)
    td = TDConfig(schedule="separate", warmup_student_steps=6, warmup_comm_steps=8)
    cfg = TrainConfig(max_epochs=4, patience=2, batch_size=480, lr=1e-2, min_batches_per_epoch=5)
    grads_in_comm = []

    def run():
        method, index = make("td", toy_task, toy_teacher, td, seeds=seeds)
        student = list(method.student.parameters())
        real_step = PinnedAdam.step

        def spy(opt, *a, **k):  # on every optimiser step: does any student parameter hold a gradient?
            grads_in_comm.append(any(p.grad is not None for p in student))
            return real_step(opt, *a, **k)

        monkeypatch.setattr(PinnedAdam, "step", spy)
        result = train_stack(method, toy_task, cfg, seeds, index, td=td, progress=False, drop_stopped=True)
        monkeypatch.setattr(PinnedAdam, "step", real_step)
        assert all(p.requires_grad for p in student)  # learning again after the loop
        return result

    frozen = run()
    comm_steps = grads_in_comm[6 : 6 + 8]  # the student phase steps one optimiser, then E*, D* alone
    assert len(comm_steps) == 8 and not any(comm_steps)
    monkeypatch.setattr(train, "student_learns", lambda params, on: None)  # the old loop
    grads_in_comm.clear()
    reference = run()
    assert all(grads_in_comm[6 : 6 + 8])
    for field in ("valid_metric", "test_metric", "best_epoch", "epochs_run", "steps_run"):
        assert getattr(frozen, field) == getattr(reference, field), field
    for log in ("step_log", "epoch_log"):
        for key, values in getattr(reference, log).items():
            assert np.array_equal(getattr(frozen, log)[key], values, equal_nan=True), (log, key)


@pytest.mark.parametrize("variant", ["student", "td"])
def test_a_genre_student_keeps_only_its_genres_rows_with_the_same_numbers(smoke_experiment, variant, monkeypatch):
    """A genre's student holds embedding rows only for the genre's users and items (Western:
    27 of 1,682 items); every result and every logged loss equals that of full tables."""
    import ikd_lib.movielens.experiment as ml_experiment
    from ikd_lib.core.experiment import Replica

    exp = smoke_experiment
    task, spec = exp.task("Western"), exp.variants[variant]
    replicas = [Replica(1.0, 3.0, s) for s in exp.profile.seeds] * 2
    cfg = TrainConfig(max_epochs=3, patience=3, lr=3e-3)
    runs = {}
    for compact in (True, False):
        if not compact:
            monkeypatch.setattr(ml_experiment, "task_rows", lambda task: None)
        method, seeds, index = exp.build_stack(spec, task, replicas)
        tables = {
            name: method.student.get_parameter(f"{name}.weight").shape[1]
            for name in ("user_emb", "item_emb", "user_implicit", "item_implicit")
        }
        runs[compact] = tables, train_stack(method, task, cfg, seeds, index, td=spec.td, progress=False)
    (small, compact), (full, reference) = runs[True], runs[False]
    items = task.train.inputs[:, 1].unique()
    assert small["item_emb"] == small["user_implicit"] < full["item_emb"] == exp.n_items
    assert small["item_emb"] >= len(items) and small["user_emb"] < exp.n_users
    assert compact.valid_metric == reference.valid_metric and compact.test_metric == reference.test_metric
    assert compact.best_epoch == reference.best_epoch
    for key, values in reference.step_log.items():
        assert np.array_equal(compact.step_log[key], values, equal_nan=True), key
