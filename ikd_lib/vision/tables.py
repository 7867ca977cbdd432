"""The paper's ViT tables (4, 6, 9) as specs for the core renderer: top-1 accuracy, higher
is better, one column per dataset (CIFAR-10, CIFAR-100, ImageNet or its stand-in).

TABLES' captions describe the cpu profile's runs (its own small teacher, Tiny-ImageNet-20 as the
ImageNet stand-in); tables_for(profile) gives a profile with a pre-trained checkpoint (paper) a
caption read from its own settings."""

from __future__ import annotations

from dataclasses import replace

from ..core.tables import TD_POOL, Row, TableSpec
from .profiles import CPU_VIT, Profile
from .teacher import CHECKPOINT_ENV

LABELS = {
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "imagenet": "ImageNet",
    "tinyimagenet": "ImageNet (stand-in: Tiny-ImageNet-20)",
}
OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW"}  # TrainConfig.optimizer -> its name in a caption


def protocol(student_depth: int, optimizer: str, training_split: str) -> str:
    """The caption's sentence on how a student trains and what the teacher is."""
    return (
        f"the student (the teacher's patch embedding, class token, position embedding and first {student_depth} "
        f"blocks, plus a new head) trains with {OPTIMIZERS[optimizer]} and early stopping on validation accuracy "
        f"(a hold-out of each {training_split}), restoring the best epoch. The teacher was pre-trained "
        "on a broad label space and never fine-tuned; its logits over a task's classes (the "
        "Teacher (probe) row and logit KD) come from a linear probe fitted on the task's "
        "training split only."
    )


PROTOCOL = protocol(CPU_VIT.student_depth, "adamw", "training subset")  # the cpu profile's (tables/*.md)
NOTE = (
    "At the cpu profile the ImageNet column is a stand-in: 20 classes of Tiny-ImageNet at 32 px, "
    "not comparable with published ImageNet numbers. For comparison only: the paper's fine-tuned "
    "12-block teacher reaches 0.98 / 0.92 / 0.81 (vit_finetuned_teacher_reference)."
)


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def checkpoint_note(profile: Profile) -> str:
    """What a profile with a pre-trained checkpoint runs, from its settings: the teacher, the
    student's blocks, the resolution and the full datasets (launched runs stream every image)."""
    vit = profile.vit
    names = [LABELS.get(d, d) for d in profile.datasets]
    held_out = ", ".join(f"{profile.valid_per_class[d]:,} for {LABELS.get(d, d)}" for d in profile.datasets)
    imagenet = (
        " (for ImageNet the ILSVRC-2012 validation set, as published ImageNet numbers are)"
        if "imagenet" in profile.datasets
        else ""
    )
    return (
        f"At the {profile.name} profile the teacher is timm's `{vit.timm_name}` ({vit.teacher_depth} blocks of "
        f"width {vit.width}, {vit.patch_size}-px patches), its weights read from the file that {CHECKPOINT_ENV} "
        f"names (else timm's copy in the Hugging Face cache); the student takes its first {vit.student_depth} "
        f"blocks (s_l and t_l: the output of block {vit.low_block}). Images are resized to {vit.img_size} px. "
        f"The datasets are the full {_and(names)}: each trains on every training image but a validation "
        f"hold-out (the last images of each class in the official order: {held_out}) and is tested on its "
        f"whole official test split{imagenet}. Runs train with DistributedDataParallel, in bf16 on GPUs. "
        "The Teacher (probe) row is a linear probe on this frozen teacher, not the paper's fine-tuned "
        "teacher (vit_finetuned_teacher_reference in the published values)."
    )


def column_label(index: int, name: str) -> str:
    return LABELS.get(name, name)


def accuracy_table(key, title, rows, **kw) -> TableSpec:
    return TableSpec(
        key,
        title,
        rows,
        metric="top-1 accuracy",
        higher_is_better=True,
        column_label=column_label,
        protocol=PROTOCOL,
        note=NOTE,
        **kw,
    )


TD_ROWS = (Row("TD", TD_POOL), Row("TD (default)", ("td",)))
TABLES = VISION_TABLES = {
    "table4": accuracy_table(
        "table4",
        "ViT: top-1 accuracy, all methods",
        (
            Row("Teacher (probe)", ("teacher",), reference=True),
            Row("Student", ("student",)),
            Row("KD", ("kd",)),
            Row("FitNet", ("fitnet",)),
            Row("FD", ("fd",)),
            Row("Hybrid", ("hybrid",)),
        )
        + TD_ROWS,
    ),
    "table6": accuracy_table(
        "table6",
        "ViT: number of interaction iterations",
        (
            Row("No interaction", ("td_k0",)),
            Row("1 iteration", ("td",)),
            Row("2 iterations", ("td_k2",)),
            Row("TD", TD_POOL),
        ),
        paper_key="table6",
    ),
    "table9": accuracy_table(
        "table9",
        "ViT: removing L_SC; noise",
        (Row("No L_SC", ("td_no_sc",)), Row("Add noise", ("td_noise",)), Row("No noise", ("td",)), Row("TD", TD_POOL)),
        paper_key="table9",
    ),
}


def tables_for(profile: Profile) -> dict[str, TableSpec]:
    """The tables with the caption of what `profile` runs: TABLES (the cpu stand-in's note, as in
    the committed tables/) for a profile with its own small ViT; for one with a pre-trained
    checkpoint (paper), its protocol and note from its settings."""
    if profile.vit.timm_name is None:
        return TABLES
    about = {
        "protocol": protocol(profile.vit.student_depth, profile.student_train.optimizer, "training split"),
        "note": checkpoint_note(profile),
    }
    return {key: replace(spec, **about) for key, spec in TABLES.items()}
