"""Rendering a table (core/tables.py) on a toy table whose every number is worked out by hand
below: the Markdown, LaTeX and CSV texts are compared whole, so any change of a rule that
decides what a reader sees (a mean, a ±, bold, †, ‡, a choice, a column, a caption word, the
provenance) fails here. To change the rendering on purpose, change the expected text too.

Per task (2 seeds; TD's two variants and each method's options chosen on validation, per seed):
- Teacher 0.80, 0.80 (a reference row: never bold). Against TD: differences −0.04, −0.05,
  t = −0.045 / 0.005 = −9 with 1 degree of freedom, p = 1 − (2/π)·atan 9 = 0.0704: no †.
- Student: seed 0 takes l2 = 0.1 (validation 0.90 < 0.95), test 0.900; seed 1 l2 = 1 (0.91 <
  0.92), test 0.912: mean 0.906, se 0.006. Against TD: 0.060, 0.062, t = 61, p = 0.01044: †.
  On Crime both seeds take l2 = 0.1 (one value in the choices, the grid had two), and seed 1's
  test is 0.9102: mean 0.9051, se 0.0051; against TD 0.060, 0.0602: mean 0.0601, se 0.0001,
  t = 601, p = (2/π)·atan(1/601) = 0.001059: †.
- KD keeps each seed's l2 (0.1, 1): seed 0 takes λ = 1 (0.85 < 0.86), test 0.86; seed 1 λ = 3
  (0.86 < 0.87), test 0.88: 0.870 ± 0.010, t = 5, p = 1 − (2/π)·atan 5 = 0.1257. On Romance
  both seeds have one option (λ = 3): 0.84, 0.84992, mean 0.84496, below TD's 0.845 but shown as
  0.8450: bold with TD (ties count at the shown 4 decimals); against TD 0, −0.00008: p = 0.5.
  Not run on Sci-Fi: "–".
- KD or TD (default), the better on validation per seed: TD (default) (0.84) for both: 0.85.
- TD: seed 0 takes td_k2 (0.83 < 0.84), test 0.84; seed 1 td (0.84 < 0.85), test 0.85:
  0.845 ± 0.005, the lowest of the students everywhere: bold.
- TD (default), CSV only: 0.85, 0.85; against TD 0.01, 0: t = 1, p = 0.5.
Cells with a choice: Student 5, KD 3 (Romance had one option), KD or TD 4 (Sci-Fi had one),
TD 5 = 17; chosen differently: Student 4, KD 3, TD 5 = 12. td_k2 ran at another revision.

Holm's correction (‡) over the table's m = 24 tests: every cell with a p-value, Teacher 5,
Student 5, KD 4, KD or TD (default) 5 and the CSV-only TD (default) 5 (TD is the reference).
Sorted, adjusted p_(k) = max over j <= k of min(1, (m - j + 1)·p_(j)):
- p_(1) = 0.001059 (Student, Crime): 24 × 0.001059 = 0.02542 < 0.05: ‡ (and †).
- p_(2..5) = 0.01044 (Student elsewhere): 23 × 0.01044 = 0.2400, not below 0.05; 22×, 21× and
  20× are smaller, but the running maximum keeps 0.2400 for all four: † without ‡.
- p_(6..10) = 0.07045 (Teacher): 19 × 0.07045 > 1: 1; every later one (0.1257, 0.5) 1 as well.
Pooled, 10 cells have a p-value, "10 tests" in its caption: the Teacher's 5 and the Student's 5
(both seeds take l2 = 0.1, the better mean validation: 0.91 against 0.93); the other cells equal
TD's (td for both seeds) or hold one seed (KD's seeds keep different l2, so a pooled (λ, l2)
option of KD is one seed's). The pooled option's search is not classified (no search sentence).

The search sentence (per-seed selection): the Student searched L2 ∈ {0.1, 1}, KD λ ∈ {1, 3}
({3} on Romance, its one option) and inherits its L2, TD (default) and "KD or TD (default)" λ ∈
{1}; the TD row's seed 0 chose td_k2, which inherits λ. Every grid has two values or one, so
each of the 28 per-seed choices on a searched grid (Student 10, KD 8, KD or TD 10; TD (default)
is CSV-only) sits at an edge, and no validation ties there: 28 at an open edge, 0 tied.
"""

