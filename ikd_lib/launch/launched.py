"""The ViT experiment at the paper's scale: the same variants, waves, inherited choices and
results store as the cpu profile (core/experiment.py), but every run is handed to a launcher
(launch.py: torchrun on this node, or SLURM jobs) as a spec file, and its result.json is brought
into the store as an ordinary record (the same fields, config hash and provenance), its steps.npz
into the stack's log (per-step losses, [steps, runs], as an in-process stack's step_log).

    exp = LaunchedVisionExperiment(get_profile("paper"))
    records = exp.run(["student", "kd", "td"])   # prints the plan, launches what is missing

`run` works in stages: first the teacher's linear probes (the preparation the KD and Hybrid runs
and the Teacher (probe) row need), then each wave of variants (a TD ablation keeps the λ that
TD (default) chose for the same seed, so it waits for that wave's records). A finished run is
never launched again; an unfinished one resumes from its checkpoint. Nothing is computed in this
process but the plan: the datasets are only listed (labels, file names), never loaded.
"""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..core.config import config_hash
from ..core.experiment import EVALUATED, Experiment, Variant
from ..core.store import runs_dir
from ..core.task import ACCURACY
from . import preflight, spec as specs, stream
from .plan import PlanRow, format_plan, load_calibration, plan_rows
from .profiles import Profile
from .tables import TABLES, tables_for
from .teacher import PROBE_L2S, _load

PROBE_METHODS = ("kd", "hybrid", "teacher")   # what reads the teacher's probe


