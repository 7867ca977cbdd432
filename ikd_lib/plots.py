"""The MovieLens figures, drawn from run records and training logs (never from typed-in numbers).

    fig = plot_rmse_vs_k(records, genres)
    save_figure(fig, figures_dir, "rmse_vs_k")        # rmse_vs_k.png and rmse_vs_k.pdf

- plot_loss_components: what TD optimises, step by step, on a dense and a sparse genre;
- plot_rmse_vs_k:       test RMSE against the number of interaction rounds K;
- plot_gain_vs_density: TD's RMSE gain over the scratch student and the best baseline,
                        against the number of training ratings (the paper's dense-to-sparse story).
Every choice (distillation weight, best baseline, TD variant) is made on validation RMSE.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import seaborn as sns
from matplotlib import ticker
from matplotlib.figure import Figure   # not pyplot: no global figure state, no GUI backend

from .config import TrainConfig
from .results import Cell, cell_for, index_records
from .tables import MOVIELENS_TABLES, build_table

STYLE = "whitegrid"
PALETTE = sns.color_palette("colorblind")
K_VARIANTS = {0: "td_k0", 1: "td", 2: "td_k2", 3: "td_k3"}   # K -> variant key
BASELINES = ("KD", "FitNet", "FD", "Hybrid")                  # table 3 rows TD is compared with


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
        os.replace(tmp.name, path)
        paths.append(path)
    return paths


# ---------------------------------------------------------------- loss components
@dataclass
class LossCurves:
    """One stack's training log, averaged over the seeds of the chosen weight."""
    genre: str
    n_train: int
    weight: float
    seeds: list[int]
    steps_per_epoch: int
    losses: dict[str, np.ndarray]   # name -> mean per step
    valid_rmse: np.ndarray          # mean per epoch


