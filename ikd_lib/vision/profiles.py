"""The ViT track's models, data and its three profiles.

- `smoke`: seconds, for tests: a tiny ViT, a few images per class, one dataset per test.
- `cpu` (the default of `make tables`): sized for a 2-core machine. The project pre-trains
  its own small 12-block ViT teacher once on a broad label space that is no single
  downstream task (the three training subsets pooled under one 130-way head, as ImageNet-21k
  contains the ImageNet-1k classes the paper distils to) and never fine-tunes it; the
  student takes its first 4 blocks. 32 px images, patch 8 (16 patches + the class token).
- `paper`: 224 px, timm's `vit_base_patch16_224.augreg_in21k` (pre-trained on ImageNet-21k,
  not fine-tuned), the full datasets, DistributedDataParallel under torchrun, bf16 autocast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ..core.bracket import check_search
from ..core.config import TDConfig, TrainConfig, check_choice, check_positive_int
from ..core.stacked import MATMULS
from .data import DATASETS


@dataclass(frozen=True)
class ViTConfig:
    img_size: int = 32  # input resolution (Tiny-ImageNet's 64 px is resized to it)
    patch_size: int = 8  # 32 / 8 = 4 x 4 patches, plus the class token: 17 tokens
    width: int = 64  # embedding width of teacher and student (the student copies blocks)
    heads: int = 4
    mlp_ratio: float = 4.0
    teacher_depth: int = 12  # the paper: a 12-block teacher ...
    student_depth: int = 4  # ... and a 4-block student initialised from its first 4 blocks
    low_block: int = 2  # s_l and t_l: the output of this block (1-based) of each model;
    #                             s_h: the student's last block; t_h: the teacher's last block
    timm_name: str | None = None  # a timm model to load (the paper profile), else built from the above
    matmul: str = "openblas"  # who computes the products on a CPU: "openblas" (vision/products.py: the
    #                             pinned kernels, the same numbers on any x86-64 CPU with AVX2) or "torch"

    def __post_init__(self):
        for name in ("img_size", "patch_size", "width", "heads", "teacher_depth", "student_depth", "low_block"):
            check_positive_int(name, getattr(self, name))
        check_choice("matmul", self.matmul, MATMULS)
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if not self.low_block < self.student_depth <= self.teacher_depth:
            raise ValueError(
                f"need low_block < student_depth <= teacher_depth, got {self.low_block}, "
                f"{self.student_depth}, {self.teacher_depth}"
            )


@dataclass(frozen=True)
class PretrainConfig:
    """The cpu profile's own teacher: pre-trained once on the pooled training subsets."""

    lr: float = 1e-3  # AdamW, cosine decay to 0 over the epochs, linear warm-up
    weight_decay: float = 0.05
    batch_size: int = 128
    epochs: int = 24  # about 15 minutes on a 2-core machine (make bench)
    warmup_epochs: int = 2
    threads: int = 2  # pinned: the teacher is trained with exactly this many threads
    augment: bool = True  # random crop (pad 4) and horizontal flip, drawn from a seeded generator


@dataclass(frozen=True)
class Profile:
    name: str
    seeds: tuple[int, ...]  # one run per seed (the paper ran one; we run 3)
    datasets: tuple[str, ...]  # the table columns: cifar10, cifar100, tinyimagenet (or imagenet)
    vit: ViTConfig
    student_train: TrainConfig
    pretrain: PretrainConfig
    distill_weights: tuple[float, ...]  # λ grid of KD, FitNet, FD, Hybrid; chosen on validation per seed
    td_weights: tuple[float, ...]  # λ grid of TD (default); its ablations reuse each seed's choice
    td: TDConfig = field(default_factory=lambda: TDConfig(message_dim=32))
    valid_per_class: dict = field(default_factory=lambda: {"cifar10": 40, "cifar100": 4, "tinyimagenet": 8})
    #                                       held out of each training subset for every choice
    temperature: float = 4.0  # τ of logit KD on classes
    noise_std: float = 0.1  # σ of "add noise", relative to t_l's spread (see experiment.py)
    train_per_class: dict | None = None  # smoke: fewer training images per class
    test_limit: int | None = None  # smoke: fewer test images
    # How far a λ grid may grow (core/bracket.py): one `search_step` beyond an edge that a seed
    # chose, until every choice is inside its grid or at a declared bound. At 0.01 the distillation
    # terms weigh about a hundredth of the cross-entropy (no distillation); at 1000 the cross-entropy
    # a thousandth of theirs (only distillation).
    weight_bounds: tuple[float, float] | None = (0.01, 1000.0)  # None: the grid never grows
    search_step: float = 10.0

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {self.seeds}")
        for d in self.datasets:
            check_choice("dataset", d, DATASETS + ("imagenet",))
        for name in ("distill_weights", "td_weights"):
            grid = getattr(self, name)
            if not grid or any(not (w > 0 and math.isfinite(w)) for w in grid):
                raise ValueError(f"{name} must be a non-empty tuple of positive, finite numbers, got {grid}")
            try:
                check_search(grid, self.weight_bounds or (min(grid), max(grid)), self.search_step)
            except ValueError as e:
                raise ValueError(
                    f"profile {self.name!r}: {name} {tuple(grid)} with weight_bounds {self.weight_bounds}: {e}"
                ) from None

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.datasets


