# Two commands do everything on a fresh machine:
#   make tables   # every table and figure, default profile `cpu` (PROFILE=smoke|cpu|paper)
#   make test     # the test suite
# Both create the virtual environment (.venv) and fetch MovieLens-100K when missing.
# Other targets: verify (regenerate and compare with the committed tables), bench, figures,
# notebooks (regenerate the .ipynb files), clean-runs.

PROFILE ?= cpu
PROFILES := smoke cpu paper
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
RUN_DIR := runs/$(PROFILE)
TABLE_NOTEBOOKS := table3_movielens table5_iterations table7_consistency table8_noise_schedule
FIGURE_NOTEBOOKS := movielens_figures

# A bad PROFILE stops here, before a kernel or a download starts.
ifeq ($(filter $(PROFILE),$(PROFILES)),)
$(error unknown PROFILE=$(PROFILE); valid: $(PROFILES). Example: make tables PROFILE=smoke)
endif

.PHONY: tables figures test bench verify data notebooks clean-runs

# The environment is a file target: created once, refreshed when the install files change.
# constraints.txt pins every package to the versions the committed tables were made with.
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
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

# Regenerate (fresh store and teacher) all or part of the committed tables and compare:
#   make verify TABLES=table3 GENRES=Western
verify: data
	$(PY) -m ikd_lib.verify $(if $(TABLES),--tables $(TABLES)) $(if $(GENRES),--genres $(GENRES))

# Regenerate the committed notebooks from tools/make_notebooks.py.
notebooks: $(INSTALLED)
	$(PY) tools/make_notebooks.py

clean-runs:
	rm -rf $(RUN_DIR)
