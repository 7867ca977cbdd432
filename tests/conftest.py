"""Shared fixtures: a small learnable rating problem and a teacher trained on it."""

import subprocess
import sys

import ikd_lib  # noqa: F401  (first: the floating-point pins are set before torch starts)

# isort: split
import pytest
import torch

from ikd_lib.core.config import TrainConfig
from ikd_lib.core.methods import Method, freeze
from ikd_lib.core.train import train_stack
from ikd_lib.movielens.models import RatingModel
from ikd_lib.movielens.profiles import RatingModelConfig
from ikd_lib.movielens.tasks import attach_teacher, rating_task
from ikd_lib.workshop import toy_ratings  # the same toy problem the workshop teaches with

TOY_STUDENT = RatingModelConfig(emb_dim=4, width=8)
TOY_TEACHER = RatingModelConfig(emb_dim=8, width=12)


@pytest.fixture(scope="session")
def toy_table():
    return toy_ratings()


@pytest.fixture(scope="session")
def toy_teacher_and_task(toy_table):
    """Two teacher replicas (seeds 0, 1) trained on the toy task, and the task with their states."""
    torch.manual_seed(0)
    task = rating_task("toy", toy_table, 60, 40)
    teacher = RatingModel(
        TOY_TEACHER, 60, 40, (0, 1), task.rating_offset, "teacher", interactions=task.train.inputs, l2=0.01
    )
    train_stack(
        Method(teacher, None, torch.zeros(2), task),
        task,
        TrainConfig(max_epochs=15, patience=3, batch_size=256),
        (0, 1),
        progress=False,
    )
    freeze(teacher)
    attach_teacher(task, teacher)
    return teacher, task


@pytest.fixture
def toy_task(toy_table, toy_teacher_and_task):
    return toy_teacher_and_task[1]


@pytest.fixture
def toy_teacher(toy_teacher_and_task):
    return toy_teacher_and_task[0]


@pytest.fixture(scope="session")
def smoke_dirs(tmp_path_factory):
    """A private store for tests; the data and teacher cache stay the shared ones."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def smoke_experiment(smoke_dirs):
    from ikd_lib.movielens.experiment import MovieLensExperiment
    from ikd_lib.movielens.profiles import get_profile

    return MovieLensExperiment(get_profile("smoke"), store_root=smoke_dirs / "smoke", progress=False)


def pytest_sessionstart(session):
    """The notebooks name the kernel "ikd" (the Makefile registers it); register it when
    pytest runs without make."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "ikd" not in KernelSpecManager().find_kernel_specs():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ipykernel",
                "install",
                "--sys-prefix",
                "--name",
                "ikd",
                "--display-name",
                "Python (ikd)",
            ],
            check=True,
            capture_output=True,
        )
