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
# # Table 7 — without L_MC or L_SC
#
# Removing the message-consistency or the state-consistency loss.
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
# selection_task: the genre whose selection is drawn below; None means the first
selection_task = None

# %%
from ikd_lib import report

exp = report.experiment(profile, genres=genres, seeds=seeds)
print(f"profile {exp.profile.name}: genres {exp.profile.genres}, seeds {exp.profile.seeds}")

# %%
table7 = report.table(exp, "table7", variants=methods)
report.show(table7)

# %% [markdown]
# How each number was chosen, for one genre (`selection_task`): above, the validation metric over every grid a row searched, one line per seed, each seed's choice starred (a choice at the end of its line is at an edge of the grid); below, the validation metric per epoch of each seed's chosen run, the restored epoch starred. Test plays no part in any choice.

# %%
report.show_selection(exp, "table7", table7, selection_task)

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
