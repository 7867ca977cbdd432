"""The paper's ViT tables (4, 6, 9) as specs for the core renderer: top-1 accuracy, higher
is better, one column per dataset (CIFAR-10, CIFAR-100, ImageNet or its stand-in)."""
from __future__ import annotations

from ..core.tables import TD_POOL, Row, TableSpec

LABELS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet",
          "tinyimagenet": "ImageNet (stand-in: Tiny-ImageNet-20)"}

PROTOCOL = ("the student (the teacher's patch embedding, class token, position embedding and first 4 "
            "blocks, plus a new head) trains with AdamW and early stopping on validation accuracy (a "
            "hold-out of each training subset), restoring the best epoch. The teacher was pre-trained "
            "on a broad label space and never fine-tuned; its logits over a task's classes (the "
            "Teacher (probe) row and logit KD) come from a linear probe fitted on the task's "
            "training split only.")
NOTE = ("At the cpu profile the ImageNet column is a stand-in: 20 classes of Tiny-ImageNet at 32 px, "
        "not comparable with published ImageNet numbers. For comparison only: the paper's fine-tuned "
        "12-block teacher reaches 0.98 / 0.92 / 0.81 (vit_finetuned_teacher_reference).")


def column_label(index: int, name: str) -> str:
    return LABELS.get(name, name)


def accuracy_table(key, title, rows, **kw) -> TableSpec:
    return TableSpec(key, title, rows, metric="top-1 accuracy", higher_is_better=True,
                     column_label=column_label, protocol=PROTOCOL, note=NOTE, **kw)


TD_ROWS = (Row("TD", TD_POOL), Row("TD (default)", ("td",)))
TABLES = VISION_TABLES = {
    "table4": accuracy_table("table4", "ViT: top-1 accuracy, all methods", (
        Row("Teacher (probe)", ("teacher",), reference=True), Row("Student", ("student",)), Row("KD", ("kd",)),
        Row("FitNet", ("fitnet",)), Row("FD", ("fd",)), Row("Hybrid", ("hybrid",))) + TD_ROWS),
    "table6": accuracy_table("table6", "ViT: number of interaction iterations", (
        Row("No interaction", ("td_k0",)), Row("1 iteration", ("td",)), Row("2 iterations", ("td_k2",)),
        Row("TD", TD_POOL)), paper_key="table6"),
    "table9": accuracy_table("table9", "ViT: removing L_SC; noise", (
        Row("No L_SC", ("td_no_sc",)), Row("Add noise", ("td_noise",)), Row("No noise", ("td",)),
        Row("TD", TD_POOL)), paper_key="table9"),
}