import pytest

from ikd_lib.core import tables
from ikd_lib.core.tables import (
    Row,
    TableSpec,
    build_table,
    caption,
    expand,
    read_csv,
    render_csv,
    render_latex,
    render_markdown,
    write_table,
)

GENRES = ("Drama", "Action", "Romance", "Sci-Fi", "Crime")
SPEC = TableSpec(
    key="table3",
    title="A toy table",
    metric="RMSE",
    higher_is_better=False,
    rows=(
        Row("Teacher", ("teacher",), reference=True),
        Row("Student", ("student",)),
        Row("KD", ("kd",)),
        Row("TD (default)", ("td",), csv_only=True),
        Row("KD or TD (default)", ("kd", "td")),
        Row("TD", ("td*",)),
    ),
    column_label=lambda i, task: f"{i}: {task}",
    protocol="Toy protocol.",
    paper_key="table3",
    note="A note on x_1 and a*.",
    facts=lambda t: f"{len(t.cells)} cells.",
)
PAPER = {
    "table3": {
        "columns": ["Genre 1", "Genre 2", "Genre 3", "Genre 4", "Genre 5", "Genre 6"],
        "rows": {"TD": [{"mean": 0.9, "se": 0.01}] * 6, "KD": [{"mean": 0.95, "se": None}] * 6},
    }
}


def rec(variant, task, seed, test, valid, weight=0.0, l2=0.0, inherited=(), revision="run1"):
    return {
        "variant": variant,
        "task": task,
        "seed": seed,
        "test_metric": test,
        "valid_metric": valid,
        "distill_weight": weight,
        "l2": l2,
        "profile": "toy",
        "config_hash": f"{variant}-{task}",
        "git_revision": revision,
        "inherited": list(inherited),
        "config": {"teacher_hash": "teach", "teacher_weights": "w0", "data": "data0"},
    }


def records():
    out = []
    for task in GENRES:
        out += [rec("teacher", task, s, 0.80, 0.80) for s in (0, 1)]
        # Student: seed 0 takes l2 = 0.1 (validation 0.90 < 0.95), seed 1 l2 = 1 (0.91 < 0.92); on
        # Crime seed 1's validation values are swapped, so both seeds take l2 = 0.1 (same tests)
        other, rest = (0.1, 1.0) if task == "Crime" else (1.0, 0.1)
        out += [
            rec("student", task, 0, 0.900, 0.90, l2=0.1),
            rec("student", task, 0, 0.95, 0.95, l2=1.0),
            rec("student", task, 1, 0.9102 if task == "Crime" else 0.912, 0.91, l2=other),
            rec("student", task, 1, 0.99, 0.92, l2=rest),
        ]
        # KD: each seed keeps the Student's l2 of its own seed (0.1, 1; no grid of its own)
        if task == "Romance":  # both seeds take λ = 3; test 0.84, 0.84992: 0.84496, 0.8450 as TD's
            out += [
                rec("kd", task, s, t, 0.85, weight=3.0, l2=l2, inherited=("l2",))
                for s, t, l2 in ((0, 0.84, 0.1), (1, 0.84992, 1.0))
            ]
        elif task != "Sci-Fi":  # KD was not run on Sci-Fi; elsewhere seed 0 takes λ = 1, seed 1 λ = 3
            out += [
                rec("kd", task, 0, 0.86, 0.85, weight=1.0, l2=0.1, inherited=("l2",)),
                rec("kd", task, 0, 0.70, 0.86, weight=3.0, l2=0.1, inherited=("l2",)),
                rec("kd", task, 1, 0.88, 0.86, weight=3.0, l2=1.0, inherited=("l2",)),
                rec("kd", task, 1, 0.60, 0.87, weight=1.0, l2=1.0, inherited=("l2",)),
            ]
        # TD: seed 0 takes td_k2 (validation 0.83 < 0.84), seed 1 takes td (0.84 < 0.85)
        out += [
            rec("td", task, 0, 0.85, 0.84, weight=1.0),
            rec("td", task, 1, 0.85, 0.84, weight=1.0),
            rec("td_k2", task, 0, 0.84, 0.83, weight=1.0, inherited=("distill_weight",), revision="run2"),
            rec("td_k2", task, 1, 0.87, 0.85, weight=1.0, inherited=("distill_weight",), revision="run2"),
        ]
    return out


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setattr(tables, "git_revision", lambda: "render0")
    return build_table(SPEC, records(), GENRES)


