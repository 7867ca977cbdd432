"""The images of the ViT track as uint8 tensors in memory, identical whatever the source.

``load_images(name)`` looks in this order (one printed line says which was used):

1. a folder with the offline ``.npz`` copies (``data_dir``, env ``IKD_IMAGE_DATA_DIR``, or
   ``<repo>/../shared/data``), each file checked against its sha256 from that folder's README;
2. the cache (``cache_dir``, env ``IKD_CACHE_DIR``, or ``<repo>/.cache``), under ``vision/``:
   torchvision's CIFAR folders, or the Tiny-ImageNet subset built from the official zip;
   when online (``IKD_OFFLINE`` unset) those are downloaded there first.

Every source goes through the same subset rule, so all of them give the same tensors (the
Tiny-ImageNet JPEGs aside: another decoder may differ by +-1). The cpu profile uses class-balanced
subsets: CIFAR-10 first 400 train images per class, CIFAR-100 first 40, both official test
splits; Tiny-ImageNet-200's first 20 classes (80 train, all 50 val images each) stands in for
ImageNet. Rows interleave the classes round-robin: row i*K + k is the i-th image of class k.
The paper profile's full ImageNet is read by ``imagenet_folder()``.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torchvision.datasets.utils import calculate_md5, download_url

from ..core.console import say
from ..core.store import REPO_ROOT, cache_root

DATASETS = ("cifar10", "cifar100", "tinyimagenet")  # tinyimagenet = the ImageNet stand-in of the cpu profile
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"

# The offline files and their sha256, from the table in DEFAULT_DATA_DIR/README.md.
OFFLINE_FILES = {
    "cifar10": ("cifar10_train.npz", "cifar10_test.npz"),
    "cifar100": ("cifar100_train.npz", "cifar100_test.npz"),
    "tinyimagenet": ("tinyimagenet_train.npz", "tinyimagenet_val.npz"),
}
SHA256 = {
    "cifar10_train.npz": "45a4a307a62dbb6893b54be3fd38a66a96f68c1d0a15bcf69b6f5915b546039f",
    "cifar10_test.npz": "fae3375329ed2809e5b254eb0699b887253ee07ee27d6f979a5d666e087510cf",
    "cifar100_train.npz": "733a131ae87755d054ae3617b7597f9ff1753acf2ded7fc70e5cb8cd10ca6440",
    "cifar100_test.npz": "9f94318868b780844cbe7ac392f68a7d75f272dabb68c9b97cf3dd7c7f12c2c5",
    "tinyimagenet_train.npz": "42478d7eb85188d33490eee77511315828a0a7f45fe959672d0e2c6f61f1df23",
    "tinyimagenet_val.npz": "6fd685dd90f4cb9a4c497ae43153299eb23b82fd50b582621243d33e3aab741f",
}

CIFAR_TRAIN_PER_CLASS = {"cifar10": 400, "cifar100": 40}
# Official within-class indices that the offline CIFAR-10 copy could not recover losslessly
# (class index -> indices). The subset rule skips them for every source, so that torchvision
# gives the same images as the offline copy. Train: derived from cifar10_train.npz's src_idx
# (the indices below 401 / 403 missing for deer / ship); test: listed in the README.
CIFAR10_UNRECOVERED = {
    "train": {
        4: (124,),  # deer
        8: (32, 47, 213),
    },  # ship
    "test": {
        7: (917,),  # horse
        8: (80, 135, 151, 155, 239, 293, 308, 377, 380, 417, 463, 563, 571, 606, 740, 755, 756, 764, 786, 847),
    },  # ship
}

TINY_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_ZIP = "tiny-imagenet-200.zip"
# No checksum is published beside the zip; this md5 is the one that dataset libraries pin, e.g.
# ContinualAI/avalanche @ 0a0872087edd295eba6329aee90769bc4fe969d8,
# avalanche/benchmarks/datasets/tiny_imagenet/tiny_imagenet.py (`md5 = ...`).
TINY_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
TINY_CLASSES, TINY_TRAIN_PER_CLASS = 20, 80


@dataclass(frozen=True, eq=False)  # eq=False: a generated == would compare tensors and raise
class ImageSplit:
    x: torch.Tensor  # uint8 [N, 3, H, W], RGB
    y: torch.Tensor  # int64 [N], class index
    src_idx: torch.Tensor  # int64 [N], position within its class in the official split order


@dataclass(frozen=True, eq=False)
class ImageData:
    name: str
    classes: tuple[str, ...]
    train: ImageSplit
    test: ImageSplit  # the official test split (Tiny-ImageNet: its val split)
    source: str  # where the data came from, one line, for the record
    resolution: int  # H = W


# ---------------------------------------------------------------- public API


def load_images(name: str, data_dir=None, cache_dir=None, offline: bool | None = None) -> ImageData:
    """Find, verify and load dataset `name` (one of DATASETS); see the module docstring for the order."""
    if name not in DATASETS:
        close = difflib.get_close_matches(name, DATASETS, n=1)
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + "; the full ImageNet is read by imagenet_folder()"
        )
    offline = os.environ.get("IKD_OFFLINE") == "1" if offline is None else offline
    (train, test), source = _find(name, data_dir, cache_dir, offline)
    say(f"{name}: {source}")  # one line, so notebook users see where the data came from
    return ImageData(
        name,
        tuple(str(c) for c in train["classes"]),
        _to_split(train),
        _to_split(test),
        source,
        int(train["x"].shape[1]),
    )


def split_holdout(split: ImageSplit, per_class: int) -> tuple[ImageSplit, ImageSplit]:
    """(train, valid): the last `per_class` images of each class by src_idx become valid.

    Deterministic, and both parts keep the rows' original order, so the round-robin
    interleaving of the classes survives.
    """
    y, src = split.y.numpy(), split.src_idx.numpy()
    valid = np.zeros(len(y), dtype=bool)
    for k in np.unique(y):
        rows = np.flatnonzero(y == k)
        if not 0 < per_class < len(rows):  # ([-0:] would select everything)
            raise ValueError(f"per_class={per_class} must be in 1..{len(rows) - 1} (class {k} has {len(rows)} images)")
        valid[rows[np.argsort(src[rows], kind="stable")[-per_class:]]] = True
    mask = torch.from_numpy(valid)
    return _take(split, ~mask), _take(split, mask)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [N, 3, H, W] -> uint8 [N, 3, size, size]: bilinear with antialias, rounded; a no-op at that size."""
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise ValueError(f"resize expects a uint8 [N, C, H, W] tensor, got {x.dtype} {tuple(x.shape)}")
    if tuple(x.shape[-2:]) == (size, size):
        return x
    # In chunks: the float copy of a whole upscaled training set would not fit in memory.
    return torch.cat(
        [
            F.interpolate(chunk.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            .round_()
            .clamp_(0, 255)
            .to(torch.uint8)
            for chunk in x.split(512)
        ]
    )


def imagenet_folder(root=None) -> tuple[torchvision.datasets.ImageFolder, torchvision.datasets.ImageFolder]:
    """The full ImageNet of the paper profile: (train, val) ImageFolders of `root` or env IKD_IMAGENET_DIR.

    Raw datasets (PIL images, transform=None): the transforms are the caller's.
    """
    root = root or os.environ.get("IKD_IMAGENET_DIR")
    if not root or not all((Path(root) / s).is_dir() for s in ("train", "val")):
        raise FileNotFoundError(
            f"ImageNet not found{f' in {root}' if root else ''}: set IKD_IMAGENET_DIR (or pass root) to a folder "
            "with train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (torchvision ImageFolder layout, one "
            "subfolder per class, the val images sorted into class folders too)"
        )
    return tuple(torchvision.datasets.ImageFolder(Path(root) / s, transform=None) for s in ("train", "val"))


# ---------------------------------------------------------------- finding the data


def _find(name: str, data_dir, cache_dir, offline: bool) -> tuple[tuple[dict, dict], str]:
    """(train, test) arrays in the offline-file format, and a line saying where they came from."""
    explicit = data_dir or os.environ.get("IKD_IMAGE_DATA_DIR")
    folder = Path(explicit) if explicit else DEFAULT_DATA_DIR
    vision = cache_root(cache_dir) / "vision"
    files = OFFLINE_FILES[name]
    if all((folder / f).is_file() for f in files):
        return tuple(_read_npz(folder / f, SHA256[f]) for f in files), f"offline copy in {folder} (sha256 verified)"
    attempts = [f"folder {folder}: no {' and '.join(files)}"]
    if not explicit:  # a folder the user named is not silently replaced by a download
        fetch = _tiny_from_cache if name == "tinyimagenet" else _cifar_from_torchvision
        try:
            return fetch(name, vision, offline)
        except (OSError, RuntimeError) as e:  # not found / download failed; checksum errors propagate
            attempts.append(f"cache {vision}: {type(e).__name__}: {e}")
    what = (
        f"{TINY_ZIP} (from {TINY_URL})"
        if name == "tinyimagenet"
        else f"torchvision's {'cifar-10-batches-py' if name == 'cifar10' else 'cifar-100-python'} folder"
    )
    raise FileNotFoundError(
        f"Could not find {name}. Provide it in one of these ways:\n"
        f"  1. set IKD_IMAGE_DATA_DIR (or pass data_dir) to a folder with {' and '.join(files)} "
        f"(the offline copies; default {DEFAULT_DATA_DIR});\n"
        f"  2. go online (offline=False, IKD_OFFLINE unset) so {what} can be downloaded into {vision};\n"
        f"  3. put {what} in {vision} yourself (the cache; set with cache_dir or IKD_CACHE_DIR).\n"
        "Attempts:\n  - " + "\n  - ".join(attempts)
    )


def _read_npz(path: Path, sha256: str | None = None) -> dict[str, np.ndarray]:
    """All arrays of an offline-format .npz, after checking its sha256 when one is given."""
    if sha256 is not None and (got := _sha256(path)) != sha256:
        raise ValueError(
            f"{path}: sha256 mismatch, expected {sha256}, got {got}; the file is corrupted or not the published copy"
        )
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


_SHA256_SEEN: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> digest: hash each file once


def _sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA256_SEEN:
        with open(path, "rb") as f:
            _SHA256_SEEN[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return _SHA256_SEEN[key]


def _to_split(a: dict[str, np.ndarray]) -> ImageSplit:
    """Offline-format arrays (x NHWC) -> ImageSplit (x NCHW, int64 labels and indices)."""
    return ImageSplit(
        torch.from_numpy(np.ascontiguousarray(a["x"].transpose(0, 3, 1, 2))),
        torch.from_numpy(a["y"].astype(np.int64)),
        torch.from_numpy(a["src_idx"].astype(np.int64)),
    )


def _take(split: ImageSplit, rows: torch.Tensor) -> ImageSplit:
    return ImageSplit(split.x[rows], split.y[rows], split.src_idx[rows])


def _round_robin(y: np.ndarray, src_idx: np.ndarray) -> np.ndarray:
    """Row order of the offline files: by (rank within class by src_idx, class)."""
    rank = np.empty(len(y), dtype=np.int64)
    for k in np.unique(y):
        rows = np.flatnonzero(y == k)
        rank[rows[np.argsort(src_idx[rows], kind="stable")]] = np.arange(len(rows))
    return np.lexsort((y, rank))


# ---------------------------------------------------------------- CIFAR via torchvision


def _cifar_from_torchvision(name: str, vision: Path, offline: bool) -> tuple[tuple[dict, dict], str]:
    """torchvision's CIFAR copy in the cache (downloaded unless offline; torchvision checks the md5s)."""
    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    unrecovered = CIFAR10_UNRECOVERED if name == "cifar10" else {"train": {}, "test": {}}
    splits = []
    for split, per_class in (("train", CIFAR_TRAIN_PER_CLASS[name]), ("test", None)):
        ds = cls(root=vision, train=split == "train", download=not offline)
        splits.append(
            _official_subset(ds.data, np.asarray(ds.targets, dtype=np.int64), ds.classes, per_class, unrecovered[split])
        )
    return tuple(splits), f"torchvision {cls.__name__} in {vision}, cpu-profile subset"


def _official_subset(
    x: np.ndarray, y: np.ndarray, classes, per_class: int | None, skip: dict[int, tuple[int, ...]]
) -> dict[str, np.ndarray]:
    """The first `per_class` images (all if None) of each class in official order, minus `skip`.

    A class's official order is the order in which its images appear in the split's data array.
    """
    rows, src = [], []
    for k in range(len(classes)):
        official = np.flatnonzero(y == k)
        pos = np.arange(len(official))
        keep = ~np.isin(pos, skip.get(k, ()))
        rows.append(official[keep][:per_class])
        src.append(pos[keep][:per_class])
    rows, src = np.concatenate(rows), np.concatenate(src)
    order = _round_robin(y[rows], src)
    return {
        "x": x[rows[order]],
        "y": y[rows[order]],
        "src_idx": src[order].astype(np.int32),
        "classes": np.array(classes),
    }


# ---------------------------------------------------------------- Tiny-ImageNet from the zip


def _tiny_from_cache(name: str, vision: Path, offline: bool) -> tuple[tuple[dict, dict], str]:
    """The 20-class subset as .npz in the cache, built once from the (downloaded) official zip."""
    cached = [vision / f for f in OFFLINE_FILES["tinyimagenet"]]
    if all(p.is_file() for p in cached):
        return tuple(_read_npz(p) for p in cached), f"Tiny-ImageNet subset cached in {vision}"
    zip_path = vision / TINY_ZIP
    if not offline:
        download_url(TINY_URL, str(vision), TINY_ZIP, md5=TINY_MD5)  # a no-op when an intact copy is there
    elif not zip_path.is_file():
        raise FileNotFoundError(f"no {TINY_ZIP} in {vision} (download skipped: offline)")
    splits = _read_tiny_zip(zip_path)
    for path, arrays in zip(cached, splits):
        _save_npz(path, arrays)
    return splits, f"Tiny-ImageNet subset built from {zip_path} (md5 verified), cached in {vision}"


def _read_tiny_zip(
    zip_path: Path, n_classes: int = TINY_CLASSES, n_train: int = TINY_TRAIN_PER_CLASS, md5: str | None = TINY_MD5
) -> tuple[dict, dict]:
    """(train, val) arrays from tiny-imagenet-200.zip: the first `n_classes` wnids of wnids.txt,
    train images <wnid>_<n>.JPEG with n < `n_train`, every val image of those classes.

    md5=None skips the checksum; only tests do that, to read a small fake zip.
    """
    if md5 is not None and (got := calculate_md5(str(zip_path))) != md5:
        raise ValueError(f"{zip_path}: md5 mismatch, expected {md5}, got {got}; delete it to download again")
    root = "tiny-imagenet-200/"
    with zipfile.ZipFile(zip_path) as zf:
        wnids = zf.read(root + "wnids.txt").decode().split()[:n_classes]
        words = dict(line.split("\t", 1) for line in zf.read(root + "words.txt").decode().splitlines() if line)
        val = [line.split("\t")[:2] for line in zf.read(root + "val/val_annotations.txt").decode().splitlines() if line]
        label = {w: k for k, w in enumerate(wnids)}
        train_files = [(f"{root}train/{w}/images/{w}_{n}.JPEG", label[w], n) for w in wnids for n in range(n_train)]
        val_files = [
            (f"{root}val/images/{f}", label[w], int(f[len("val_") : -len(".JPEG")])) for f, w in val if w in label
        ]

        def decode(files) -> dict[str, np.ndarray]:
            # convert("RGB") also replicates grayscale JPEGs to 3 channels
            x = np.stack([np.asarray(Image.open(io.BytesIO(zf.read(f))).convert("RGB")) for f, _, _ in files])
            y = np.array([k for _, k, _ in files], dtype=np.int64)
            src = np.array([n for _, _, n in files], dtype=np.int32)
            order = _round_robin(y, src)
            full = [words[w].strip() for w in wnids]
            return {
                "x": x[order],
                "y": y[order],
                "src_idx": src[order],
                "wnids": np.array(wnids),
                "classes": np.array([s.split(",")[0] for s in full]),
                "class_names_full": np.array(full),
            }

        return decode(train_files), decode(val_files)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically, so an interrupted run never leaves a cache file that looks complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a plain name
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)