def steps_per_epoch(record: dict) -> int:
    train = TrainConfig(**record["config"]["train"])
    return -(-record["n_train"] // train.batch_size_for(record["n_train"]))


def replica_columns(cell: Cell) -> list[int]:
    """Columns of the stack's log that hold `cell`: replicas are (weight, seed) pairs,
    for w in grid for s in seeds (experiments.py)."""
    config = cell.records[0]["config"]
    replicas = [(w, s) for w in config["distill_weights"] for s in config["seeds"]]
    return [replicas.index((cell.weight, s)) for s in cell.seeds]


def mean_over(array, cols) -> np.ndarray:
    """Mean over the chosen replicas per row. Replicas trained one by one (unstacked) have
    NaN-padded logs: rows past the longest chosen replica are dropped, NaNs ignored."""
    values = np.asarray(array, dtype=float)[:, cols]
    present = ~np.isnan(values)
    rows = np.flatnonzero(present.any(1))
    values = values[: rows[-1] + 1 if len(rows) else 0]
    return np.nansum(values, 1) / np.maximum(present[: len(values)].sum(1), 1)


def loss_curves(records: list[dict], log: dict) -> LossCurves:
    """`records`: one variant x genre (all weights and seeds); `log`: its .npz arrays."""
    cell = cell_for(records)
    cols = replica_columns(cell)
    losses = {k.removeprefix("step/"): mean_over(v, cols) for k, v in log.items() if k.startswith("step/")}
    return LossCurves(genre=records[0]["task"], n_train=records[0]["n_train"], weight=cell.weight,
                      seeds=cell.seeds, steps_per_epoch=steps_per_epoch(records[0]), losses=losses,
                      valid_rmse=mean_over(log["epoch/valid_rmse"], cols))


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (the first points average what exists so far)."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) == 0:
        return values
    cumsum = np.insert(np.cumsum(values), 0, 0.0)
    end = np.arange(1, len(values) + 1)
    start = np.maximum(end - window, 0)
    return (cumsum[end] - cumsum[start]) / (end - start)


def _loss_series(curves: LossCurves) -> list[tuple[str, np.ndarray]]:
    """The components the objective adds up, in a fixed order; all-zero ones (K = 0) left out."""
    rounds = sorted((k for k in curves.losses if k.startswith("interact_round")), key=lambda k: int(k[14:]))
    named = [("task", r"$L_\mathrm{task}$ (MSE)")]
    named += [(k, rf"$L_\mathrm{{interact}}$, round {k[14:]}") for k in rounds] or [("interact", r"$L_\mathrm{interact}$")]
    named += [("message", r"$L_\mathrm{MC}$"), ("state", r"$L_\mathrm{SC}$")]
    return [(label, curves.losses[k]) for k, label in named if k in curves.losses and np.any(curves.losses[k] > 0)]


def _draw_loss_panel(ax, curves: LossCurves, variant: str):
    n_steps = len(next(iter(curves.losses.values())))
    window = max(1, min(curves.steps_per_epoch, n_steps // 20))
    steps = np.arange(1, n_steps + 1)
    for (label, values), color in zip(_loss_series(curves), PALETTE):
        ax.plot(steps, smooth(values, window), color=color, lw=1.4, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"training loss, unweighted\n(moving average over {window} steps, log scale)")
    # validation happens at the end of every epoch
    twin = ax.twinx()
    epoch_ends = curves.steps_per_epoch * np.arange(1, len(curves.valid_rmse) + 1)
    twin.plot(epoch_ends, curves.valid_rmse, "o--", color="black", lw=1.2, ms=4, label="validation RMSE (right axis)")
    twin.set_ylabel("validation RMSE (rating stars)")
    twin.grid(False)
    ax.set_title(f"{curves.genre}: {curves.n_train:,} training ratings\n"
                 f"{variant}, λ = {curves.weight:g}, mean over seeds {curves.seeds}")
    return twin


def plot_loss_components(exp, genres=("Drama", "Western"), variant: str = "td"):
    """One panel per genre: the loss components over training steps and validation RMSE per epoch."""
    records = index_records(exp.run([variant], genres))
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(6.2 * len(genres), 4.6))
        axes = fig.subplots(1, len(genres), squeeze=False)
        for ax, genre in zip(axes[0], genres):
            stack = records[variant, genre]
            with np.load(exp.store.root / stack[0]["log_file"]) as log:
                curves = loss_curves(stack, dict(log))
            twin = _draw_loss_panel(ax, curves, variant)
        # one legend for all panels, below them, so it never hides a curve
        handles, labels = axes[0, -1].get_legend_handles_labels()
        twin_handles, twin_labels = twin.get_legend_handles_labels()
        fig.legend(handles + twin_handles, labels + twin_labels, loc="lower center",
                   ncol=min(6, len(labels) + 1), frameon=False, bbox_to_anchor=(0.5, -0.02))
        fig.suptitle("What TD optimises: loss components during training", fontweight="bold")
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


# ---------------------------------------------------------------- RMSE against K
def rmse_by_k(records, genre: str) -> dict[int, Cell]:
    """K -> cell (weight chosen on validation) for the K variants run for `genre`."""
    indexed = index_records(records)
    return {k: cell_for(indexed[v, genre]) for k, v in K_VARIANTS.items() if indexed.get((v, genre))}


def plot_rmse_vs_k(records, genres):
    """Small multiples, one per genre with its own y axis: genres differ far more in RMSE than K does."""
    indexed = index_records(records)
    ncols = min(4, len(genres))
    nrows = math.ceil(len(genres) / ncols)
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(3.4 * ncols, 3.0 * nrows + 0.6))
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, genre in zip(axes.flat, genres):
            cells = rmse_by_k(records, genre)
            ks = list(K_VARIANTS)
            means = [cells[k].mean if k in cells else np.nan for k in ks]
            ses = [cells[k].se if k in cells else np.nan for k in ks]
            ax.errorbar(ks, means, yerr=ses, fmt="o-", color=PALETTE[0], capsize=3, label="TD, K rounds")
            if indexed.get(("student", genre)):   # the scratch student for reference
                ax.axhline(cell_for(indexed["student", genre]).mean, color="grey", ls="--", lw=1,
                           label="Student (no teacher)")
            n_train = next(iter(cells.values())).records[0]["n_train"] if cells else None
            ax.set_title(genre + (f" ({n_train:,} ratings)" if n_train else ""))
            ax.set_xticks(ks)
            ax.set_xlabel("interaction rounds K")
            ax.set_ylabel("test RMSE (rating stars)")
            ax.margins(x=0.15)
        for ax in list(axes.flat)[len(genres):]:
            ax.set_visible(False)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
        fig.suptitle("Test RMSE against the number of interaction rounds K\n"
                     "mean ± standard error over seeds; λ chosen on validation", fontweight="bold")
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


# ---------------------------------------------------------------- gain against density
@dataclass
class Gain:
    genre: str
    n_train: int
    against: str        # the row TD is compared with ("Student" or the best baseline's name)
    mean: float         # mean over shared seeds of (other RMSE - TD RMSE): positive = TD better
    se: float
    seeds: list[int]


def paired_gain(td: Cell, other: Cell, genre: str, against: str) -> Gain:
    """RMSE(other) - RMSE(TD) per shared seed; a seed is the same data order and init for both."""
    shared = sorted(set(td.seeds) & set(other.seeds))
    diffs = np.array([other.test[other.seeds.index(s)] - td.test[td.seeds.index(s)] for s in shared])
    se = float(diffs.std(ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else 0.0
    return Gain(genre, td.records[0]["n_train"], against, float(diffs.mean()) if len(diffs) else np.nan, se, shared)


def td_gains(records, genres) -> dict[str, list[Gain]]:
    """TD's gain per genre over the scratch Student and over the best baseline, which is chosen
    per genre on validation RMSE among KD, FitNet, FD and Hybrid."""
    table = build_table(MOVIELENS_TABLES["table3"], records, genres)
    gains = {"Student": [], "best baseline": []}
    for genre in genres:
        td = table.cells.get(("TD", genre))
        if td is None:
            continue
        if ("Student", genre) in table.cells:
            gains["Student"].append(paired_gain(td, table.cells["Student", genre], genre, "Student"))
        baselines = {b: table.cells[b, genre] for b in BASELINES if (b, genre) in table.cells}
        if baselines:
            best = min(baselines, key=lambda b: baselines[b].valid_mean)
            gains["best baseline"].append(paired_gain(td, baselines[best], genre, best))
    return gains


def plot_gain_vs_density(records, genres):
    """x: training ratings of the genre (log); y: RMSE gain of TD, positive = TD better."""
    gains = td_gains(records, genres)
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(7.5, 4.8))
        ax = fig.subplots()
        ax.axhline(0, color="black", lw=0.8)
        for (name, series), color, marker in zip(gains.items(), PALETTE, ("o", "s")):
            if not series:
                continue
            x = np.array([g.n_train for g in series], dtype=float)
            # nudge the two series apart so their error bars stay visible
            x = x * (0.96 if marker == "o" else 1.04)
            ax.errorbar(x, [g.mean for g in series], yerr=[g.se for g in series], fmt=marker,
                        color=color, capsize=3, ms=6, label=f"over {name}" + (
                            " (KD, FitNet, FD or Hybrid, chosen on validation)" if name == "best baseline" else ""))
            for xi, g in zip(x, series):
                text = g.genre if name == "Student" else f"vs {g.against}"
                ax.annotate(text, (xi, g.mean), xytext=(6, 4 if name == "Student" else -10),
                            textcoords="offset points", fontsize=8, color=color)
        ax.set_xscale("log")
        # 1-2-5 ticks with plain numbers: a handful of genres span barely two decades
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("training ratings of the genre (log scale; dense → right)")
        ax.set_ylabel("RMSE gain of TD (rating stars)\npositive = TD better")
        ax.set_title("Where the teacher helps: TD's test RMSE gain against training data size\n"
                     "(mean ± SE of paired per-seed differences; TD variant chosen on validation)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=1, frameon=False)
        ax.margins(x=0.15, y=0.2)
        fig.tight_layout()
    return fig
