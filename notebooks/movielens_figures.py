# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (ikd)
#     language: python
#     name: ikd
# ---

# %% [markdown]
# # Figures — MovieLens-100K
#
# What TD optimises during training, test RMSE against the number of interaction rounds K, and TD's gain against the number of training ratings (dense to sparse genres). Figures go to `figures/` (cpu profile) or `runs/<profile>/figures`.
#
# Every number below is computed from data by `ikd_lib`; finished runs are loaded from the results store, so re-running is cheap.

# %% tags=["parameters"]
# Parameters: papermill overrides these, e.g. `papermill in.ipynb out.ipynb -p profile smoke`
# profile: smoke (seconds), cpu (a laptop, minutes) or paper (the paper's scale)
profile = "cpu"
# genres: a list such as Drama, Western; None means the profile's eight genres, dense to sparse
genres = None
# seeds: a list such as 0, 1; None means the profile's seeds
seeds = None
# methods: table rows by variant key (student, kd, td, td_k2, ...); None means every row the table needs
methods = None

# %%
from ikd_lib import report

exp = report.experiment(profile, genres=genres, seeds=seeds)
print(f"profile {exp.profile.name}: genres {exp.profile.genres}, seeds {exp.profile.seeds}")

# %%
from IPython.display import Image

from ikd_lib.core.plots import save_figure
from ikd_lib.movielens import figures

records = exp.run(methods)  # every variant; finished runs come from the store
figures_dir = report.output_dirs(exp.profile.name)[1]

# %%
fig = figures.plot_movielens_loss_components(exp, genres=(exp.profile.genres[0], exp.profile.genres[-1]))
png, pdf = save_figure(fig, figures_dir, "loss_components")
print(png, pdf, sep="\n")
Image(filename=str(png))

# %%
fig = figures.plot_rmse_vs_k(records, exp.profile.genres)
png, pdf = save_figure(fig, figures_dir, "rmse_vs_k")
print(png, pdf, sep="\n")
Image(filename=str(png))

# %%
fig = figures.plot_gain_vs_density(records, exp.profile.genres)
png, pdf = save_figure(fig, figures_dir, "gain_vs_density")
print(png, pdf, sep="\n")
Image(filename=str(png))

# %% [markdown]
# The search budget (Dodge et al., *Show Your Work*, 2019): for each row, the expected test metric of the configuration chosen on validation among n drawn at random from the row's grid, against n. A ranking that holds at every n is not an artifact of how many values were tried.

# %%
fig = figures.plot_movielens_budget_curves(records, exp.profile.genres)
png, pdf = save_figure(fig, figures_dir, "budget_table3")
print(png, pdf, sep="\n")
Image(filename=str(png))

# %%
print(
    f"teacher {exp.teacher_summary['config_hash']}: {exp.teacher_summary['parameters']:,} parameters, "
    f"student {exp.student_parameters:,} ({exp.teacher_summary['parameters'] / exp.student_parameters:.1f}x)"
)
print(
    "teacher RMSE on all genres per seed, validation:",
    [round(v, 4) for v in exp.teacher_summary["valid_rmse"]],
    "test:",
    [round(v, 4) for v in exp.teacher_summary["test_rmse_all_genres"]],
)
