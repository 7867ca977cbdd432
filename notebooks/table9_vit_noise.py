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
# # Table 9 — ViT, without L_SC; noise
#
# Removing the state-consistency loss, and Gaussian noise on the teacher's reading.
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
# selection_task: the dataset whose selection is drawn below; None means the first
selection_task = None

# %%
from ikd_lib import report

exp = report.experiment(profile, track="vision", tasks=datasets, seeds=seeds)
report.describe_vision(exp)  # the profile, the teacher and each dataset's linear probe

# %%
table9 = report.table(exp, "table9", variants=methods)
report.show(table9)

# %% [markdown]
# How each number was chosen, for one dataset (`selection_task`): above, the validation metric over every grid a row searched, one line per seed, each seed's choice starred (a choice at the end of its line is at an edge of the grid); below, the validation metric per epoch of each seed's chosen run, the restored epoch starred. Test plays no part in any choice.

# %%
report.show_selection(exp, "table9", table9, selection_task)
