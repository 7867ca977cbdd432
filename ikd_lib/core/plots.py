"""Figures every track draws, from run records and training logs (never from typed-in numbers).

    fig = plot_metric_vs_k(records, tasks, metric)
    save_figure(fig, figures_dir, "rmse_vs_k")        # rmse_vs_k.png and rmse_vs_k.pdf

- plot_loss_components: what TD optimises, step by step, on one or more tasks;
- plot_metric_vs_k:     the test metric against the number of interaction rounds K;
- plot_budget_curves:   the expected test metric of the validation-chosen configuration against
                        the number of configurations tried (Dodge et al. 2019; budget.py).
Every choice (distillation weight, TD variant) is made on the validation metric; a
`FigureMetric` says what the metric is called and which direction is better.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib import ticker
from matplotlib.figure import Figure  # not pyplot: no global figure state, no GUI backend

from .config import TrainConfig
from .results import Cell, cell_for, index_records
from .store import readable

STYLE = "whitegrid"
PALETTE = sns.color_palette("colorblind")
K_VARIANTS = {0: "td_k0", 1: "td", 2: "td_k2", 3: "td_k3"}  # K -> variant key


@dataclass(frozen=True)
class FigureMetric:
    """How a track's metric reads on a figure."""

    name: str  # "RMSE", "top-1 accuracy"
    unit: str  # "rating stars", "fraction correct"
    higher_is_better: bool
    task_loss: str  # the task loss's name in the legend: "MSE", "cross-entropy"
    task_labels: dict = field(default_factory=dict)  # task -> its name on a figure (else the task itself)

    def task_label(self, task: str) -> str:
        return self.task_labels.get(task, task)


# ---------------------------------------------------------------- saving
def save_figure(fig, out_dir, name: str, dpi: int = 150) -> list[Path]:
    """Write name.png and name.pdf; each goes to a temporary file first and is then renamed,
    so a reader never sees half a figure."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = out_dir / f"{name}.{ext}"
        with tempfile.NamedTemporaryFile(dir=out_dir, suffix=f".{ext}.tmp", delete=False) as tmp:
            try:
                # no creation date in the PDF: the same data give byte-identical files
                metadata = {"CreationDate": None} if ext == "pdf" else None
                fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight", metadata=metadata)
            except BaseException:
                os.unlink(tmp.name)
                raise
        readable(tmp.name)
        os.replace(tmp.name, path)
        paths.append(path)
    return paths


# ---------------------------------------------------------------- loss components
@dataclass
class LossCurves:
    """One stack's training log, averaged over the seeds of the chosen weight."""

    task: str
    n_train: int
    weight: float | str  # the chosen λ, or one per seed ("3/3/10")
    seeds: list[int]
    steps_per_epoch: int
    losses: dict[str, np.ndarray]  # name -> mean per step
    valid_metric: np.ndarray  # mean per epoch


