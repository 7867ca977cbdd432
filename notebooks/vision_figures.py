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
# # Figures — ViT
#
# Top-1 accuracy against the number of interaction rounds K, and what TD optimises during training on CIFAR-10. Figures go to `figures/` (cpu profile) or `runs/<profile>/figures`.
#
# Every number below is computed from data by `ikd_lib`; finished runs are loaded from the results store, so re-running is cheap.

# %% tags=["parameters"]
# Parameters: papermill overrides these, e.g. `papermill in.ipynb out.ipynb -p profile smoke`
# profile: smoke (seconds), cpu (a 2-core machine, about an hour) or paper (GPUs)
profile = "cpu"
# datasets: a list such as cifar10, cifar100, tinyimagenet; None means the profile's datasets
datasets = None
# seeds: a list such as 0, 1; None means the profile's seeds
seeds = None
# methods: table rows by variant key (student, kd, td, td_k0, ...); None means every row the table needs
methods = None

# %%
from ikd_lib import report

exp = report.experiment(profile, track="vision", tasks=datasets, seeds=seeds)
report.describe_vision(exp)  # the profile, the teacher and each dataset's linear probe

# %%
from IPython.display import Image

from ikd_lib.core.plots import save_figure
from ikd_lib.vision import figures

records = exp.run(methods)  # every variant; finished runs come from the store
figures_dir = report.output_dirs(exp.profile.name)[1]

# %%
fig = figures.plot_accuracy_vs_k(records, exp.profile.datasets)
png, pdf = save_figure(fig, figures_dir, "vit_accuracy_vs_k")
print(png, pdf, sep="\n")
Image(filename=str(png))

# %% [markdown]
# The search budget (Dodge et al., *Show Your Work*, 2019): for each row, the expected test metric of the configuration chosen on validation among n drawn at random from the row's grid, against n. A ranking that holds at every n is not an artifact of how many values were tried.

# %%
fig = figures.plot_vision_budget_curves(records, exp.profile.datasets)
png, pdf = save_figure(fig, figures_dir, "budget_table4")
print(png, pdf, sep="\n")
Image(filename=str(png))

# %%
fig = figures.plot_vision_loss_components(exp, datasets=exp.profile.datasets[:1])
png, pdf = save_figure(fig, figures_dir, "vit_loss_components")
print(png, pdf, sep="\n")
Image(filename=str(png))