MARKDOWN = """\
# Table 3: A toy table

A toy table. Test RMSE (lower is better), mean ± standard error over 2 seeds [0, 1]; Toy protocol. Distillation weights λ, regularisation strengths, the variants behind multi-variant rows, and the TD row (best of the TD variants run) are chosen on validation RMSE by each seed on its own validation split (nested selection: the ± includes the choice), never on test; "TD (default)" is the fixed default configuration. Cells whose seeds chose differently: 12 of 17. Searched per seed on validation: Student: L2 ∈ {0.1, 1}. KD: λ ∈ {3} in every cell, grown per cell by a step beyond a chosen edge, from 1 up to 3; L2 inherited per seed. KD or TD (default): λ ∈ {1}. TD: λ inherited per seed. Of 28 per-seed choices on a grid searched for the cell, 28 sit at an open edge of it (the grid does not bracket them), 0 at a declared bound, and 0 more tie at an edge with the next value (a flat stretch, ties to the smaller value). **Bold**: lowest mean among the models trained on the task (the Teacher row is not). †: differs from the TD row in a paired t-test over seeds, p < 0.05. ‡: still differs after Holm's step-down correction for the 24 tests this table makes (every cell with a p-value, CSV-only rows included), adjusted p < 0.05. A note on x_1 and a*. 29 cells. Provenance: profile `toy`, table hash `cf1cbdc4151e` (24 run configurations), teacher `teach` (weights sha256 `w0`), data `data0`, runs at git run1, run2, rendered at git render0.

| Method | 1: Drama | 2: Action | 3: Romance | 4: Sci-Fi |
|---|---:|---:|---:|---:|
| Teacher | 0.8000 ± 0.0000 | 0.8000 ± 0.0000 | 0.8000 ± 0.0000 | 0.8000 ± 0.0000 |
| Student | 0.9060 ± 0.0060† | 0.9060 ± 0.0060† | 0.9060 ± 0.0060† | 0.9060 ± 0.0060† |
| KD | 0.8700 ± 0.0100 | 0.8700 ± 0.0100 | **0.8450 ± 0.0050** | – |
| KD or TD (default) | 0.8500 ± 0.0000 | 0.8500 ± 0.0000 | 0.8500 ± 0.0000 | 0.8500 ± 0.0000 |
| TD | **0.8450 ± 0.0050** | **0.8450 ± 0.0050** | **0.8450 ± 0.0050** | **0.8450 ± 0.0050** |

| Method | 5: Crime |
|---|---:|
| Teacher | 0.8000 ± 0.0000 |
| Student | 0.9051 ± 0.0051†‡ |
| KD | 0.8700 ± 0.0100 |
| KD or TD (default) | 0.8500 ± 0.0000 |
| TD | **0.8450 ± 0.0050** |

## The paper's published values (for comparison; not used by any computation)

Genres are numbered dense to sparse; the paper does not name them.

| Method (paper) | Genre 1 | Genre 2 | Genre 3 | Genre 4 | Genre 5 |
|---|---:|---:|---:|---:|---:|
| TD | 0.9000 ± 0.0100 | 0.9000 ± 0.0100 | 0.9000 ± 0.0100 | 0.9000 ± 0.0100 | 0.9000 ± 0.0100 |
| KD | 0.9500 | 0.9500 | 0.9500 | 0.9500 | 0.9500 |

## Choices made on validation RMSE

Per seed where the seeds chose differently (in seed order [0, 1]).

- Student: Drama: l2=0.1/1; Action: l2=0.1/1; Romance: l2=0.1/1; Sci-Fi: l2=0.1/1; Crime: l2=0.1
- KD: Drama: λ=1/3 l2=0.1/1; Action: λ=1/3 l2=0.1/1; Romance: λ=3 l2=0.1/1; Crime: λ=1/3 l2=0.1/1
- KD or TD (default): Drama: td λ=1; Action: td λ=1; Romance: td λ=1; Sci-Fi: td λ=1; Crime: td λ=1
- TD: Drama: td_k2/td λ=1; Action: td_k2/td λ=1; Romance: td_k2/td λ=1; Sci-Fi: td_k2/td λ=1; Crime: td_k2/td λ=1
"""

