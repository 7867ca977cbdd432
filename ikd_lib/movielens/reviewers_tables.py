"""The reviewers' study as tables: `tables/reviewers.md` (+ .csv, .tex), built from run records.

Every cell is the core protocol: per seed, the choice made on validation (core/results.py,
through `build_table`), mean ± standard error over seeds on test, paired t-tests over the
seeds both sides share. Five sections, one per question (docs/reviewers.md); each ends with
a sentence of counts computed from its cells ("TD is lower than the control in 3 of 8
genres, p < 0.05 in 1"), so the reading is the numbers', not typed in.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core.alignment import RIDGE
from ..core.bracket import bracket
from ..core.comparisons import (
    ALPHA,
    CSV_HEADER,
    Comparison,
    csv_rows,
    difference,
    per_seed,
    render_latex,
    render_markdown,
)
from ..core.reviewer_methods import training_only_parameters
from ..core.store import atomic_write_bytes
from ..core.tables import AXIS_NAMES, TD_POOL, Row, Searched, axis_words, build_table, provenance_of
from .reviewers import FAMILIES, SWEEP_FRACTIONS, SWEEP_TASKS, sweep_task_name
from .tables import genre_label, rmse_table

CONTROL, TD_DEFAULT, NO_INTERACTION = "One-way control", "TD (default)", "No interaction"
MAIN_ROWS = (
    Row("Student", ("student",)),
    Row("KD", ("kd",)),
    Row("FitNet", ("fitnet",)),
    Row("FD", ("fd",)),
    Row("Hybrid", ("hybrid",)),
    Row(NO_INTERACTION, ("td_k0",)),
    Row(TD_DEFAULT, ("td",)),
    Row("TD", TD_POOL),
    Row(CONTROL, ("oneway",)),
)
SWEEP_ROWS = (  # every searched run the sweep reads is a row, so its grid is in the CSV (make verify SEEDS=)
    Row("Bias only", ("bias_only",)),
    Row("Student", ("student",)),
    Row("KD", ("kd",)),
    Row("FitNet", ("fitnet",)),
    Row("FD", ("fd",)),
    Row("Hybrid", ("hybrid",)),
    Row("Best feature baseline", ("fitnet", "fd", "hybrid")),
    Row(TD_DEFAULT, ("td",)),
)
ANALYSED = (
    ("Student", "cka_student"),
    ("KD", "cka_kd"),
    ("FitNet", "cka_fitnet"),
    ("FD", "cka_fd"),
    ("Hybrid", "cka_hybrid"),
    (NO_INTERACTION, "cka_td_k0"),
    (TD_DEFAULT, "cka_td"),
    (CONTROL, "oneway"),
)
PLUS_KD, LEARNS = "TD + KD", "TD, teacher learns"


@dataclass
class Section:
    heading: str
    question: str
    comparisons: list[Comparison]
    finding: str = ""
    choices: str = ""
    searches: dict = field(default_factory=dict)  # (row label, task) -> {axis: core.tables.Searched}


@dataclass
class Study:
    sections: list[Section]
    provenance: dict
    cells: dict = field(default_factory=dict)  # (section, row label, task) -> core Cell (figures read them)

    def comparison(self, key: str) -> Comparison:
        found = [c for s in self.sections for c in s.comparisons if c.key == key]
        if not found:
            raise KeyError(f"no comparison {key!r}; valid: {[c.key for s in self.sections for c in s.comparisons]}")
        return found[0]


# ---------------------------------------------------------------- helpers
def _table(rows, records, tasks):
    return build_table(rmse_table("reviewers", "", tuple(rows)), records, tasks)


def _cells(rows, records, tasks):
    return _table(rows, records, tasks).cells


def family_searches(exp, records, family: str, label: str, tasks) -> dict:
    """(label, task) -> {axis: Searched} for a row that picks one of a family's variants per seed
    (TD + KD's μ, the learning teacher's η): its grid and each seed's choice classified
    against it (core/bracket.py), as the experiment grew it."""
    spec = FAMILIES[family]
    out = {}
    for task in tasks:
        valid: dict[int, dict[float, float]] = {}
        for r in records:
            variant = exp.variants.get(r["variant"])
            if r["task"] == task and variant is not None and variant.method == spec.method:
                valid.setdefault(r["seed"], {})[spec.value(variant)] = r["valid_metric"]
        if valid:
            grid = tuple(sorted({v for line in valid.values() for v in line}))
            bounds = exp.family_bounds(family, task)
            found = bracket(grid, valid, bounds, exp.step_of(), exp.higher_is_better)
            out[label, task] = {family_axis(family): Searched(grid, found.counts(), bounds)}
    return out


def family_axis(family: str) -> str:
    return {"plus_kd": "kd_weight", "thaw": "teacher_lr"}[family]


def search_words(searches: dict, labels) -> str:
    """A section's account of its searches: per row and hyperparameter, the grids, then the
    per-seed choices at an open edge, at a bound and tied (core.tables's words)."""
    parts, totals = [], {"choices_at_open_edge": 0, "choices_at_bound": 0, "choices_tied": 0, "counted": 0}
    for label in labels:
        axes: dict = {}
        for (row, _), found in searches.items():
            if row == label:
                for axis, searched in found.items():
                    axes.setdefault(axis, []).append(searched)
                    if searched.counts:
                        for k in ("choices_at_open_edge", "choices_at_bound", "choices_tied"):
                            totals[k] += searched.counts[k]
                        totals["counted"] += sum(searched.counts.values())
        if axes:
            parts.append(f"{label}: " + "; ".join(axis_words(axis, cells) for axis, cells in axes.items()))
    if not parts:
        return ""
    return (
        "Searched per seed on validation: " + ". ".join(parts) + f". Of {totals['counted']} per-seed choices on "
        f"a grid searched for the cell, {totals['choices_at_open_edge']} sit at an open edge of it, "
        f"{totals['choices_at_bound']} at a declared bound, and {totals['choices_tied']} tie at an edge with "
        "the next value."
    )


def _count(comparison: Comparison, row: str, tasks, lower_is_good: bool = True) -> tuple[int, int, int, int]:
    """(columns where the row's mean is below the reference's / 0 at the table's precision, of
    those with p < α, columns where it is above, of those with p < α); the rest are equal."""
    below = sig_below = above = sig_above = 0
    for task in tasks:
        e = comparison.entry(row, task)
        if e is None:
            continue
        ref = 0.0 if comparison.against_zero else comparison.entry(comparison.reference, task).mean
        sig = not math.isnan(e.p) and e.p < ALPHA
        gap = round(e.mean - ref, comparison.digits)  # equal at the table's precision: neither
        if gap < 0:
            below, sig_below = below + 1, sig_below + sig
        elif gap > 0:
            above, sig_above = above + 1, sig_above + sig
    return below, sig_below, above, sig_above


def _choices(cells, label, tasks, describe) -> str:
    parts = []
    for task in tasks:
        cell = cells.get((label, task))
        if cell is not None:
            parts.append(f"{task}: " + "/".join(describe(r) for r in cell.records))
    return f"- {label}: " + "; ".join(parts) if parts else ""


def parameter_counts(exp, keys) -> dict[str, int]:
    """Training-only parameters per replica of each variant's method (E*, D*, a regressor or
    projector), counted on a method built as the runs build it."""
    task = exp.task(exp.profile.genres[-1])
    seed = exp.profile.seeds[0]
    counts = {}
    for key in keys:
        variant = exp.variants[key]
        student = exp.student_model(task, (seed,))
        teacher = exp.teacher_for(variant, torch.tensor([0])) if variant.method != "student" else None
        method = exp.make_method(variant, student, teacher, torch.ones(1), task, 0)
        counts[key] = training_only_parameters(method)
    return counts


# ---------------------------------------------------------------- the five sections
def control_section(exp, records, genres, columns) -> tuple[Section, dict]:
    table = _table(MAIN_ROWS, records, genres)
    cells = table.cells
    values = {key: per_seed(cell) for key, cell in cells.items()}
    keys = {
        "Student": "student",
        "KD": "kd",
        "FitNet": "fitnet",
        "FD": "fd",
        "Hybrid": "hybrid",
        NO_INTERACTION: "td_k0",
        TD_DEFAULT: "td",
        "TD": "td",
        CONTROL: "oneway",
    }
    counts = parameter_counts(exp, sorted(set(keys.values())))
    rmse = Comparison(
        "control_rmse",
        "Test RMSE, every method beside the one-way control",
        "test RMSE",
        columns,
        [r.label for r in MAIN_ROWS],
        values,
        reference=CONTROL,
        better="lower",
        row_notes={label: f"{counts[key]:,}" for label, key in keys.items()},
        notes_header="training-only parameters",
        caption=(
            "Bold: lowest mean. †: differs from the one-way control in a paired t-test over seeds, "
            f'p < {ALPHA}. "TD" is the best TD variant of Tables 3, 5, 7, 8 per seed on validation; '
            "the control, like TD (default), tries TD's λ grid itself. Training-only parameters: "
            "per replica, what the optimiser trains besides the student (E*, D*, a regressor or a "
            "projector), none of which the student keeps."
        ),
    )
    diff_rows = ["TD", TD_DEFAULT, NO_INTERACTION]
    diffs = {
        (f"{row} − control", g): difference(values[row, g], values[CONTROL, g])
        for row in diff_rows
        for g in genres
        if (row, g) in values and (CONTROL, g) in values
    }
    differences = Comparison(
        "control_difference",
        "Paired difference to the one-way control (negative: lower RMSE than the control)",
        "test RMSE difference",
        columns,
        [f"{r} − control" for r in diff_rows],
        diffs,
        against_zero=True,
        signed=True,
        caption=f"Mean ± SE over seeds of the per-seed difference; †: the paired t-test, p < {ALPHA}.",
    )
    sentences = []
    for row in diff_rows:
        below, sig_below, above, sig_above = _count(differences, f"{row} − control", genres)
        sentences.append(
            f"{row} is lower than the control in {below} of {len(genres)} genres (p < {ALPHA} in "
            f"{sig_below}) and higher in {above} (p < {ALPHA} in {sig_above})"
        )
    finding = (
        f"The control has {counts['oneway']:,} training-only parameters, TD {counts['td']:,}. "
        + "; ".join(sentences)
        + "."
    )
    choices = _choices(cells, CONTROL, genres, lambda r: f"{r['distill_weight']:g}")
    section = Section(
        "1. Is the gain from the four extra modules? A parameter-matched one-way control",
        "Reviewers: the gain may come from E*, D*'s extra trainable parameters, not from the conversation.",
        [rmse, differences],
        finding,
        "λ chosen per seed (seed order " + f"{list(exp.profile.seeds)}):\n" + choices,
        table.searches,
    )
    return section, {("control", k[0], k[1]): c for k, c in cells.items()}


def sweep_section(exp, records, seeds) -> tuple[Section, dict]:
    tasks = [t for t in SWEEP_TASKS if any(r["task"] == t for r in records)]
    n_train = {t: next(r["n_train"] for r in records if r["task"] == t) for t in tasks}
    columns = [(t, f"{100 * SWEEP_TASKS[t]:g}% (n={n_train[t]:,})") for t in tasks]
    table = _table(SWEEP_ROWS, records, tasks)
    cells = table.cells
    values = {key: per_seed(cell) for key, cell in cells.items()}
    rmse = Comparison(
        "sweep_rmse",
        "Test RMSE on Drama against the share of its training ratings",
        "test RMSE",
        columns,
        [r.label for r in SWEEP_ROWS],
        values,
        reference=TD_DEFAULT,
        better="lower",
        caption=(
            "Nested, seeded subsets of Drama's training ratings (validation and test unchanged); "
            'every weight and l2 chosen per seed on validation; "Bias only": the biases every model starts '
            'from; "Best feature baseline": FitNet, FD or Hybrid, whichever each seed\'s validation RMSE '
            f"prefers. †: differs from "
            f"TD (default), paired t-test, p < {ALPHA}."
        ),
    )
    others = ["Student", "KD", "Best feature baseline"]
    gains = {
        (f"over {o}", t): difference(values[o, t], values[TD_DEFAULT, t])
        for o in others
        for t in tasks
        if (o, t) in values and (TD_DEFAULT, t) in values
    }
    gain = Comparison(
        "sweep_gain",
        "TD (default)'s paired gain in RMSE (positive: TD lower)",
        "RMSE gain of TD (default)",
        columns,
        [f"over {o}" for o in others],
        gains,
        against_zero=True,
        signed=True,
        caption=f"Per seed, the other row's RMSE minus TD (default)'s; †: paired t-test, p < {ALPHA}.",
    )
    sentences = []
    for o in others:
        _, _, above, sig_above = _count(gain, f"over {o}", tasks)
        below, sig_below, _, _ = _count(gain, f"over {o}", tasks)
        sentences.append(
            f"Over {o}, TD (default) gains at {above} of {len(tasks)} sizes (p < {ALPHA} at {sig_above}) "
            f"and loses at {below} (p < {ALPHA} at {sig_below})"
        )
    finding = "; ".join(sentences) + "."
    choices = _choices(cells, "Best feature baseline", tasks, lambda r: r["variant"])
    section = Section(
        "2. Does it help when the student has far less data? A data-size sweep on Drama",
        "Reviewers: the teacher should matter most where the student's data are scarce.",
        [rmse, gain],
        finding,
        f"Feature baseline chosen per seed (seed order {seeds}):\n" + choices,
        table.searches,
    )
    return section, {("sweep", k[0], k[1]): c for k, c in cells.items()}


def analysis_cells(records, genres) -> dict:
    """(row label, genre) -> the analysed models' cell (replays: one record per seed; the
    control: its choice on validation)."""
    rows = tuple(Row(label, (key,)) for label, key in ANALYSED)
    return _cells(rows, records, genres)


def alignment_section(exp, records, genres, columns) -> tuple[Section, dict]:
    cells = analysis_cells(records, genres)

    def of(label, quantity):
        return {
            (label, g): per_seed(cells[label, g], lambda r: r["analysis"][quantity])
            for g in genres
            if (label, g) in cells and quantity in cells[label, g].records[0].get("analysis", {})
        }

    cka_values = {}
    for label, _ in ANALYSED:
        cka_values |= of(label, "cka_high")
    cka = Comparison(
        "cka",
        "Linear CKA between the student's s_h and the teacher's t_h on the test ratings",
        "linear CKA(s_h, t_h)",
        columns,
        [label for label, _ in ANALYSED],
        cka_values,
        reference=TD_DEFAULT,
        better="higher",
        digits=3,
        caption=(
            "1: the same geometry up to rotation and scale; near 0: unrelated. Each model is the "
            "run its row's table chose per seed on validation, trained again to be analysed (the "
            f"store keeps numbers, not weights). †: differs from TD (default), paired t-test, p < {ALPHA}."
        ),
    )
    probe_rows = [
        ("Teacher: t_h", TD_DEFAULT, "r2_teacher"),
        ("Student: s_h", "Student", "r2_state"),
        ("TD (default): s_h", TD_DEFAULT, "r2_state"),
        ("TD (default): message E_g(s_h)", TD_DEFAULT, "r2_message"),
        ("TD (default): teacher's answer", TD_DEFAULT, "r2_answer"),
        ("No interaction: message E_g(s_h)", NO_INTERACTION, "r2_message"),
        ("One-way control: message E_g(s_h)", CONTROL, "r2_message"),
    ]
    probe_values = {}
    for name, label, quantity in probe_rows:
        probe_values |= {(name, g): v for (_, g), v in of(label, quantity).items()}
    probe = Comparison(
        "probe",
        "Linear probe to the rating: R² on the test ratings",
        "probe R² on test",
        columns,
        [name for name, _, _ in probe_rows],
        probe_values,
        reference="TD (default): teacher's answer",
        digits=3,
        caption=(
            f"Ridge regression (penalty {RIDGE:g} on standardised features) with an intercept, fitted on the "
            "genre's training ratings. "
            "\"Teacher's answer\": E_h(h_up(D_h(E_g(s_l)))), the first round's answer "
            "message. E_g is linear and square here (16 → 16), so a message carries "
            "linearly what s_h carries: their R² agree up to rank. †: differs from the "
            f"teacher's answer row, paired t-test, p < {ALPHA}."
        ),
    )
    sentences = []
    for other in ("FitNet", "FD", "Student", CONTROL):
        below, sig_below, above, sig_above = _count(cka, other, genres)
        sentences.append(
            f"{other}'s CKA is below TD (default)'s in {below} of {len(genres)} genres "
            f"(p < {ALPHA} in {sig_below}) and above in {above} (p < {ALPHA} in {sig_above})"
        )
    finding = "; ".join(sentences) + "." + replay_check(records, genres)
    section = Section(
        "3. Do the models actually talk? Alignment of states and what the messages carry",
        "Reviewers: does TD align the student with the teacher more than FD or FitNet do?",
        [cka, probe],
        finding,
    )
    return section, {("alignment", k[0], k[1]): c for k, c in cells.items()}


def replay_check(records, genres) -> str:
    """How far the analysed re-runs' test RMSE lies from the runs their table chose."""
    main = _cells(
        tuple(
            Row(label, (key,))
            for label, key in (
                ("Student", "student"),
                ("KD", "kd"),
                ("FitNet", "fitnet"),
                ("FD", "fd"),
                ("Hybrid", "hybrid"),
                (NO_INTERACTION, "td_k0"),
                (TD_DEFAULT, "td"),
            )
        ),
        records,
        genres,
    )
    again = analysis_cells(records, genres)
    gaps = [abs(a - b) for key, cell in main.items() if key in again for a, b in zip(cell.test, again[key].test)]
    if not gaps:
        return ""
    same = sum(g == 0 for g in gaps)
    if same == len(gaps):
        return (
            f" The re-trained models' test RMSE equals that of the runs their table chose, bit for bit, in all "
            f"{len(gaps)} (seed, genre, method) pairs."
        )
    return (
        f" The re-trained models' test RMSE equals that of the runs their table chose, bit for bit, in {same} "
        f"of {len(gaps)} (seed, genre, method) pairs; the largest gap is {max(gaps):.2g} (a stack of other "
        "replicas rounds differently, and can restore another epoch)."
    )


def plus_kd_section(exp, records, genres, columns) -> tuple[Section, dict]:
    rows = (Row("KD", ("kd",)), Row("Hybrid", ("hybrid",)), Row(TD_DEFAULT, ("td",)), Row(PLUS_KD, ("plus_kd*",)))
    cells = _cells(rows, records, genres)
    values = {key: per_seed(cell) for key, cell in cells.items()}
    rmse = Comparison(
        "plus_kd_rmse",
        "Test RMSE: TD + KD against KD, Hybrid and TD (default)",
        "test RMSE",
        columns,
        [r.label for r in rows],
        values,
        reference=PLUS_KD,
        better="lower",
        caption=(
            "TD + KD: TD (default)'s objective with the λ it chose per seed, plus μ · logit KD, μ "
            "searched per genre from KD's grid and chosen per seed on validation. †: differs from "
            f"TD + KD, paired t-test, p < {ALPHA}."
        ),
    )
    diff_rows = ["KD", "Hybrid", TD_DEFAULT]
    diffs = {
        (f"TD + KD − {o}", g): difference(values[PLUS_KD, g], values[o, g])
        for o in diff_rows
        for g in genres
        if (o, g) in values and (PLUS_KD, g) in values
    }
    differences = Comparison(
        "plus_kd_difference",
        "TD + KD's paired difference (negative: TD + KD lower)",
        "test RMSE difference",
        columns,
        [f"TD + KD − {o}" for o in diff_rows],
        diffs,
        against_zero=True,
        signed=True,
        caption=f"†: paired t-test, p < {ALPHA}.",
    )
    sentences = []
    for o in diff_rows:
        below, sig_below, above, sig_above = _count(differences, f"TD + KD − {o}", genres)
        sentences.append(
            f"TD + KD is lower than {o} in {below} of {len(genres)} genres (p < {ALPHA} in {sig_below}) "
            f"and higher in {above} (p < {ALPHA} in {sig_above})"
        )
    choices = _choices(
        cells, PLUS_KD, genres, lambda r: f"μ={r['config']['study']['kd_weight']:g},λ={r['distill_weight']:g}"
    )
    section = Section(
        "4. Is the conversation complementary to logit KD? TD + KD",
        "Reviewers: if the conversation carries something KD does not, adding it to KD should help.",
        [rmse, differences],
        "; ".join(sentences) + ".",
        f"Weights per seed (seed order {list(exp.profile.seeds)}):\n" + choices,
        family_searches(exp, records, "plus_kd", PLUS_KD, genres),
    )
    return section, {("plus_kd", k[0], k[1]): c for k, c in cells.items()}


def learning_teacher_section(exp, records, genres, columns) -> tuple[Section, dict]:
    rows = (Row(TD_DEFAULT, ("td",)), Row(LEARNS, ("thaw_*",)))
    cells = _cells(rows, records, genres)
    values = {key: per_seed(cell) for key, cell in cells.items()}
    rmse = Comparison(
        "learns_rmse",
        "The student's test RMSE with a frozen and with a learning teacher",
        "test RMSE",
        columns,
        [r.label for r in rows],
        values,
        reference=TD_DEFAULT,
        better="lower",
        caption=(
            "The teacher's h_up learns at its own rate η, searched per genre (see below) and chosen per seed on "
            "the student's validation RMSE; λ as TD (default) chose. "
            f"†: differs from TD (default), paired t-test, p < {ALPHA}."
        ),
    )
    teacher = {}
    for g in genres:
        if (LEARNS, g) in cells:
            cell = cells[LEARNS, g]
            before = per_seed(cell, lambda r: r["analysis"]["teacher_valid_rmse_before"])
            after = per_seed(cell, lambda r: r["analysis"]["teacher_valid_rmse_after"])
            teacher |= {
                ("before (frozen)", g): before,
                ("after", g): after,
                ("after − before", g): difference(after, before),
            }
    drift = Comparison(
        "learns_teacher",
        "The teacher on its own task: all-genre validation RMSE before and after "
        "(columns: the genre whose student it talked to)",
        "teacher all-genre validation RMSE",
        columns,
        ["before (frozen)", "after"],
        teacher,
        reference="before (frozen)",
        caption=(
            "After: with the h_up it had at the student's restored epoch. †: after differs from "
            f"before, paired t-test, p < {ALPHA}."
        ),
    )
    change = Comparison(
        "learns_teacher_change",
        "Its change (positive: the teacher got worse on its own task)",
        "teacher all-genre validation RMSE change",
        columns,
        ["after − before"],
        teacher,
        against_zero=True,
        signed=True,
        caption=f"†: paired t-test, p < {ALPHA}.",
    )
    below, sig_below, above, sig_above = _count(
        Comparison("x", "", "", columns, [LEARNS], values, reference=TD_DEFAULT), LEARNS, genres
    )
    changed = [change.entry("after − before", g) for g in genres if ("after − before", g) in teacher]
    worse, better = sum(e.mean > 0 for e in changed), sum(e.mean < 0 for e in changed)
    significant = sum(not math.isnan(e.p) and e.p < ALPHA for e in changed)
    finding = (
        f"With a learning teacher the student's RMSE is lower than with the frozen one in {below} of "
        f"{len(genres)} genres (p < {ALPHA} in {sig_below}) and higher in {above} (p < {ALPHA} in {sig_above}); "
        f"the teacher's all-genre validation RMSE rises in {worse} of {len(genres)} genres and falls in {better} "
        f"(p < {ALPHA} in {significant}), by at most "
        f"{max((abs(e.mean) for e in changed), default=float('nan')):.4f} either way."
    )
    choices = _choices(cells, LEARNS, genres, lambda r: f"{r['config']['study']['teacher_lr']:g}")
    section = Section(
        "5. What if the teacher is not frozen? Its upper layers learn too",
        "Reviewers: a frozen teacher is a choice; what happens when it adapts?",
        [rmse, drift, change],
        finding,
        f"η per seed (seed order {list(exp.profile.seeds)}):\n" + choices,
        family_searches(exp, records, "thaw", LEARNS, genres),
    )
    return section, {("learns", k[0], k[1]): c for k, c in cells.items()}


def build_study(exp, records) -> Study:
    genres = list(exp.profile.genres)
    columns = [(g, genre_label(i, g)) for i, g in enumerate(genres, start=1)]
    sections, cells = [], {}
    for build in (control_section, None, alignment_section, plus_kd_section, learning_teacher_section):
        if build is None:
            section, found = sweep_section(exp, records, list(exp.profile.seeds))
        else:
            section, found = build(exp, records, genres, columns)
        sections.append(section)
        cells |= found
    used = [r for c in cells.values() for r in c.records]
    return Study(sections, provenance_of(used), cells)


# ---------------------------------------------------------------- rendering
def provenance_line(p: dict) -> str:
    return (
        f"Provenance: profile `{p.get('profile')}`, seeds {p.get('seeds')}, table hash `{p.get('table_hash')}` "
        f"({p.get('config_hashes')} run configurations), teacher `{p.get('teacher_hash')}`, data `{p.get('data')}`, "
        f"runs at git {', '.join(p.get('git_revisions', []))}, rendered at git {p.get('rendered_at_revision')}."
    )


def render_study_markdown(study: Study) -> str:
    out = [
        "# What the paper's reviewers asked, answered by experiment (MovieLens-100K)",
        "",
        "Definitions and protocol: `docs/reviewers.md`. Every cell: mean ± standard error over seeds of the "
        "value at each seed's choice on validation (never test); paired t-tests over shared seeds.",
        "",
        provenance_line(study.provenance),
        "",
    ]
    for s in study.sections:
        out += [f"## {s.heading}", "", f"*{s.question}*", ""]
        for c in s.comparisons:
            out += [render_markdown(c), ""]
        out += [f"**What the numbers say.** {s.finding}", ""]
        if s.choices:
            out += [s.choices, ""]
        searched = search_words(s.searches, list(dict.fromkeys(row for row, _ in s.searches)))
        if searched:
            out += [searched, ""]
    return "\n".join(out)


def render_study_latex(study: Study) -> str:
    return (
        "\n".join(render_latex(c) for s in study.sections for c in s.comparisons)
        + "% "
        + provenance_line(study.provenance)
        + "\n"
    )


def render_study_csv(study: Study) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    p = study.provenance
    writer.writerow(CSV_HEADER + list(SEARCH_COLUMNS) + ["profile", "table_hash", "git_revisions"])
    for s in study.sections:
        for c in s.comparisons:
            for row in csv_rows(c):
                writer.writerow(
                    row
                    + search_columns(s.searches.get((row[1], row[2]), {}))
                    + [p.get("profile"), p.get("table_hash"), " ".join(p.get("git_revisions", []))]
                )
    return buffer.getvalue()


SEARCH_COLUMNS = ("searched", "search_bounds", "choices_at_open_edge", "choices_at_bound", "choices_tied")


def search_columns(found: dict) -> list[str]:
    """A cell's search in the CSV: per hyperparameter "name: values" (or "name: inherited"), its
    declared bounds, and its per-seed choices at an open edge, at a bound and tied (summed);
    empty where the row searches nothing (a difference, a teacher's quantity)."""
    if not found:
        return ["", "", "", "", ""]
    counted = [f.counts for f in found.values() if f.counts]
    return [
        "; ".join(f"{AXIS_NAMES[a]}: {f.words()}" for a, f in found.items()),
        "; ".join(f"{AXIS_NAMES[a]}: {f.bound_words()}" for a, f in found.items() if f.bounds),
        *(
            str(sum(c[k] for c in counted)) if counted else ""
            for k in ("choices_at_open_edge", "choices_at_bound", "choices_tied")
        ),
    ]


def write_study(study: Study, out_dir) -> list[Path]:
    out_dir = Path(out_dir)
    paths = {
        out_dir / "reviewers.md": render_study_markdown(study),
        out_dir / "reviewers.tex": render_study_latex(study),
        out_dir / "reviewers.csv": render_study_csv(study),
    }
    for path, text in paths.items():
        atomic_write_bytes(path, text.encode())
    return list(paths)


__all__ = ["build_study", "write_study", "render_study_markdown", "SWEEP_FRACTIONS", "sweep_task_name"]
