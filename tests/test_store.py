"""The results store: one record per run, provenance, resume without recomputing."""

import json
import os

import pytest
import torch

from ikd_lib.core import experiment as experiments_module


def test_records_carry_metrics_config_and_provenance(smoke_experiment):
    records = smoke_experiment.run(["student", "td"], ["Western"])
    profile = smoke_experiment.profile
    seeds = profile.seeds
    assert len(records) == (len(profile.student_l2s) + 1) * len(seeds)  # the Student tries its L2 grid
    for r in records:
        assert r["task"] == "Western" and r["profile"] == "smoke"
        assert 0.5 < r["test_metric"] < 2.0 and 0.5 < r["valid_metric"] < 2.0 and r["metric"] == "RMSE"
        assert r["config"]["td"] is None or r["config"]["td"]["k_rounds"] == 1
        assert len(r["config_hash"]) == 12 and r["git_revision"] and r["packages"]["torch"]
        assert r["best_epoch"] >= 1 and r["n_train"] > 0
        pins = r["pins"]  # the floating-point pins were in effect where the run was computed
        assert pins["pinned"] and pins["threads"] == 1 and pins["env"]["MKL_CBWR"] == "COMPATIBLE"
        assert pins["deterministic_algorithms"] and pins["cpu"] and len(pins["probe"]) == 16
    assert {r["seed"] for r in records} == set(seeds)
    # TD trains the student with the L2 that the Student chose for the same seed
    chosen = {
        s: min((r for r in records if r["variant"] == "student" and r["seed"] == s), key=lambda r: r["valid_metric"])[
            "l2"
        ]
        for s in seeds
    }
    assert {r["seed"]: r["l2"] for r in records if r["variant"] == "td"} == chosen


def test_rerun_skips_finished_runs_and_resumes_missing_ones(smoke_experiment, monkeypatch):
    first = smoke_experiment.run(["kd"], ["Western"])
    calls = []
    real_train = experiments_module.train_stack

    def counting_train(*args, **kwargs):
        calls.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(experiments_module, "train_stack", counting_train)
    again = smoke_experiment.run(["kd"], ["Western"])
    assert calls == [] and again == first
    # an interrupted run (one record missing) is redone; the others are not lost
    path = smoke_experiment.record_paths("kd", "Western")[0]
    # as stored; run_variant adds the search's declared bounds, which are not stored
    assert json.loads(path.read_text()) == {k: v for k, v in first[0].items() if k != "search"}
    path.unlink()
    redone = smoke_experiment.run(["kd"], ["Western"])
    # only the missing replica is trained (a stack of one), to the same numbers
    assert calls == [1] and redone[0]["stack_replicas"] == 1 and first[0]["stack_replicas"] == len(first)
    assert [r["test_metric"] for r in redone] == [r["test_metric"] for r in first]
    assert [r["valid_metric"] for r in redone] == [r["valid_metric"] for r in first]


def test_records_are_written_atomically(smoke_experiment):
    smoke_experiment.run(["student"], ["Western"])
    leftovers = list(smoke_experiment.store.root.rglob("*.tmp"))
    assert leftovers == []
    for path in (smoke_experiment.store.root / "records").rglob("*.json"):
        json.loads(path.read_text())


def test_teacher_evaluated_directly_matches_its_cached_predictions(smoke_experiment):
    records = smoke_experiment.run(["teacher"], ["Drama"])
    task = smoke_experiment.task("Drama")
    for i, r in enumerate(records):
        pred = smoke_experiment.teacher(task.test.inputs[None])[0][i]
        rmse = (pred - task.test.target).pow(2).mean().sqrt().item()
        assert r["test_metric"] == pytest.approx(rmse, abs=1e-5)


def test_td_ablations_reuse_per_seed_the_weight_td_default_chose(smoke_dirs):
    from ikd_lib.movielens.experiment import MovieLensExperiment
    from ikd_lib.movielens.profiles import get_profile

    exp = MovieLensExperiment(
        get_profile("smoke", td_weights=(0.5, 3.0)), store_root=smoke_dirs / "grid", progress=False, workers=1
    )
    ablation = exp.run(["td_k0"], ["Western"])
    default = exp.run(["td"], ["Western"])
    assert {r["distill_weight"] for r in default} == {0.5, 3.0}
    students = exp.stored(["student"], ["Western"])

    def own_choice(records, seed):  # the rule, written out: this seed's lowest validation RMSE
        return min((x for x in records if x["seed"] == seed), key=lambda x: x["valid_metric"])

    assert len(ablation) == len(exp.profile.seeds)
    for r in ablation:
        assert r["distill_weight"] == own_choice(default, r["seed"])["distill_weight"]
        assert r["l2"] == own_choice(students, r["seed"])["l2"]


def test_asking_whether_a_job_is_done_computes_nothing(tmp_path):
    """KD inherits the Student's choices; on an empty store "is KD done?" must say no without
    training the Student in this process (that would run every dependency serially)."""
    from ikd_lib.movielens.experiment import MovieLensExperiment
    from ikd_lib.movielens.profiles import get_profile

    exp = MovieLensExperiment(
        get_profile("smoke", genres=["Western"]), store_root=tmp_path / "store", progress=False, workers=2
    )
    assert exp.in_store(("kd", "Western")) is False
    assert exp.expected_cost(("kd", "Western")) > 0 and exp.n_replicas(exp.variants["kd"], "Western") == 2
    assert not (tmp_path / "store" / "records").exists()


