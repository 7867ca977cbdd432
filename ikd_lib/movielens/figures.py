"""The MovieLens figures, drawn from run records and training logs (never from typed-in numbers).

- loss components (core/plots.py) on the densest and the sparsest genre;
- test RMSE against the number of interaction rounds K (core/plots.py);
- plot_gain_vs_density: TD's RMSE gain over the scratch student and the best baseline,
  against the number of training ratings (the paper's dense-to-sparse story).
Every choice (distillation weight, best baseline, TD variant) is made on validation RMSE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import seaborn as sns
from matplotlib import ticker
from matplotlib.figure import Figure  # not pyplot: no global figure state, no GUI backend

from ..core.budget import table_curves
from ..core.plots import PALETTE, STYLE, FigureMetric, plot_budget_curves, plot_loss_components, plot_metric_vs_k
from ..core.results import Cell
from ..core.tables import build_table
from .tables import MOVIELENS_TABLES

RMSE_FIGURE = FigureMetric("RMSE", "rating stars", higher_is_better=False, task_loss="MSE")
FIGURE_METRIC = RMSE_FIGURE  # the track's metric on a figure (report.show_selection reads it)
BASELINES = ("KD", "FitNet", "FD", "Hybrid")  # table 3 rows TD is compared with


def plot_movielens_loss_components(exp, genres=("Drama", "Western"), variant: str = "td"):
    return plot_loss_components(exp, genres, RMSE_FIGURE, variant, examples="ratings")


def plot_rmse_vs_k(records, genres):
    return plot_metric_vs_k(records, genres, RMSE_FIGURE, examples="ratings")


# ---------------------------------------------------------------- gain against density
@dataclass
class Gain:
    genre: str
    n_train: int
    against: str  # the row TD is compared with ("Student" or the best baseline's name)
    mean: float  # mean over shared seeds of (other RMSE - TD RMSE): positive = TD better
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
            ax.errorbar(
                x,
                [g.mean for g in series],
                yerr=[g.se for g in series],
                fmt=marker,
                color=color,
                capsize=3,
                ms=6,
                label=f"over {name}"
                + (" (KD, FitNet, FD or Hybrid, chosen on validation)" if name == "best baseline" else ""),
            )
            for xi, g in zip(x, series):
                text = g.genre if name == "Student" else f"vs {g.against}"
                ax.annotate(
                    text,
                    (xi, g.mean),
                    xytext=(6, 4 if name == "Student" else -10),
                    textcoords="offset points",
                    fontsize=8,
                    color=color,
                )
        ax.set_xscale("log")
        # 1-2-5 ticks with plain numbers: a handful of genres span barely two decades
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel("training ratings of the genre (log scale; dense → right)")
        ax.set_ylabel("RMSE gain of TD (rating stars)\npositive = TD better")
        ax.set_title(
            "Where the teacher helps: TD's test RMSE gain against training data size\n"
            "(mean ± SE of paired per-seed differences; TD variant chosen on validation)"
        )
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=1, frameon=False)
        ax.margins(x=0.15, y=0.2)
        fig.tight_layout()
    return fig


def plot_movielens_budget_curves(records, genres, table: str = "table3"):
    """Table 3's rows: the expected test RMSE of the validation-chosen configuration against the
    number of configurations tried (core/budget.py), so the ranking can be read at every budget."""
    return plot_budget_curves(
        table_curves(MOVIELENS_TABLES[table], records, genres),
        genres,
        RMSE_FIGURE,
        title="Table 3 at every search budget",
    )
