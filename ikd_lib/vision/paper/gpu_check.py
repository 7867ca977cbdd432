"""The GPU check and calibration of the paper profile (`make gpu-check`): a few minutes on one GPU.

ViT-B/16 at 224 px (the pre-trained checkpoint when one is on this machine, else random weights:
speed does not depend on them), bf16 autocast, the paper profile's global batch on one GPU:
images per second of a Student, a KD and a TD (K = 1) training step, of the student's evaluation
and of the teacher's forward pass (the probe's features); the TD/KD ratio; peak GPU memory; and
the paper profile's projected GPU-hours (ikd_lib/launch/plan.py's rule). The rates are written as the
calibration that `make tables PROFILE=paper` reads to print its plan.

    python -m ikd_lib.vision.paper.gpu_check                 # on a GPU
    python -m ikd_lib.vision.paper.gpu_check --tiny --out X  # the smoke ViT on the CPU (tests)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from ...core.experiment import Experiment
from ...core.methods import build_method, freeze
from ...core.train import make_optimizers
from ...launch.plan import calibration_path, format_plan, plan_rows
from ..models import TappedViT, TeacherUp, build_vit, student_from_teacher
from ..profiles import get_profile
from ..variants import vision_variants
from . import ddp
from .preflight import checkpoint_file
from .stream import official_sizes


def _timed(step, steps: int, warmup: int, device) -> float:
    """Seconds per call of step(), after `warmup` calls (compilation, allocator, cuDNN choices)."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def _rates_of(
    kind: str, profile, teacher, states_of, images, labels, n_classes: int, steps: int, warmup: int, device
) -> dict:
    """images/s of a `kind` (student, kd, td) training step on one batch; for the student also of
    its evaluation ("eval"). The peak memory counter is reset first."""
    batch = len(images)
    student = student_from_teacher(teacher, profile.vit, n_classes, seed=0)
    td = profile.td if kind == "td" else None
    method = build_method(
        kind,
        student,
        TeacherUp(teacher) if kind != "student" else None,
        torch.tensor([1.0]),
        ddp.TaskLike(profile.temperature),
        td,
    ).to(device)
    optimizers = make_optimizers(method, profile.student_train)
    method.train()

    def step():
        with ddp.autocast(device):
            with torch.no_grad():
                states = states_of(images) if kind != "student" else {}
            total, _ = ddp.Objective(method)({"inputs": images[None], "target": labels[None], **states})
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        total.backward()
        for opt in optimizers.values():
            opt.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rates = {kind: batch / _timed(step, steps, warmup, device)}
    if kind == "student":  # evaluation: the student's forward pass alone
        method.eval()

        @torch.no_grad()
        def evaluate():
            with ddp.autocast(device):
                method.predict(images[None])

        rates["eval"] = batch / _timed(evaluate, steps, warmup, device)
    return rates


def measure(
    profile, batch: int, steps: int, warmup: int, device, checkpoint: str | None = None, n_classes: int = 100
) -> dict:
    """images/s per step kind and peak memory, with the profile's ViT on `device`."""
    cfg = profile.vit
    pretrained = cfg.timm_name is not None and checkpoint is not None
    teacher = freeze(
        TappedViT(
            build_vit(cfg, cfg.teacher_depth, 0, seed=0, pretrained=pretrained, checkpoint=checkpoint), cfg.low_block, 0
        )
    ).to(device)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, cfg.img_size, cfg.img_size), dtype=torch.uint8, generator=g).to(device)
    labels = torch.randint(0, n_classes, (batch,), generator=g).to(device)
    probe_w, probe_b = torch.randn(teacher.width, n_classes, generator=g) * 0.02, torch.zeros(n_classes)
    states_of = ddp.teacher_states_fn(teacher, probe_w, probe_b)
    rates, memory = {}, {}
    for kind in ("student", "kd", "td"):  # one model at a time: each is freed before the next is built
        rates |= _rates_of(kind, profile, teacher, states_of, images, labels, n_classes, steps, warmup, device)
        if device.type == "cuda":
            memory[kind] = torch.cuda.max_memory_allocated(device) / 2**30

    @torch.no_grad()
    def teacher_forward():
        with ddp.autocast(device):
            teacher.features(images)

    rates["teacher"] = batch / _timed(teacher_forward, steps, warmup, device)
    return {"images_per_s": rates, "peak_memory_gib": memory}


class _Counting(Experiment):
    """Just enough of an experiment to count a profile's runs (variants, waves, replicas)."""

    def __init__(self, profile):
        super().__init__(profile, Path("/nonexistent"), progress=False, stack_replicas=False, workers=1)
        self.variants = vision_variants(profile, profile.noise_std)


def projection(profile, rates: dict, calibration_file: str) -> str:
    """The plan of the paper profile's Tables 4, 6, 9 on the official dataset sizes."""
    exp = _Counting(profile)
    waves = exp.waves(list(exp.variants))
    sizes = lambda name: official_sizes(name, profile.valid_per_class[name])
    rows = plan_rows(exp, waves, profile.datasets, sizes, rates)
    return format_plan(
        rows, 1, "(any)", {"path": calibration_file, "device": "this check", "measured": "now"}, profile.name
    )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the smoke profile's ViT (32 px): a test on the CPU")
    parser.add_argument("--batch", type=int, help="images per step (default: the profile's global batch)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per kind")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", help="the calibration file (default: ikd_lib.launch.plan.calibration_path)")
    args = parser.parse_args(argv)
    paper = get_profile("paper")
    profile = replace(paper, vit=get_profile("smoke").vit, td=get_profile("smoke").td) if args.tiny else paper
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    checkpoint = None
    if profile.vit.timm_name:
        checkpoint = checkpoint_file(profile.vit.timm_name)
    batch = args.batch or profile.student_train.batch_size
    start = time.perf_counter()
    measured = measure(profile, batch, args.steps, args.warmup, device, checkpoint)
    rates = measured["images_per_s"]
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()})"
    )
    calibration = {
        **measured,
        "device": name,
        "batch": batch,
        "bf16": device.type == "cuda",
        "weights": "pre-trained" if checkpoint else "random",
        "vit": profile.vit.__dict__,
        "td_over_kd_step_time": rates["kd"] / rates["td"],
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "wall_s": time.perf_counter() - start,
    }
    out = Path(args.out) if args.out else calibration_path(profile.vit, "vision")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(calibration, indent=1))
    print(f"{name}, batch {batch}, {'bf16' if calibration['bf16'] else 'fp32'}, {calibration['weights']} weights:")
    for kind in ("student", "kd", "td", "eval", "teacher"):
        mem = measured["peak_memory_gib"].get(kind)
        print(f"  {kind:<8} {rates[kind]:10.1f} images/s" + (f", peak memory {mem:.1f} GiB" if mem else ""))
    print(f"  a TD step takes {calibration['td_over_kd_step_time']:.2f}x a KD step")
    print(f"calibration written to {out}")
    if not args.tiny:
        print(projection(profile, rates, str(out)))
    return calibration


if __name__ == "__main__":
    main()
