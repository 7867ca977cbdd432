"""Image classification tasks as tensors in memory (uint8 images, no DataLoader at the cpu
profile), the validation hold-out, and the teacher's frozen states attached once.

Every choice is made on a validation split held out of each training subset (the last
`valid_per_class` images of each class, official order); the test split is the official
one. At the cpu profile there is no augmentation, so the frozen teacher's states and probe
logits of every training image are computed once per dataset and reused by every method
and seed; only TD runs the teacher's upper blocks live.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import torch

from ..core import losses
from ..core.task import ACCURACY, Split, Task
from .data import ImageSplit, load_images, resize, split_holdout
from .profiles import Profile


@dataclass(frozen=True, eq=False)
class ImageSplits:
    name: str
    classes: tuple[str, ...]
    train: ImageSplit
    valid: ImageSplit
    test: ImageSplit
    source: str


def first_per_class(split: ImageSplit, per_class: int) -> ImageSplit:
    """The first `per_class` images of each class in official order (the smoke profile's subset)."""
    keep = torch.zeros(len(split.y), dtype=torch.bool)
    for c in split.y.unique():
        rows = (split.y == c).nonzero().flatten()
        keep[rows[split.src_idx[rows].argsort()[:per_class]]] = True
    return ImageSplit(split.x[keep], split.y[keep], split.src_idx[keep])


def load_splits(profile: Profile, name: str, data_dir=None, cache_dir=None) -> ImageSplits:
    data = load_images(name, data_dir=data_dir, cache_dir=cache_dir)
    train, test = data.train, data.test
    if profile.train_per_class:
        train = first_per_class(train, profile.train_per_class[name])
    if profile.test_limit:
        test = ImageSplit(
            test.x[: profile.test_limit], test.y[: profile.test_limit], test.src_idx[: profile.test_limit]
        )
    train, valid = split_holdout(train, profile.valid_per_class[name])
    size = profile.vit.img_size
    sized = lambda s: ImageSplit(resize(s.x, size), s.y, s.src_idx)
    return ImageSplits(name, data.classes, sized(train), sized(valid), sized(test), data.source)


def fingerprint(splits: list[ImageSplits]) -> str:
    """Names the exact images and labels a number was computed from."""
    h = hashlib.sha256()
    for s in splits:
        for part in (s.train, s.valid, s.test):
            h.update(part.x.numpy().tobytes())
            h.update(part.y.numpy().tobytes())
    return h.hexdigest()[:12]


def image_task(splits: ImageSplits, temperature: float) -> Task:
    parts = {
        name: Split(inputs=getattr(splits, name).x, target=getattr(splits, name).y)
        for name in ("train", "valid", "test")
    }
    return Task(
        name=splits.name,
        metric=ACCURACY,
        task_loss=losses.class_cross_entropy,
        kd_loss=functools.partial(losses.kd_classes, temperature=temperature),
        eval_chunk=1000,
        **parts,
    )


@torch.no_grad()
def attach_teacher(task: Task, teacher, probe_weight: torch.Tensor, probe_bias: torch.Tensor, chunk: int = 500) -> Task:
    """The frozen teacher's t_l, t_h and probe logits for every training image, [1, N, ...]."""
    outs = {"low": [], "high": [], "pred": []}
    images = task.train.inputs
    for start in range(0, len(images), chunk):
        low = teacher.forward_low(images[None, start : start + chunk])
        high = teacher.forward_up(low)
        features = teacher.vit.forward_head(teacher.vit.norm(high[0]), pre_logits=True)
        outs["low"].append(low)
        outs["high"].append(high)
        outs["pred"].append((features @ probe_weight + probe_bias)[None])
    task.train.teacher = {k: torch.cat(v, dim=1) for k, v in outs.items()}
    return task
