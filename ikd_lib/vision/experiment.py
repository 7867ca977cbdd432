"""The ViT experiment: datasets, the pre-trained teacher and its probes, the variants, and
runs into the results store (core/experiment.py does the running).

    exp = VisionExperiment(get_profile("cpu"))
    records = exp.run(["student", "kd", "td"])          # skips runs already in the store

One model per stack on this track (a ViT is not stacked): every (λ, seed) replica trains
alone, with one thread, in the worker processes. The student is initialised from the
teacher's first blocks; seeds differ in the student's new head and in the data order.
"""

from __future__ import annotations

import functools

import torch

from ..core.config import config_hash
from ..core.experiment import Experiment, Variant
from ..core.methods import build_method
from ..core.store import cache_root, runs_dir
from ..core.torchfiles import atomic_save, load_cached
from .data import DATASETS
from .models import TeacherUp, student_from_teacher
from .profiles import Profile, get_profile
from .tables import TABLES, tables_for
from .tasks import ImageSplits, attach_teacher, fingerprint, image_task, load_splits
from .teacher import PROBE_L2S, features, fit_probe, load_or_pretrain_teacher, load_pretrained_teacher
from .variants import student_run_config, vision_variants


class VisionExperiment(Experiment):
    track = "vision"
    higher_is_better = True  # top-1 accuracy
    tables = TABLES

    def __init__(
        self,
        profile: Profile,
        data_dir=None,
        cache_dir=None,
        store_root=None,
        progress=True,
        workers: int | None = None,
    ):
        super().__init__(
            profile, store_root or runs_dir(profile.name) / "vision", progress, stack_replicas=False, workers=workers
        )
        self.tables = tables_for(profile)  # captions that say what this profile runs
        self.cache = cache_root(cache_dir)
        self.worker_args = {
            "profile": profile,
            "data_dir": data_dir,
            "cache_dir": cache_dir,
            "store_root": self.store.root,
        }
        # the teacher's pre-training pool is every dataset of the track, whatever this run's columns
        pool = DATASETS if profile.vit.timm_name is None else ()
        names = tuple(dict.fromkeys(pool + profile.datasets))
        self.splits: dict[str, ImageSplits] = {
            n: load_splits(profile, n, data_dir, cache_dir) for n in names if n != "imagenet"
        }
        self.fingerprint = fingerprint([self.splits[n] for n in sorted(self.splits)])
        self.teacher, self.teacher_summary = self._teacher(pool)
        # "add noise": σ relative to the spread of the teacher's lower state t_l
        some = torch.cat([self.splits[n].train.x[:128] for n in sorted(self.splits)])
        with torch.no_grad():
            spread = float(self.teacher.forward_low(some[None]).std())
        self.variants = vision_variants(profile, profile.noise_std * spread)
        self._tasks, self._probes = {}, {}

    def _teacher(self, pool):
        if self.profile.vit.timm_name:
            return load_pretrained_teacher(self.profile)
        offsets, images, labels = 0, [], []
        for name in pool:  # one head over every dataset's classes: 10 + 100 + 20
            s = self.splits[name]
            images.append(s.train.x)
            labels.append(s.train.y + offsets)
            offsets += len(s.classes)
        return load_or_pretrain_teacher(
            self.profile,
            torch.cat(images),
            torch.cat(labels),
            offsets,
            self.fingerprint,
            self.cache,
            self.progress,
            self.device,
        )

    def worker_factory(self):
        return functools.partial(VisionExperiment, **self.worker_args, progress=False, workers=1)

    # ------------------------------------------------------------ building blocks
    def probe(self, name: str) -> dict:
        """The teacher's linear probe for a dataset: fitted on its training split, L2 chosen on
        validation; cached by teacher, data and grid."""
        if name not in self._probes:
            key = config_hash("probe", self.teacher_summary["config_hash"], self.fingerprint, name, PROBE_L2S)
            path = self.cache / "vision" / f"probe-{key}.pt"
            probe = load_cached(path)
            if probe is None:
                s = self.splits[name]
                weight, bias, info = fit_probe(
                    features(self.teacher, s.train.x),
                    s.train.y,
                    features(self.teacher, s.valid.x),
                    s.valid.y,
                    len(s.classes),
                )
                accuracy = {
                    split: float(
                        ((features(self.teacher, getattr(s, split).x) @ weight + bias).argmax(1) == getattr(s, split).y)
                        .float()
                        .mean()
                    )
                    for split in ("valid", "test")
                }
                probe = {"weight": weight, "bias": bias, "info": info, "accuracy": accuracy, "config_hash": key}
                atomic_save(probe, path)
            self._probes[name] = probe
        return self._probes[name]

    def task(self, name: str):
        if name not in self._tasks:
            probe = self.probe(name)
            task = image_task(self.splits[name], self.profile.temperature)
            self._tasks[name] = attach_teacher(task, self.teacher, probe["weight"], probe["bias"])
        return self._tasks[name]

    def train_config(self, variant: Variant):
        return self.profile.student_train

    def run_config(self, variant: Variant, name: str) -> dict:
        return {
            **student_run_config(self.profile, variant, name),
            "teacher_hash": self.teacher_summary["config_hash"],
            "teacher_weights": self.teacher_summary.get("weights_sha256"),  # make verify checks a cached teacher
            "probe_hash": self.probe(name)["config_hash"],
            "data": self.fingerprint,
        }

    def expected_cost(self, job) -> float:
        variant, name = self.variants[job[0]], job[1]
        rounds = 3 * variant.td.k_rounds + 1.5 if variant.td else 1  # h_up is ~3x the student's blocks
        return len(self.splits[name].train.y) * self.n_replicas(variant, name) * rounds

    def reference_outcome(self, variant: Variant, task, replicas) -> dict:
        """The Teacher (probe) row: the probe's accuracy, the same for every seed (one teacher)."""
        accuracy, n = self.probe(task.name)["accuracy"], len(replicas)
        return {
            "valid_metric": [accuracy["valid"]] * n,
            "test_metric": [accuracy["test"]] * n,
            "best_epoch": [0] * n,
            "epochs_run": 0,
            "steps_run": 0,
            "wall_s": 0.0,
        }

    def build_stack(self, variant: Variant, task, replicas, noise_seed: int = 0):
        """One replica: the student copied from the teacher, the frozen teacher's upper blocks."""
        (replica,) = replicas
        student = student_from_teacher(
            self.teacher, self.profile.vit, len(self.splits[task.name].classes), replica.seed
        )
        teacher = TeacherUp(self.teacher) if variant.method != "student" else None
        method = build_method(
            variant.method, student, teacher, torch.tensor([replica.weight]), task, variant.td, noise_seed
        )
        index = torch.zeros(1, dtype=torch.long) if teacher is not None else None
        return method, (replica.seed,), index


def make_experiment(profile: str = "cpu", tasks=None, seeds=None, **kwargs):
    """The experiment of a named profile, optionally on fewer datasets or seeds (report.Track).
    A profile with a pre-trained timm teacher (paper) launches its runs (paper/experiment.py): its
    data are streamed from disk, its runs go to torchrun or SLURM."""
    overrides = {k: v for k, v in (("datasets", tasks), ("seeds", seeds)) if v}
    chosen = get_profile(profile, **overrides)
    if chosen.vit.timm_name is not None:
        from .paper.experiment import LaunchedVisionExperiment  # only when asked: the launch machinery

        known = ("store_root", "progress", "launcher", "loader_workers")
        return LaunchedVisionExperiment(chosen, **{k: v for k, v in kwargs.items() if k in known})
    return VisionExperiment(chosen, **kwargs)
