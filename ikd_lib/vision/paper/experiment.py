"""The ViT experiment at the paper's scale: the variants, waves and tables of the cpu profile,
every run launched (ikd_lib/launch/launched.py) as a spec that vision/paper/run.py runs under
torchrun, on data streamed from disk (stream.py) and the pre-trained checkpoint.

    exp = LaunchedVisionExperiment(get_profile("paper"))
    records = exp.run(["student", "kd", "td"])   # prints the plan, launches what is missing

Nothing is computed in this process but the plan: the datasets are only listed (labels, file
names), never loaded.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from types import SimpleNamespace

from ...core.config import config_hash
from ...core.experiment import Variant
from ...core.store import runs_dir
from ...core.task import ACCURACY
from ...launch.launched import PROBE_METHODS, LaunchedExperiment
from ...launch.plan import load_calibration
from ..profiles import Profile
from ..tables import TABLES, tables_for
from ..teacher import PROBE_L2S
from ..variants import student_run_config, vision_variants
from . import preflight, stream

ENTRY = "ikd_lib.vision.paper.run"  # what each launched process runs


class LaunchedVisionExperiment(LaunchedExperiment):
    track = "vision"
    higher_is_better = True
    tables = TABLES
    entry = ENTRY

    def __init__(
        self, profile: Profile, store_root=None, progress: bool = True, launcher=None, loader_workers: int | None = None
    ):
        """loader_workers: DataLoader processes per rank (default 8 with a pre-trained teacher at
        224 px, JPEG decoding needs them; 0 for a profile's own small ViT)."""
        # fail in seconds, before anything is listed or launched, when data or checkpoint are missing
        preflight.check(profile.datasets, profile.vit.timm_name)
        super().__init__(profile, store_root or runs_dir(profile.name) / "vision", progress, launcher)
        self.tables = tables_for(profile)  # captions that say what this profile runs (the checkpoint, ...)
        self.checkpoint = preflight.checkpoint_file(profile.vit.timm_name) if profile.vit.timm_name else None
        # "add noise": the variant's σ stays relative to t_l's spread; each run scales it (run.py)
        self.variants = vision_variants(profile, profile.noise_std)
        self.loader_workers = loader_workers if loader_workers is not None else (8 if profile.vit.timm_name else 0)
        self.teacher_summary = self._teacher_summary()
        self._fingerprints, self._sizes = {}, {}

    def _teacher_summary(self) -> dict:
        vit = self.profile.vit
        if vit.timm_name is None:
            return {
                "config_hash": config_hash("random teacher", asdict(vit)),
                "source": "random (seed 0), not pre-trained",
            }
        size = os.path.getsize(self.checkpoint)  # the file's path differs between machines; its size does not
        return {"config_hash": config_hash(vit.timm_name, size), "source": f"{vit.timm_name}: {self.checkpoint}"}

    def calibration(self) -> dict | None:
        return load_calibration(self.profile.vit, "vision")

    # ------------------------------------------------------------ data, listed not loaded
    def fingerprint(self, name: str) -> str:
        if name not in self._fingerprints:
            self._fingerprints[name] = stream.fingerprint(name)
        return self._fingerprints[name]

    def sizes(self, name: str) -> dict:
        if name not in self._sizes:
            self._sizes[name] = stream.split_sizes(name, self.profile.valid_per_class[name])
        return self._sizes[name]

    # ------------------------------------------------------------ specs (read by run.py)
    def probe_key(self, name: str) -> str:
        return config_hash(
            "streamed probe",
            self.teacher_summary["config_hash"],
            self.fingerprint(name),
            name,
            PROBE_L2S,
            self.profile.vit.img_size,
            self.profile.valid_per_class[name],
        )

    def probe_spec(self, name: str) -> dict:
        key = self.probe_key(name)
        return {
            "kind": "probe",
            "dataset": name,
            "key": key,
            "vit": asdict(self.profile.vit),
            "checkpoint": self.checkpoint,
            "valid_per_class": self.profile.valid_per_class[name],
            "batch_size": self.profile.student_train.batch_size,
            "probe_l2s": list(PROBE_L2S),
            "probe_file": str(self.store.root / "probes" / f"probe-{key}.pt"),
            "out": str(self.store.root / "probes" / key),
            "workers": self.loader_workers,
        }

    def train_spec(self, variant: Variant, name: str, replica, key: str) -> dict:
        p = self.profile
        return {
            "kind": "train",
            "variant": variant.key,
            "method": variant.method,
            "dataset": name,
            "seed": replica.seed,
            "weight": replica.weight,
            "config_hash": key,
            "td": asdict(variant.td) if variant.td else None,
            "vit": asdict(p.vit),
            "checkpoint": self.checkpoint,
            "train": asdict(p.student_train),
            "temperature": p.temperature,
            "valid_per_class": p.valid_per_class[name],
            "probe": self.probe_spec(name)["probe_file"] if variant.method in PROBE_METHODS else None,
            "out": str(self.store.root / "ddp" / variant.key / name / f"seed{replica.seed}_w{replica.weight:g}_{key}"),
            "workers": self.loader_workers,
            "progress": self.progress,
        }

    # ------------------------------------------------------------ what Experiment asks of a track
    def run_config(self, variant: Variant, name: str) -> dict:
        return {
            **student_run_config(self.profile, variant, name),
            "teacher_hash": self.teacher_summary["config_hash"],
            "probe_hash": self.probe_key(name),
            "data": self.fingerprint(name),
            "streamed": True,
        }

    def task_for(self, variant: Variant, name: str):
        """What a record reads of the task: its name, metric and training-set size."""
        return SimpleNamespace(name=name, metric=ACCURACY, train=range(self.sizes(name)["train"]))

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
