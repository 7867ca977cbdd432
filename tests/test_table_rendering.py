"""Rendering a table (core/tables.py) on a toy table whose every number is worked out by hand
below: the Markdown, LaTeX and CSV texts are compared whole, so any change of a rule that
decides what a reader sees (a mean, a ±, bold, †, a choice, a column, a caption word, the
provenance) fails here. To change the rendering on purpose, change the expected text too.

Per task (2 seeds; TD's two variants and each method's options chosen on validation, per seed):
- Teacher 0.80, 0.80 (a reference row: never bold). Against TD: differences −0.04, −0.05,
  t = −0.045 / 0.005 = −9 with 1 degree of freedom, p = 1 − (2/π)·atan 9 = 0.0704: no †.
- Student: seed 0 takes l2 = 0.1 (validation 0.90 < 0.95), test 0.900; seed 1 l2 = 1 (0.91 <
  0.92), test 0.912: mean 0.906, se 0.006. Against TD: 0.060, 0.062, t = 61, p = 0.01044: †.
- KD: seed 0 takes λ = 1 (0.85 < 0.86), test 0.86; seed 1 λ = 3 (0.86 < 0.87), test 0.88:
  0.870 ± 0.010, t = 5, p = 1 − (2/π)·atan 5 = 0.1257. On Romance both seeds have one option
  (λ = 3) and the test values of TD: 0.845 ± 0.005, no p-value (identical cells), bold with TD.
  Not run on Sci-Fi: "–".
- TD: seed 0 takes td_k2 (0.83 < 0.84), test 0.84; seed 1 td (0.84 < 0.85), test 0.85:
  0.845 ± 0.005, the lowest of the students everywhere: bold.
- TD (default), CSV only: 0.85, 0.85; against TD 0.01, 0: t = 1, p = 0.5.
Cells with a choice: Student 5, KD 3 (Romance had one option), TD 5 = 13, all chosen differently.
"""
import pytest

from ikd_lib.core import tables
from ikd_lib.core.tables import (Row, TableSpec, build_table, caption, expand, read_csv, render_csv,
                                 render_latex, render_markdown, write_table)

GENRES = ("Drama", "Action", "Romance", "Sci-Fi", "Crime")
SPEC = TableSpec(
    key="table3", title="A toy table", metric="RMSE", higher_is_better=False,
    rows=(Row("Teacher", ("teacher",), reference=True), Row("Student", ("student",)), Row("KD", ("kd",)),
          Row("TD (default)", ("td",), csv_only=True), Row("TD", ("td*",))),
    column_label=lambda i, task: f"{i}: {task}", protocol="Toy protocol.", paper_key="table3",
    note="A note.", facts=lambda t: f"{len(t.cells)} cells.")
PAPER = {"table3": {"columns": ["Genre 1", "Genre 2", "Genre 3", "Genre 4", "Genre 5", "Genre 6"],
                    "rows": {"TD": [{"mean": 0.9, "se": 0.01}] * 6, "KD": [{"mean": 0.95, "se": None}] * 6}}}


def rec(variant, task, seed, test, valid, weight=0.0, l2=0.0, grid=(0.0,)):
    return {"variant": variant, "task": task, "seed": seed, "test_metric": test, "valid_metric": valid,
            "distill_weight": weight, "l2": l2, "profile": "toy", "config_hash": f"{variant}-{task}",
            "git_revision": "run1", "config": {"teacher_hash": "teach", "data": "data0", "l2_grid": list(grid)}}


def records():
    out = []
    for task in GENRES:
        out += [rec("teacher", task, s, 0.80, 0.80) for s in (0, 1)]
        grid = (0.1, 1.0)       # Student: seed 0 takes l2 = 0.1, seed 1 takes l2 = 1 (validation 0.90, 0.91)
        out += [rec("student", task, 0, 0.900, 0.90, l2=0.1, grid=grid), rec("student", task, 0, 0.95, 0.95, l2=1.0, grid=grid),
                rec("student", task, 1, 0.912, 0.91, l2=1.0, grid=grid), rec("student", task, 1, 0.99, 0.92, l2=0.1, grid=grid)]
        if task == "Romance":   # both seeds take λ = 3; test 0.84, 0.85: mean 0.845, as TD's
            out += [rec("kd", task, s, t, 0.85, weight=3.0) for s, t in ((0, 0.84), (1, 0.85))]
        elif task != "Sci-Fi":  # KD was not run on Sci-Fi; elsewhere seed 0 takes λ = 1, seed 1 λ = 3
            out += [rec("kd", task, 0, 0.86, 0.85, weight=1.0), rec("kd", task, 0, 0.70, 0.86, weight=3.0),
                    rec("kd", task, 1, 0.88, 0.86, weight=3.0), rec("kd", task, 1, 0.60, 0.87, weight=1.0)]
        # TD: seed 0 takes td_k2 (validation 0.83 < 0.84), seed 1 takes td (0.84 < 0.85)
        out += [rec("td", task, 0, 0.85, 0.84, weight=1.0), rec("td", task, 1, 0.85, 0.84, weight=1.0),
                rec("td_k2", task, 0, 0.84, 0.83, weight=1.0), rec("td_k2", task, 1, 0.87, 0.85, weight=1.0)]
    return out


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setattr(tables, "git_revision", lambda: "render0")
    return build_table(SPEC, records(), GENRES)


