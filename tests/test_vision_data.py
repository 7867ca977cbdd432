"""Tests for ikd_lib.vision.data: the offline copies, the torchvision and zip sources, the helpers."""

import hashlib
import io
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from ikd_lib.vision import data as vd
from ikd_lib.vision.data import (
    CIFAR10_UNRECOVERED,
    DATASETS,
    ImageSplit,
    imagenet_folder,
    load_images,
    resize,
    split_holdout,
)

OFFLINE_DIR = Path(os.environ.get("IKD_IMAGE_DATA_DIR") or vd.DEFAULT_DATA_DIR)
needs_offline = pytest.mark.skipif(
    not (OFFLINE_DIR / "cifar10_train.npz").is_file(), reason=f"offline image copies not in {OFFLINE_DIR}"
)


@pytest.fixture(scope="module")
def offline():
    """Each dataset loaded once from the offline copies."""
    return {name: load_images(name, data_dir=OFFLINE_DIR) for name in DATASETS}


@pytest.fixture
def no_offline_copy(monkeypatch, tmp_path):
    """Hide the offline folder and the user's env, so only the cache in tmp_path is left."""
    for var in ("IKD_IMAGE_DATA_DIR", "IKD_CACHE_DIR", "IKD_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(vd, "DEFAULT_DATA_DIR", tmp_path / "no-offline-copy")


def same_split(a: ImageSplit, b: ImageSplit) -> None:
    for field in ("x", "y", "src_idx"):
        ta, tb = getattr(a, field), getattr(b, field)
        assert ta.dtype == tb.dtype and torch.equal(ta, tb), field


# ------------------------------------------------------------ offline copies


@needs_offline
@pytest.mark.parametrize(
    "name, size, k, per_class, n_test",
    [("cifar10", 32, 10, 400, 9_979), ("cifar100", 32, 100, 40, 10_000), ("tinyimagenet", 64, 20, 80, 1_000)],
)
def test_offline_load(offline, name, size, k, per_class, n_test):
    d = offline[name]
    assert d.name == name and len(d.classes) == k and d.resolution == size and "sha256 verified" in d.source
    for split, n in ((d.train, k * per_class), (d.test, n_test)):
        assert split.x.shape == (n, 3, size, size) and split.x.dtype == torch.uint8 and split.x.is_contiguous()
        assert split.y.dtype == split.src_idx.dtype == torch.int64 and split.y.shape == split.src_idx.shape == (n,)
        assert int(split.y.min()) == 0 and int(split.y.max()) == k - 1
    assert torch.bincount(d.train.y).tolist() == [per_class] * k
    assert d.train.y[: 2 * k].tolist() == list(range(k)) * 2  # round-robin rows


@needs_offline
def test_offline_details(offline):
    c10 = offline["cifar10"]
    assert c10.classes[:3] == ("airplane", "automobile", "bird")
    counts = torch.bincount(c10.test.y).tolist()
    assert counts[7] == 999 and counts[8] == 980 and sum(counts) == 9_979
    for k, skipped in CIFAR10_UNRECOVERED["train"].items():  # the rule's constants match the file
        src = set(c10.train.src_idx[c10.train.y == k].tolist())
        assert not src & set(skipped) and max(src) == 399 + len(skipped)
    # channel order: NHWC in the file becomes NCHW here
    raw = np.load(OFFLINE_DIR / "cifar10_train.npz")["x"][5]
    assert np.array_equal(c10.train.x[5].permute(1, 2, 0).numpy(), raw)
    assert offline["tinyimagenet"].classes[:2] == ("Egyptian cat", "reel")


# ------------------------------------------------------------ torchvision source


def write_fake_torchvision_cifar(root: Path, d, seed=0) -> None:
    """A torchvision-style CIFAR folder whose official order holds every offline image at its
    official position; the unrecovered positions, and a few after the subset, hold other images."""
    rng = np.random.default_rng(seed)
    c10 = d.name == "cifar10"
    folder = root / ("cifar-10-batches-py" if c10 else "cifar-100-python")
    folder.mkdir(parents=True)
    label_key = "labels" if c10 else "fine_labels"
    for split, files in (
        (d.train, [f"data_batch_{i}" for i in range(1, 6)] if c10 else ["train"]),
        (d.test, ["test_batch" if c10 else "test"]),
    ):
        x, y, src = split.x.permute(0, 2, 3, 1).numpy(), split.y.numpy(), split.src_idx.numpy()
        length = [int(src[y == k].max()) + 1 + (3 if split is d.train else 0) for k in range(len(d.classes))]
        labels = rng.permutation(np.repeat(np.arange(len(d.classes)), length))  # classes interleaved at random
        images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)  # the "other" images
        for k in range(len(d.classes)):
            rows = np.flatnonzero(labels == k)  # class k's images in official order
            images[rows[src[y == k]]] = x[y == k]
        flat = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
        for name, part in zip(files, np.array_split(np.arange(len(labels)), len(files))):
            with open(folder / name, "wb") as f:
                pickle.dump({"data": flat[part], label_key: labels[part].tolist()}, f)
    meta = {"label_names": list(d.classes)} if c10 else {"fine_label_names": list(d.classes)}
    with open(folder / ("batches.meta" if c10 else "meta"), "wb") as f:
        pickle.dump(meta, f)


