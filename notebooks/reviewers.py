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
# # What the paper's reviewers asked, answered by experiment (MovieLens-100K)
#
# Five questions from the paper's public reviews, each answered with runs under the same
# protocol as every table (choices on validation per seed, mean ± SE over seeds, paired
# t-tests): a parameter-matched one-way control, a data-size sweep on Drama, the alignment of
# the student's states with the teacher's (CKA, probes), TD + KD, and a teacher that learns.
# Definitions: `docs/reviewers.md`. Every number below is computed by `ikd_lib`; finished runs
# come from the results store (the MovieLens tables' runs are shared, not trained again).

# %% tags=["parameters"]
# Parameters: papermill overrides these, e.g. `papermill in.ipynb out.ipynb -p profile smoke`
# profile: smoke (seconds), cpu (a laptop, minutes) or paper (the paper's scale)
profile = "cpu"
# genres: a list such as Drama, Western; None means the profile's eight genres, dense to sparse
genres = None
# seeds: a list such as 0, 1; None means the profile's seeds
seeds = None

# %%
from IPython.display import Image, Markdown, display

from ikd_lib import report
from ikd_lib.core.plots import save_figure
from ikd_lib.movielens import reviewers_figures, reviewers_tables
from ikd_lib.movielens.reviewers import make_reviewers_experiment

exp = make_reviewers_experiment(profile, genres=genres, seeds=seeds)
print(f"profile {exp.profile.name}: genres {exp.profile.genres}, seeds {exp.profile.seeds}")
records = exp.run_study()  # only the runs not in the store yet
tables_dir, figures_dir = report.output_dirs(exp.profile.name)

# %%
study = reviewers_tables.build_study(exp, records)
print(*reviewers_tables.write_study(study, tables_dir), sep="\n")
display(Markdown(reviewers_tables.render_study_markdown(study)))

# %%
png, pdf = save_figure(reviewers_figures.plot_data_size_sweep(study), figures_dir, "reviewers_data_size")
print(png, pdf, sep="\n")
Image(filename=str(png))

# %%
png, pdf = save_figure(reviewers_figures.plot_alignment(study), figures_dir, "reviewers_alignment")
print(png, pdf, sep="\n")
Image(filename=str(png))
