"""The ViT figures: top-1 accuracy against the number of interaction rounds K, and the loss
components over training on one dataset (both drawn by core/plots.py from the runs)."""
from __future__ import annotations

from ..core.plots import FigureMetric, plot_loss_components, plot_metric_vs_k
from .tables import LABELS

# the tables' column names; the stand-in says what it is, on two lines so that it fits above a panel
FIGURE_LABELS = LABELS | {"tinyimagenet": "Tiny-ImageNet-20\n(ImageNet stand-in)"}
ACCURACY_FIGURE = FigureMetric("top-1 accuracy", "fraction correct", higher_is_better=True,
                               task_loss="cross-entropy", task_labels=FIGURE_LABELS)


def plot_accuracy_vs_k(records, datasets):
    return plot_metric_vs_k(records, datasets, ACCURACY_FIGURE, examples="images", ks=(0, 1, 2))


def plot_vision_loss_components(exp, datasets=("cifar10",), variant: str = "td"):
    return plot_loss_components(exp, datasets, ACCURACY_FIGURE, variant, examples="images")
