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
# # The paper's Tables 5-9 next to ours
#
# Every published cell beside ours, and whether each ablation points the same way (MovieLens Tables 5, 7, 8; ViT Tables 6, 9). The published values are displayed and compared, never used to choose anything.

# %% tags=["parameters"]
# Parameters: papermill overrides these
# profile: the profile whose tables are compared (smoke, cpu or paper)
profile = "cpu"

# %%
from IPython.display import Markdown

from ikd_lib import report

# read from the table CSVs of the profile's folder (tables/ for cpu), whichever track ran last;
# a table not there is "not run"; nothing is computed here
path = report.write_paper_vs_ours(profile)
print(path)
Markdown(path.read_text())