LATEX = r"""\begin{table}[t]
\centering
\small
\begin{tabular}{lrrrr}
\toprule
Method & 1: Drama & 2: Action & 3: Romance & 4: Sci-Fi \\
\midrule
Teacher & 0.8000 $\pm$ 0.0000 & 0.8000 $\pm$ 0.0000 & 0.8000 $\pm$ 0.0000 & 0.8000 $\pm$ 0.0000 \\
Student & 0.9060 $\pm$ 0.0060$^\dagger$ & 0.9060 $\pm$ 0.0060$^\dagger$ & 0.9060 $\pm$ 0.0060$^\dagger$ & 0.9060 $\pm$ 0.0060$^\dagger$ \\
KD & 0.8700 $\pm$ 0.0100 & 0.8700 $\pm$ 0.0100 & \textbf{0.8450 $\pm$ 0.0050} & – \\
KD or TD (default) & 0.8500 $\pm$ 0.0000 & 0.8500 $\pm$ 0.0000 & 0.8500 $\pm$ 0.0000 & 0.8500 $\pm$ 0.0000 \\
TD & \textbf{0.8450 $\pm$ 0.0050} & \textbf{0.8450 $\pm$ 0.0050} & \textbf{0.8450 $\pm$ 0.0050} & \textbf{0.8450 $\pm$ 0.0050} \\
\bottomrule
\end{tabular}
\par\medskip
\begin{tabular}{lr}
\toprule
Method & 5: Crime \\
\midrule
Teacher & 0.8000 $\pm$ 0.0000 \\
Student & 0.9051 $\pm$ 0.0051$^{\dagger\ddagger}$ \\
KD & 0.8700 $\pm$ 0.0100 \\
KD or TD (default) & 0.8500 $\pm$ 0.0000 \\
TD & \textbf{0.8450 $\pm$ 0.0050} \\
\bottomrule
\end{tabular}
\par\medskip
\caption{A toy table. Test RMSE (lower is better), mean $\pm$ standard error over 2 seeds [0, 1]; Toy protocol. Distillation weights λ, regularisation strengths, the variants behind multi-variant rows, and the TD row (best of the TD variants run) are chosen on validation RMSE by each seed on its own validation split (nested selection: the $\pm$ includes the choice), never on test; "TD (default)" is the fixed default configuration. Cells whose seeds chose differently: 12 of 17. Searched per seed on validation: Student: L2 ∈ {0.1, 1}. KD: λ ∈ {3} in every cell, grown per cell by a step beyond a chosen edge, from 1 up to 3; L2 inherited per seed. KD or TD (default): λ ∈ {1}. TD: λ inherited per seed. Of 28 per-seed choices on a grid searched for the cell, 28 sit at an open edge of it (the grid does not bracket them), 0 at a declared bound, and 0 more tie at an edge with the next value (a flat stretch, ties to the smaller value). Bold: lowest mean among the models trained on the task (the Teacher row is not). $^\dagger$: differs from the TD row in a paired t-test over seeds, p < 0.05. $^\ddagger$: still differs after Holm's step-down correction for the 24 tests this table makes (every cell with a p-value, CSV-only rows included), adjusted p < 0.05. A note on x\_1 and a$^*$. 29 cells. Provenance: profile `toy`, table hash `cf1cbdc4151e` (24 run configurations), teacher `teach` (weights sha256 `w0`), data `data0`, runs at git run1, run2, rendered at git render0.}
\label{tab:table3}
\end{table}
"""