@needs_offline
@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_torchvision_matches_offline(offline, name, tmp_path, monkeypatch, no_offline_copy, capsys):
    write_fake_torchvision_cifar(tmp_path / "vision", offline[name])
    # The fake files are not the published ones: skip torchvision's md5 check, and make sure
    # that offline=True never tries to download.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", lambda self: pytest.fail("downloaded"))
    d = load_images(name, cache_dir=tmp_path, offline=True)
    assert "torchvision" in d.source and "torchvision" in capsys.readouterr().out
    assert d.classes == offline[name].classes and d.resolution == 32
    same_split(d.train, offline[name].train)
    same_split(d.test, offline[name].test)


# ------------------------------------------------------------ Tiny-ImageNet zip source

WNIDS = ["n0001", "n0002", "n0003", "n0004"]
WORDS = {"n0001": "tabby, tabby cat", "n0002": "reel", "n0003": "lemon", "n0004": "organ, pipe organ"}
VAL = ["n0002", "n0001", "n0004", "n0001", "n0003", "n0002", "n0003", "n0001", "n0002", "n0003"]  # val_i's class
GRAY = "train/n0002/images/n0002_1.JPEG"


def jpeg(seed: int, gray: bool) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (64, 64) if gray else (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=100)
    return buf.getvalue()


@pytest.fixture
def tiny_zip(tmp_path):
    """A tiny-imagenet-200.zip with 4 wnids, 5 train images each, 10 val images; path and its JPEG bytes."""
    files = {f"train/{w}/images/{w}_{n}.JPEG": None for w in WNIDS for n in range(5)}
    files.update({f"val/images/val_{i}.JPEG": None for i in range(len(VAL))})
    files = {name: jpeg(i, name == GRAY) for i, name in enumerate(files)}
    path = tmp_path / "vision" / vd.TINY_ZIP
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tiny-imagenet-200/wnids.txt", "\n".join(WNIDS) + "\n")
        zf.writestr("tiny-imagenet-200/words.txt", "".join(f"{w}\t{s}\n" for w, s in WORDS.items()))
        zf.writestr(
            "tiny-imagenet-200/val/val_annotations.txt",
            "".join(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63\n" for i, w in enumerate(VAL)),
        )
        for name, data in files.items():
            zf.writestr("tiny-imagenet-200/" + name, data)
    return path, files


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_tiny_zip_rule(tiny_zip):
    path, files = tiny_zip
    train, val = vd._read_tiny_zip(path, n_classes=3, n_train=3, md5=None)
    # first 3 wnids; suffixes 0..2 only; round-robin rows
    assert train["y"].tolist() == [0, 1, 2] * 3 and train["src_idx"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert train["wnids"].tolist() == WNIDS[:3] and train["classes"].tolist() == ["tabby", "reel", "lemon"]
    assert train["class_names_full"].tolist() == [WORDS[w] for w in WNIDS[:3]]
    for x, y, n in zip(train["x"], train["y"], train["src_idx"]):
        assert np.array_equal(x, decoded(files[f"train/{WNIDS[y]}/images/{WNIDS[y]}_{n}.JPEG"]))
    assert train["x"].shape == (9, 64, 64, 3) and train["x"].dtype == np.uint8
    gray = train["x"][(train["y"] == 1) & (train["src_idx"] == 1)][0]
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 0], gray[..., 2])
    # val: every annotated image of the kept classes (not n0004's val_2), by class from the annotations
    expect = sorted((n, WNIDS.index(w)) for n, w in enumerate(VAL) if w != "n0004")
    assert sorted(zip(val["src_idx"].tolist(), val["y"].tolist())) == expect
    assert val["y"][:3].tolist() == [0, 1, 2] and val["src_idx"][:3].tolist() == [1, 0, 4]
    for x, n in zip(val["x"], val["src_idx"]):
        assert np.array_equal(x, decoded(files[f"val/images/val_{n}.JPEG"]))


def test_tiny_zip_checksum(tiny_zip, tmp_path, no_offline_copy):
    path, _ = tiny_zip
    with pytest.raises(ValueError, match="md5 mismatch"):
        vd._read_tiny_zip(path, n_classes=3, n_train=3)
    # the public function always checks: a wrong zip in the cache is an error, not a fallback
    with pytest.raises(ValueError, match=f"{vd.TINY_ZIP}: md5 mismatch"):
        load_images("tinyimagenet", cache_dir=tmp_path, offline=True)


