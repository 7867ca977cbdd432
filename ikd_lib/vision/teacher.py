"""The ViT teacher: pre-trained once on a broad label space, never fine-tuned; and the linear
probe that gives it logits over a downstream task's classes.

- `cpu`/`smoke` profiles: the project pre-trains its own 12-block ViT on the pooled training
  subsets of every dataset under one head (10 + 100 + 20 = 130 classes), as ImageNet-21k
  contains the ImageNet-1k classes the paper distils to. Validation and test images are never
  seen. Cached by config hash; a second process waits for the first (a file lock).
- `paper` profile: timm's `vit_base_patch16_224.augreg_in21k` (ImageNet-21k, not fine-tuned)
  through timm's own pretrained mechanism, or a local file (IKD_VIT_CHECKPOINT).

A teacher that was not fine-tuned has no logits over the downstream classes, yet logit KD
and the "Teacher" row need them: a linear probe (multinomial logistic regression on the
frozen teacher's pooled features) is fitted on the downstream *training* split only, its L2
chosen on the validation split; its logits are the teacher's prediction. Cached too.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..core.config import config_hash
from ..core.device import hash_parts
from ..core.methods import freeze
from ..core.optim import NUMERICS, PinnedAdam
from ..core.stacked import replica_generator
from ..core.store import file_lock
from ..core.torchfiles import atomic_save, load_cached
from .models import TappedViT, build_vit
from .profiles import Profile

PROBE_L2S = (1e-4, 1e-3, 1e-2, 1e-1)  # the probe's L2 grid, chosen on validation accuracy
CHECKPOINT_ENV = "IKD_VIT_CHECKPOINT"


# ---------------------------------------------------------------- pre-training (cpu, smoke)
def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop after 4-pixel reflection padding, and a horizontal flip, per image."""
    n, _, h, w = images.shape
    padded = F.pad(images.float(), (4, 4, 4, 4), mode="reflect")
    rows = torch.randint(0, 9, (n, 1), generator=generator) + torch.arange(h)  # [n, h]
    cols = torch.randint(0, 9, (n, 1), generator=generator) + torch.arange(w)  # [n, w]
    out = padded[
        torch.arange(n)[:, None, None, None],
        torch.arange(3)[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out).round().to(torch.uint8)


def pretrain_config_hash(profile: Profile, data_fingerprint: str, device: torch.device | None = None) -> str:
    """A teacher pre-trained on a GPU is another teacher (core/device.py); the CPU's hash is unchanged."""
    return config_hash(
        "vision-teacher", asdict(profile.vit), asdict(profile.pretrain), data_fingerprint, NUMERICS, *hash_parts(device)
    )


def pretrain_teacher(
    profile: Profile,
    images: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    progress: bool = True,
    device: torch.device | None = None,
) -> tuple[TappedViT, dict]:
    """Train the 12-block teacher from scratch on the pooled images (AdamW, cosine schedule
    with warm-up, augmentation), with exactly `pretrain.threads` threads (a pinned choice),
    on `device` (default the CPU; data order and augmentation are drawn on the CPU either way).
    The teacher is returned on the CPU."""
    cfg, pre = profile.vit, profile.pretrain
    device = device or torch.device("cpu")
    vit = build_vit(cfg, cfg.teacher_depth, n_classes, seed=0).to(device)
    # PinnedAdam, not torch's AdamW: the same bits on every CPU (core/optim.py)
    optimiser = PinnedAdam(vit.parameters(), lr=pre.lr, weight_decay=pre.weight_decay, decoupled=True)
    steps_per_epoch = math.ceil(len(labels) / pre.batch_size)
    total, warmup = pre.epochs * steps_per_epoch, pre.warmup_epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, total)))),
    )
    before = torch.get_num_threads()
    torch.set_num_threads(pre.threads)
    start, losses = time.perf_counter(), []
    try:
        bar = tqdm(range(pre.epochs), desc="ViT teacher pre-training (once, cached)", disable=not progress)
        for epoch in bar:
            vit.train()
            g = replica_generator(0, f"vision.pretrain.epoch{epoch}")
            order = torch.randperm(len(labels), generator=g)
            epoch_loss = 0.0
            for begin in range(0, len(labels), pre.batch_size):
                index = order[begin : begin + pre.batch_size]
                batch = augment(images[index], g) if pre.augment else images[index]
                loss = F.cross_entropy(
                    TappedViT(vit, cfg.low_block, 0)(batch.to(device))[0][0], labels[index].to(device)
                )
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                schedule.step()
                epoch_loss += float(loss.detach()) * len(index)
            losses.append(epoch_loss / len(labels))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    finally:
        torch.set_num_threads(before)
    vit.to("cpu")
    summary = {
        "epochs": pre.epochs,
        "train_loss_per_epoch": losses,
        "wall_s": time.perf_counter() - start,
        "n_images": len(labels),
        "n_classes": n_classes,
        "parameters": sum(p.numel() for p in vit.parameters()),
    }
    return freeze(TappedViT(vit, cfg.low_block, 0)), summary