def steps_per_epoch(record: dict) -> int:
    train = TrainConfig(**record["config"]["train"])
    return -(-record["n_train"] // train.batch_size_for(record["n_train"]))


def replica_column(record: dict) -> int:
    """The column of its stack's log (`log_file`) that holds this record's replica."""
    return record["log_column"]


def chosen_logs(root, records) -> dict[str, np.ndarray]:
    """The log columns of `records` side by side ([steps or epochs, len(records)]), each read
    from its own stack's log (a grown grid trains its new values in a stack of their own);
    rows past a shorter log are NaN, as for a replica that stopped early."""
    columns: dict[str, list[np.ndarray]] = {}
    for record in records:
        with np.load(Path(root) / record["log_file"]) as log:
            for name in log.files:
                columns.setdefault(name, []).append(log[name][:, replica_column(record)])
    longest = {name: max(len(c) for c in cols) for name, cols in columns.items()}
    return {
        name: np.stack(
            [np.pad(c.astype(float), (0, longest[name] - len(c)), constant_values=np.nan) for c in cols], axis=1
        )
        for name, cols in columns.items()
    }


def mean_over(array, cols) -> np.ndarray:
    """Mean over the chosen replicas per row, only where every one of them was trained: a
    replica that stopped early (a stacked run drops it, an unstacked one ends) has NaN there,
    and a mean over the ones left would jump as they drop out. Trailing rows without a mean
    are dropped, so a curve ends when the first chosen replica stopped."""
    values = np.asarray(array, dtype=float)[:, cols]
    means = values.mean(1)  # NaN wherever a chosen replica is missing
    rows = np.flatnonzero(~np.isnan(means))
    return means[: rows[-1] + 1 if len(rows) else 0]


def loss_curves(records: list[dict], root, higher_is_better: bool = False) -> LossCurves:
    """`records`: one variant x task (all weights and seeds); `root`: the store their logs are in."""
    cell = cell_for(records, higher_is_better)
    log = chosen_logs(root, cell.records)
    cols = list(range(len(cell.records)))
    losses = {k.removeprefix("step/"): mean_over(v, cols) for k, v in log.items() if k.startswith("step/")}
    return LossCurves(
        task=records[0]["task"],
        n_train=records[0]["n_train"],
        weight=cell.weight,
        seeds=cell.seeds,
        steps_per_epoch=steps_per_epoch(records[0]),
        losses=losses,
        valid_metric=mean_over(log["epoch/valid_metric"], cols),
    )


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (the first points average what exists so far)."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) == 0:
        return values
    cumsum = np.insert(np.cumsum(values), 0, 0.0)
    end = np.arange(1, len(values) + 1)
    start = np.maximum(end - window, 0)
    return (cumsum[end] - cumsum[start]) / (end - start)


def _loss_series(curves: LossCurves, metric: FigureMetric) -> list[tuple[str, np.ndarray]]:
    """The components the objective adds up, in a fixed order; all-zero ones (K = 0) left out."""
    rounds = sorted((k for k in curves.losses if k.startswith("interact_round")), key=lambda k: int(k[14:]))
    named = [("task", rf"$L_\mathrm{{task}}$ ({metric.task_loss})")]
    named += [(k, rf"$L_\mathrm{{interact}}$, round {k[14:]}") for k in rounds] or [
        ("interact", r"$L_\mathrm{interact}$")
    ]
    named += [("message", r"$L_\mathrm{MC}$"), ("state", r"$L_\mathrm{SC}$")]
    return [(label, curves.losses[k]) for k, label in named if k in curves.losses and np.any(curves.losses[k] > 0)]


def _draw_loss_panel(ax, curves: LossCurves, variant: str, metric: FigureMetric, examples: str):
    n_steps = len(next(iter(curves.losses.values())))
    window = max(1, min(curves.steps_per_epoch, n_steps // 20))
    steps = np.arange(1, n_steps + 1)
    for (label, values), color in zip(_loss_series(curves, metric), PALETTE):
        ax.plot(steps, smooth(values, window), color=color, lw=1.4, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"training loss, unweighted\n(moving average over {window} steps, log scale)")
    # validation happens at the end of every epoch
    twin = ax.twinx()
    epoch_ends = curves.steps_per_epoch * np.arange(1, len(curves.valid_metric) + 1)
    twin.plot(
        epoch_ends,
        curves.valid_metric,
        "o--",
        color="black",
        lw=1.2,
        ms=4,
        label=f"validation {metric.name} (right axis)",
    )
    twin.set_ylabel(f"validation {metric.name} ({metric.unit})")
    twin.grid(False)
    weight = curves.weight if isinstance(curves.weight, str) else f"{curves.weight:g}"
    ax.set_title(
        f"{metric.task_label(curves.task)}: {curves.n_train:,} training {examples}\n"
        f"{variant}, λ = {weight}, mean over seeds {curves.seeds}"
    )
    return twin


def plot_loss_components(exp, tasks, metric: FigureMetric, variant: str = "td", examples: str = "examples"):
    """One panel per task: the loss components over training steps and the validation metric
    per epoch. `exp` is any track's experiment (its runs are loaded or run)."""
    records = index_records(exp.run([variant], tasks))
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(6.2 * len(tasks), 4.6))
        axes = fig.subplots(1, len(tasks), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            stack = records[variant, task]
            curves = loss_curves(stack, exp.store.root, metric.higher_is_better)
            twin = _draw_loss_panel(ax, curves, variant, metric, examples)
        # one legend for all panels, below them, so it never hides a curve
        handles, labels = axes[0, -1].get_legend_handles_labels()
        twin_handles, twin_labels = twin.get_legend_handles_labels()
        fig.legend(
            handles + twin_handles,
            labels + twin_labels,
            loc="lower center",
            ncol=min(6, len(labels) + 1),
            frameon=False,
            bbox_to_anchor=(0.5, -0.02),
        )
        fig.suptitle("What TD optimises: loss components during training", fontweight="bold")
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


# ---------------------------------------------------------------- metric against K
def cells_by_k(records, task: str, higher_is_better: bool = False) -> dict[int, Cell]:
    """K -> cell (weight chosen on validation) for the K variants run for `task`."""
    indexed = index_records(records)
    return {k: cell_for(indexed[v, task], higher_is_better) for k, v in K_VARIANTS.items() if indexed.get((v, task))}


def plot_metric_vs_k(records, tasks, metric: FigureMetric, examples: str = "examples", ks=tuple(K_VARIANTS)):
    """Small multiples, one per task with its own y axis: tasks differ far more than K does.
    `ks`: the rounds the track defines (a K in it that was not run leaves a gap)."""
    indexed = index_records(records)
    ncols = min(4, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(3.4 * ncols, 3.0 * nrows + 0.6))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, task in zip(axes.flat, tasks):
            cells = cells_by_k(records, task, metric.higher_is_better)
            means = [cells[k].mean if k in cells else np.nan for k in ks]
            ses = [cells[k].se if k in cells else np.nan for k in ks]
            ax.errorbar(list(ks), means, yerr=ses, fmt="o-", color=PALETTE[0], capsize=3, label="TD, K rounds")
            if indexed.get(("student", task)):  # the scratch student for reference
                ax.axhline(
                    cell_for(indexed["student", task], metric.higher_is_better).mean,
                    color="grey",
                    ls="--",
                    lw=1,
                    label="Student (no teacher)",
                )
            n_train = next(iter(cells.values())).records[0]["n_train"] if cells else None
            ax.set_title(metric.task_label(task) + (f" ({n_train:,} {examples})" if n_train else ""))
            ax.set_xticks(list(ks))
            ax.set_xlabel("interaction rounds K")
            ax.set_ylabel(f"test {metric.name} ({metric.unit})")
            ax.margins(x=0.15)
        for ax in list(axes.flat)[len(tasks) :]:
            ax.set_visible(False)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
        fig.suptitle(
            f"Test {metric.name} against the number of interaction rounds K\n"
            "mean ± standard error over seeds; λ chosen on validation",
            fontweight="bold",
        )
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


# ---------------------------------------------------------------- budget curves
def plot_budget_curves(curves: dict, tasks, metric: FigureMetric, title: str = ""):
    """Small multiples, one per task with its own y axis, one line per row: the expected test
    metric of the configuration chosen on validation among n drawn from the row's grid, against n
    (budget.table_curves gives `curves`: (row, task) -> BudgetCurve). A line ends at its row's
    largest grid, so a row that searched more values reaches further right."""
    ncols = min(4, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    direction = "higher" if metric.higher_is_better else "lower"
    labels = list(dict.fromkeys(label for label, _ in curves))  # the table's row order
    colors = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(3.6 * ncols, 3.2 * nrows + 0.9))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, task in zip(axes.flat, tasks):
            for label in labels:
                curve = curves.get((label, task))
                if curve is not None:
                    ax.plot(curve.budgets, curve.expected, "o-", ms=3, lw=1.4, color=colors[label], label=label)
            ax.set_title(metric.task_label(task))
            ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
            ax.set_xlabel("configurations tried (n)")
            ax.set_ylabel(f"expected test {metric.name}\n({direction} is better)")
        for ax in list(axes.flat)[len(tasks) :]:
            ax.set_visible(False)
        handles = [h for ax in axes.flat for h in ax.get_legend_handles_labels()[0]]
        by_label = dict(zip([h.get_label() for h in handles], handles))
        fig.legend(
            [by_label[label] for label in labels if label in by_label],
            [label for label in labels if label in by_label],
            loc="lower center",
            ncol=min(5, len(labels)),
            frameon=False,
        )
        fig.suptitle(
            (title + "\n" if title else "") + f"Expected test {metric.name} of the configuration chosen on "
            "validation among n drawn from each row's grid\n(Dodge et al. 2019; uniform draws with "
            "replacement; mean over seeds)",
            fontweight="bold",
        )
        fig.tight_layout(rect=(0, 0.05 + 0.03 * math.ceil(len(labels) / 5), 1, 1))
    return fig


# ---------------------------------------------------------------- how each number was chosen
def plot_selection(table, records, task: str, metric: FigureMetric, root):
    """Two rows of small multiples for one task of a built table (core/tables.build_table), one
    column per row of the table that searched a grid: above, the validation metric over the grid,
    one line per seed, each seed's choice marked (so a reader sees whether the grid brackets it);
    below, the validation metric per epoch of each seed's chosen run (its best epoch marked)."""
    indexed = index_records(records)
    panels = []
    for row in table.rows():
        searched = {
            a: s for a, s in table.searches.get((row.label, task), {}).items() if s.grid is not None and len(s.grid) > 1
        }
        if searched and (row.label, task) in table.cells:
            panels.append((row.label, next(iter(searched)), table.cells[row.label, task]))
    names = {"distill_weight": "λ (distillation weight)", "l2": "L2 (regularisation)"}
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(3.4 * max(1, len(panels)), 6.4))
        axes = fig.subplots(2, max(1, len(panels)), squeeze=False)
        for column, (label, axis, cell) in enumerate(panels):
            ax, curves = axes[0, column], axes[1, column]
            for k, chosen in enumerate(cell.records):
                color = PALETTE[k % len(PALETTE)]
                others = [a for a in ("distill_weight", "l2") if a != axis]  # held at the seed's choice
                runs = [
                    r
                    for r in indexed[chosen["variant"], task]
                    if r["seed"] == chosen["seed"] and all(r.get(a, 0.0) == chosen.get(a, 0.0) for a in others)
                ]
                line = sorted((r.get(axis, 0.0), r["valid_metric"]) for r in runs)
                ax.plot(*zip(*line), "o-", color=color, lw=1.2, ms=3, label=f"seed {chosen['seed']}")
                ax.plot([chosen.get(axis, 0.0)], [chosen["valid_metric"]], "*", color=color, ms=12, mec="black")
                if chosen.get("log_file"):
                    valid = chosen_logs(root, [chosen])["epoch/valid_metric"][:, 0]
                    epochs = np.arange(1, len(valid) + 1)
                    curves.plot(epochs[~np.isnan(valid)], valid[~np.isnan(valid)], color=color, lw=1.2)
                    if chosen["best_epoch"] >= 1:
                        curves.plot(
                            [chosen["best_epoch"]],
                            [valid[chosen["best_epoch"] - 1]],
                            "*",
                            color=color,
                            ms=11,
                            mec="black",
                        )
            ax.set_xscale("log")
            ax.set_xlabel(names[axis])
            ax.set_title(f"{label}", fontsize=10)
            ax.set_ylabel(f"validation {metric.name}" if column == 0 else "")
            curves.set_xlabel("epoch")
            curves.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
            curves.set_ylabel(f"validation {metric.name} of the chosen runs" if column == 0 else "")
        if panels:
            axes[0, 0].legend(fontsize=8, frameon=False)
        else:
            axes[0, 0].text(0.5, 0.5, "no row of this table searched a grid", ha="center", va="center")
        best = "highest" if metric.higher_is_better else "lowest"
        fig.suptitle(
            f"{metric.task_label(task)}: how each seed chose ({best} validation {metric.name}, ★ = chosen)\n"
            "below: the chosen runs' training, ★ = the epoch restored",
            fontsize=10,
        )
        fig.tight_layout()
    return fig