MARKDOWN = """\
# Table 3: A toy table

A toy table. Test RMSE (lower is better), mean ± standard error over 2 seeds [0, 1]; Toy protocol. Distillation weights λ, regularisation strengths, the variants behind multi-variant rows, and the TD row (best of the TD variants run) are chosen on validation RMSE by each seed on its own validation split (nested selection: the ± includes the choice), never on test; "TD (default)" is the fixed default configuration. Cells whose seeds chose differently: 13 of 13. **Bold**: lowest mean among the models trained on the task (the Teacher row is not). †: differs from the TD row in a paired t-test over seeds, p < 0.05. A note. 24 cells. Provenance: profile `toy`, table hash `cf1cbdc4151e` (24 run configurations), teacher `teach`, data `data0`, runs at git run1, rendered at git render0.

| Method | 1: Drama | 2: Action | 3: Romance | 4: Sci-Fi |
|---|---:|---:|---:|---:|
| Teacher | 0.8000 ± 0.0000 | 0.8000 ± 0.0000 | 0.8000 ± 0.0000 | 0.8000 ± 0.0000 |
| Student | 0.9060 ± 0.0060† | 0.9060 ± 0.0060† | 0.9060 ± 0.0060† | 0.9060 ± 0.0060† |
| KD | 0.8700 ± 0.0100 | 0.8700 ± 0.0100 | **0.8450 ± 0.0050** | – |
| TD | **0.8450 ± 0.0050** | **0.8450 ± 0.0050** | **0.8450 ± 0.0050** | **0.8450 ± 0.0050** |

| Method | 5: Crime |
|---|---:|
| Teacher | 0.8000 ± 0.0000 |
| Student | 0.9060 ± 0.0060† |
| KD | 0.8700 ± 0.0100 |
| TD | **0.8450 ± 0.0050** |

## The paper's published values (for comparison; not used by any computation)

Genres are numbered dense to sparse; the paper does not name them.

| Method (paper) | Genre 1 | Genre 2 | Genre 3 | Genre 4 | Genre 5 |
|---|---:|---:|---:|---:|---:|
| TD | 0.9000 ± 0.0100 | 0.9000 ± 0.0100 | 0.9000 ± 0.0100 | 0.9000 ± 0.0100 | 0.9000 ± 0.0100 |
| KD | 0.9500 | 0.9500 | 0.9500 | 0.9500 | 0.9500 |

## Choices made on validation RMSE

Per seed where the seeds chose differently (in seed order [0, 1]).

- Student: Drama: l2=0.1/1; Action: l2=0.1/1; Romance: l2=0.1/1; Sci-Fi: l2=0.1/1; Crime: l2=0.1/1
- KD: Drama: λ=1/3; Action: λ=1/3; Romance: λ=3; Crime: λ=1/3
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
TD & \textbf{0.8450 $\pm$ 0.0050} & \textbf{0.8450 $\pm$ 0.0050} & \textbf{0.8450 $\pm$ 0.0050} & \textbf{0.8450 $\pm$ 0.0050} \\
\bottomrule
\end{tabular}
\par\medskip
\begin{tabular}{lr}
\toprule
Method & 5: Crime \\
\midrule
Teacher & 0.8000 $\pm$ 0.0000 \\
Student & 0.9060 $\pm$ 0.0060$^\dagger$ \\
KD & 0.8700 $\pm$ 0.0100 \\
TD & \textbf{0.8450 $\pm$ 0.0050} \\
\bottomrule
\end{tabular}
\par\medskip
\caption{A toy table. Test RMSE (lower is better), mean $\pm$ standard error over 2 seeds [0, 1]; Toy protocol. Distillation weights λ, regularisation strengths, the variants behind multi-variant rows, and the TD row (best of the TD variants run) are chosen on validation RMSE by each seed on its own validation split (nested selection: the $\pm$ includes the choice), never on test; "TD (default)" is the fixed default configuration. Cells whose seeds chose differently: 13 of 13. Bold: lowest mean among the models trained on the task (the Teacher row is not). $^\dagger$: differs from the TD row in a paired t-test over seeds, p < 0.05. A note. 24 cells. Provenance: profile `toy`, table hash `cf1cbdc4151e` (24 run configurations), teacher `teach`, data `data0`, runs at git run1, rendered at git render0.}
\label{tab:table3}
\end{table}
"""

