"""The paper profile's images, streamed from disk: torchvision's CIFAR folders and an ImageNet
ImageFolder, each image decoded and resized to the profile's resolution when a DataLoader worker
asks for it. Nothing proportional to the dataset is held as images in memory (torchvision's CIFAR
keeps its own 32-px uint8 arrays, 150 MB; an ImageFolder keeps its list of file names).

    train, valid, test, n_classes = streamed_splits("cifar10", img_size=224, valid_per_class=500)

The validation split is the cpu profile's rule (data.split_holdout): the last `valid_per_class`
images of each class, in the official order, are held out of the training split.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from ...core.store import cache_root

# torchvision's class and the folder its download unpacks to, under <cache>/vision
CIFAR = {"cifar10": ("CIFAR10", "cifar-10-batches-py"), "cifar100": ("CIFAR100", "cifar-100-python")}
IMAGENET_ENV = "IKD_IMAGENET_DIR"
STREAMED = tuple(CIFAR) + ("imagenet",)


def cifar_root() -> Path:
    """Where torchvision's CIFAR folders live: <cache>/vision (IKD_CACHE_DIR, else <repo>/.cache)."""
    return cache_root() / "vision"


def raw_split(name: str, train: bool):
    """torchvision's dataset of PIL images (transform unset) for one official split; never downloads."""
    import torchvision

    if name in CIFAR:
        cls = getattr(torchvision.datasets, CIFAR[name][0])
        return cls(cifar_root(), train=train, download=False)
    if name == "imagenet":
        from ..data import imagenet_folder

        return imagenet_folder()[0 if train else 1]
    raise ValueError(f"no streamed dataset {name!r}; valid: {', '.join(STREAMED)}")


class Resized(Dataset):
    """(uint8 [3, size, size], label) per item of a dataset of PIL images: RGB, resized with
    antialiased bilinear interpolation, decoded in whichever DataLoader worker asks."""

    def __init__(self, base, size: int):
        self.base, self.size = base, size

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        from torchvision.transforms import v2

        image, label = self.base[i]
        x = v2.functional.pil_to_tensor(image.convert("RGB"))
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = v2.functional.resize(x, [self.size, self.size], antialias=True)
        return x, int(label)


def holdout(targets, per_class: int) -> tuple[list[int], list[int]]:
    """(train, valid) indices: the last `per_class` images of each class, in the official order,
    are validation (data.split_holdout's rule); a per_class that leaves a class empty is refused."""
    targets = torch.as_tensor(targets)
    valid = torch.zeros(len(targets), dtype=torch.bool)
    for c in targets.unique():
        rows = (targets == c).nonzero().flatten()
        if not 0 < per_class < len(rows):
            raise ValueError(
                f"valid_per_class={per_class} must be in 1..{len(rows) - 1} "
                f"(class {int(c)} has {len(rows)} training images)"
            )
        valid[rows[-per_class:]] = True
    return (~valid).nonzero().flatten().tolist(), valid.nonzero().flatten().tolist()


def streamed_splits(name: str, img_size: int, valid_per_class: int):
    """(train, valid, test, n_classes): Datasets of (uint8 image, label), read from disk per item."""
    full, test = raw_split(name, True), raw_split(name, False)
    train_idx, valid_idx = holdout(full.targets, valid_per_class)
    full, test = Resized(full, img_size), Resized(test, img_size)
    return Subset(full, train_idx), Subset(full, valid_idx), test, len(full.base.classes)


# the official splits (train, test, classes), for a projection on a machine without the data
OFFICIAL_SIZES = {
    "cifar10": (50_000, 10_000, 10),
    "cifar100": (50_000, 10_000, 100),
    "imagenet": (1_281_167, 50_000, 1000),
}


def official_sizes(name: str, valid_per_class: int) -> dict:
    """Images per split by the official sizes (what split_sizes would count with the data here)."""
    train, test, classes = OFFICIAL_SIZES[name]
    return {"train": train - valid_per_class * classes, "valid": valid_per_class * classes, "test": test}


def split_sizes(name: str, valid_per_class: int) -> dict[str, int]:
    """Images per split (train after the hold-out, valid, test), from the datasets' labels."""
    train = raw_split(name, True)
    n_valid = valid_per_class * len(train.classes)
    return {"train": len(train.targets) - n_valid, "valid": n_valid, "test": len(raw_split(name, False).targets)}


def fingerprint(name: str) -> str:
    """Names the data a number was computed from without reading every image: the dataset, the
    labels of both splits in order, and an ImageFolder's file names (torchvision checks the CIFAR
    files' md5 whenever it opens them)."""
    h = hashlib.sha256(name.encode())
    for train in (True, False):
        ds = raw_split(name, train)
        h.update(bytes(str(len(ds.targets)), "ascii"))
        h.update(torch.as_tensor(ds.targets, dtype=torch.int64).numpy().tobytes())
        for path, _ in getattr(ds, "samples", ()):  # ImageFolder: every file, by name
            h.update(os.path.relpath(path, ds.root).encode())
    return h.hexdigest()[:12]