CSV = (
    "\r\n".join(
        [
            "table,row,task_index,task,metric,mean_test,se,n_seeds,seeds,test_per_seed,mean_valid,variant_per_seed,distill_weight_per_seed,l2_per_seed,p_vs_TD,significant,p_holm,significant_holm,selection,distill_weight_grid,l2_grid,distill_weight_bounds,l2_bounds,choices_at_open_edge,choices_at_bound,choices_tied,profile,table_hash,git_revisions",
            "table3,Teacher,1,Drama,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,1,0,per_seed,,,,,,,,toy,cf1cbdc4151e,run1 run2",
            "table3,Teacher,2,Action,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,1,0,per_seed,,,,,,,,toy,cf1cbdc4151e,run1 run2",
            "table3,Teacher,3,Romance,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,1,0,per_seed,,,,,,,,toy,cf1cbdc4151e,run1 run2",
            "table3,Teacher,4,Sci-Fi,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,1,0,per_seed,,,,,,,,toy,cf1cbdc4151e,run1 run2",
            "table3,Teacher,5,Crime,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,1,0,per_seed,,,,,,,,toy,cf1cbdc4151e,run1 run2",
            "table3,Student,1,Drama,RMSE,0.906000,0.006000,2,0 1,0.900000 0.912000,0.905000,student student,0 0,0.1 1,0.01044,1,0.24,0,per_seed,,0.1 1,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,Student,2,Action,RMSE,0.906000,0.006000,2,0 1,0.900000 0.912000,0.905000,student student,0 0,0.1 1,0.01044,1,0.24,0,per_seed,,0.1 1,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,Student,3,Romance,RMSE,0.906000,0.006000,2,0 1,0.900000 0.912000,0.905000,student student,0 0,0.1 1,0.01044,1,0.24,0,per_seed,,0.1 1,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,Student,4,Sci-Fi,RMSE,0.906000,0.006000,2,0 1,0.900000 0.912000,0.905000,student student,0 0,0.1 1,0.01044,1,0.24,0,per_seed,,0.1 1,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,Student,5,Crime,RMSE,0.905100,0.005100,2,0 1,0.900000 0.910200,0.905000,student student,0 0,0.1 0.1,0.001059,1,0.02542,1,per_seed,,0.1 1,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,KD,1,Drama,RMSE,0.870000,0.010000,2,0 1,0.860000 0.880000,0.855000,kd kd,1 3,0.1 1,0.1257,0,1,0,per_seed,1 3,inherited,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,KD,2,Action,RMSE,0.870000,0.010000,2,0 1,0.860000 0.880000,0.855000,kd kd,1 3,0.1 1,0.1257,0,1,0,per_seed,1 3,inherited,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,KD,3,Romance,RMSE,0.844960,0.004960,2,0 1,0.840000 0.849920,0.850000,kd kd,3 3,0.1 1,0.5,0,1,0,per_seed,3,inherited,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,KD,5,Crime,RMSE,0.870000,0.010000,2,0 1,0.860000 0.880000,0.855000,kd kd,1 3,0.1 1,0.1257,0,1,0,per_seed,1 3,inherited,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,TD (default),1,Drama,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,TD (default),2,Action,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,TD (default),3,Romance,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,TD (default),4,Sci-Fi,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,TD (default),5,Crime,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,KD or TD (default),1,Drama,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,KD or TD (default),2,Action,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,KD or TD (default),3,Romance,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,KD or TD (default),4,Sci-Fi,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,KD or TD (default),5,Crime,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,1,0,per_seed,1,,,,2,0,0,toy,cf1cbdc4151e,run1 run2",
            "table3,TD,1,Drama,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,,0,per_seed,inherited,,,,,,,toy,cf1cbdc4151e,run1 run2",
            "table3,TD,2,Action,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,,0,per_seed,inherited,,,,,,,toy,cf1cbdc4151e,run1 run2",
            "table3,TD,3,Romance,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,,0,per_seed,inherited,,,,,,,toy,cf1cbdc4151e,run1 run2",
            "table3,TD,4,Sci-Fi,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,,0,per_seed,inherited,,,,,,,toy,cf1cbdc4151e,run1 run2",
            "table3,TD,5,Crime,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,,0,per_seed,inherited,,,,,,,toy,cf1cbdc4151e,run1 run2",
        ]
    )
    + "\r\n"
)  # csv's own line ends

