"""The paper's published Tables 5-9 next to ours, and whether each ablation points the same way.

    text = paper_vs_ours({"table5": t5, "table7": t7, "table8": t8}, report.paper_results())

Our numbers come from our runs only; the published values are displayed and compared, never
used to choose anything. An ablation is a *claim* "row A beats row B", checked per genre in
the paper and in ours. Only the direction is compared: our scale (a small student, a CPU
budget) is not the paper's, so equal numbers are not expected.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .results import Cell, paired_p_value
from .store import atomic_write_bytes
from .tables import ALPHA, BuiltTable

NOT_RUN = "not run"
MISSING = "–"
VERDICTS = ("agree", "disagree", "tie", "not run")  # "tie": the paper's means are equal, not counted


class PaperValuesError(ValueError):
    """The file of published values is missing or not in the expected format."""


def read_paper_values(path) -> dict:
    """The published values in `path`, checked: a missing, unreadable or malformed file is an
    error that names it (an empty comparison would silently drop the paper's side)."""
    path = Path(path)
    fix = "restore ikd_lib/paper_results.json from git, or point IKD_PAPER_RESULTS at a file in its format"
    if not path.is_file():
        raise PaperValuesError(f"the paper's published values file {path} does not exist; {fix}")
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PaperValuesError(
            f"the paper's published values file {path} is not readable JSON ({error}); {fix}"
        ) from error
    problems = _format_problems(values)
    if problems:
        raise PaperValuesError(
            f"the paper's published values file {path} is malformed: {'; '.join(problems[:5])}; {fix}"
        )
    return values


def _format_problems(values) -> list[str]:
    if not isinstance(values, dict):
        return ["the top level is not an object"]
    tables = {k: v for k, v in values.items() if isinstance(v, dict) and "rows" in v}
    if not tables:
        return ["no table (an entry with title, metric, columns and rows)"]
    problems = []
    for key, table in tables.items():
        missing = [field for field in ("title", "metric", "columns") if field not in table]
        if missing:
            problems.append(f"{key}: no {', '.join(missing)}")
            continue
        if not isinstance(table["columns"], list) or not table["columns"]:
            problems.append(f"{key}: columns is not a non-empty list")
            continue
        if not isinstance(table["rows"], dict) or not table["rows"]:
            problems.append(f"{key}: rows is not a non-empty object")
            continue
        for label, cells in table["rows"].items():
            if not isinstance(cells, list) or len(cells) != len(table["columns"]):
                problems.append(f"{key}, row {label!r}: not one value per column ({len(table['columns'])})")
            elif not all(
                isinstance(c, dict)
                and isinstance(c.get("mean"), (int, float))
                and (c.get("se") is None or isinstance(c.get("se"), (int, float)))
                for c in cells
            ):
                problems.append(f"{key}, row {label!r}: every value needs a numeric mean (and se, or null)")
    return problems


@dataclass(frozen=True)
class Claim:
    question: str  # what the ablation asks, as a yes/no question
    a: str  # the paper's row that "yes" says is better
    b: str  # the paper's row it is compared with
    ours_a: str | None = None  # our row for `a` when it is not the same label
    ours_b: str | None = None

    @property
    def our_rows(self) -> tuple[str, str]:
        return self.ours_a or self.a, self.ours_b or self.b


# The consistency losses are removed from our fixed default configuration, so that is what
# "without" is compared with; the paper's TD row is the best of its variants per genre.
CLAIMS = {
    "table5": (
        Claim("Does 1 iteration beat no interaction?", "1 iteration", "No interaction"),
        Claim("Do 2-3 iterations beat no interaction?", "2-3 iterations", "No interaction"),
        Claim("Do 2-3 iterations beat 1 iteration?", "2-3 iterations", "1 iteration"),
    ),
    "table6": (
        Claim("Does 1 iteration beat no interaction?", "1 iteration", "No interaction"),
        Claim("Do 2 iterations beat no interaction?", "2 iterations", "No interaction"),
        Claim("Do 2 iterations beat 1 iteration?", "2 iterations", "1 iteration"),
    ),
    "table7": (
        Claim("Does removing L_MC hurt?", "TD", "No L_MC", ours_a="TD (default)"),
        Claim("Does removing L_SC hurt?", "TD", "No L_SC", ours_a="TD (default)"),
    ),
    "table8": (
        Claim("Does adding noise help?", "Add noise", "No noise"),
        Claim("Does training E*, D* separately help?", "Train E*, D* separately", "Train together"),
    ),
    "table9": (
        Claim("Does removing L_SC hurt?", "TD", "No L_SC"),
        Claim("Does adding noise help?", "Add noise", "No noise"),
    ),
}


@dataclass
class Check:
    table: str
    claim: Claim
    column: str  # the paper's column ("Genre 3", "CIFAR10")
    genre: str | None  # our genre of the same density rank
    paper_gain: float | None  # how much better a is than b (metric units, + = a better)
    our_gain: float | None
    p_value: float  # our paired t-test of a against b over seeds (NaN: none)
    verdict: str


def higher_is_better(metric: str) -> bool:
    """From the paper's metric string, e.g. "RMSE (lower is better)" or "top-1 accuracy"."""
    text = metric.lower()
    if "higher is better" in text or "lower is better" in text:  # an explicit statement wins
        return "higher is better" in text
    if "accuracy" in text:
        return True
    if any(word in text for word in ("rmse", "error", "loss")):
        return False
    raise ValueError(f"cannot tell whether higher or lower is better from metric {metric!r}")


def gain(a: float, b: float, higher: bool) -> float:
    """How much better a is than b; positive = a better, whatever the metric's direction."""
    return a - b if higher else b - a


def verdict(paper_gain: float | None, our_gain: float | None) -> str:
    """An exact tie in the paper is not counted; an exact tie of ours does not reproduce a
    direction, so it counts as disagreement."""
    if paper_gain is None:
        return "not run"
    if paper_gain == 0:
        return "tie"
    if our_gain is None:
        return "not run"
    return "agree" if our_gain != 0 and (our_gain > 0) == (paper_gain > 0) else "disagree"


def _paper_gain(published: dict, claim: Claim, i: int, higher: bool) -> float | None:
    rows = published["rows"]
    if claim.a not in rows or claim.b not in rows:
        return None
    # the published values have 4-5 decimals; rounding removes float noise from the subtraction
    return round(gain(rows[claim.a][i]["mean"], rows[claim.b][i]["mean"], higher), 10)


def _our_cells(table: BuiltTable | None, claim: Claim, genre: str | None) -> tuple[Cell | None, Cell | None]:
    if table is None or genre is None:
        return None, None
    a, b = claim.our_rows
    return table.cells.get((a, genre)), table.cells.get((b, genre))


def check_claims(tables: dict[str, BuiltTable], paper: dict) -> list[Check]:
    """Every claim of every published table, per column (genre matched by density rank)."""
    checks = []
    for key, published in paper_tables(paper).items():
        higher = higher_is_better(published["metric"])
        table = tables.get(key)
        for claim in CLAIMS.get(key, ()):
            for i, column in enumerate(published["columns"]):
                genre = table.genres[i] if table is not None and i < len(table.genres) else None
                a, b = _our_cells(table, claim, genre)
                ours = gain(a.mean, b.mean, higher) if a is not None and b is not None else None
                p = paired_p_value(a, b) if ours is not None else float("nan")
                theirs = _paper_gain(published, claim, i, higher)
                checks.append(Check(key, claim, column, genre, theirs, ours, p, verdict(theirs, ours)))
    return checks


def paper_tables(paper: dict) -> dict[str, dict]:
    """The published tables (entries with rows, columns and a metric), in the file's order."""
    return {k: v for k, v in paper.items() if isinstance(v, dict) and {"rows", "columns", "metric"} <= set(v)}


def summary_counts(checks: list[Check]) -> dict[str, Counter]:
    """Per table and "overall": verdict -> count, plus "agree, p < ALPHA"."""
    counts: dict[str, Counter] = {}
    for c in checks:
        for key in (c.table, "overall"):
            counts.setdefault(key, Counter())[c.verdict] += 1
            if c.verdict == "agree" and c.p_value < ALPHA:
                counts[key]["agree, p < alpha"] += 1
    counts.setdefault("overall", Counter())
    return counts


# ---------------------------------------------------------------- rendering
def decimals(published: dict) -> int:
    """How many decimals the paper prints in a table (at least 4, as ours)."""

    def places(x):
        text = repr(float(x))
        return 0 if "e" in text else len(text.split(".")[1])

    return max([4] + [places(v["mean"]) for values in published["rows"].values() for v in values])


def paper_value(v: dict, d: int = 4) -> str:
    return f"{v['mean']:.{d}f}" + ("" if v.get("se") is None else f" ± {v['se']:.{d}f}")


def our_value(cell: Cell | None) -> str:
    return MISSING if cell is None else f"{cell.mean:.4f} ± {cell.se:.4f}"


def _answer(g: float | None, d: int = 4) -> str:
    """ "yes (+0.0047)": the first row is better by that much; "tie" when equal."""
    if g is None:
        return MISSING
    return "tie" if g == 0 else ("yes" if g > 0 else "no") + f" ({g:+.{d}f})"


def _p_text(p: float) -> str:
    return MISSING if math.isnan(p) else f"{p:.3g}"


def _column_header(column: str, genre: str | None) -> str:
    return f"{column} ({genre})" if genre else column


def _summary(checks, paper) -> list[str]:
    counts = summary_counts(checks)
    out = [
        "| Table | What it ablates | agree | disagree | tie in the paper (not counted) | not run | agree with our p < "
        f"{ALPHA} |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    tables = paper_tables(paper)
    for key in [*tables, "overall"]:
        c = counts.get(key, Counter())
        title = tables[key]["title"] if key in tables else "all tables"
        name = "**overall**" if key == "overall" else key.replace("table", "Table ")
        out.append(
            f"| {name} | {title} | {c['agree']} | {c['disagree']} | {c['tie']} | {c['not run']} | "
            f"{c['agree, p < alpha']} |"
        )
    overall = counts["overall"]
    decided = overall["agree"] + overall["disagree"]
    share = f"{overall['agree']} of {decided} ({100 * overall['agree'] / decided:.0f}%)" if decided else "none"
    return [f"**Direction agreement, overall: {share}** of the comparisons both sides decide.", ""] + out


def _cells_section(key, published, table) -> list[str]:
    d = decimals(published)
    not_run = table is None
    genres = list(table.genres) if table is not None else []
    columns = published["columns"]
    extra = [r for claim in CLAIMS.get(key, ()) for r in claim.our_rows if r not in published["rows"]]
    out = []
    for start in range(0, len(columns), 4):
        block = list(range(start, min(start + 4, len(columns))))
        header = [_column_header(columns[i], genres[i] if i < len(genres) else None) for i in block]
        out += ["| Row | | " + " | ".join(header) + " |", "|---|---|" + "---:|" * len(block)]
        for label, values in published["rows"].items():
            out.append(f"| {label} | paper | " + " | ".join(paper_value(values[i], d) for i in block) + " |")
            ours = [
                NOT_RUN
                if not_run
                else our_value(table.cells.get((label, genres[i])) if table is not None and i < len(genres) else None)
                for i in block
            ]
            out.append("| | ours | " + " | ".join(ours) + " |")
        for label in dict.fromkeys(extra):
            if not not_run:
                out.append(
                    f"| {label} | ours only | "
                    + " | ".join(
                        our_value(
                            table.cells.get((label, genres[i])) if table is not None and i < len(genres) else None
                        )
                        for i in block
                    )
                    + " |"
                )
        out.append("")
    return out


def _checks_section(key, published, table, checks) -> list[str]:
    d, out, not_run = decimals(published), [], table is None
    for claim in CLAIMS.get(key, ()):
        ours_a, ours_b = claim.our_rows
        out += [
            f"**{claim.question}** Paper: {claim.a} vs {claim.b}; ours: {ours_a} vs {ours_b}. "
            "Gain in brackets: how much better the first row is (+ = yes).",
            "",
            "| Column | paper | ours | our paired p | verdict |",
            "|---|---|---|---:|---|",
        ]
        for c in (c for c in checks if c.table == key and c.claim == claim):
            ours = NOT_RUN if not_run else _answer(c.our_gain)
            out.append(
                f"| {_column_header(c.column, c.genre)} | {_answer(c.paper_gain, d)} | {ours} | "
                f"{_p_text(c.p_value)} | {c.verdict} |"
            )
        out.append("")
    return out


def _provenance(tables) -> list[str]:
    """What each table's provenance holds; a table read back from its CSV (tables.read_csv)
    names the file, whose .md caption has the rest (teacher, data, run configurations)."""
    out = []
    for key, t in sorted(tables.items()):
        p = t.provenance
        if not p:
            out.append(f"- {key}: no runs")
            continue
        parts = [
            f"profile `{p.get('profile')}`",
            f"table hash `{p.get('table_hash')}`"
            + (f" ({p['config_hashes']} run configurations)" if "config_hashes" in p else ""),
            f"seeds {p.get('seeds')}",
        ]
        parts += [
            f"{name} `{p[field]}`" for name, field in (("teacher", "teacher_hash"), ("data", "data")) if field in p
        ]
        parts.append(f"runs at git {', '.join(p.get('git_revisions', []))}")
        if "rendered_at_revision" in p:
            parts.append(f"rendered at git {p['rendered_at_revision']}")
        source = f" (read from `{p['source']}`; its `.md` caption has the full provenance)" if "source" in p else ""
        out.append(f"- {key}: " + ", ".join(parts) + source)
    return out


def paper_vs_ours(tables: dict[str, BuiltTable], paper: dict) -> str:
    """Markdown: summary of direction agreement, then every published cell next to ours, then
    every ablation's direction per genre, then where our numbers come from."""
    checks = check_claims(tables, paper)
    out = [
        "# The paper's Tables 5-9 next to ours",
        "",
        "Our numbers are computed from our runs only and are never tuned towards the paper's: every "
        "choice (distillation weights, multi-variant rows, the TD row) is made on our validation error; "
        "the published values are only displayed and compared here.",
        "",
        "Genres are matched by rank: the paper's Genre k is our k-th genre, dense to sparse by number "
        "of ratings. The paper does not name its genres, so a column pairs the same density rank, not "
        "necessarily the same genre. Our scale (model sizes, epochs) is not the paper's, so only the "
        "*direction* of each ablation is compared: does row A beat row B? RMSE: lower is better; "
        "accuracy: higher is better. Equal published means are a tie and not counted; an exact tie of "
        'ours counts as disagreement. "Not run": we have no cell (a table not in this folder, or a '
        'genre or variant this profile does not run). Removing L_MC or L_SC is compared with our "TD (default)", '
        "the configuration they are removed from; the paper compares with its TD row, which equals the "
        "best of its variants per genre. Our paired p: two-sided paired t-test over seeds of the two "
        "cells, on the per-seed test values (6 decimals) of the tables' CSV files.",
        "",
    ]
    out += ["## Summary", ""] + _summary(checks, paper) + [""]
    for key, published in paper_tables(paper).items():
        table = tables.get(key)
        out += [f"## {key.replace('table', 'Table ')}: {published['title']}", "", f"Metric: {published['metric']}.", ""]
        out += _cells_section(key, published, table)
        out += _checks_section(key, published, table, checks)
    out += ["## Provenance of our tables", ""] + _provenance(tables) + [""]
    return "\n".join(out)


def write_paper_vs_ours(tables: dict[str, BuiltTable], paper: dict, out_dir) -> Path:
    path = Path(out_dir) / "paper_vs_ours.md"
    atomic_write_bytes(path, paper_vs_ours(tables, paper).encode())
    return path