class LaunchedVisionExperiment(Experiment):
    track = "vision"
    higher_is_better = True
    tables = TABLES

    def __init__(self, profile: Profile, store_root=None, progress: bool = True, launcher=None,
                 loader_workers: int | None = None):
        """loader_workers: DataLoader processes per rank (default 8 with a pre-trained teacher at
        224 px, JPEG decoding needs them; 0 for a profile's own small ViT)."""
        # fail in seconds, before anything is listed or launched, when data or checkpoint are missing
        preflight.check(profile.datasets, profile.vit.timm_name)
        super().__init__(profile, store_root or runs_dir(profile.name) / "vision", progress,
                         stack_replicas=False, workers=1)
        self.tables = tables_for(profile)   # captions that say what this profile runs (the checkpoint, ...)
        self.checkpoint = preflight.checkpoint_file(profile.vit.timm_name) if profile.vit.timm_name else None
        # "add noise": the variant's σ stays relative to t_l's spread; each run scales it (run.py)
        from .experiment import vision_variants
        self.variants = vision_variants(profile, profile.noise_std)
        self._launcher = launcher
        self.loader_workers = loader_workers if loader_workers is not None else (8 if profile.vit.timm_name else 0)
        self.teacher_summary = self._teacher_summary()
        self._fingerprints, self._sizes = {}, {}

    def _teacher_summary(self) -> dict:
        vit = self.profile.vit
        if vit.timm_name is None:
            return {"config_hash": config_hash("random teacher", asdict(vit)), "source": "random (seed 0), not pre-trained"}
        size = os.path.getsize(self.checkpoint)   # the file's path differs between machines; its size does not
        return {"config_hash": config_hash(vit.timm_name, size), "source": f"{vit.timm_name}: {self.checkpoint}"}

    @property
    def launcher(self):
        if self._launcher is None:
            from .launch import from_settings
            self._launcher = from_settings(self.store.root)
        return self._launcher

    # ------------------------------------------------------------ data, listed not loaded
    def fingerprint(self, name: str) -> str:
        if name not in self._fingerprints:
            self._fingerprints[name] = stream.fingerprint(name)
        return self._fingerprints[name]

    def sizes(self, name: str) -> dict:
        if name not in self._sizes:
            self._sizes[name] = stream.split_sizes(name, self.profile.valid_per_class[name])
        return self._sizes[name]

    # ------------------------------------------------------------ specs
    def probe_key(self, name: str) -> str:
        return config_hash("streamed probe", self.teacher_summary["config_hash"], self.fingerprint(name), name,
                           PROBE_L2S, self.profile.vit.img_size, self.profile.valid_per_class[name])

    def probe_spec(self, name: str) -> dict:
        key = self.probe_key(name)
        return {"kind": "probe", "dataset": name, "key": key, "vit": asdict(self.profile.vit),
                "checkpoint": self.checkpoint, "valid_per_class": self.profile.valid_per_class[name],
                "batch_size": self.profile.student_train.batch_size, "probe_l2s": list(PROBE_L2S),
                "probe_file": str(self.store.root / "probes" / f"probe-{key}.pt"),
                "out": str(self.store.root / "probes" / key), "workers": self.loader_workers}

    def train_spec(self, variant: Variant, name: str, replica, key: str) -> dict:
        p = self.profile
        return {"kind": "train", "variant": variant.key, "method": variant.method, "dataset": name,
                "seed": replica.seed, "weight": replica.weight, "config_hash": key,
                "td": asdict(variant.td) if variant.td else None, "vit": asdict(p.vit), "checkpoint": self.checkpoint,
                "train": asdict(p.student_train), "temperature": p.temperature,
                "valid_per_class": p.valid_per_class[name],
                "probe": self.probe_spec(name)["probe_file"] if variant.method in PROBE_METHODS else None,
                "out": str(self.store.root / "ddp" / variant.key / name / f"seed{replica.seed}_w{replica.weight:g}_{key}"),
                "workers": self.loader_workers, "progress": self.progress}

    def probe(self, name: str) -> dict:
        """The teacher's probe on a dataset (launched first if it is not there)."""
        spec = self.probe_spec(name)
        if not specs.finished(spec):
            self.launcher.run([specs.write(spec)], stage="probes")
        probe = _load(Path(spec["probe_file"]))
        if probe is None:
            raise RuntimeError(f"the probe job for {name} ended without writing {spec['probe_file']}")
        return probe

    # ------------------------------------------------------------ what Experiment asks of a track
    def run_config(self, variant: Variant, name: str) -> dict:
        p = self.profile
        return {"experiment": "vision", "profile": p.name, "variant": variant.key, "method": variant.method,
                "model": variant.model, "task": name, "td": asdict(variant.td) if variant.td else None,
                "vit": asdict(p.vit), "train": asdict(p.student_train), "temperature": p.temperature,
                "valid_per_class": p.valid_per_class[name], **self.replica_config(variant, name),
                "teacher_hash": self.teacher_summary["config_hash"], "probe_hash": self.probe_key(name),
                "data": self.fingerprint(name), "streamed": True}

    def stack_config(self, variant: Variant, name: str) -> dict:
        """A launched run's ranks take their GPUs from torchrun (ddp.py), not from IKD_DEVICE:
        the device is not part of its key, on any machine."""
        return self.run_config(variant, name)

    def train_config(self, variant: Variant):
        return self.profile.student_train

    def task_for(self, variant: Variant, name: str):
        """What a record reads of the task: its name, metric and training-set size."""
        return SimpleNamespace(name=name, metric=ACCURACY, train=range(self.sizes(name)["train"]))

    def reference_outcome(self, variant: Variant, task) -> dict:
        """The Teacher (probe) row: the probe's accuracy, the same for every seed (one teacher)."""
        accuracy, n = self.probe(task.name)["accuracy"], len(self.profile.seeds)
        return {"valid_metric": [accuracy["valid"]] * n, "test_metric": [accuracy["test"]] * n,
                "best_epoch": [0] * n, "epochs_run": 0, "steps_run": 0, "wall_s": 0.0}

    def _train(self, variant: Variant, task, replicas, noise_seed: int) -> dict:
        """Not training: the launched runs' results, as core/train.py's outcome of a stack."""
        key = config_hash(self.run_config(variant, task.name))
        results, step_logs = [], []
        for replica in replicas:
            spec = self.train_spec(variant, task.name, replica, key)
            if not specs.finished(spec):
                raise RuntimeError(f"{specs.describe(spec)} has no result in {spec['out']}: launch it first "
                                   f"(exp.run launches what is missing)")
            results.append(specs.result(spec))
            step_logs.append(specs.step_log(spec))
        return {"valid_metric": [r["valid_metric"] for r in results], "test_metric": [r["test_metric"] for r in results],
                "best_epoch": [r["best_epoch"] for r in results], "epochs_run": max(r["epochs_run"] for r in results),
                "steps_run": max(r["steps_run"] for r in results), "wall_s": sum(r["wall_s"] for r in results),
                "step_log": step_log(step_logs), "epoch_log": epoch_log([r["history"] for r in results])}

    # ------------------------------------------------------------ the plan and the stages
    def plan(self, waves, tasks) -> list[PlanRow]:
        calibration = load_calibration(self.profile.vit)
        done = lambda key, name: (int(specs.finished(self.probe_spec(name))) if key == "probe" else
                                  self.n_replicas(self.variants[key], name) if self.in_store((key, name)) else 0)
        return plan_rows(self, waves, tasks, self.sizes, calibration and calibration["images_per_s"], done)

    def run(self, variant_keys=None, tasks=None, desc: str = "runs") -> list[dict]:
        keys = list(variant_keys or self.variants)
        tasks = tuple(tasks or self.task_names)
        waves = self.waves(keys)
        launcher = self.launcher
        print(format_plan(self.plan(waves, tasks), getattr(launcher, "per_run", getattr(launcher, "gpus", 1)),
                          launcher.name, load_calibration(self.profile.vit), self.profile.name), flush=True)
        if any(self.variants[k].method in PROBE_METHODS for wave in waves for k in wave):
            probes = [self.probe_spec(name) for name in tasks]
            launcher.run([specs.write(s) for s in probes if not specs.finished(s)], stage="probes")
        for stage, wave in enumerate(waves, start=1):
            paths = []
            for key in wave:
                variant = self.variants[key]
                if variant.method in EVALUATED:
                    continue
                for name in tasks:
                    if self.in_store((key, name)):
                        continue
                    config_key = config_hash(self.run_config(variant, name))
                    for replica in self.replicas(variant, name):
                        spec = self.train_spec(variant, name, replica, config_key)
                        if not specs.finished(spec):
                            paths.append(specs.write(spec))
            launcher.run(paths, stage=f"wave{stage}")
            for key in wave:   # into the store now: the next wave reads these choices
                for name in tasks:
                    self.run_variant(self.variants[key], name)
        return super().run(keys, tasks, desc)


def epoch_log(histories: list[list[dict]]) -> dict[str, np.ndarray]:
    """Per-epoch histories of the runs -> name -> [epochs, runs], NaN where a run had stopped."""
    names = list(dict.fromkeys(k for h in histories for row in h for k in row if k not in ("epoch", "wall_s")))
    longest = max((len(h) for h in histories), default=0)
    log = {}
    for name in names:
        values = np.full((longest, len(histories)), np.nan, dtype=np.float32)
        for r, history in enumerate(histories):
            for row in history:
                if name in row:
                    values[row["epoch"] - 1, r] = row[name]
        log[name] = values
    return log


def step_log(logs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-step losses of the runs (name -> [steps]) -> name -> [steps, runs], NaN after a run
    stopped: the form of core/train.py's StackResult.step_log (a column per replica)."""
    names = list(dict.fromkeys(k for log in logs for k in log))
    longest = max((len(v) for log in logs for v in log.values()), default=0)
    stacked = {}
    for name in names:
        values = np.full((longest, len(logs)), np.nan, dtype=np.float32)
        for r, log in enumerate(logs):
            if name in log:
                values[:len(log[name]), r] = log[name]
        stacked[name] = values
    return stacked
