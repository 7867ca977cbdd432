# Two commands do everything on a fresh machine:
#   make tables   # every table and figure, default profile `cpu` (PROFILE=smoke|cpu|paper,
#                 # TRACK=movielens|vision for one track)
#   make test     # the linter (make lint), then the test suite
# Both create the virtual environment (.venv) and fetch MovieLens-100K when missing.
# Other targets: verify (regenerate and compare with the committed tables), verify-kernels, bench, figures,
# notebooks (sync each notebooks/<name>.py with its .ipynb), site (the companion as HTML), clean-runs; for the paper profile
# on GPUs (docs/paper_scale.md): paper-data, gpu-check, and LAUNCHER=local|slurm GPUS=<per run>.

PROFILE ?= cpu
# numpy's OpenBLAS computes the MovieLens layers' products on these kernels on every CPU
# (ikd_lib/core/blas.py); `import ikd_lib` sets it too, but only before numpy is loaded.
export OPENBLAS_CORETYPE := Haswell
PROFILES := smoke cpu paper
TRACK ?= all
TRACKS := all movielens vision
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
RUN_DIR := runs/$(PROFILE)
# The paper profile's ViT runs go to a launcher (ikd_lib/launch/launchers.py): local (torchrun on
# this node) or slurm (submitit); GPUS: GPUs per run (default: every GPU of the node).
LAUNCHER ?= local
export IKD_LAUNCHER := $(LAUNCHER)
ifdef GPUS
export IKD_GPUS := $(GPUS)
endif
# the paper profile's ViT needs the full datasets and the checkpoint: checked before any notebook
PAPER_PREFLIGHT := $(if $(and $(filter $(PROFILE),paper),$(filter $(TRACK),all vision)),yes)
MOVIELENS_NOTEBOOKS := table3_movielens table5_iterations table7_consistency table8_noise_schedule movielens_figures reviewers
VISION_NOTEBOOKS := table4_vit table6_vit_iterations table9_vit_noise vision_figures
NOTEBOOKS_all := $(MOVIELENS_NOTEBOOKS) $(VISION_NOTEBOOKS) paper_vs_ours
NOTEBOOKS_movielens := $(MOVIELENS_NOTEBOOKS) paper_vs_ours
NOTEBOOKS_vision := $(VISION_NOTEBOOKS) paper_vs_ours
FIGURE_NOTEBOOKS := movielens_figures vision_figures

# A bad PROFILE or TRACK stops here, before a kernel or a download starts.
ifeq ($(filter $(PROFILE),$(PROFILES)),)
$(error unknown PROFILE=$(PROFILE); valid: $(PROFILES). Example: make tables PROFILE=smoke)
endif
ifeq ($(filter $(TRACK),$(TRACKS)),)
$(error unknown TRACK=$(TRACK); valid: $(TRACKS). Example: make tables TRACK=movielens)
endif

SHELL := /bin/bash
# papermill streams each notebook's own prints to the console (--stdout-file /dev/stdout: progress
# lines, one summary per table); these lines of papermill's and the kernel's chatter are left out
PAPERMILL_NOISE := Kernel is running over TCP\|Executing notebook with kernel\|^Input Notebook\|^Output Notebook\|^Working directory\|^Executing:\|Passed unknown parameter

.PHONY: tables figures test lint bench verify data notebooks lab report site clean-runs gpu-check paper-data mutation verify-kernels

# The environment is a file target: created once, refreshed when the install files change.
# constraints.txt pins every package to the versions the committed tables were made with.
# jupyter/ holds the project's JupyterLab settings (pairs listed once, no news prompt; see its
# files): copied into the environment's own config folder, as the kernel is installed there.
$(INSTALLED): pyproject.toml constraints.txt $(wildcard jupyter/*.py jupyter/*/*.json)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name ikd --display-name "Python (ikd)" > /dev/null
	mkdir -p $(VENV)/etc/jupyter && cp -r jupyter/. $(VENV)/etc/jupyter/
	touch $@