def test_tiny_cache_round_trip(tiny_zip, tmp_path, no_offline_copy):
    """What the zip path writes to the cache is read back by the public loader, unchanged."""
    train, val = vd._read_tiny_zip(tiny_zip[0], n_classes=3, n_train=3, md5=None)
    for name, arrays in zip(vd.OFFLINE_FILES["tinyimagenet"], (train, val)):
        vd._save_npz(tmp_path / "vision" / name, arrays)
    d = load_images("tinyimagenet", cache_dir=tmp_path, offline=True)
    assert "cached" in d.source and d.classes == ("tabby", "reel", "lemon") and d.resolution == 64
    assert np.array_equal(d.train.x.permute(0, 2, 3, 1).numpy(), train["x"])
    assert d.test.src_idx.tolist() == val["src_idx"].tolist()


# ------------------------------------------------------------ helpers


def toy_split() -> ImageSplit:
    """3 classes x 6 images; src_idx unrelated to row order; x[i] holds i."""
    y = torch.arange(18) % 3
    src = torch.tensor([5, 0, 2, 1, 4, 0, 3, 5, 1, 0, 1, 3, 4, 2, 4, 2, 3, 5])
    return ImageSplit(torch.arange(18, dtype=torch.uint8).view(18, 1, 1, 1).expand(18, 3, 2, 2).contiguous(), y, src)


def test_split_holdout():
    split = toy_split()
    train, valid = split_holdout(split, 2)
    rows_t, rows_v = train.x[:, 0, 0, 0].tolist(), valid.x[:, 0, 0, 0].tolist()
    assert rows_t == sorted(rows_t) and rows_v == sorted(rows_v)  # original order kept
    assert not set(rows_t) & set(rows_v) and sorted(rows_t + rows_v) == list(range(18))
    for k in range(3):
        assert sorted(valid.src_idx[valid.y == k].tolist()) == [4, 5]  # the last 2 by src_idx
    assert torch.bincount(train.y).tolist() == [4, 4, 4]
    for a, b in zip(split_holdout(split, 2), (train, valid)):
        same_split(a, b)
    for bad in (0, 6):
        with pytest.raises(ValueError, match="per_class"):
            split_holdout(split, bad)


@needs_offline
def test_split_holdout_offline(offline):
    train, valid = split_holdout(offline["cifar10"].train, 50)
    assert len(train.y) == 3500 and torch.bincount(valid.y).tolist() == [50] * 10
    deer = valid.src_idx[valid.y == 4]
    assert int(deer.min()) == 351 and int(deer.max()) == 400  # by src_idx, past the skipped 124


def test_resize():
    x = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    assert resize(x, 32) is x
    up = resize(x, 48)
    assert up.shape == (3, 3, 48, 48) and up.dtype == torch.uint8
    flat = torch.full((2, 3, 64, 64), 77, dtype=torch.uint8)
    assert torch.equal(resize(flat, 20), torch.full((2, 3, 20, 20), 77, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        resize(x.float(), 16)


def test_imagenet_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("IKD_IMAGENET_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="IKD_IMAGENET_DIR.*ImageFolder"):
        imagenet_folder()
    for split in ("train", "val"):
        for wnid in ("n01", "n02"):
            (tmp_path / split / wnid).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / split / wnid / "a.JPEG")
    monkeypatch.setenv("IKD_IMAGENET_DIR", str(tmp_path))
    train, val = imagenet_folder()
    assert train.classes == val.classes == ["n01", "n02"] and len(train) == 2 and train.transform is None


# ------------------------------------------------------------ bad input


def test_unknown_name():
    with pytest.raises(ValueError, match="cifar10, cifar100, tinyimagenet.*did you mean 'cifar10'"):
        load_images("cifar1")


@pytest.mark.parametrize("name", DATASETS)
def test_missing_data(name, tmp_path, no_offline_copy):
    for kwargs in ({"data_dir": tmp_path / "empty"}, {}):  # a named folder without the files; nothing at all
        with pytest.raises(FileNotFoundError) as err:
            load_images(name, cache_dir=tmp_path / "cache", offline=True, **kwargs)
        msg = str(err.value)
        for part in (
            "IKD_IMAGE_DATA_DIR",
            "IKD_OFFLINE",
            "IKD_CACHE_DIR",
            str(tmp_path / "cache" / "vision"),
            vd.OFFLINE_FILES[name][0],
            vd.TINY_URL if name == "tinyimagenet" else "torchvision",
        ):
            assert part in msg, part
    assert not (tmp_path / "cache" / "vision" / vd.TINY_ZIP).exists()  # offline: nothing downloaded


@needs_offline
def test_corrupted_npz(tmp_path):
    shutil.copyfile(OFFLINE_DIR / "cifar10_train.npz", tmp_path / "cifar10_train.npz")
    os.symlink(OFFLINE_DIR / "cifar10_test.npz", tmp_path / "cifar10_test.npz")
    with open(tmp_path / "cifar10_train.npz", "r+b") as f:
        f.seek(5_000_000)
        byte = f.read(1)
        f.seek(5_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    got = hashlib.sha256((tmp_path / "cifar10_train.npz").read_bytes()).hexdigest()
    expected = vd.SHA256["cifar10_train.npz"]
    with pytest.raises(ValueError, match=f"cifar10_train.npz: sha256 mismatch, expected {expected}, got {got}"):
        load_images("cifar10", data_dir=tmp_path)