CPU_VIT = ViTConfig()
SMOKE_VIT = ViTConfig(width=16, heads=2, mlp_ratio=2.0, teacher_depth=4, student_depth=3, low_block=1)
PAPER_VIT = ViTConfig(
    img_size=224,
    patch_size=16,
    width=768,
    heads=12,
    teacher_depth=12,
    student_depth=4,
    low_block=2,
    timm_name="vit_base_patch16_224.augreg_in21k",
    matmul="torch",
)
CPU_DATASETS = ("cifar10", "cifar100", "tinyimagenet")

PROFILES: dict[str, Profile] = {
    # seconds: a tiny ViT on a few images, for tests and CI
    "smoke": Profile(
        name="smoke",
        seeds=(0, 1),
        datasets=("cifar10",),
        vit=SMOKE_VIT,
        student_train=TrainConfig(
            lr=1e-3, batch_size=32, max_epochs=2, patience=2, optimizer="adamw", min_batches_per_epoch=1
        ),
        pretrain=PretrainConfig(epochs=2, warmup_epochs=1, batch_size=32, threads=1),
        distill_weights=(1.0,),
        td_weights=(1.0,),
        td=TDConfig(message_dim=8),
        valid_per_class={"cifar10": 4, "cifar100": 1, "tinyimagenet": 2},
        train_per_class={"cifar10": 16, "cifar100": 3, "tinyimagenet": 6},
        test_limit=200,
        weight_bounds=None,  # seconds: the grid never grows; the cpu profile's does
    ),
    # a 2-core machine: the default of `make tables`
    "cpu": Profile(
        name="cpu",
        seeds=(0, 1, 2),
        datasets=CPU_DATASETS,
        vit=CPU_VIT,
        student_train=TrainConfig(
            lr=5e-4,
            batch_size=128,
            max_epochs=8,
            patience=2,
            weight_decay=0.05,
            optimizer="adamw",
            min_batches_per_epoch=1,
        ),
        pretrain=PretrainConfig(),
        distill_weights=(1.0, 10.0),
        td_weights=(1.0, 10.0),
    ),
    # the paper's scale: one run per seed on GPUs, DistributedDataParallel under torchrun
    "paper": Profile(
        name="paper",
        seeds=(0,),
        datasets=("cifar10", "cifar100", "imagenet"),
        vit=PAPER_VIT,
        student_train=TrainConfig(
            lr=1e-4,
            batch_size=128,
            max_epochs=30,
            patience=5,
            weight_decay=0.05,
            optimizer="adamw",
            min_batches_per_epoch=1,
        ),
        pretrain=PretrainConfig(epochs=0),  # not used: the teacher is the pre-trained checkpoint
        distill_weights=(0.3, 1.0, 3.0, 10.0),
        td_weights=(0.3, 1.0, 3.0, 10.0),
        td=TDConfig(message_dim=256),
        valid_per_class={"cifar10": 500, "cifar100": 50, "imagenet": 10},
    ),
}


def get_profile(name: str, **overrides) -> Profile:
    """The named profile, optionally with fields replaced (e.g. seeds=(0,), datasets=("cifar10",))."""
    check_choice("profile", name, tuple(PROFILES))
    if "datasets" in overrides:
        overrides["datasets"] = tuple(overrides["datasets"])
    if "seeds" in overrides:
        overrides["seeds"] = tuple(int(s) for s in overrides["seeds"])
    return replace(PROFILES[name], **overrides) if overrides else PROFILES[name]
