"""What a launcher starts on each GPU: the runs (and probe preparations) of a list of spec files,
one after another, in one process group. The orchestrator (experiment.py, on
ikd_lib/launch/launched.py) writes the specs.

    torchrun --standalone --nproc_per_node=8 -m ikd_lib.vision.paper.run runs/paper/vision/ddp/.../spec.json ...

A spec is a JSON object (ikd_lib/launch/spec.py). A finished spec (its result, with the spec's hash) is skipped;
an unfinished one resumes from its checkpoint (ddp.train_ddp), so a launcher may start the same
list again after a crash, a kill or a preemption and lose at most one epoch per run.
Data are streamed from disk (stream.py) with DataLoader workers; the frozen teacher computes its
states live for each batch (ddp.py). Runs of one list share the teacher (loaded once).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist

from ...core.config import TDConfig, TrainConfig
from ...core.methods import build_method, freeze
from ...core.store import atomic_write_json, provenance
from ...core.torchfiles import atomic_save
from ...launch import spec as specs
from ..models import TappedViT, TeacherUp, build_vit, student_from_teacher
from ..profiles import ViTConfig
from ..teacher import augment as crop_and_flip, fit_probe
from . import ddp
from .stream import streamed_splits


@functools.lru_cache(maxsize=2)
def teacher_for(vit_json: str, checkpoint: str | None) -> TappedViT:
    """The frozen teacher: the pre-trained checkpoint (timm), or for a profile with its own small
    ViT a *random* one (seed 0): that checks the machinery, not the method."""
    cfg = ViTConfig(**json.loads(vit_json))
    vit = build_vit(cfg, cfg.teacher_depth, 0, seed=0, pretrained=cfg.timm_name is not None, checkpoint=checkpoint)
    return freeze(TappedViT(vit, cfg.low_block, 0))


def _teacher(spec: dict) -> TappedViT:
    return teacher_for(json.dumps(spec["vit"], sort_keys=True), spec.get("checkpoint"))


def _splits(spec: dict):
    return streamed_splits(spec["dataset"], spec["vit"]["img_size"], spec["valid_per_class"])


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


# ---------------------------------------------------------------- a training run
def run_train(spec: dict) -> dict:
    """One (variant, dataset, seed, λ) run with DDP over the process group; rank 0 writes its
    result and its per-step training losses (spec.py)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    device = _device()
    teacher = _teacher(spec).to(device)
    train_set, valid_set, test_set, n_classes = _splits(spec)
    td = TDConfig(**spec["td"]) if spec["td"] else None
    if td is not None and td.noise_std > 0:  # "add noise": σ is relative to the spread of t_l
        with torch.no_grad():
            some = torch.stack([train_set[i][0] for i in range(min(64, len(train_set)))]).to(device)
            td = replace(td, noise_std=td.noise_std * float(teacher.forward_low(some[None]).float().std()))
    if spec["probe"]:
        probe = torch.load(spec["probe"], map_location="cpu", weights_only=False)
    elif spec["method"] in ("kd", "hybrid"):
        raise ValueError(f"{spec['variant']} distils the teacher's logits: its spec needs a probe file")
    else:  # no method but kd and hybrid reads teacher_pred
        probe = {"weight": torch.zeros(teacher.width, n_classes), "bias": torch.zeros(n_classes)}
    task_like = ddp.TaskLike(spec["temperature"])
    student = student_from_teacher(teacher, ViTConfig(**spec["vit"]), n_classes, spec["seed"])
    method = build_method(
        spec["method"],
        student,
        TeacherUp(teacher) if spec["method"] != "student" else None,
        torch.tensor([spec["weight"]]),
        task_like,
        td,
        noise_seed=spec["seed"],
    )
    states = ddp.teacher_states_fn(teacher, probe["weight"], probe["bias"])
    if spec["method"] == "student":  # the scratch student reads nothing of the teacher's
        states = lambda images: {}
    states = _fault_injection(states)
    cfg = TrainConfig(**spec["train"])
    out = Path(spec["out"])
    result = ddp.train_ddp(
        method,
        states,
        train_set,
        valid_set,
        cfg,
        out / "checkpoint",
        spec["seed"],
        augment=crop_and_flip,
        device=device,
        progress=spec.get("progress", True),
        num_workers=spec["workers"],
    )
    test = ddp.evaluate(method, test_set, device, max(1, cfg.batch_size // world), spec["workers"])
    saved = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    record = {
        **asdict(result),
        "test_metric": test,
        "steps_run": saved["progress"]["step"],
        "history": saved["history"],
        "step_log_file": specs.STEPS,
        "world_size": world,
        "n_train": len(train_set),
        "spec_hash": specs.spec_hash(spec),
        "spec": spec,
        "provenance": provenance(),
    }
    if rank == 0:  # the step log first: a finished spec (its result.json) has both
        specs.write_step_log(out / specs.STEPS, saved["step_log"])
        atomic_write_json(out / specs.RESULT, record)
    return record


KILL_ENV = "IKD_FAULT_KILL_AT_STEP"


def _fault_injection(states):
    """For tests of resuming: with IKD_FAULT_KILL_AT_STEP=n every rank kills itself (SIGKILL: no
    clean-up, as the OOM killer or a lost node would) when it is about to take training step n of
    this process (0-based; evaluation takes no steps). Without the variable, `states` unchanged."""
    at = os.environ.get(KILL_ENV)
    if at is None:
        return states
    count = iter(range(1 << 62))

    def states_or_die(images):
        if next(count) == int(at):
            os.kill(os.getpid(), signal.SIGKILL)
        return states(images)

    return states_or_die


# ---------------------------------------------------------------- the teacher's probe
@torch.no_grad()
def _features(
    teacher, dataset, device, batch_size: int, workers: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features [n, D] float32, labels [n], index [n]) of this rank's share (every world-th image)."""
    from torch.utils.data import DataLoader, Subset

    rank, world = dist.get_rank(), dist.get_world_size()
    index = torch.arange(rank, len(dataset), world)
    feats, labels = [], []
    for images, y in DataLoader(
        Subset(dataset, index.tolist()), batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda"
    ):
        with ddp.autocast(device):
            feats.append(teacher.features(images.to(device, non_blocking=True)).float().cpu())
        labels.append(y)
    return (
        (torch.cat(feats) if feats else torch.zeros(0, teacher.width)),
        (torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)),
        index,
    )


def run_probe(spec: dict) -> dict:
    """The teacher's linear probe on one dataset: features of the frozen teacher streamed over the
    training, validation and test splits (shared out over the ranks), then on rank 0 a multinomial
    logistic regression on the training features, its L2 chosen on validation (teacher.fit_probe),
    and its accuracy on validation and test (the Teacher (probe) row)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    device = _device()
    teacher = _teacher(spec).to(device)
    splits = dict(zip(("train", "valid", "test"), _splits(spec)[:3]))
    n_classes = len(splits["train"].dataset.base.classes)
    out = Path(spec["out"])
    for name, dataset in splits.items():  # each rank's share to disk: the features, not the images
        atomic_save(
            _features(teacher, dataset, device, spec["batch_size"], spec["workers"]),
            out / f"features-{name}-rank{rank}.pt",
        )
    dist.barrier()
    probe = None
    if rank == 0:
        full = {}
        for name in splits:
            parts = [torch.load(out / f"features-{name}-rank{r}.pt", weights_only=True) for r in range(world)]
            order = torch.cat([p[2] for p in parts]).argsort()  # back to the dataset's order
            full[name] = (
                torch.cat([p[0] for p in parts])[order].to(device),
                torch.cat([p[1] for p in parts])[order].to(device),
            )
        weight, bias, info = fit_probe(*full["train"], *full["valid"], n_classes)
        accuracy = {
            name: float(((full[name][0] @ weight + bias).argmax(1) == full[name][1]).float().mean())
            for name in ("valid", "test")
        }
        probe = {
            "weight": weight.cpu(),
            "bias": bias.cpu(),
            "info": info,
            "accuracy": accuracy,
            "config_hash": spec["key"],
            "n_train": len(splits["train"]),
            "spec": spec,
        }
        atomic_save(probe, Path(spec["probe_file"]))
        for path in out.glob("features-*-rank*.pt"):
            path.unlink()
    dist.barrier()
    return probe


# ---------------------------------------------------------------- the entry point
def main(argv=None) -> None:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        raise SystemExit("usage: torchrun ... -m ikd_lib.vision.paper.run SPEC.json [SPEC.json ...]")
    created = not dist.is_initialized()
    rank, world = ddp.setup()
    for path in paths:
        spec = specs.load(path)
        if specs.finished(spec):
            if rank == 0:
                print(f"done already: {specs.describe(spec)}", flush=True)
            continue
        start = time.perf_counter()
        if rank == 0:
            print(f"running on {world} process(es): {specs.describe(spec)}", flush=True)
        (run_probe if spec["kind"] == "probe" else run_train)(spec)
        dist.barrier()
        if rank == 0:
            print(f"finished in {time.perf_counter() - start:.0f} s: {specs.describe(spec)}", flush=True)
    if created:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
