"""An experiment whose runs are launched, not trained in this process: the same variants, waves,
inherited choices and results store as any profile (core/experiment.py), but every run is handed
to a launcher (launchers.py: torchrun on this node, or SLURM jobs) as a spec file (spec.py), and
its result.json is brought into the store as an ordinary record (the same fields, config hash and
provenance), its steps.npz into the stack's log (per-step losses, [steps, runs], as an in-process
stack's step_log).

`run` works in stages: first the teacher's probes (the preparation that the methods reading the
teacher's logits, and the Teacher row, need), then each wave of variants (a TD ablation keeps the
λ that TD (default) chose for the same seed, so it waits for that wave's records). A finished run
is never launched again; an unfinished one resumes from its checkpoint. Nothing is computed in
this process but the plan.

A track subclasses `LaunchedExperiment` with what it knows: `entry` (the module each launched
process runs), `train_spec` and `probe_spec` (what one run needs), `sizes` (images per split),
`calibration` (plan.py), and the Experiment hooks run_config, task_for, reference_outcome (the
ViT's: vision/paper/experiment.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.config import config_hash
from ..core.experiment import EVALUATED, Experiment, Variant
from ..core.torchfiles import load_cached
from . import spec as specs
from .launchers import from_settings
from .plan import PlanRow, format_plan, plan_rows

PROBE_METHODS = ("kd", "hybrid", "teacher")  # what reads the teacher's probe


class LaunchedExperiment(Experiment):
    entry: str  # the module a launched process runs: `python -m <entry> SPEC.json ...`

    def __init__(self, profile, store_root, progress: bool = True, launcher=None):
        super().__init__(profile, store_root, progress, stack_replicas=False, workers=1)
        self._launcher = launcher

    @property
    def launcher(self):
        if self._launcher is None:
            self._launcher = from_settings(self.store.root, self.entry)
        return self._launcher

    # ------------------------------------------------------------ what a track supplies
    def train_spec(self, variant: Variant, name: str, replica, key: str) -> dict:
        """The spec of one (variant, task, seed, λ) run: kind "train", out, and what its entry reads."""
        raise NotImplementedError

    def probe_spec(self, name: str) -> dict:
        """The spec of the teacher's probe on a task: kind "probe", probe_file, out, ..."""
        raise NotImplementedError

    def sizes(self, name: str) -> dict:
        """Examples per split of a task: {"train", "valid", "test"}."""
        raise NotImplementedError

    def calibration(self) -> dict | None:
        """The measured rates the plan reads (plan.load_calibration), or None."""
        return None

    # ------------------------------------------------------------ launched, then read back
    def probe(self, name: str) -> dict:
        """The teacher's probe on a task (launched first if it is not there)."""
        spec = self.probe_spec(name)
        if not specs.finished(spec):
            self.launcher.run([specs.write(spec)], stage="probes")
        probe = load_cached(Path(spec["probe_file"]))
        if probe is None:
            raise RuntimeError(f"the probe job for {name} ended without writing {spec['probe_file']}")
        return probe

    def stack_config(self, variant: Variant, name: str) -> dict:
        """A launched run's ranks take their GPUs from torchrun, not from IKD_DEVICE: the device is
        not part of its key, on any machine."""
        return self.run_config(variant, name)

    def train_config(self, variant: Variant):
        return self.profile.student_train

    def _train(self, variant: Variant, task, replicas, noise_seed: int) -> dict:
        """Not training: the launched runs' results, as core/train.py's outcome of a stack."""
        key = config_hash(self.run_config(variant, task.name))
        results, step_logs = [], []
        for replica in replicas:
            spec = self.train_spec(variant, task.name, replica, key)
            if not specs.finished(spec):
                raise RuntimeError(
                    f"{specs.describe(spec)} has no result in {spec['out']}: launch it first "
                    f"(exp.run launches what is missing)"
                )
            results.append(specs.result(spec))
            step_logs.append(specs.step_log(spec))
        return {
            "valid_metric": [r["valid_metric"] for r in results],
            "test_metric": [r["test_metric"] for r in results],
            "best_epoch": [r["best_epoch"] for r in results],
            "epochs_run": max(r["epochs_run"] for r in results),
            "steps_run": max(r["steps_run"] for r in results),
            "wall_s": sum(r["wall_s"] for r in results),
            "step_log": step_log(step_logs),
            "epoch_log": epoch_log([r["history"] for r in results]),
        }

    # ------------------------------------------------------------ the plan and the stages
    def plan(self, waves, tasks) -> list[PlanRow]:
        calibration = self.calibration()
        done = lambda key, name: (
            int(specs.finished(self.probe_spec(name)))
            if key == "probe"
            else self.n_replicas(self.variants[key], name)
            if self.in_store((key, name))
            else 0
        )
        return plan_rows(self, waves, tasks, self.sizes, calibration and calibration["images_per_s"], done)

    def run(self, variant_keys=None, tasks=None, desc: str = "runs") -> list[dict]:
        keys = list(variant_keys or self.variants)
        tasks = tuple(tasks or self.task_names)
        waves = self.waves(keys)
        launcher = self.launcher
        print(
            format_plan(
                self.plan(waves, tasks),
                getattr(launcher, "per_run", getattr(launcher, "gpus", 1)),
                launcher.name,
                self.calibration(),
                self.profile.name,
            ),
            flush=True,
        )
        if any(self.variants[k].method in PROBE_METHODS for wave in waves for k in wave):
            probes = [self.probe_spec(name) for name in tasks]
            launcher.run([specs.write(s) for s in probes if not specs.finished(s)], stage="probes")
        for stage, wave in enumerate(waves, start=1):
            pending = [
                (key, name)
                for key in wave
                if self.variants[key].method not in EVALUATED
                for name in tasks
                if not self.in_store((key, name))
            ]
            round_ = 0
            while pending:  # a round launches every stack's missing replicas; a grown grid asks for another
                round_ += 1
                paths = []
                for key, name in pending:
                    variant = self.variants[key]
                    config_key = config_hash(self.run_config(variant, name))
                    for replica, record in zip(self.replicas(variant, name), self.record_paths(key, name)):
                        spec = self.train_spec(variant, name, replica, config_key)
                        if not record.exists() and not specs.finished(spec):
                            paths.append(specs.write(spec))
                launcher.run(paths, stage=f"wave{stage}" + (f".{round_}" if round_ > 1 else ""))
                # into the store now (the next wave reads these choices); a search that does not
                # bracket its choices yet grows, and its new values run in the next round
                pending = [
                    (key, name)
                    for key, name in pending
                    if self.grown(self.variants[key], name, self.stack_records(self.variants[key], name))
                ]
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
                values[: len(log[name]), r] = log[name]
        stacked[name] = values
    return stacked