POOLED_CAPTION = 'A toy table. Test RMSE (lower is better), mean ± standard error over 2 seeds [0, 1]; Toy protocol. Distillation weights λ, regularisation strengths, the variants behind multi-variant rows, and the TD row (best of the TD variants run) are chosen once per cell on the mean validation RMSE over seeds (pooled), never on test; "TD (default)" is the fixed default configuration. Cells whose seeds chose differently: 0 of 17. **Bold**: lowest mean among the models trained on the task (the Teacher row is not). †: differs from the TD row in a paired t-test over seeds, p < 0.05. ‡: still differs after Holm\'s step-down correction for the 10 tests this table makes (every cell with a p-value), adjusted p < 0.05. A note on x_1 and a*. 29 cells. Provenance: profile `toy`, table hash `c7c281f5bdc8` (19 run configurations), teacher `teach` (weights sha256 `w0`), data `data0`, runs at git run1, rendered at git render0.'


def test_markdown_is_the_worked_out_table(table):
    assert render_markdown(table, PAPER["table3"]) == MARKDOWN


def test_latex_is_the_worked_out_table(table):
    assert render_latex(table) == LATEX


def test_csv_is_the_worked_out_table(table):
    assert render_csv(table) == CSV


def test_the_pooled_caption_says_how_it_chose(monkeypatch):
    monkeypatch.setattr(tables, "git_revision", lambda: "render0")
    assert caption(build_table(SPEC, records(), GENRES, selection="pooled")) == POOLED_CAPTION


def test_a_table_without_the_papers_values_has_no_published_section(table):
    text = render_markdown(table)
    assert (
        "published values" not in text
        and text == MARKDOWN.split("## The paper's")[0] + MARKDOWN[MARKDOWN.index("## Choices") :]
    )


def test_the_csv_reads_back_into_the_same_cells(table, tmp_path):
    path = tmp_path / "table3.csv"
    path.write_text(render_csv(table))
    back = read_csv(SPEC, path)
    assert back.genres == GENRES and back.selection == "per_seed"
    assert back.cells.keys() == table.cells.keys() and back.p_values.keys() == {
        k for k, p in table.p_values.items() if p == p
    }  # NaN p-values are left empty
    for key, cell in table.cells.items():
        assert back.cells[key].seeds == cell.seeds and back.cells[key].test == cell.test
        assert back.cells[key].variants == cell.variants and back.cells[key].weights == cell.weights
        assert back.cells[key].l2s == cell.l2s
    assert back.p_values["Student", "Drama"] == 0.01044
    # the Holm-adjusted p-values are recomputed from the 4-digit ones: 24 × 0.001059 = 0.025416
    assert back.p_holm["Student", "Crime"] == pytest.approx(24 * 0.001059, rel=1e-12)
    assert back.p_holm.keys() == table.p_holm.keys()
    assert back.spec is SPEC
    assert [r["seed"] for r in back.cells["KD", "Drama"].records] == [0, 1]
    # how many options each seed had is not in a CSV: a table read back counts no choices
    assert back.differing_choices() == (0, 0) and table.differing_choices() == (12, 17)
    assert back.provenance == {
        "profile": "toy",
        "table_hash": table.provenance["table_hash"],
        "seeds": [0, 1],
        "git_revisions": ["run1", "run2"],
        "source": "table3.csv",
    }