def test_separate_schedules_share_their_warmup_in_the_store(smoke_dirs, monkeypatch):
    """Two "separate" schedules (N2 = 10 and 30): the longer runs after the shorter when both
    are asked for (and is not added when it alone is), starts from the state the shorter one
    kept, and ends with the numbers it has when trained alone from its first step."""
    from ikd_lib.movielens.experiment import MovieLensExperiment
    from ikd_lib.movielens.profiles import get_profile

    profile = get_profile("smoke", separate_comm_steps=(10, 30), genres=["Western"])
    exp = MovieLensExperiment(profile, store_root=smoke_dirs / "warmup", progress=False, workers=1)
    assert exp.warmup_source(exp.variants["td_separate30"]) == "td_separate10"
    assert exp.waves(["td_separate30"])[-1] == ["td_separate30"]
    assert "td_separate10" not in sum(exp.waves(["td_separate30"]), [])
    assert exp.waves(["td_separate30", "td_separate10"])[-2:] == [["td_separate10"], ["td_separate30"]]
    shared = {
        exp.shared_warmup(exp.variants[k], "Western", exp.replicas(exp.variants[k], "Western"))
        for k in ("td_separate10", "td_separate30")
    }
    assert len(shared) == 1 and shared.pop().steps == 20 + 10
    assert exp.expected_cost(("td_separate30", "Western")) < exp.expected_cost(("td_separate10", "Western"))
    import ikd_lib.core.train as train

    resumed = []
    monkeypatch.setattr(
        train, "restore_training_state", lambda *a, real=train.restore_training_state: (resumed.append(1), real(*a))
    )
    together = exp.run(["td_separate30", "td_separate10"])
    assert resumed == [1]  # the N2 = 30 stack started from the kept state
    monkeypatch.undo()
    assert next((smoke_dirs / "warmup" / "warmups").rglob("*.pt"))
    alone = MovieLensExperiment(profile, store_root=smoke_dirs / "warmup-alone", progress=False, workers=1)
    fresh = {(r["seed"], r["variant"]): r for r in alone.run(["td_separate30"])}  # from its first step
    for r in together:
        if r["variant"] == "td_separate30":
            other = fresh[r["seed"], r["variant"]]
            assert (r["valid_metric"], r["test_metric"], r["best_epoch"]) == (
                other["valid_metric"],
                other["test_metric"],
                other["best_epoch"],
            )


def test_the_teacher_trains_in_the_pool_beside_the_stacks_that_need_none(tmp_path, monkeypatch):
    """With workers, the MovieLens teacher is a job of the pool (not trained before it): the
    Bias only and Student stacks do not wait for it (free to train meanwhile on the other
    worker), every stack that reads the teacher waits for it, and teacher and numbers equal
    those of a run in one process. What is checked is the pool's plan and the journal's
    order of events, not which worker happened to be up first."""
    import ikd_lib.core.experiment as core_experiment
    from ikd_lib.movielens.data import locate_ml100k
    from ikd_lib.movielens.experiment import MovieLensExperiment
    from ikd_lib.movielens.profiles import get_profile

    profile, data = get_profile("smoke", genres=["Western"]), locate_ml100k()
    journal = tmp_path / "journal"
    monkeypatch.setenv("IKD_RUN_JOURNAL", str(journal))
    plans = []
    real = core_experiment.run_in_workers

    def planned(factory, jobs, workers, on_done=None, after=None, priority=None):
        plans.append({"jobs": list(jobs), "after": {job: set(needs) for job, needs in (after or {}).items()}})
        return real(factory, jobs, workers, on_done=on_done, after=after, priority=priority)

    monkeypatch.setattr(core_experiment, "run_in_workers", planned)
    pool = MovieLensExperiment(
        profile, data_dir=data, cache_dir=tmp_path / "pool", store_root=tmp_path / "a", progress=False, workers=2
    )
    assert not pool.is_prepared("teacher")  # building the experiment trained nothing
    records = pool.run(["student", "kd"])
    teacher_job = ("@teacher", "")
    assert len(plans) == 1 and teacher_job in plans[0]["jobs"]  # the pool trains the teacher
    after = plans[0]["after"]
    assert teacher_job not in after[("bias_only", "Western")], "Bias only waits for the teacher"
    assert teacher_job not in after[("student", "Western")], "the Student waits for the teacher"
    assert teacher_job in after[("kd", "Western")]
    lines = [line.split(" ", 1) for line in journal.read_text().splitlines()]
    order = [what for _, what in lines]
    pid = {what.split(" · ")[0]: p for p, what in lines}
    assert "preparing teacher" in order and pid["preparing teacher"] != str(os.getpid())
    assert order.index("preparing teacher") < next(i for i, w in enumerate(order) if w.startswith("computing kd"))
    assert pool.is_prepared("teacher")

    monkeypatch.delenv("IKD_RUN_JOURNAL")
    alone = MovieLensExperiment(
        profile, data_dir=data, cache_dir=tmp_path / "alone", store_root=tmp_path / "b", progress=False, workers=1
    )
    again = alone.run(["student", "kd"])
    pooled, inline = pool.teacher.state_dict(), alone.teacher.state_dict()
    assert all(torch.equal(pooled[k], inline[k]) for k in inline)
    fields = ("variant", "seed", "distill_weight", "valid_metric", "test_metric", "best_epoch", "config_hash")
    assert [[r[f] for f in fields] for r in records] == [[r[f] for f in fields] for r in again]
