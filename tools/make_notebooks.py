"""Writes the thin, output-free notebooks in notebooks/ (run: python tools/make_notebooks.py).

Each table notebook is a parameters cell (papermill injects overrides after it), calls into
ikd_lib, and the rendered output. Edit here, not in the .ipynb files, so they stay uniform.
The workshop notebook is written by tools/workshop_notebook.py.
"""
from pathlib import Path

import nbformat as nbf

# the project's environment as a named kernel, registered by the Makefile (`make lab`, `make tables`)
KERNELSPEC = {"name": "ikd", "display_name": "Python (ikd)", "language": "python"}

HERE = Path(__file__).resolve().parent.parent / "notebooks"

PARAMETERS = {
    "movielens": '''# Parameters: papermill overrides these, e.g. `papermill in.ipynb out.ipynb -p profile smoke`
# profile: smoke (seconds), cpu (a laptop, minutes) or paper (the paper's scale)
profile = "cpu"
# genres: a list such as Drama, Western; None means the profile's eight genres, dense to sparse
genres = None
# seeds: a list such as 0, 1; None means the profile's seeds
seeds = None
# methods: table rows by variant key (student, kd, td, td_k2, ...); None means every row the table needs
methods = None
''',
    "vision": '''# Parameters: papermill overrides these, e.g. `papermill in.ipynb out.ipynb -p profile smoke`
# profile: smoke (seconds), cpu (a 2-core machine, about an hour) or paper (GPUs)
profile = "cpu"
# datasets: a list such as cifar10, cifar100, tinyimagenet; None means the profile's datasets
datasets = None
# seeds: a list such as 0, 1; None means the profile's seeds
seeds = None
# methods: table rows by variant key (student, kd, td, td_k0, ...); None means every row the table needs
methods = None
''',
}

# Printed after the tables: the MovieLens teacher trains inside the tables' worker pool, beside
# the stacks that need no teacher, so asking for it before the tables would train it alone.
TEACHER = {
    "movielens": '''print(f"teacher {exp.teacher_summary['config_hash']}: {exp.teacher_summary['parameters']:,} parameters, "
      f"student {exp.student_parameters:,} ({exp.teacher_summary['parameters'] / exp.student_parameters:.1f}x)")
print("teacher RMSE on all genres per seed, validation:", [round(v, 4) for v in exp.teacher_summary["valid_rmse"]],
      "test:", [round(v, 4) for v in exp.teacher_summary["test_rmse_all_genres"]])''',
}

SETUP = {
    "movielens": '''from ikd_lib import report

exp = report.experiment(profile, genres=genres, seeds=seeds)
print(f"profile {exp.profile.name}: genres {exp.profile.genres}, seeds {exp.profile.seeds}")''',
    "vision": '''from ikd_lib import report

exp = report.experiment(profile, track="vision", tasks=datasets, seeds=seeds)
print(f"profile {exp.profile.name}: datasets {exp.profile.datasets}, seeds {exp.profile.seeds}")
summary = exp.teacher_summary
print(f"teacher {summary['config_hash']}: " + ", ".join(f"{k} {v}" for k, v in summary.items()
                                                       if k in ("parameters", "n_images", "n_classes", "epochs", "source")))
for name in exp.profile.datasets:
    probe = exp.probe(name)
    print(f"linear probe on {name}: validation accuracy {probe['accuracy']['valid']:.4f}, "
          f"test {probe['accuracy']['test']:.4f} (L2 {probe['info']['l2']:g}, fitted on the training split only)")''',
}

NOTEBOOKS = {
    "table3_movielens": ("movielens", "Table 3 — MovieLens-100K, all methods",
        "Test RMSE per genre for Teacher, Bias only, Student, KD, FitNet, FD, Hybrid and TD. The teacher "
        "is trained once on the training ratings of all genres; each student only on its genre. "
        "See `../shared/METHOD.md` (copied in the README) for the method.", ["table3"]),
    "table5_iterations": ("movielens", "Table 5 — number of interaction rounds K",
        "No interaction (K = 0) against 1, 2 and 3 rounds of conversation.", ["table5"]),
    "table7_consistency": ("movielens", "Table 7 — without L_MC or L_SC",
        "Removing the message-consistency or the state-consistency loss.", ["table7"]),
    "table8_noise_schedule": ("movielens", "Table 8 — noise and separate E*, D* training",
        "Gaussian noise on the teacher's reading s'_h of the student's message, and the warm-up "
        "schedule that trains the communication modules separately.", ["table8"]),
    "table4_vit": ("vision", "Table 4 — ViT, all methods",
        "Top-1 accuracy on CIFAR-10, CIFAR-100 and ImageNet (at the cpu profile a Tiny-ImageNet "
        "stand-in) for the teacher's linear probe, the 4-block student and every distillation method. "
        "The 12-block teacher is pre-trained once (cached) and never fine-tuned.", ["table4"]),
    "table6_vit_iterations": ("vision", "Table 6 — ViT, number of interaction rounds K",
        "No interaction (K = 0) against 1 and 2 rounds.", ["table6"]),
    "table9_vit_noise": ("vision", "Table 9 — ViT, without L_SC; noise",
        "Removing the state-consistency loss, and Gaussian noise on the teacher's reading.", ["table9"]),
}


