"""A replica computes the same numbers alone, in a stack of 15 and in a stack of 30, at any
position: so its record in the store does not depend on which other replicas shared its stack,
and a grid that grows trains only its new values.

What once broke it, and what these tests would catch again: torch's fused Adam rounded a
tensor's scalar tail otherwise than its vector body (core/optim.py), and TD's noise came from
one stream per stack, seeded by a hash of the whole replica list (core/methods.py)."""

import dataclasses
import json

import ikd_lib  # noqa: F401  (first: the pins)

# isort: split
import numpy as np
import pytest

from ikd_lib.core.config import config_hash
from ikd_lib.core.experiment import Replica
from ikd_lib.core.parallel import single_thread
from ikd_lib.core.train import train_stack
from ikd_lib.movielens.experiment import make_experiment

WEIGHTS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)
TARGET = Replica(10.0, 3.0, 1)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    exp = make_experiment("smoke", store_root=tmp_path_factory.mktemp("stacks"), progress=False, workers=1)
    train = dataclasses.replace(exp.profile.student_train, max_epochs=6, patience=2)
    return exp, train


def train(exp, cfg, variant, task, replicas):
    method, seeds, teacher_index = exp.build_stack(variant, task, replicas)
    with single_thread():
        return train_stack(
            method, task, cfg, seeds, teacher_index=teacher_index, td=variant.td, progress=False, drop_stopped=True
        )


def numbers_of(result, column: int) -> dict:
    """Everything a stack's result says of one replica: metrics, best epoch and its log columns."""
    logs = {
        f"{kind}/{name}": values[:, column]
        for kind, log in (("step", result.step_log), ("epoch", result.epoch_log))
        for name, values in log.items()
    }
    return {
        "valid": result.valid_metric[column],
        "test": result.test_metric[column],
        "best_epoch": result.best_epoch[column],
        "logs": {k: v[~np.isnan(v)].tobytes() for k, v in logs.items()},
    }


@pytest.mark.parametrize("genre", ["Drama", "Western"])  # the densest and the sparsest genre
@pytest.mark.parametrize("variant_key", ["kd", "td_noise"])
def test_a_replica_alone_and_in_stacks_of_15_and_30_computes_the_same_bits(experiment, genre, variant_key):
    exp, cfg = experiment
    variant = exp.variants[variant_key]
    task = exp.task_for(variant, genre)
    pool = [r for r in (Replica(w, l2, s) for l2 in (1.0, 30.0, 3.0) for w in WEIGHTS for s in (0, 1)) if r != TARGET]
    grid15 = pool[:14]
    grid15.insert(7, TARGET)  # in the middle of 15
    grid30 = pool[14:43] + [TARGET]  # last of 30 (other neighbours)
    alone = numbers_of(train(exp, cfg, variant, task, [TARGET]), 0)
    assert alone["best_epoch"] >= 1 or variant_key == "td_noise", "the replica never trained: the test checks little"
    for stack in (grid15, grid30):
        assert len(stack) in (15, 30) and len(set(stack)) == len(stack)
        result = train(exp, cfg, variant, task, stack)
        assert numbers_of(result, stack.index(TARGET)) == alone, (len(stack), stack.index(TARGET))


def test_a_grown_grid_trains_only_its_new_values_and_keeps_the_stored_records(tmp_path, monkeypatch):
    journal = tmp_path / "journal.txt"
    monkeypatch.setenv("IKD_RUN_JOURNAL", str(journal))
    store = tmp_path / "store"
    small = make_experiment("smoke", tasks=["Western"], store_root=store, progress=False, workers=1)
    (first,) = [r for r in small.run(["kd"]) if r["variant"] == "kd" and r["seed"] == 0]
    paths = {p.name: p.read_text() for p in (store / "records" / "kd").rglob("*.json")}
    journal.write_text("")
    grown = make_experiment("smoke", tasks=["Western"], store_root=store, progress=False, workers=1)
    grown.profile = dataclasses.replace(grown.profile, distill_weights=(1.0, 10.0))
    records = grown.run(["kd"])
    lines = journal.read_text().splitlines()
    assert len(lines) == 1 and "computing kd · Western" in lines[0] and "(2 replicas)" in lines[0], lines
    kept = [r for r in records if r["distill_weight"] == 1.0 and r["seed"] == 0]

    def stored(r):  # without the search's bounds, which a record is given as it is loaded (they grew here)
        return {k: v for k, v in r.items() if k != "search"}

    assert [stored(r) for r in kept] == [stored(first)]
    for name, text in paths.items():  # the old records, untouched
        assert (store / "records" / "kd" / "Western" / name).read_text() == text
    assert sorted(r["distill_weight"] for r in records) == [1.0, 1.0, 10.0, 10.0]
    assert json.loads(text)["stack_replicas"] == 2


def test_a_vit_replica_alone_and_among_15_and_30_computes_the_same_bits(tmp_path):
    """The ViT track trains each replica alone (R = 1), so what could tie a replica to the others
    of its stack is anything drawn per stack: TD's noise was one stream seeded by a hash of the
    whole replica list. Noisy TD at smoke size: the same replica alone and among 15 and 30."""
    from ikd_lib import report

    exp = report.experiment("smoke", track="vision", store_root=tmp_path / "store", progress=False, workers=1)
    variant, task = exp.variants["td_noise"], exp.task("cifar10")
    target = Replica(1.0, 0.0, 1)
    others = [
        Replica(w, 0.0, s)
        for w in (0.01, 0.03, 0.1, 0.3, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 1e4, 3e4, 1e5, 3e5)
        for s in (0, 1)
    ]
    # the experiment derives the noise seed from the stack's settings, which hold no replica list:
    # the same for another grid and other seeds
    key = config_hash(exp.stack_config(variant, "cifar10"))
    profile = exp.profile
    exp.profile = dataclasses.replace(profile, td_weights=(0.3, 1.0, 3.0), distill_weights=(0.1, 1.0), seeds=(0, 1, 2))
    assert config_hash(exp.stack_config(variant, "cifar10")) == key
    exp.profile = profile
    noise_seed = int(key, 16) % 2**31
    alone = exp._train(variant, task, [target], noise_seed)

    def column(result, i):
        logs = {
            k: v[:, i][~np.isnan(v[:, i])].tobytes()
            for log in ("step_log", "epoch_log")
            for k, v in result[log].items()
        }
        return result["valid_metric"][i], result["test_metric"][i], result["best_epoch"][i], logs

    for stack in (others[:7] + [target] + others[7:14], others[:29] + [target]):
        assert len(stack) in (15, 30)
        result = exp._train(variant, task, stack, noise_seed)
        assert column(result, stack.index(target)) == column(alone, 0), len(stack)
