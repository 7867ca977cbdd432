"""Tables from the results store, rendered to Markdown, LaTeX and CSV with their provenance.

A track declares its tables as `TableSpec`s (rows, the metric and its direction, how a
column is labelled, what its caption adds); this module builds and renders any of them.
A row names one or more candidate variants; with several, the one with the best
validation metric is taken per task (results.py). "TD" is the best of all TD variants
run, "TD (default)" the fixed default configuration. Bold marks the best mean among the
students (highest accuracy, lowest RMSE); reference rows (a teacher) are not students.
† marks a cell whose paired t-test against the TD row has p < ALPHA; ‡ one whose p is still
below ALPHA after Holm's step-down correction over every test the table makes
(results.holm_adjusted): the family is every cell with a p-value, CSV-only rows included, since
the CSV reports their tests too. A ‡ never comes without a † (an adjusted p is never smaller).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .bracket import AXES, axis_validation, bracket
from .config import config_hash
from .results import (
    Cell,
    as_error,
    best_cell,
    choices_differ_between_seeds,
    holm_adjusted,
    index_records,
    paired_p_value,
)
from .store import atomic_write_bytes, git_revision

TD_POOL = ("td*",)  # every TD variant that was run ("*": any variant key with this prefix)
ALPHA = 0.05  # the level of the † (uncorrected) and ‡ (Holm-corrected) marks
BEST_ROW = "TD"  # the row every other row is tested against


@dataclass(frozen=True)
class Row:
    label: str
    candidates: tuple[str, ...]  # variants ("td_k*" = prefix); several = pick per task on validation
    csv_only: bool = False  # rendered in the CSV, not in the Markdown/LaTeX table
    reference: bool = False  # not a student (a teacher): never bold


@dataclass(frozen=True)
class TableSpec:
    key: str  # "table3"
    title: str
    rows: tuple[Row, ...]
    metric: str  # "RMSE", "top-1 accuracy"
    higher_is_better: bool
    column_label: Callable[[int, str], str] = lambda i, task: task  # 1-based index, task -> header
    protocol: str = ""  # the track's caption sentence on how runs train and choose
    paper_key: str | None = None  # matching entry of paper_results.json
    note: str = ""
    facts: Callable[[BuiltTable], str] | None = None  # a caption sentence computed from the runs

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for row in self.rows for v in row.candidates))


@dataclass
class BuiltTable:
    spec: TableSpec
    genres: tuple[str, ...]  # the tasks, one per column
    cells: dict[tuple[str, str], Cell]  # (row label, task) -> cell
    p_values: dict[tuple[str, str], float]  # against the TD row, same task
    provenance: dict = field(default_factory=dict)
    selection: str = "per_seed"  # results.SELECTIONS
    options: dict[tuple[str, str], int] = field(default_factory=dict)  # cell -> options each seed chose from
    searches: dict[tuple[str, str], dict] = field(default_factory=dict)  # cell -> axis -> Searched (below)

    def rows(self, include_csv_only=False):
        return [r for r in self.spec.rows if include_csv_only or not r.csv_only]

    @property
    def p_holm(self) -> dict[tuple[str, str], float]:
        """Holm-adjusted p-values over every test this table makes (each cell with a finite p)."""
        return holm_adjusted(self.p_values)

    def differing_choices(self) -> tuple[int, int]:
        """(cells whose seeds chose different weights, l2 or variants; cells that had a choice)."""
        shown = {r.label for r in self.rows()}
        chosen = [c for key, c in self.cells.items() if key[0] in shown and self.options.get(key, 1) > 1]
        return sum(choices_differ_between_seeds(c) for c in chosen), len(chosen)


# Records loaded without their search's bounds (Experiment.run_variant adds them): every edge of a
# searched grid is open (not "at a bound") unless the validation there ties with its neighbour's.
UNDECLARED_BOUNDS = (1e-30, 1e30)


@dataclass(frozen=True)
class Searched:
    """One hyperparameter of one cell: the values searched (None: inherited from another row's
    choice per seed), and where each seed's choice sits in them (bracket.py's kinds)."""

    grid: tuple[float, ...] | None
    counts: dict[str, int] | None = None  # choices_interior / _at_bound / _tied / _at_open_edge
    bounds: tuple[float, float] | None = None  # how far the grid could grow (None: not declared)

    def words(self) -> str:
        return "inherited" if self.grid is None else " ".join(f"{v:g}" for v in self.grid)

    def bound_words(self) -> str:
        return "" if self.bounds is None else f"{self.bounds[0]:g} to {self.bounds[1]:g}"


def search_of(records, cell: Cell, higher_is_better: bool) -> dict[str, Searched]:
    """How a cell's choices were made, per hyperparameter: its grid (over the records of the
    variants its seeds chose) and each seed's choice classified against it. A hyperparameter a
    model does not have (every value 0: the Student's λ) is left out."""
    out = {}
    chosen = [r for r in records if r["variant"] in set(cell.variants)]
    for axis in AXES:
        if any(_inherits(r, axis, chosen) for r in cell.records):
            out[axis] = Searched(None)
            continue
        grid = tuple(sorted({r.get(axis, 0.0) for r in chosen}))
        if grid == (0.0,):
            continue
        declared = cell.records[0].get("search", {}).get(axis)
        bounds = tuple(declared["bounds"]) if declared else None
        try:
            found = bracket(
                grid,
                axis_validation(chosen, axis, higher_is_better),
                bounds or UNDECLARED_BOUNDS,
                declared["step"] if declared else 10.0,
                higher_is_better,
            )
            out[axis] = Searched(grid, found.counts(), bounds)
        except ValueError:  # the seeds searched different values (a row pooling variants)
            out[axis] = Searched(grid, None, bounds)
    return out


def _inherits(record: dict, axis: str, records) -> bool:
    """Does the record's variant take `axis` from another variant's choice? Records say so
    ("inherited"); one written before they did is read by the rule that made it: its seed ran
    one value only (a searched grid gives every seed every value)."""
    if "inherited" in record:
        return axis in record["inherited"]
    values = {r.get(axis, 0.0) for r in records if r["seed"] == record["seed"] and r["variant"] == record["variant"]}
    return len(values) == 1 and values != {0.0}


def open_edges(table: BuiltTable) -> tuple[int, int, int, int]:
    """(choices at an open edge, tied choices, choices at a declared bound, choices counted) over
    the table's shown cells."""
    shown = {r.label for r in table.rows()}
    counts = [s.counts for key, axes in table.searches.items() if key[0] in shown for s in axes.values() if s.counts]
    return (
        sum(c["choices_at_open_edge"] for c in counts),
        sum(c["choices_tied"] for c in counts),
        sum(c["choices_at_bound"] for c in counts),
        sum(sum(c.values()) for c in counts),
    )


def expand(candidates, available) -> list[str]:
    """Variant keys matching the candidates; "prefix*" matches every key that starts with prefix."""
    out = []
    for c in candidates:
        out += sorted(v for v in available if v.startswith(c[:-1])) if c.endswith("*") else [c]
    return list(dict.fromkeys(out))


def build_table(spec: TableSpec, records, genres, selection: str = "per_seed") -> BuiltTable:
    """Cells from records; the TD pool is whatever TD variants were actually run.
    selection: "per_seed" (nested: each seed chooses on its own validation) or "pooled"."""
    indexed = index_records(records)
    available = {variant for variant, _ in indexed}
    cells, p_values, options, searches = {}, {}, {}, {}
    for genre in genres:
        for row in spec.rows:
            candidates = expand(row.candidates, available)
            cell = best_cell(indexed, candidates, genre, spec.higher_is_better, selection)
            if cell is not None:
                cells[row.label, genre] = cell
                if selection == "per_seed":  # the pooled option chooses otherwise: its search is not classified
                    searches[row.label, genre] = search_of(
                        [r for v in candidates for r in indexed.get((v, genre), [])], cell, spec.higher_is_better
                    )
                first_seed = cell.seeds[0]
                options[row.label, genre] = len(
                    {
                        (r["variant"], r["distill_weight"], r.get("l2", 0.0))
                        for v in candidates
                        for r in indexed.get((v, genre), [])
                        if r["seed"] == first_seed
                    }
                )
        best = cells.get((BEST_ROW, genre))
        for row in spec.rows:
            if best is not None and (row.label, genre) in cells and row.label != BEST_ROW:
                p_values[row.label, genre] = paired_p_value(cells[row.label, genre], best)
    used = [r for c in cells.values() for r in c.records]
    return BuiltTable(spec, tuple(genres), cells, p_values, provenance_of(used), selection, options, searches)


def provenance_of(records) -> dict:
    if not records:
        return {}
    first = records[0]["config"]
    return {
        "profile": records[0]["profile"],
        "seeds": sorted({r["seed"] for r in records}),
        "config_hashes": len({r["config_hash"] for r in records}),
        "table_hash": config_hash(sorted({r["config_hash"] for r in records})),
        "teacher_hash": first["teacher_hash"],
        "teacher_weights": first.get("teacher_weights"),
        "data": first["data"],
        "git_revisions": sorted({r["git_revision"] for r in records}),
        "rendered_at_revision": git_revision(),
    }


def significant(p: float) -> bool:
    """The level every mark uses: a p-value (plain or Holm-adjusted) below ALPHA; NaN is no test."""
    return not math.isnan(p) and p < ALPHA


def holm_sentence(table: BuiltTable) -> str:
    """The caption's ‡: how many tests the correction covers, at which level."""
    csv_only = {r.label for r in table.spec.rows if r.csv_only}
    counted_hidden = any(label in csv_only for label, _ in table.p_holm)
    return (
        f"‡: still differs after Holm's step-down correction for the {len(table.p_holm)} tests this table "
        "makes (every cell with a p-value"
        + (", CSV-only rows included" if counted_hidden else "")
        + f"), adjusted p < {ALPHA}."
    )


def search_sentence(table: BuiltTable) -> str:
    """The caption's account of the search: each row's grids, and how many per-seed choices sit
    at an edge of their grid (a tie there is counted apart: a flat stretch, not a preference)."""
    if not table.searches:
        return ""
    grids: dict = {}
    for row in table.rows():
        for genre in table.genres:
            for axis, searched in table.searches.get((row.label, genre), {}).items():
                grids.setdefault(row.label, {}).setdefault(axis, []).append(searched)
    rows = [
        f"{label}: {'; '.join(axis_words(axis, cells) for axis, cells in axes.items())}"
        for label, axes in grids.items()
    ]
    at_edge, tied, at_bound, counted = open_edges(table)
    return (
        "Searched per seed on validation: " + ". ".join(rows) + f". Of {counted} per-seed choices on a grid "
        f"searched for the cell, {at_edge} sit at an open edge of it (the grid does not bracket them), "
        f"{at_bound} at a declared bound, and {tied} more tie at an edge with the next value (a flat stretch, "
        "ties to the smaller value)."
    )


AXIS_NAMES = {"distill_weight": "λ", "l2": "L2", "kd_weight": "μ", "teacher_lr": "η"}


def axis_words(axis: str, cells: list[Searched]) -> str:
    """One row's search on one axis over its cells: inherited, one grid for every cell, or the
    grid every cell searched and how far the cells' grids grew, within which bounds."""
    name = AXIS_NAMES[axis]
    if all(c.grid is None for c in cells):
        return f"{name} inherited per seed"
    grids = [c.grid for c in cells if c.grid is not None]

    def braces(values):
        return "{" + ", ".join(f"{v:g}" for v in values) + "}"

    bounds = {c.bounds for c in cells if c.bounds is not None}
    within = f" (bounds {' or '.join(f'{lo:g} to {hi:g}' for lo, hi in sorted(bounds))})" if bounds else ""
    if len(set(grids)) == 1:
        return f"{name} ∈ {braces(grids[0])}{within}"
    common = [v for v in grids[0] if all(v in g for g in grids)]
    lo, hi = min(g[0] for g in grids), max(g[-1] for g in grids)
    return (
        f"{name} ∈ {braces(common)} in every cell, grown per cell by a step beyond a chosen edge, "
        f"from {lo:g} up to {hi:g}{within}"
    )


def caption(table: BuiltTable) -> str:
    p, spec = table.provenance, table.spec
    metric, direction = spec.metric, "higher" if spec.higher_is_better else "lower"
    best = "highest" if spec.higher_is_better else "lowest"
    if table.selection == "per_seed":
        how = (
            f"chosen on validation {metric} by each seed on its own validation split (nested "
            "selection: the ± includes the choice), never on test"
        )
    else:
        how = f"chosen once per cell on the mean validation {metric} over seeds (pooled), never on test"
    differ, chosen = table.differing_choices()
    parts = [
        f"{spec.title}. Test {metric} ({direction} is better), mean ± standard error over "
        f"{len(p.get('seeds', []))} seeds {p.get('seeds')}; {spec.protocol} Distillation weights λ, "
        "regularisation strengths, the variants behind multi-variant rows, and the TD row (best of the "
        f'TD variants run) are {how}; "TD (default)" is the fixed default configuration. '
        f"Cells whose seeds chose differently: {differ} of {chosen}.",
        search_sentence(table),
        f"**Bold**: {best} mean among the models trained on the task"
        + (
            f" (the {', '.join(r.label for r in spec.rows if r.reference)} row is not)"
            if any(r.reference for r in spec.rows)
            else ""
        )
        + f". †: differs from the TD row in a paired t-test over seeds, p < {ALPHA}. "
        + holm_sentence(table),
        spec.note,
        spec.facts(table) if spec.facts else "",
        f"Provenance: profile `{p.get('profile')}`, table hash `{p.get('table_hash')}` "
        f"({p.get('config_hashes')} run configurations), teacher `{p.get('teacher_hash')}`"
        + (f" (weights sha256 `{p['teacher_weights']}`)" if p.get("teacher_weights") else "")
        + ", "
        f"data `{p.get('data')}`, runs at git {', '.join(p.get('git_revisions', []))}, "
        f"rendered at git {p.get('rendered_at_revision')}.",
    ]
    return " ".join(part for part in parts if part)


def _best_labels(table: BuiltTable, genre: str) -> set[str]:
    student_cells = {
        r.label: table.cells[r.label, genre]
        for r in table.rows()
        if not r.reference and (r.label, genre) in table.cells
    }
    if not student_cells:
        return set()
    higher = table.spec.higher_is_better
    best = min(as_error(round(c.mean, 4), higher) for c in student_cells.values())
    return {label for label, c in student_cells.items() if as_error(round(c.mean, 4), higher) == best}


def cell_text(
    table: BuiltTable,
    label: str,
    genre: str,
    bold: tuple[str, str] = ("**", "**"),
    dagger: str = "†",
    double_dagger: str = "‡",
) -> str:
    cell = table.cells.get((label, genre))
    if cell is None:
        return "–"
    text = f"{cell.mean:.4f} ± {cell.se:.4f}"
    if label in _best_labels(table, genre):
        text = f"{bold[0]}{text}{bold[1]}"
    p = table.p_values.get((label, genre), float("nan"))
    holm = table.p_holm.get((label, genre), float("nan"))
    return text + (dagger if significant(p) else "") + (double_dagger if significant(holm) else "")


def _blocks(genres, size=4):
    return [genres[i : i + size] for i in range(0, len(genres), size)]


def column_header(table: BuiltTable, genre: str) -> str:
    return table.spec.column_label(table.genres.index(genre) + 1, genre)


def _choice_words(row: Row, cell: Cell, searched: dict | None = None) -> list[str]:
    """What a cell chose, one value when every seed agreed, else one per seed ("3/3/10/3/3")."""
    words = [cell.variant] if len(row.candidates) > 1 or row.candidates[0].endswith("*") else []
    if any(cell.weights):
        words.append(f"λ={_one_or_each(cell.weights)}")
    l2 = (searched or {}).get("l2")
    if (l2 is not None and l2.grid is not None and len(l2.grid) > 1) or len(set(cell.l2s)) > 1:
        words.append(f"l2={_one_or_each(cell.l2s)}")
    return words


def _one_or_each(values) -> str:
    return f"{values[0]:g}" if len(set(values)) == 1 else "/".join(f"{v:g}" for v in values)


def choices_text(table: BuiltTable) -> str:
    """Which variant (rows with several), weight λ and l2 each cell took; per seed where they differ."""
    lines = []
    for row in table.rows():
        picks = []
        for genre in table.genres:
            cell = table.cells.get((row.label, genre))
            if cell is None:
                continue
            words = _choice_words(row, cell, table.searches.get((row.label, genre)))
            if words:
                picks.append(f"{genre}: {' '.join(words)}")
        if picks:
            lines.append(f"- {row.label}: " + "; ".join(picks))
    return "\n".join(lines)


def render_markdown(table: BuiltTable, paper: dict | None = None) -> str:
    out = [f"# {table.spec.key.replace('table', 'Table ')}: {table.spec.title}", "", caption(table), ""]
    for block in _blocks(list(table.genres)):
        out.append("| Method | " + " | ".join(column_header(table, g) for g in block) + " |")
        out.append("|---|" + "---:|" * len(block))
        for row in table.rows():
            out.append(f"| {row.label} | " + " | ".join(cell_text(table, row.label, g) for g in block) + " |")
        out.append("")
    out += published_section(table, paper)
    choices = choices_text(table)
    if choices:
        seeds = table.provenance.get("seeds", [])
        out += [
            f"## Choices made on validation {table.spec.metric}",
            "",
            f"Per seed where the seeds chose differently (in seed order {seeds}).",
            "",
            choices,
            "",
        ]
    return "\n".join(out)


def published_section(table: BuiltTable, paper: dict | None) -> list[str]:
    """The paper's values for this table (its entry of paper_results.json), as Markdown lines."""
    if not paper:
        return []
    out = ["## The paper's published values (for comparison; not used by any computation)", ""]
    if paper.get("columns", [""])[0].startswith("Genre"):
        out += ["Genres are numbered dense to sparse; the paper does not name them.", ""]
    columns = paper["columns"][: len(table.genres)]
    out.append("| Method (paper) | " + " | ".join(columns) + " |")
    out.append("|---|" + "---:|" * len(columns))
    for label, values in paper["rows"].items():
        out.append(f"| {label} | " + " | ".join(_published(v) for v in values[: len(columns)]) + " |")
    out.append("")
    return out


def _published(v: dict) -> str:
    return f"{v['mean']:.4f}" + ("" if v.get("se") is None else f" ± {v['se']:.4f}")


def render_latex(table: BuiltTable) -> str:
    def esc(s):
        # "†‡" as one superscript: "$^\dagger$$^\ddagger$" would put "$$" (display math) between them
        return (
            s.replace("_", r"\_")
            .replace("±", r"$\pm$")
            .replace("†‡", r"$^{\dagger\ddagger}$")
            .replace("†", r"$^\dagger$")
            .replace("‡", r"$^\ddagger$")
            .replace("*", r"$^*$")
        )

    out = [r"\begin{table}[t]", r"\centering", r"\small"]
    for block in _blocks(list(table.genres)):
        out.append(r"\begin{tabular}{l" + "r" * len(block) + "}")
        out.append(r"\toprule")
        out.append("Method & " + " & ".join(esc(column_header(table, g)) for g in block) + r" \\")
        out.append(r"\midrule")
        for row in table.rows():
            texts = [esc(cell_text(table, row.label, g, bold=(r"\textbf{", "}"))) for g in block]
            out.append(f"{esc(row.label)} & " + " & ".join(texts) + r" \\")
        out.append(r"\bottomrule")
        out.append(r"\end{tabular}")
        out.append(r"\par\medskip")
    out.append(r"\caption{" + esc(caption(table).replace("**Bold**", "Bold")) + "}")
    out.append(r"\label{tab:" + table.spec.key + "}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def render_csv(table: BuiltTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "table",
            "row",
            "task_index",
            "task",
            "metric",
            "mean_test",
            "se",
            "n_seeds",
            "seeds",
            "test_per_seed",
            "mean_valid",
            "variant_per_seed",
            "distill_weight_per_seed",
            "l2_per_seed",
            "p_vs_TD",
            "significant",
            "p_holm",
            "significant_holm",
            "selection",
            "distill_weight_grid",
            "l2_grid",
            "distill_weight_bounds",
            "l2_bounds",
            "choices_at_open_edge",
            "choices_at_bound",
            "choices_tied",
            "profile",
            "table_hash",
            "git_revisions",
        ]
    )
    p, holm = table.provenance, table.p_holm
    for row in table.rows(include_csv_only=True):
        for i, genre in enumerate(table.genres, start=1):
            cell = table.cells.get((row.label, genre))
            if cell is None:
                continue
            pv = table.p_values.get((row.label, genre), float("nan"))
            ph = holm.get((row.label, genre), float("nan"))
            writer.writerow(
                [
                    table.spec.key,
                    row.label,
                    i,
                    genre,
                    table.spec.metric,
                    f"{cell.mean:.6f}",
                    f"{cell.se:.6f}",
                    len(cell.test),
                    " ".join(map(str, cell.seeds)),
                    " ".join(f"{v:.6f}" for v in cell.test),
                    f"{cell.valid_mean:.6f}",
                    " ".join(cell.variants),
                    " ".join(f"{w:g}" for w in cell.weights),
                    " ".join(f"{v:g}" for v in cell.l2s),
                    "" if math.isnan(pv) else f"{pv:.4g}",
                    int(significant(pv)),
                    "" if math.isnan(ph) else f"{ph:.4g}",
                    int(significant(ph)),
                    table.selection,
                    *_search_columns(table.searches.get((row.label, genre), {})),
                    p.get("profile"),
                    p.get("table_hash"),
                    " ".join(p.get("git_revisions", [])),
                ]
            )
    return buffer.getvalue()


