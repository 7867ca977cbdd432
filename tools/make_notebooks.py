"""Writes the thin, output-free notebooks in notebooks/ (run: python tools/make_notebooks.py).

Each notebook is a parameters cell (papermill injects overrides after it), calls into
ikd_lib, and the rendered output. Edit here, not in the .ipynb files, so they stay uniform.
"""
from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent.parent / "notebooks"

PARAMETERS = '''# Parameters: papermill overrides these, e.g. `papermill in.ipynb out.ipynb -p profile smoke`
# profile: smoke (seconds), cpu (a laptop, minutes) or paper (the paper's scale)
profile = "cpu"
# genres: a list such as Drama, Western; None means the profile's eight genres, dense to sparse
genres = None
# seeds: a list such as 0, 1; None means the profile's seeds
seeds = None
# methods: table rows by variant key (student, kd, td, td_k2, ...); None means every row the table needs
methods = None
'''

SETUP = '''from ikd_lib import report

exp = report.experiment(profile, genres=genres, seeds=seeds)
print(f"profile {exp.profile.name}: genres {exp.profile.genres}, seeds {exp.profile.seeds}")
print(f"teacher {exp.teacher_summary['config_hash']}: {exp.teacher_summary['parameters']:,} parameters, "
      f"student {exp.student_parameters:,} ({exp.teacher_summary['parameters'] / exp.student_parameters:.1f}x)")
print("teacher validation RMSE (all genres) per seed:", [round(v, 4) for v in exp.teacher_summary["valid_rmse"]])'''

NOTEBOOKS = {
    "table3_movielens": ("Table 3 — MovieLens-100K, all methods",
        "Test RMSE per genre for Teacher, Student, KD, FitNet, FD, Hybrid and TD. The teacher is "
        "trained once on the training ratings of all genres; each student only on its genre. "
        "See `../shared/METHOD.md` (copied in the README) for the method.",
        ["table3"]),
    "table5_iterations": ("Table 5 — number of interaction rounds K",
        "No interaction (K = 0) against 1, 2 and 3 rounds of conversation.", ["table5"]),
    "table7_consistency": ("Table 7 — without L_MC or L_SC",
        "Removing the message-consistency or the state-consistency loss.", ["table7"]),
    "table8_noise_schedule": ("Table 8 — noise and separate E*, D* training",
        "Gaussian noise on the teacher's reading s'_h of the student's message, and the warm-up "
        "schedule that trains the communication modules separately.", ["table8"]),
}


def table_notebook(title, intro, table_keys):
    nb = nbf.v4.new_notebook()
    params = nbf.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    cells = [nbf.v4.new_markdown_cell(f"# {title}\n\n{intro}\n\nEvery number below is computed "
                                      "from data by `ikd_lib`; finished runs are loaded from the "
                                      "results store, so re-running is cheap."),
             params, nbf.v4.new_code_cell(SETUP)]
    for key in table_keys:
        cells.append(nbf.v4.new_code_cell(
            f'{key} = report.table(exp, "{key}", variants=methods)\nreport.show({key})'))
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


FIGURES_TITLE = "Figures — MovieLens-100K, and the paper's ablations next to ours"
FIGURES_INTRO = ("What TD optimises during training, test RMSE against the number of interaction "
                 "rounds K, and TD's gain against the number of training ratings (dense to sparse genres). "
                 "Then the paper's published Tables 5-9 next to ours, with a direction check per ablation. "
                 "Figures go to `figures/` (cpu profile) or `runs/<profile>/figures`.")

FIGURES_RUN = '''from IPython.display import Image, Markdown

from ikd_lib.core import paper
from ikd_lib.core.plots import save_figure
from ikd_lib.movielens import figures

# the tables behind the figures and the comparison; finished runs come from the store
tables = {key: report.table(exp, key, variants=methods) for key in ("table3", "table5", "table7", "table8")}
records = exp.run(methods)
tables_dir, figures_dir = report.output_dirs(exp.profile.name)'''

# (file name, call): one figure per cell; the densest and the sparsest genre for the losses
FIGURES = [
    ("loss_components", "figures.plot_movielens_loss_components(exp, genres=(exp.profile.genres[0], exp.profile.genres[-1]))"),
    ("rmse_vs_k", "figures.plot_rmse_vs_k(records, exp.profile.genres)"),
    ("gain_vs_density", "figures.plot_gain_vs_density(records, exp.profile.genres)"),
]

PAPER_VS_OURS = '''path = paper.write_paper_vs_ours(tables, report.paper_results(), tables_dir)
print(path)
Markdown(path.read_text())'''


def figures_notebook():
    nb = table_notebook(FIGURES_TITLE, FIGURES_INTRO, [])
    nb.cells.append(nbf.v4.new_code_cell(FIGURES_RUN))
    for name, call in FIGURES:
        # shown from the saved PNG: exactly the file that was written
        nb.cells.append(nbf.v4.new_code_cell(f'fig = {call}\npng, pdf = save_figure(fig, figures_dir, "{name}")\n'
                                             'print(png, pdf, sep="\\n")\nImage(filename=str(png))'))
    nb.cells.append(nbf.v4.new_code_cell(PAPER_VS_OURS))
    return nb


def write(nb, name):
    """Stable cell ids (name-index), so regenerating an unchanged notebook changes nothing in git."""
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name.replace('_', '-')}-{i}"
    nbf.write(nb, HERE / f"{name}.ipynb")


def main():
    HERE.mkdir(exist_ok=True)
    for name, (title, intro, keys) in NOTEBOOKS.items():
        write(table_notebook(title, intro, keys), name)
    write(figures_notebook(), "movielens_figures")


if __name__ == "__main__":
    main()
