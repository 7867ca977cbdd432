"""The plan of a launched profile: which runs, in which stage, on how many GPUs, and at most how
many GPU-hours, from a measured calibration (`make gpu-check` writes one).

The estimate's rule (an upper bound: every run is charged max_epochs; early stopping ends most
runs sooner). With r_X the calibrated images per second of one GPU for step X:
  seconds per training image: Student 1/r_student; KD, FitNet, FD, Hybrid 1/r_kd (the teacher
  runs live); TD with K rounds 1/r_kd + K (1/r_td - 1/r_kd) (r_td is measured at K = 1);
  an epoch: n_train x that + n_valid / r_eval; a run: max_epochs epochs, plus one validation pass
  of the model as initialised (epoch 0, a candidate of the early-stopping rules, core/stopping.py);
  the teacher's probe: (n_train + n_valid + n_test) / r_teacher.
GPU-hours do not depend on the GPUs per run when throughput scales with them (DDP, one node).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..core.config import config_hash
from ..core.store import cache_root

CALIBRATION_ENV = "IKD_CALIBRATION"
RATES = ("student", "kd", "td", "eval", "teacher")  # what a calibration measures, images/s per GPU


def calibration_path(model, track: str) -> Path:
    """Where the calibration of a model (its configuration, a dataclass) lives: IKD_CALIBRATION,
    else <cache>/<track>/calibration-<hash>.json."""
    env = os.environ.get(CALIBRATION_ENV)
    return Path(env) if env else cache_root() / track / f"calibration-{config_hash(asdict(model))}.json"


def load_calibration(model, track: str) -> dict | None:
    path = calibration_path(model, track)
    if not path.is_file():
        return None
    calibration = json.loads(path.read_text())
    missing = [k for k in RATES if not calibration.get("images_per_s", {}).get(k)]
    if missing:
        raise ValueError(f"{path}: no images/s for {missing}; run `make gpu-check` again")
    return {**calibration, "path": str(path)}


@dataclass(frozen=True)
class PlanRow:
    stage: int
    what: str  # a variant key, or "probe"
    dataset: str
    runs: int
    epochs: int  # at most (0: a preparation)
    images: int  # per run and epoch: training + validation (a probe: every split once)
    gpu_hours: float | None  # all runs of the row together, at most; None without a calibration
    done: int = 0  # runs already in the results store (skipped)

    @property
    def hours_left(self) -> float | None:
        return None if self.gpu_hours is None else self.gpu_hours * (self.runs - self.done) / self.runs


def seconds_per_train_image(method: str, k_rounds: int, rates: dict) -> float:
    if method == "student":
        return 1 / rates["student"]
    if method == "td":
        return 1 / rates["kd"] + k_rounds * (1 / rates["td"] - 1 / rates["kd"])
    return 1 / rates["kd"]


def run_seconds(method: str, k_rounds: int, sizes: dict, epochs: int, rates: dict) -> float:
    epoch = sizes["train"] * seconds_per_train_image(method, k_rounds, rates) + sizes["valid"] / rates["eval"]
    return epochs * epoch + sizes["valid"] / rates["eval"]  # and epoch 0's validation


def probe_seconds(sizes: dict, rates: dict) -> float:
    return (sizes["train"] + sizes["valid"] + sizes["test"]) / rates["teacher"]


def plan_rows(exp, waves, tasks, sizes, rates: dict | None, done=lambda key, name: 0) -> list[PlanRow]:
    """The plan of an experiment (core/experiment.py: its variants, waves, replicas per stack):
    stage 0 the probes (when some variant reads the teacher's logits), then one stage per wave.
    sizes(name) -> {"train", "valid", "test"}; done(key, name) -> runs already done ("probe" too)."""
    epochs = exp.profile.student_train.max_epochs
    hours = lambda seconds: None if rates is None else seconds / 3600
    rows = []
    if any(exp.variants[k].method in ("kd", "hybrid", "teacher") for wave in waves for k in wave):
        for name in tasks:
            s = sizes(name)
            rows.append(
                PlanRow(
                    0,
                    "probe",
                    name,
                    1,
                    0,
                    sum(s.values()),
                    hours(rates and probe_seconds(s, rates)),
                    done("probe", name),
                )
            )
    for stage, wave in enumerate(waves, start=1):
        for key in wave:
            variant = exp.variants[key]
            if variant.method == "teacher":  # evaluated from the probe, not trained
                continue
            for name in tasks:
                s, n = sizes(name), exp.n_replicas(variant, name)
                k = variant.td.k_rounds if variant.td else 0
                seconds = rates and n * run_seconds(variant.method, k, s, epochs, rates)
                rows.append(
                    PlanRow(stage, key, name, n, epochs, s["train"] + s["valid"], hours(seconds), done(key, name))
                )
    return rows


def format_plan(rows: list[PlanRow], gpus_per_run: int, launcher: str, calibration: dict | None, profile: str) -> str:
    lines = [
        f"Plan of profile {profile}: launcher {launcher}, {gpus_per_run} GPU(s) per run",
        f"{'stage':>5}  {'what':<10} {'dataset':<9} {'runs':>5} {'epochs<=':>8} {'images/epoch':>12} "
        f"{'GPU-h<=':>9} {'done':>5}",
    ]
    for r in rows:
        hours = "?" if r.gpu_hours is None else f"{r.gpu_hours:.2f}"
        lines.append(
            f"{r.stage:>5}  {r.what:<10} {r.dataset:<9} {r.runs:>5} {r.epochs or '-':>8} {r.images:>12,} "
            f"{hours:>9} {r.done:>5}"
        )
    runs, left = sum(r.runs for r in rows), sum(r.runs - r.done for r in rows)
    if calibration is None:
        lines.append(
            f"total: {runs} runs, {left} to launch; GPU-hours unknown: no calibration for this ViT "
            "(run `make gpu-check` on one of the GPUs, or set IKD_CALIBRATION to its file)"
        )
    else:
        total = sum(r.hours_left for r in rows)
        lines.append(
            f"total: {runs} runs, {left} to launch: at most {total:.1f} GPU-hours (about "
            f"{total / gpus_per_run:.1f} h of wall time with {gpus_per_run} GPU(s) per run, one run at a "
            f"time), from the calibration "
            f"{calibration['path']} ({calibration.get('device', '?')}, {calibration.get('measured', '?')})"
        )
    return "\n".join(lines)