# MovieLens-100K into .cache/ (a folder you name, a cache, the GroupLens zip, or PyPI's recbole wheel).
data: $(INSTALLED)
	$(PY) -c "from ikd_lib.movielens.data import load_movielens; load_movielens()"

# Executed notebooks go to runs/<profile>/notebooks (not git); tables to tables/ (cpu) or runs/<profile>/tables.
tables: data
	$(if $(PAPER_PREFLIGHT),@$(PY) -m ikd_lib.vision.paper.preflight --profile paper)
	@mkdir -p $(RUN_DIR)/notebooks; start=$$(date +%s); \
	for nb in $(NOTEBOOKS_$(TRACK)); do \
	  echo "== $$nb ($(PROFILE))"; \
	  IKD_PROGRESS=lines $(PY) -m papermill --cwd notebooks notebooks/$$nb.ipynb \
	    $(RUN_DIR)/notebooks/$$nb.ipynb -p profile $(PROFILE) --no-progress-bar --log-level WARNING \
	    --stdout-file /dev/stdout --stderr-file /dev/stderr 2>&1 | grep --line-buffered -v "$(PAPERMILL_NOISE)"; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done; \
	echo "make tables PROFILE=$(PROFILE) TRACK=$(TRACK): $$(( $$(date +%s) - start )) s wall"

figures: data
	@mkdir -p $(RUN_DIR)/notebooks; for nb in $(FIGURE_NOTEBOOKS); do \
	  $(PY) -m papermill --cwd notebooks notebooks/$$nb.ipynb $(RUN_DIR)/notebooks/$$nb.ipynb \
	    -p profile $(PROFILE) --no-progress-bar || exit 1; \
	done

test: data lint
	$(PY) -m pytest -q

