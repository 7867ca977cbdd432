"""Every library path that hands out a teacher hands it out frozen: eval mode and no weight
that requires a gradient, whether it was just trained or read from the cache. (Tests that
build a teacher themselves freeze it in their fixtures; these check the library does.)"""

import dataclasses

import torch

from ikd_lib.movielens.profiles import get_profile as movielens_profile
from ikd_lib.movielens.teacher import load_or_train_teacher
from ikd_lib.vision import teacher as vision_teacher
from ikd_lib.vision.models import build_vit
from ikd_lib.vision.profiles import PROFILES as VISION_PROFILES


def assert_frozen(teacher, where):
    assert not any(m.training for m in teacher.modules()), f"{where}: a module is in training mode"
    assert not any(p.requires_grad for p in teacher.parameters()), f"{where}: a weight requires a gradient"


def test_the_movielens_teacher_loader_freezes_trained_and_cached_teachers(toy_task, tmp_path):
    profile = movielens_profile("smoke")
    trained, _ = load_or_train_teacher(profile, toy_task, "toy", tmp_path, progress=False)
    assert_frozen(trained, "trained")
    cached, _ = load_or_train_teacher(profile, toy_task, "toy", tmp_path, progress=False)
    assert_frozen(cached, "read from the cache")
    assert all(torch.equal(a, b) for a, b in zip(trained.parameters(), cached.parameters()))


def test_the_vit_teacher_loader_freezes_pretrained_and_cached_teachers(tmp_path):
    profile = VISION_PROFILES["smoke"]
    profile = dataclasses.replace(profile, pretrain=dataclasses.replace(profile.pretrain, epochs=1))
    g = torch.Generator().manual_seed(0)
    size = profile.vit.img_size
    images = torch.randint(0, 255, (8, 3, size, size), generator=g, dtype=torch.uint8)
    labels = torch.arange(8) % 3
    fresh, _ = vision_teacher.load_or_pretrain_teacher(profile, images, labels, 3, "toy", tmp_path, progress=False)
    assert_frozen(fresh, "pre-trained")
    cached, _ = vision_teacher.load_or_pretrain_teacher(profile, images, labels, 3, "toy", tmp_path, progress=False)
    assert_frozen(cached, "read from the cache")


def test_the_paper_teacher_loader_freezes_the_checkpoint(monkeypatch, tmp_path):
    """The paper's ViT-B/16 from a local file; the build is replaced by the smoke ViT (the
    checkpoint is 330 MB): what is checked is that the loader freezes what it built."""
    smoke = VISION_PROFILES["smoke"].vit
    monkeypatch.setattr(
        vision_teacher,
        "build_vit",
        lambda cfg, depth, n, seed, pretrained=False, checkpoint=None: build_vit(smoke, depth, n, seed),
    )
    file = tmp_path / "vit.safetensors"
    file.write_bytes(b"stand-in")
    monkeypatch.setenv(vision_teacher.CHECKPOINT_ENV, str(file))
    paper = VISION_PROFILES["paper"]
    teacher, _ = vision_teacher.load_pretrained_teacher(
        dataclasses.replace(
            paper, vit=dataclasses.replace(paper.vit, teacher_depth=smoke.teacher_depth, low_block=smoke.low_block)
        )
    )
    assert_frozen(teacher, "the paper's checkpoint")