def _search_columns(searched: dict) -> list[str]:
    """The CSV's account of a cell's search: each grid ("" where the model has no such
    hyperparameter, "inherited" where it takes another row's choice) and its declared bounds
    ("lo hi"), and its per-seed choices at an open edge, at a bound and tied there, summed over
    its searched grids ("" if none was searched)."""
    counted = [s.counts for s in searched.values() if s.counts]

    def total(kind):
        return str(sum(c[kind] for c in counted)) if counted else ""

    grids = [searched[a].words() if a in searched else "" for a in ("distill_weight", "l2")]
    bounds = [
        " ".join(f"{v:g}" for v in searched[a].bounds) if a in searched and searched[a].bounds else ""
        for a in ("distill_weight", "l2")
    ]
    return grids + bounds + [total("choices_at_open_edge"), total("choices_at_bound"), total("choices_tied")]


def read_csv(spec: TableSpec, path: Path) -> BuiltTable:
    """A table read back from the CSV that render_csv wrote: per cell the seeds, each seed's
    test value (6 decimals) and choices, the p-value against TD (4 digits; the Holm-adjusted ones
    are recomputed from these); the provenance the CSV carries
    (profile, table hash, seeds, run revisions) and the file it came from. Enough to compare
    tables (paper.py); validation values per seed and run configurations are not in a CSV."""
    path = Path(path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or any(r["table"] != spec.key for r in rows):
        raise ValueError(f"{path} holds no rows of {spec.key}; regenerate it with `make tables`")
    genres = tuple(task for _, task in sorted({(int(r["task_index"]), r["task"]) for r in rows}))
    cells, p_values = {}, {}
    for r in rows:
        seeds = [int(s) for s in r["seeds"].split()]
        per_seed = zip(
            seeds,
            r["test_per_seed"].split(),
            r["variant_per_seed"].split(),
            r["distill_weight_per_seed"].split(),
            r["l2_per_seed"].split(),
        )
        cells[r["row"], r["task"]] = Cell(
            seeds,
            [
                {
                    "seed": seed,
                    "test_metric": float(test),
                    "variant": variant,
                    "distill_weight": float(weight),
                    "l2": float(l2),
                }
                for seed, test, variant, weight, l2 in per_seed
            ],
        )
        if r["p_vs_TD"]:
            p_values[r["row"], r["task"]] = float(r["p_vs_TD"])
    first = rows[0]
    provenance = {
        "profile": first["profile"],
        "table_hash": first["table_hash"],
        "seeds": sorted({int(s) for r in rows for s in r["seeds"].split()}),
        "git_revisions": first["git_revisions"].split(),
        "source": path.name,
    }
    return BuiltTable(spec, genres, cells, p_values, provenance, first["selection"])


def write_table(table: BuiltTable, out_dir: Path, paper_results: dict | None = None) -> list[Path]:
    paper = (paper_results or {}).get(table.spec.paper_key) if table.spec.paper_key else None
    out_dir = Path(out_dir)
    paths = {
        out_dir / f"{table.spec.key}.md": render_markdown(table, paper),
        out_dir / f"{table.spec.key}.tex": render_latex(table),
        out_dir / f"{table.spec.key}.csv": render_csv(table),
    }
    for path, text in paths.items():
        atomic_write_bytes(path, text.encode())
    return list(paths)
