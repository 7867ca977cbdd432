# Two commands do everything on a fresh machine:
#   make tables   # every table and figure, default profile `cpu` (PROFILE=smoke|cpu|paper)
#   make test     # the test suite
# Both create the virtual environment (.venv) and fetch MovieLens-100K when missing.

PROFILE ?= cpu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
RUN_DIR := runs/$(PROFILE)
TABLE_NOTEBOOKS := table3_movielens table5_iterations table7_consistency table8_noise_schedule
FIGURE_NOTEBOOKS := movielens_figures

.PHONY: tables figures test bench data notebooks clean-runs

# The environment is a file target: created once, refreshed when pyproject.toml changes.
$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# MovieLens-100K into .cache/ (a folder you name, a cache, the GroupLens zip, or PyPI's recbole wheel).
data: $(INSTALLED)
	$(PY) -c "from ikd_lib.movielens.data import load_movielens; load_movielens()"

# Executed notebooks go to runs/<profile>/notebooks (not git); tables to tables/ (cpu) or runs/<profile>/tables.
tables: data
	@mkdir -p $(RUN_DIR)/notebooks; start=$$(date +%s); \
	for nb in $(TABLE_NOTEBOOKS) $(FIGURE_NOTEBOOKS); do \
	  echo "== $$nb ($(PROFILE))"; \
	  $(PY) -m papermill --cwd notebooks notebooks/$$nb.ipynb $(RUN_DIR)/notebooks/$$nb.ipynb \
	    -p profile $(PROFILE) --no-progress-bar || exit 1; \
	done; \
	echo "make tables PROFILE=$(PROFILE): $$(( $$(date +%s) - start )) s wall"

figures: data
	@mkdir -p $(RUN_DIR)/notebooks; for nb in $(FIGURE_NOTEBOOKS); do \
	  $(PY) -m papermill --cwd notebooks notebooks/$$nb.ipynb $(RUN_DIR)/notebooks/$$nb.ipynb \
	    -p profile $(PROFILE) --no-progress-bar || exit 1; \
	done

test: data
	$(PY) -m pytest -q

bench: data
	$(PY) -m ikd_lib.movielens.bench --profile $(PROFILE)

# Regenerate the committed notebooks from tools/make_notebooks.py.
notebooks: $(INSTALLED)
	$(PY) tools/make_notebooks.py

clean-runs:
	rm -rf $(RUN_DIR)