def code(source):
    return nbf.v4.new_code_cell(source)


def table_notebook(track, title, intro, table_keys):
    nb = nbf.v4.new_notebook()
    params = code(PARAMETERS[track])
    params.metadata["tags"] = ["parameters"]
    cells = [nbf.v4.new_markdown_cell(f"# {title}\n\n{intro}\n\nEvery number below is computed "
                                      "from data by `ikd_lib`; finished runs are loaded from the "
                                      "results store, so re-running is cheap."),
             params, code(SETUP[track])]
    for key in table_keys:
        cells.append(code(f'{key} = report.table(exp, "{key}", variants=methods)\nreport.show({key})'))
    if track in TEACHER and table_keys:
        cells.append(code(TEACHER[track]))
    nb.cells = cells
    nb.metadata["kernelspec"] = KERNELSPEC
    return nb


FIGURES = {
    "movielens_figures": ("movielens", "Figures — MovieLens-100K",
        "What TD optimises during training, test RMSE against the number of interaction rounds K, and "
        "TD's gain against the number of training ratings (dense to sparse genres). Figures go to "
        "`figures/` (cpu profile) or `runs/<profile>/figures`.",
        '''from IPython.display import Image

from ikd_lib.core.plots import save_figure
from ikd_lib.movielens import figures

records = exp.run(methods)     # every variant; finished runs come from the store
figures_dir = report.output_dirs(exp.profile.name)[1]''',
        [("loss_components", "figures.plot_movielens_loss_components(exp, genres=(exp.profile.genres[0], exp.profile.genres[-1]))"),
         ("rmse_vs_k", "figures.plot_rmse_vs_k(records, exp.profile.genres)"),
         ("gain_vs_density", "figures.plot_gain_vs_density(records, exp.profile.genres)")]),
    "vision_figures": ("vision", "Figures — ViT",
        "Top-1 accuracy against the number of interaction rounds K, and what TD optimises during "
        "training on CIFAR-10. Figures go to `figures/` (cpu profile) or `runs/<profile>/figures`.",
        '''from IPython.display import Image

from ikd_lib.core.plots import save_figure
from ikd_lib.vision import figures

records = exp.run(methods)     # every variant; finished runs come from the store
figures_dir = report.output_dirs(exp.profile.name)[1]''',
        [("vit_accuracy_vs_k", "figures.plot_accuracy_vs_k(records, exp.profile.datasets)"),
         ("vit_loss_components", "figures.plot_vision_loss_components(exp, datasets=exp.profile.datasets[:1])")]),
}


def figures_notebook(track, title, intro, setup, figures):
    nb = table_notebook(track, title, intro, [])
    nb.cells.append(code(setup))
    for name, call in figures:
        # shown from the saved PNG: exactly the file that was written
        nb.cells.append(code(f'fig = {call}\npng, pdf = save_figure(fig, figures_dir, "{name}")\n'
                             'print(png, pdf, sep="\\n")\nImage(filename=str(png))'))
    if track in TEACHER:
        nb.cells.append(code(TEACHER[track]))
    return nb


PAPER_VS_OURS = '''# Parameters: papermill overrides these
# profile: the profile whose runs are compared (smoke, cpu or paper)
profile = "cpu"
'''

PAPER_VS_OURS_RUN = '''from IPython.display import Markdown

from ikd_lib import report
from ikd_lib.core import paper

# every published table of both tracks, built from the results store (runs missing there are run)
tables = report.paper_tables(profile)
path = paper.write_paper_vs_ours(tables, report.paper_results(), report.output_dirs(profile)[0])
print(path)
Markdown(path.read_text())'''


def paper_vs_ours_notebook():
    nb = nbf.v4.new_notebook()
    params = code(PAPER_VS_OURS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbf.v4.new_markdown_cell(
        "# The paper's Tables 5-9 next to ours\n\nEvery published cell beside ours, and whether each "
        "ablation points the same way (MovieLens Tables 5, 7, 8; ViT Tables 6, 9). The published values "
        "are displayed and compared, never used to choose anything."), params, code(PAPER_VS_OURS_RUN)]
    nb.metadata["kernelspec"] = KERNELSPEC
    return nb


def write(nb, name):
    """Stable cell ids (name-index), so regenerating an unchanged notebook changes nothing in git."""
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name.replace('_', '-')}-{i}"
    nbf.write(nb, HERE / f"{name}.ipynb")


def main():
    HERE.mkdir(exist_ok=True)
    for name, (track, title, intro, keys) in NOTEBOOKS.items():
        write(table_notebook(track, title, intro, keys), name)
    for name, spec in FIGURES.items():
        write(figures_notebook(*spec), name)
    write(paper_vs_ours_notebook(), "paper_vs_ours")


if __name__ == "__main__":
    main()