CSV = "\r\n".join([
    'table,row,task_index,task,metric,mean_test,se,n_seeds,seeds,test_per_seed,mean_valid,variant_per_seed,distill_weight_per_seed,l2_per_seed,p_vs_TD,significant,selection,profile,table_hash,git_revisions',
    'table3,Teacher,1,Drama,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,Teacher,2,Action,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,Teacher,3,Romance,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,Teacher,4,Sci-Fi,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,Teacher,5,Crime,RMSE,0.800000,0.000000,2,0 1,0.800000 0.800000,0.800000,teacher teacher,0 0,0 0,0.07045,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,Student,1,Drama,RMSE,0.906000,0.006000,2,0 1,0.900000 0.912000,0.905000,student student,0 0,0.1 1,0.01044,1,per_seed,toy,cf1cbdc4151e,run1',
    'table3,Student,2,Action,RMSE,0.906000,0.006000,2,0 1,0.900000 0.912000,0.905000,student student,0 0,0.1 1,0.01044,1,per_seed,toy,cf1cbdc4151e,run1',
    'table3,Student,3,Romance,RMSE,0.906000,0.006000,2,0 1,0.900000 0.912000,0.905000,student student,0 0,0.1 1,0.01044,1,per_seed,toy,cf1cbdc4151e,run1',
    'table3,Student,4,Sci-Fi,RMSE,0.906000,0.006000,2,0 1,0.900000 0.912000,0.905000,student student,0 0,0.1 1,0.01044,1,per_seed,toy,cf1cbdc4151e,run1',
    'table3,Student,5,Crime,RMSE,0.906000,0.006000,2,0 1,0.900000 0.912000,0.905000,student student,0 0,0.1 1,0.01044,1,per_seed,toy,cf1cbdc4151e,run1',
    'table3,KD,1,Drama,RMSE,0.870000,0.010000,2,0 1,0.860000 0.880000,0.855000,kd kd,1 3,0 0,0.1257,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,KD,2,Action,RMSE,0.870000,0.010000,2,0 1,0.860000 0.880000,0.855000,kd kd,1 3,0 0,0.1257,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,KD,3,Romance,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.850000,kd kd,3 3,0 0,,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,KD,5,Crime,RMSE,0.870000,0.010000,2,0 1,0.860000 0.880000,0.855000,kd kd,1 3,0 0,0.1257,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD (default),1,Drama,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD (default),2,Action,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD (default),3,Romance,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD (default),4,Sci-Fi,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD (default),5,Crime,RMSE,0.850000,0.000000,2,0 1,0.850000 0.850000,0.840000,td td,1 1,0 0,0.5,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD,1,Drama,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD,2,Action,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD,3,Romance,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD,4,Sci-Fi,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,per_seed,toy,cf1cbdc4151e,run1',
    'table3,TD,5,Crime,RMSE,0.845000,0.005000,2,0 1,0.840000 0.850000,0.835000,td_k2 td,1 1,0 0,,0,per_seed,toy,cf1cbdc4151e,run1',
]) + "\r\n"   # csv's own line ends

POOLED_CAPTION = 'A toy table. Test RMSE (lower is better), mean ± standard error over 2 seeds [0, 1]; Toy protocol. Distillation weights λ, regularisation strengths, the variants behind multi-variant rows, and the TD row (best of the TD variants run) are chosen once per cell on the mean validation RMSE over seeds (pooled), never on test; "TD (default)" is the fixed default configuration. Cells whose seeds chose differently: 0 of 13. **Bold**: lowest mean among the models trained on the task (the Teacher row is not). †: differs from the TD row in a paired t-test over seeds, p < 0.05. A note. 24 cells. Provenance: profile `toy`, table hash `c7c281f5bdc8` (19 run configurations), teacher `teach`, data `data0`, runs at git run1, rendered at git render0.'


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
    assert "published values" not in text and text == MARKDOWN.split("## The paper's")[0] + MARKDOWN[MARKDOWN.index("## Choices"):]


def test_the_csv_reads_back_into_the_same_cells(table, tmp_path):
    path = tmp_path / "table3.csv"
    path.write_text(render_csv(table))
    back = read_csv(SPEC, path)
    assert back.genres == GENRES and back.selection == "per_seed"
    assert back.cells.keys() == table.cells.keys() and back.p_values.keys() == {
        k for k, p in table.p_values.items() if p == p}                     # NaN p-values are left empty
    for key, cell in table.cells.items():
        assert back.cells[key].seeds == cell.seeds and back.cells[key].test == cell.test
        assert back.cells[key].variants == cell.variants and back.cells[key].weights == cell.weights
        assert back.cells[key].l2s == cell.l2s
    assert back.p_values["Student", "Drama"] == 0.01044
    assert back.provenance == {"profile": "toy", "table_hash": table.provenance["table_hash"], "seeds": [0, 1],
                               "git_revisions": ["run1"], "source": "table3.csv"}


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
    assert (tmp_path / "out" / "table3.csv").read_bytes().decode() == CSV   # csv's own \r\n line ends
    write_table(table, tmp_path / "plain")
    assert "published values" not in (tmp_path / "plain" / "table3.md").read_text()


def test_a_prefix_star_expands_to_every_variant_run_with_it_in_name_order():
    available = {"td_k2", "td", "kd", "td_noise"}
    assert expand(("td*",), available) == ["td", "td_k2", "td_noise"]
    assert expand(("kd", "td_k*", "kd"), available) == ["kd", "td_k2"]
    assert expand(("fitnet",), available) == ["fitnet"]