def test_a_csv_of_another_table_is_refused(table, tmp_path):
    path = tmp_path / "table5.csv"
    path.write_text(render_csv(table))
    other = TableSpec(key="table5", title="t", rows=SPEC.rows, metric="RMSE", higher_is_better=False)
    with pytest.raises(ValueError, match=r"table5.csv holds no rows of table5; regenerate it with `make tables`"):
        read_csv(other, path)


def test_write_table_writes_the_three_renderings_with_the_papers_values(table, tmp_path):
    paths = write_table(table, tmp_path / "out", PAPER)
    assert sorted(p.name for p in paths) == ["table3.csv", "table3.md", "table3.tex"]
    assert (tmp_path / "out" / "table3.md").read_text() == MARKDOWN
    assert (tmp_path / "out" / "table3.tex").read_text() == LATEX
    assert (tmp_path / "out" / "table3.csv").read_bytes().decode() == CSV  # csv's own \r\n line ends
    write_table(table, tmp_path / "plain")
    assert "published values" not in (tmp_path / "plain" / "table3.md").read_text()


def test_a_prefix_star_expands_to_every_variant_run_with_it_in_name_order():
    available = {"td_k2", "td", "kd", "td_noise"}
    assert expand(("td*",), available) == ["td", "td_k2", "td_noise"]
    assert expand(("kd", "td_k*", "kd"), available) == ["kd", "td_k2"]
    assert expand(("fitnet",), available) == ["fitnet"]


def test_a_p_value_equal_to_alpha_gets_no_dagger(table, monkeypatch):
    """† means p < α: a p-value exactly at α is not significant, one just below it is."""
    p = table.p_values["Student", "Drama"]
    monkeypatch.setattr(tables, "ALPHA", p)
    assert tables.cell_text(table, "Student", "Drama") == "0.9060 ± 0.0060"
    assert ",0.01044,0,0.24,0,per_seed," in render_csv(table)
    monkeypatch.setattr(tables, "ALPHA", p * (1 + 1e-12))
    assert tables.cell_text(table, "Student", "Drama") == "0.9060 ± 0.0060†"


def test_an_adjusted_p_value_equal_to_alpha_gets_no_double_dagger(table, monkeypatch):
    """‡ means Holm-adjusted p < α, the same strict level as †: at α = 24 × p_(1) exactly,
    Student on Crime keeps its † and loses its ‡; just above, it has both again."""
    holm = table.p_holm["Student", "Crime"]
    assert holm == pytest.approx(24 * table.p_values["Student", "Crime"], rel=1e-12)
    monkeypatch.setattr(tables, "ALPHA", holm)
    assert tables.cell_text(table, "Student", "Crime") == "0.9051 ± 0.0051†"
    assert ",0.001059,1,0.02542,0,per_seed," in render_csv(table)
    monkeypatch.setattr(tables, "ALPHA", holm * (1 + 1e-12))
    assert tables.cell_text(table, "Student", "Crime") == "0.9051 ± 0.0051†‡"
    assert tables.cell_text(table, "Student", "Drama", dagger="+", double_dagger="++") == "0.9060 ± 0.0060+"


