"""Where the core loop trains (core/device.py): the CPU by default at the smoke and cpu
profiles, a GPU when asked (or at the paper profile, when there is one), a clear error
before any compute when the asked-for device is not there, and CPU runs stored under
exactly the configuration (and hash) they always had. The GPU tests run only on a GPU."""

import pytest
import torch

from ikd_lib.core.config import TrainConfig, config_hash
from ikd_lib.core.device import compute_device, config_stamp
from ikd_lib.core.train import train_stack

from test_methods import SEEDS, make

HAS_GPU = torch.cuda.is_available()
gpu_only = pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU (make gpu-check runs these on one)")


def test_the_smoke_and_cpu_profiles_train_on_the_cpu_and_paper_takes_a_gpu_when_there_is_one(monkeypatch):
    monkeypatch.delenv("IKD_DEVICE", raising=False)
    assert compute_device("smoke") == torch.device("cpu")
    assert compute_device("cpu") == torch.device("cpu")
    assert compute_device("paper").type == ("cuda" if HAS_GPU else "cpu")
    monkeypatch.setenv("IKD_DEVICE", "cpu")
    assert compute_device("paper") == torch.device("cpu")  # the setting wins over the profile


@pytest.mark.parametrize("value", ["tpu", "gpu", "cuda:x"])
def test_a_value_that_is_not_a_device_is_refused_naming_the_setting_and_the_fix(monkeypatch, value):
    monkeypatch.setenv("IKD_DEVICE", value)
    with pytest.raises(ValueError, match=r"IKD_DEVICE=.*Fix: set it to cpu, cuda"):
        compute_device("cpu")


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
def test_asking_for_a_gpu_on_a_machine_without_one_stops_the_experiment_before_it_loads_anything(monkeypatch, tmp_path):
    from ikd_lib.movielens.experiment import MovieLensExperiment
    from ikd_lib.movielens.profiles import get_profile

    monkeypatch.setenv("IKD_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match=r"asks for a GPU, but torch sees none.*Fix: unset IKD_DEVICE"):
        MovieLensExperiment(get_profile("smoke"), data_dir=tmp_path / "no data here", store_root=tmp_path)


def test_a_cpu_run_keeps_its_configuration_and_hash_and_a_gpu_run_gets_its_own(smoke_experiment):
    exp = smoke_experiment
    assert exp.device == torch.device("cpu") and config_stamp(exp.device) == {}
    variant = exp.variants["td"]
    cpu_config = exp.stack_config(variant, "Action")
    assert cpu_config == exp.run_config(variant, "Action")  # nothing added on the CPU
    assert "device" not in cpu_config
    gpu_config = {**exp.run_config(variant, "Action"), **config_stamp(torch.device("cuda"))}
    assert gpu_config["device"] == "cuda"
    assert config_hash(gpu_config) != config_hash(cpu_config)


def test_launched_runs_are_keyed_without_a_device_even_where_stacks_would_train_on_a_gpu(monkeypatch):
    """torchrun places a launched run's ranks; the key its result is ingested under and the
    key the tables look it up by must be the same whatever IKD_DEVICE says."""
    from ikd_lib.vision.paper.experiment import LaunchedVisionExperiment

    exp = object.__new__(LaunchedVisionExperiment)
    exp.device = torch.device("cuda")
    monkeypatch.setattr(LaunchedVisionExperiment, "run_config", lambda self, v, n: {"variant": v, "task": n})
    assert exp.stack_config("td", "cifar10") == {"variant": "td", "task": "cifar10"}


def test_the_movielens_teacher_trained_on_a_gpu_is_cached_under_another_hash(smoke_experiment):
    from ikd_lib.movielens.teacher import teacher_config_hash

    exp = smoke_experiment
    cpu = teacher_config_hash(exp.profile, exp.fingerprint)
    assert teacher_config_hash(exp.profile, exp.fingerprint, torch.device("cpu")) == cpu == exp.teacher_hash
    assert teacher_config_hash(exp.profile, exp.fingerprint, torch.device("cuda")) != cpu


def test_the_vit_teacher_pretrained_on_a_gpu_is_cached_under_another_hash():
    from ikd_lib.vision.profiles import get_profile
    from ikd_lib.vision.teacher import pretrain_config_hash

    profile = get_profile("cpu")
    cpu = pretrain_config_hash(profile, "data")
    assert pretrain_config_hash(profile, "data", torch.device("cpu")) == cpu
    assert pretrain_config_hash(profile, "data", torch.device("cuda")) != cpu


def test_a_task_moved_to_a_device_keeps_its_class_settings_and_values(toy_task):
    moved = toy_task.to("cpu")
    assert type(moved) is type(toy_task) and moved.n_users == toy_task.n_users
    for split in ("train", "valid", "test"):
        a, b = toy_task.split(split), moved.split(split)
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.target, b.target)
        assert a.teacher.keys() == b.teacher.keys()
        assert all(torch.equal(a.teacher[k], b.teacher[k]) for k in a.teacher)


# ---------------------------------------------------------------- on a GPU only


def _train_td(task, teacher, device):
    method, index = make("td", task, teacher)
    method = method.to(device)
    result = train_stack(
        method,
        task.to(device),
        TrainConfig(max_epochs=4, batch_size=128, lr=1e-2),
        SEEDS,
        index,
        td=method.td,
        progress=False,
    )
    return method, result


@gpu_only
def test_the_core_loop_trains_a_stack_on_the_gpu_deterministically_and_leaves_the_teacher_alone(toy_task, toy_teacher):
    before = {k: v.clone() for k, v in toy_teacher.state_dict().items()}
    method, first = _train_td(toy_task, toy_teacher, torch.device("cuda"))
    assert all(p.device.type == "cuda" for p in method.student.parameters())
    _, again = _train_td(toy_task, toy_teacher, torch.device("cuda"))
    assert first.valid_metric == again.valid_metric and first.test_metric == again.test_metric
    _, on_cpu = _train_td(toy_task, toy_teacher, torch.device("cpu"))
    # other rounding, the same learning: within 1% of the CPU's RMSE
    assert first.test_metric == pytest.approx(on_cpu.test_metric, rel=1e-2)
    assert all(torch.equal(before[k], v) for k, v in toy_teacher.state_dict().items())


@gpu_only
def test_a_smoke_experiment_on_the_gpu_stores_its_device_beside_the_numbers(monkeypatch, tmp_path):
    from ikd_lib.movielens.experiment import MovieLensExperiment
    from ikd_lib.movielens.profiles import get_profile

    monkeypatch.setenv("IKD_DEVICE", "cuda")
    exp = MovieLensExperiment(get_profile("smoke", genres=("Action",)), store_root=tmp_path, progress=False, workers=1)
    (record, *_) = exp.run(["student", "td"], tasks=["Action"])
    assert record["config"]["device"] == "cuda" and record["device"]["type"] == "cuda"