def weights_hash(state_dict: dict) -> str:
    """The first 16 hex digits of a SHA-256 over a state dict (names and raw bytes, in order):
    the same teacher on two machines has the same hash (make verify checks a cached one with it)."""
    h = hashlib.sha256()
    for name, tensor in state_dict.items():
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def load_or_pretrain_teacher(
    profile: Profile,
    images,
    labels,
    n_classes: int,
    data_fingerprint: str,
    cache_dir: Path,
    progress: bool = True,
    device: torch.device | None = None,
) -> tuple[TappedViT, dict]:
    key = pretrain_config_hash(profile, data_fingerprint, device)
    path = Path(cache_dir) / "vision" / f"teacher-{key}.pt"
    with file_lock(path.with_suffix(".lock"), "the ViT teacher"):
        saved = load_cached(path)
        if saved is not None:
            vit = build_vit(profile.vit, profile.vit.teacher_depth, n_classes, seed=0)
            vit.load_state_dict(saved["state_dict"])
            return freeze(TappedViT(vit, profile.vit.low_block, 0)), {
                **saved["summary"],
                "weights_sha256": weights_hash(vit.state_dict()),
            }
        teacher, summary = pretrain_teacher(profile, images, labels, n_classes, progress, device)
        summary["config_hash"] = key
        summary["weights_sha256"] = weights_hash(teacher.vit.state_dict())
        atomic_save({"state_dict": teacher.vit.state_dict(), "summary": summary}, path)
        return teacher, summary


# ---------------------------------------------------------------- the paper's checkpoint
def load_pretrained_teacher(profile: Profile, offline: bool | None = None) -> tuple[TappedViT, dict]:
    """timm's ImageNet-21k ViT-B/16 (not fine-tuned): a local file (IKD_VIT_CHECKPOINT), else
    timm's pretrained mechanism (the Hugging Face hub); offline without the file, a clear error."""
    cfg = profile.vit
    local = os.environ.get(CHECKPOINT_ENV)
    offline = (
        os.environ.get("IKD_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1" if offline is None else offline
    )
    if local and not Path(local).is_file():
        raise FileNotFoundError(f"{CHECKPOINT_ENV}={local} is not a file")
    if not local and offline:
        raise FileNotFoundError(
            f"the paper profile's teacher {cfg.timm_name} is not available offline. Either\n"
            f"  1. set {CHECKPOINT_ENV} to a local file of its weights (.safetensors or .pth, as timm saves them), or\n"
            f"  2. go online (unset IKD_OFFLINE and HF_HUB_OFFLINE) so timm downloads it from the Hugging Face hub."
        )
    vit = build_vit(cfg, cfg.teacher_depth, 0, seed=0, pretrained=True, checkpoint=local)
    return freeze(TappedViT(vit, cfg.low_block, 0)), {
        "config_hash": config_hash(cfg.timm_name, local or "hub"),
        "source": local or f"timm hub: {cfg.timm_name}",
    }


# ---------------------------------------------------------------- the linear probe
@torch.no_grad()
def features(teacher: TappedViT, images: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    return torch.cat([teacher.features(images[i : i + chunk]) for i in range(0, len(images), chunk)])


def fit_probe(train_x, train_y, valid_x, valid_y, n_classes: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Multinomial logistic regression on standardised features (L-BFGS, full batch), one fit
    per L2 in PROBE_L2S on the training split; the L2 with the best validation accuracy wins."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    xs, xv = (train_x - mean) / std, (valid_x - mean) / std
    best = None
    for l2 in PROBE_L2S:
        weight = torch.zeros(train_x.shape[1], n_classes, requires_grad=True, device=train_x.device)
        bias = torch.zeros(n_classes, requires_grad=True, device=train_x.device)
        opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=300, history_size=20, line_search_fn="strong_wolfe")

        def closure(opt=opt, weight=weight, bias=bias, l2=l2):  # called by opt.step of this l2 only
            opt.zero_grad()
            loss = F.cross_entropy(xs @ weight + bias, train_y) + l2 * weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            accuracy = float(((xv @ weight + bias).argmax(1) == valid_y).float().mean())
        if best is None or accuracy > best[0]:
            best = (accuracy, l2, weight.detach(), bias.detach())
    accuracy, l2, weight, bias = best
    # fold the standardisation into the weights: logits = x @ W' + b'
    folded_w = weight / std[:, None]
    folded_b = bias - (mean / std) @ weight
    return folded_w, folded_b, {"l2": l2, "valid_accuracy": accuracy}