# ruff (pinned in constraints.txt), configured in pyproject.toml's [tool.ruff]: the linter and the
# formatter (`ruff format $(LINTED)` fixes what the check finds) over the library, the tests, the
# tools and the notebooks' text (notebooks/<name>.py; `make notebooks` syncs the .ipynb pairs).
LINTED := ikd_lib tests tools $(wildcard notebooks/*.py)
lint: $(INSTALLED)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

# Mutation testing of the rule modules (docs/mutation.md): mutmut, pinned, against the fast tests
# named in pyproject.toml; not part of `make test` (hours on 2 cores). One module at a time,
# smallest first: a name is a module of ikd_lib/core (MUTATION_MODULES=losses for one) or a dotted
# path below ikd_lib (movielens.reviewers); MUTMUT_ARGS=--max-children 1 on a busy machine. The
# statuses of the modules run replace theirs in docs/mutation_results.txt (the other modules' lines
# are kept); survivors -> docs/mutation_survivors.txt.
MUTATION_MODULES ?= comm losses results methods stopping alignment reviewer_methods comparisons train tables \
  movielens.reviewers movielens.reviewers_tables
MUTMUT_ARGS ?=
mutation: data
	rm -rf mutants
	for m in $(MUTATION_MODULES); do \
	  case $$m in *.*) p=ikd_lib.$$m;; *) p=ikd_lib.core.$$m;; esac; \
	  start=$$(date +%s); nice -n 19 $(VENV)/bin/mutmut run $(MUTMUT_ARGS) "$$p.*" || exit 1; \
	  echo "mutation $$m: $$(( $$(date +%s) - start )) s wall"; \
	done
	$(VENV)/bin/mutmut results --all true > mutants/results.txt || true
	pattern=$$(for m in $(MUTATION_MODULES); do case $$m in *.*) echo "ikd_lib.$$m.";; *) echo "ikd_lib.core.$$m.";; esac; done); \
	{ grep -v -F "$$pattern" docs/mutation_results.txt; grep -F "$$pattern" mutants/results.txt; } > mutants/merged.txt || true
	mv mutants/merged.txt docs/mutation_results.txt
	grep -v -E ": (killed|timeout)$$" docs/mutation_results.txt > docs/mutation_survivors.txt || true

# Speed, as ratios measured in one run (and wall times): MovieLens, then the ViT track
# (about 20 minutes and an hour on a 2-core machine; BENCH_ARGS=--no-wall for the step ratios only).
bench: data
	$(if $(filter $(TRACK),all movielens),$(PY) -m ikd_lib.movielens.bench --profile $(PROFILE) $(BENCH_ARGS))
	$(if $(filter $(TRACK),all vision),$(PY) -m ikd_lib.vision.bench --profile $(PROFILE) $(BENCH_ARGS))

# Regenerate (fresh store and teacher) all or part of the committed tables and compare:
# The kernel fingerprint first (below); then every committed table, the reviewers' study included:
#   make verify TABLES=table3 GENRES=Western
#   make verify TABLES=table4 DATASETS=cifar10 SEEDS=0    (the ViT teacher from the cache, checked by hash)
verify: data
	$(PY) -m ikd_lib.verify $(if $(TABLES),--tables $(TABLES)) $(if $(GENRES),--genres $(GENRES)) \
	  $(if $(DATASETS),--datasets $(DATASETS)) $(if $(SEEDS),--seeds $(SEEDS)) $(VERIFY_ARGS)

# Seconds: every operation the two tracks compute, on fixed inputs at the cpu profile's shapes,
# hashed and compared with the reference machine's (ikd_lib/kernels.py; KERNELS_ARGS=--write records
# this machine's). A difference names the operation, before any table is regenerated.
verify-kernels: $(INSTALLED)
	$(PY) -m ikd_lib.kernels $(KERNELS_ARGS)

# Each notebook is a pair: notebooks/<name>.py (jupytext percent format: the text to read, edit and
# diff) and notebooks/<name>.ipynb (what JupyterLab opens and papermill runs). Edit either file; this
# syncs the other from the newer one, then clears the .ipynb outputs (committed without outputs).
notebooks: $(INSTALLED)
	$(VENV)/bin/jupytext --sync notebooks/*.py
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace --log-level WARN notebooks/*.ipynb

# One static HTML page with every table and figure of the last `make tables` (no Jupyter needed).
report: $(INSTALLED)
	$(PY) tools/make_report.py $(RUN_DIR)/notebooks $(RUN_DIR)/report.html

# The companion as a static site (Jupyter Book, offline): README, docs, every committed table and
# figure, and the notebooks executed by `make tables` in runs/<profile>/notebooks (shown without
# outputs where not executed) -> runs/<profile>/site/index.html. `make tables` does not run the
# workshop, so this does (about a minute at smoke, a few at cpu), once and when it changes.
site: data $(RUN_DIR)/notebooks/workshop.ipynb
	$(PY) tools/make_site.py --profile $(PROFILE)

$(RUN_DIR)/notebooks/workshop.ipynb: notebooks/workshop.ipynb | $(INSTALLED)
	@mkdir -p $(@D)
	$(PY) -m papermill --cwd notebooks $< $@ -p profile $(PROFILE) --no-progress-bar --log-level WARNING

# JupyterLab on the repository, with the project's environment as the kernel "Python (ikd)" that
# every notebook names, so nobody picks a kernel; it opens notebooks/workshop.ipynb. The whole
# repository is served so that the notebooks' links to ../docs/ open; the file browser lists each
# notebook pair once (jupyter/jupyter_server_config.py). As root (a container) Jupyter wants --allow-root.
lab: data
	$(VENV)/bin/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/workshop.ipynb

clean-runs:
	rm -rf $(RUN_DIR)

# The paper profile's GPU check and calibration (a few minutes on one GPU): images/s of Student,
# KD and TD steps of ViT-B/16 at 224 px in bf16, peak memory, projected GPU-hours.
gpu-check: $(INSTALLED)
	$(PY) -m ikd_lib.vision.paper.gpu_check
	$(PY) -m pytest -q -p no:cacheprovider tests/test_device.py   # the core loop on the GPU (skipped without one)

# What the paper profile can download itself: CIFAR-10/100 (torchvision) and the teacher's
# checkpoint (Hugging Face hub). ImageNet needs a login: see docs/paper_scale.md.
paper-data: $(INSTALLED)
	$(PY) -m ikd_lib.vision.paper.preflight --profile paper --download
