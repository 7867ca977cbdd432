"""Small tables of per-seed values, each row tested against a named reference row, rendered
to Markdown, LaTeX and long-format CSV rows. The reviewers' study renders with it what is not
a plain "test metric per task" table (differences to a control, CKA, probes, a teacher's
drift): the same protocol (mean ± standard error over seeds, paired t-tests over shared
seeds), any quantity. Knows no track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .results import Cell, paired_p

ALPHA = 0.05


@dataclass
class Entry:
    values: dict[int, float]  # seed -> value
    p: float = float("nan")  # paired t-test against the reference row, same column

    @property
    def seeds(self) -> list[int]:
        return sorted(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean([self.values[s] for s in self.seeds]))

    @property
    def se(self) -> float:
        n = len(self.values)
        return float(np.std([self.values[s] for s in self.seeds], ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def per_seed(cell: Cell, value=lambda record: record["test_metric"]) -> dict[int, float]:
    """A cell's chosen record of each seed, as seed -> value."""
    return {s: float(value(r)) for s, r in zip(cell.seeds, cell.records)}


def paired_test(a: dict[int, float], b: dict[int, float]) -> float:
    shared = sorted(set(a) & set(b))
    return paired_p([a[s] for s in shared], [b[s] for s in shared])


def difference(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    """a − b per shared seed (paired)."""
    return {s: a[s] - b[s] for s in sorted(set(a) & set(b))}


@dataclass
class Comparison:
    key: str  # "control_rmse"
    title: str
    quantity: str  # what a cell is, e.g. "test RMSE"
    columns: list[tuple[str, str]]  # (task, header)
    rows: list[str]
    values: dict[tuple[str, str], dict[int, float]]  # (row, task) -> seed -> value
    reference: str | None = None  # row every other row is tested against
    against_zero: bool = False  # differences: test each row's mean against 0
    better: str | None = None  # "lower" / "higher": bold the best mean; None: no bold
    caption: str = ""
    row_notes: dict[str, str] = field(default_factory=dict)  # a column beside the rows
    notes_header: str = ""
    digits: int = 4
    signed: bool = False  # differences: print the sign

    def entry(self, row: str, task: str) -> Entry | None:
        values = self.values.get((row, task))
        if not values:
            return None
        if self.against_zero:
            return Entry(values, paired_test(values, {s: 0.0 for s in values}))
        reference = self.values.get((self.reference, task)) if self.reference else None
        p = paired_test(values, reference) if reference and row != self.reference else float("nan")
        return Entry(values, p)

    def best_rows(self, task: str) -> set[str]:
        if self.better is None:
            return set()
        means = {row: round(e.mean, self.digits) for row in self.rows if (e := self.entry(row, task))}
        if not means:
            return set()
        best = (min if self.better == "lower" else max)(means.values())
        return {row for row, m in means.items() if m == best}

    def text(self, row: str, task: str, bold=("**", "**"), dagger="†") -> str:
        e = self.entry(row, task)
        if e is None:
            return "–"
        sign = "+" if self.signed else ""
        text = f"{e.mean:{sign}.{self.digits}f} ± {e.se:.{self.digits}f}"
        if row in self.best_rows(task):
            text = f"{bold[0]}{text}{bold[1]}"
        return text + (dagger if not math.isnan(e.p) and e.p < ALPHA else "")


def render_markdown(c: Comparison, level: int = 3) -> str:
    notes = bool(c.row_notes)
    out = [f"{'#' * level} {c.title}", "", c.caption, ""] if c.caption else [f"{'#' * level} {c.title}", ""]
    out.append("| " + " | ".join(["Row"] + ([c.notes_header] if notes else []) + [h for _, h in c.columns]) + " |")
    out.append("|---|" + ("---:|" if notes else "") + "---:|" * len(c.columns))
    for row in c.rows:
        cells = [c.text(row, task) for task, _ in c.columns]
        out.append("| " + " | ".join([row] + ([c.row_notes.get(row, "")] if notes else []) + cells) + " |")
    return "\n".join(out) + "\n"


LATEX = {
    "±": r"$\pm$",
    "†": r"$^\dagger$",
    "μ": r"$\mu$",
    "η": r"$\eta$",
    "λ": r"$\lambda$",
    "*": r"$^*$",
    "−": r"$-$",
    "→": r"$\to$",
    "²": r"$^2$",
    "·": r"$\cdot$",
    "∈": r"$\in$",
    "≈": r"$\approx$",
    "‖": r"$\|$",
    "ŷ": r"$\hat y$",
}  # characters a plain pdflatex does not take as they are


def render_latex(c: Comparison) -> str:
    def esc(s):
        s = s.replace("{", r"\{").replace("}", r"\}").replace("_", r"\_").replace("%", r"\%")
        for char, tex in LATEX.items():
            s = s.replace(char, tex)
        return s

    notes = bool(c.row_notes)
    out = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\begin{tabular}{l" + ("r" if notes else "") + "r" * len(c.columns) + "}",
        r"\toprule",
        " & ".join(["Row"] + ([esc(c.notes_header)] if notes else []) + [esc(h) for _, h in c.columns]) + r" \\",
        r"\midrule",
    ]
    for row in c.rows:
        cells = [
            esc(c.text(row, task, bold=("\x01", "\x02"))).replace("\x01", r"\textbf{").replace("\x02", "}")
            for task, _ in c.columns
        ]
        out.append(" & ".join([esc(row)] + ([esc(c.row_notes.get(row, ""))] if notes else []) + cells) + r" \\")
    out += [
        r"\bottomrule",
        r"\end{tabular}",
        r"\caption{" + esc(f"{c.title}. {c.caption}") + "}",
        r"\label{tab:" + c.key + "}",
        r"\end{table}",
    ]
    return "\n".join(out) + "\n"


CSV_HEADER = [
    "section",
    "row",
    "task",
    "quantity",
    "mean",
    "se",
    "n_seeds",
    "seeds",
    "values_per_seed",
    "tested_against",
    "p_value",
    "significant",
    "row_note",
]


def csv_rows(c: Comparison) -> list[list]:
    rows = []
    for row in c.rows:
        for task, _ in c.columns:
            e = c.entry(row, task)
            if e is None:
                continue
            tested = "0" if c.against_zero else c.reference if c.reference and row != c.reference else ""
            rows.append(
                [
                    c.key,
                    row,
                    task,
                    c.quantity,
                    f"{e.mean:.6f}",
                    f"{e.se:.6f}",
                    len(e.values),
                    " ".join(map(str, e.seeds)),
                    " ".join(f"{e.values[s]:.6f}" for s in e.seeds),
                    tested,
                    "" if math.isnan(e.p) else f"{e.p:.4g}",
                    int(not math.isnan(e.p) and e.p < ALPHA),
                    c.row_notes.get(row, ""),
                ]
            )
    return rows
