"""The ViT figures: top-1 accuracy against the number of interaction rounds K, the loss
components over training on one dataset, and Table 4's budget curves (all drawn by
core/plots.py from the runs)."""

from __future__ import annotations

from ..core.budget import table_curves
from ..core.plots import FigureMetric, plot_budget_curves, plot_loss_components, plot_metric_vs_k
from .tables import LABELS, TABLES

# the tables' column names; the stand-in says what it is, on two lines so that it fits above a panel
FIGURE_LABELS = LABELS | {"tinyimagenet": "Tiny-ImageNet-20\n(ImageNet stand-in)"}
ACCURACY_FIGURE = FigureMetric(
    "top-1 accuracy", "fraction correct", higher_is_better=True, task_loss="cross-entropy", task_labels=FIGURE_LABELS
)
FIGURE_METRIC = ACCURACY_FIGURE  # the track's metric on a figure (report.show_selection reads it)


def plot_accuracy_vs_k(records, datasets):
    return plot_metric_vs_k(records, datasets, ACCURACY_FIGURE, examples="images", ks=(0, 1, 2))


def plot_vision_loss_components(exp, datasets=("cifar10",), variant: str = "td"):
    return plot_loss_components(exp, datasets, ACCURACY_FIGURE, variant, examples="images")


def plot_vision_budget_curves(records, datasets, table: str = "table4"):
    """Table 4's rows: the expected test accuracy of the validation-chosen configuration against
    the number of configurations tried (core/budget.py)."""
    return plot_budget_curves(
        table_curves(TABLES[table], records, datasets),
        datasets,
        ACCURACY_FIGURE,
        title="Table 4 at every search budget",
    )
