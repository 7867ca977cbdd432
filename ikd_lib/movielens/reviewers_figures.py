"""The reviewers' study's figures, drawn from the built study (reviewers_tables.build_study),
never from typed-in numbers:

- plot_data_size_sweep: test RMSE of Student, KD, the best feature baseline and TD (default)
  against Drama's training ratings (nested subsets), and TD (default)'s paired gain;
- plot_alignment: linear CKA of s_h with t_h per method, one point per genre.
"""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib import ticker
from matplotlib.figure import Figure

from ..core.plots import PALETTE, STYLE
from .reviewers_tables import TD_DEFAULT


def _n_train(study, task: str) -> int:
    return next(
        c.records[0]["n_train"] for (section, _, t), c in study.cells.items() if section == "sweep" and t == task
    )


def _log_axis(ax) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


SWEEP_PLOTTED = ("Student", "KD", "Best feature baseline", "TD (default)")


def plot_data_size_sweep(study):
    rmse, gain = study.comparison("sweep_rmse"), study.comparison("sweep_gain")
    tasks = [task for task, _ in rmse.columns]
    x = np.array([_n_train(study, t) for t in tasks], dtype=float)
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(11, 4.6))
        left, right = fig.subplots(1, 2)
        plotted = [r for r in rmse.rows if r in SWEEP_PLOTTED]  # the table has every searched row; four are drawn
        for i, (row, color) in enumerate(zip(plotted, PALETTE)):
            entries = [rmse.entry(row, t) for t in tasks]
            shown = [j for j, e in enumerate(entries) if e is not None]
            nudge = 1 + 0.03 * (i - 1.5)  # keep the error bars apart
            left.errorbar(
                x[shown] * nudge,
                [entries[j].mean for j in shown],
                yerr=[entries[j].se for j in shown],
                marker="o",
                ms=4,
                capsize=3,
                color=color,
                label=row,
            )
        left.set_ylabel("test RMSE (rating stars)")
        left.set_title("Test RMSE on Drama against its training ratings")
        left.legend(frameon=False)
        right.axhline(0, color="black", lw=0.8)
        for i, (row, color) in enumerate(zip(gain.rows, PALETTE)):
            entries = [gain.entry(row, t) for t in tasks]
            shown = [j for j, e in enumerate(entries) if e is not None]
            nudge = 1 + 0.03 * (i - 1)
            right.errorbar(
                x[shown] * nudge,
                [entries[j].mean for j in shown],
                yerr=[entries[j].se for j in shown],
                marker="s",
                ms=4,
                capsize=3,
                color=color,
                label=row,
            )
        right.set_ylabel(f"RMSE gain of {TD_DEFAULT}\npositive = TD better")
        right.set_title(f"{TD_DEFAULT}'s paired gain")
        right.legend(frameon=False)
        for ax in (left, right):
            _log_axis(ax)
            ax.set_xlabel("Drama's training ratings (nested subsets; log scale)")
        fig.suptitle("Data-size sweep: mean ± SE over seeds; every weight chosen per seed on validation", fontsize=10)
        fig.tight_layout()
    return fig


def plot_alignment(study):
    cka = study.comparison("cka")
    genres = [task for task, _ in cka.columns]
    with sns.axes_style(STYLE):
        fig = Figure(figsize=(9, 4.6))
        ax = fig.subplots()
        for g, (genre, header) in enumerate(cka.columns):
            color = PALETTE[g % len(PALETTE)]
            xs, ys, es = [], [], []
            for i, row in enumerate(cka.rows):
                e = cka.entry(row, genre)
                if e is not None:
                    xs.append(i + 0.08 * (g - (len(genres) - 1) / 2))
                    ys.append(e.mean)
                    es.append(e.se)
            ax.errorbar(xs, ys, yerr=es, fmt="o", ms=4, capsize=2, color=color, label=header)
        ax.set_xticks(range(len(cka.rows)), cka.rows, rotation=20)
        ax.set_ylabel("linear CKA(s_h, t_h) on test")
        ax.set_ylim(0, 1)
        ax.set_title("How alike the student's higher state is to the teacher's (mean ± SE over seeds)")
        ax.legend(frameon=False, fontsize=7, ncol=2, loc="upper left")
        fig.tight_layout()
    return fig