def test_the_holm_sentence_counts_csv_only_rows_only_when_they_were_tested(monkeypatch):
    """Without the CSV-only row the family is 19 tests and the caption does not mention CSV-only
    rows; with no test at all it says 0."""
    monkeypatch.setattr(tables, "git_revision", lambda: "render0")
    shown = TableSpec(
        key="table3",
        title="T",
        metric="RMSE",
        higher_is_better=False,
        rows=tuple(r for r in SPEC.rows if not r.csv_only),
    )
    assert (
        "‡: still differs after Holm's step-down correction for the 19 tests this table makes (every cell "
        "with a p-value), adjusted p < 0.05."
    ) in caption(build_table(shown, records(), GENRES))
    assert "correction for the 0 tests this table makes" in caption(build_table(SPEC, [], GENRES))


def test_the_caption_names_the_reference_rows_and_adds_no_facts_it_was_not_given(monkeypatch):
    monkeypatch.setattr(tables, "git_revision", lambda: "render0")
    plain = TableSpec(
        key="table3",
        title="T",
        metric="RMSE",
        higher_is_better=False,
        rows=(Row("Student", ("student",)), Row("TD", ("td*",))),
        note="N.",
    )
    text = caption(build_table(plain, records(), GENRES))
    assert "Bold**: lowest mean among the models trained on the task. †" in text
    assert " N. Provenance:" in text
    two = TableSpec(
        key="table3",
        title="T",
        metric="RMSE",
        higher_is_better=False,
        rows=(Row("Teacher", ("teacher",), reference=True), Row("Probe", ("kd",), reference=True), Row("TD", ("td*",))),
    )
    assert "(the Teacher, Probe row is not)" in caption(build_table(two, records(), GENRES))


def test_a_table_with_no_runs_renders_dashes(monkeypatch):
    monkeypatch.setattr(tables, "git_revision", lambda: "render0")
    empty = build_table(SPEC, [], GENRES)
    text = render_markdown(empty)
    assert "| Student | – | – | – | – |" in text and "| Student | – |" in text
    assert "runs at git , rendered at git None." in text and render_csv(empty).count("\n") == 1


def test_a_choice_of_one_seed_prints_its_one_value():
    assert tables._one_or_each([3.0]) == "3" and tables._one_or_each([3.0, 3.0]) == "3"
    assert tables._one_or_each([1.0, 3.0]) == "1/3"


def test_the_papers_values_with_a_single_column(table):
    one = {"columns": ["Genre 1"], "rows": {"TD": [{"mean": 0.9, "se": 0.01}]}}
    text = render_markdown(table, one)
    assert "Genres are numbered dense to sparse" in text
    assert "| Method (paper) | Genre 1 |\n|---|---:|\n| TD | 0.9000 ± 0.0100 |" in text


def test_a_csv_of_one_cell_or_of_a_pooled_table_reads_back(table, tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "git_revision", lambda: "render0")
    one = build_table(SPEC, [r for r in records() if r["variant"] == "teacher" and r["task"] == "Drama"], ("Drama",))
    (tmp_path / "one.csv").write_text(render_csv(one))
    back = read_csv(SPEC, tmp_path / "one.csv")
    assert list(back.cells) == [("Teacher", "Drama")] and back.provenance["profile"] == "toy"
    pooled = build_table(SPEC, records(), GENRES, selection="pooled")
    (tmp_path / "pooled.csv").write_text(render_csv(pooled))
    assert read_csv(SPEC, tmp_path / "pooled.csv").selection == "pooled"


def test_records_older_than_the_inherited_field_are_read_by_the_rule_that_made_them():
    """A record that does not say what it inherits: an axis on which its seed ran one value only is
    inherited (a searched grid gives every seed every value); λ there was searched."""
    old = [dict(r, inherited=None) for r in records() if r["variant"] == "kd" and r["task"] == "Drama"]
    for r in old:
        del r["inherited"]
    cell = build_table(SPEC, old, ("Drama",)).cells["KD", "Drama"]
    searched = tables.search_of(old, cell, higher_is_better=False)
    assert searched["l2"].grid is None and searched["l2"].words() == "inherited"
    assert searched["distill_weight"].grid == (1.0, 3.0)
    assert searched["distill_weight"].counts["choices_at_open_edge"] == 2
