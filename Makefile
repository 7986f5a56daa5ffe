# hw14 MAML. `make run` trains the default configuration; `make test` runs lint and every test.
# Both create the virtual environment .venv (pinned requirements.txt and requirements-dev.txt) when it
# is missing; `make lab` opens the notebook in JupyterLab.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/default
CONFIG ?= configs/backward.yaml
export MUJOCO_GL ?= egl
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# Some machines' pip configuration names index folders that do not exist; pip then prints one
# "is ignored" warning per package. They say nothing about this project, so they are filtered.
PIP_NOISE := is ignored: it is neither a file nor a directory

.PHONY: venv cluster-venv run lab test lint format chromium bench-cluster bench bench-scaling bench-trpo results later-steps clean tex report submission

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	touch $(STAMP)

# Ray for the cluster path (requirements-cluster.txt) on top of the venv; `make test` installs it too.
CLUSTER_STAMP := $(VENV)/.cluster-installed
cluster-venv: $(CLUSTER_STAMP)

$(CLUSTER_STAMP): $(STAMP) requirements-cluster.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-cluster.txt 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	touch $(CLUSTER_STAMP)

# Trains into $(RUN_DIR); continues it from its checkpoint when one is there (resumable).
run: $(STAMP)
	@if [ -f $(RUN_DIR)/checkpoint.pt ]; then flag=--resume; else flag=; fi; \
	$(PY) -m hw14_lib train --config $(CONFIG) --out $(RUN_DIR) $$flag

# The notebook in JupyterLab (Ctrl-C twice to stop the server). It serves the repository, so the file browser
# shows results/ (the videos the notebook names) beside Notebooks/. Its settings live in .jupyterlab/user-settings,
# which keeps JupyterLab's news pop-up off (fetchNews: false). Jupyter refuses to run as root without
# --allow-root, so it is added for root (containers, CI machines) only.
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
lab: $(STAMP)
	JUPYTERLAB_SETTINGS_DIR=$(CURDIR)/.jupyterlab/user-settings $(VENV)/bin/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir=. Notebooks/HW14_MAML.ipynb

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every test runs: the report's tests need TeX Live and the browser test Debian's Chromium, which `tex` and
# `chromium` install with apt when they are missing (the whole suite takes several minutes on two cores; the fast
# part alone: .venv/bin/python -m pytest -m "not slow").
test: lint $(CLUSTER_STAMP) tex chromium
	$(PY) -m pytest

# Env steps/s of whole meta-iterations (backward Adam, direction TRPO, the paper's direction; 1 and 2 threads), the
# seed-style loop and the physics alone, side by side (about 5 min); each case's share of the 2-core physics
# ceiling; peak RSS of the paper's velocity configuration. Prints a table and writes benchmarks/results.json
# (BENCH_ARGS="--before REF" also times the code of git commit REF in the same rounds); then the paper
# direction's TRPO-step profile and pytorch-maml-rl's design beside hw14_lib on the direction batch (about 3 min).
bench: $(STAMP)
	$(PY) benchmarks/bench_meta_iteration.py $(BENCH_ARGS)
	$(PY) benchmarks/profile_outer_step.py
	$(PY) benchmarks/maml_rl_style.py

# The Ray path's overhead against the local one (smoke suite; the paper's direction run for 3 iterations), side by
# side on a loopback one-node cluster (about 3 min); writes benchmarks/cluster.json.
bench-cluster: $(CLUSTER_STAMP)
	$(PY) benchmarks/bench_cluster.py

# Sampling throughput against M = B*N parallel trajectories (1 to 800) and threads (1, 2) (about 5 min);
# writes benchmarks/scaling.json.
bench-scaling: $(STAMP)
	$(PY) benchmarks/bench_scaling.py

# Seconds per TRPO direction solve: the Gauss-Newton curvature product against the direct third-order
# route, for K = 1 and 2 inner steps (about 5 min); writes benchmarks/trpo_curvature.json.
bench-trpo: $(STAMP)
	$(PY) benchmarks/bench_trpo_curvature.py

# The report's experiments into results/ (resumable: run again to continue; two at a time, one per core), then
# the finished direction/velocity runs under the paper's protocol (40 test tasks) into results/table.json and the
# README's table.
# With RAY_ADDRESS=HOST:PORT (or auto) the experiments run as tasks on that Ray cluster instead (docs/cluster.md);
# RAY_STORAGE names a folder every node reaches.
results: $(STAMP) $(if $(RAY_ADDRESS),$(CLUSTER_STAMP))
	$(PY) -m hw14_lib results $(if $(RAY_ADDRESS),ray $(RAY_ADDRESS) $(if $(RAY_STORAGE),--storage $(RAY_STORAGE)),--jobs 2)
	$(PY) -m hw14_lib protocol --readme README.md

# The later-steps study (results/later_steps/): every finished MAML run re-evaluated with the steps
# after the first at c * alpha, on its held-out tasks; the three-seed runs (MAML, ProMP, ANIL) also on validation
# tasks.
FINISHED_MAML := $(foreach d,$(wildcard results/*_maml_*),$(if $(wildcard $(d)/summary.json),$(d)))
# ProMP (both meta-batch sizes) and ANIL seeds choose their later steps on validation tasks as MAML's do.
ADAPTER_RUNS := results/*_promp_s[0-9] results/*_promp_b20_s[0-9] results/*_anil_s[0-9]
FINISHED_ADAPTERS := $(foreach d,$(wildcard $(ADAPTER_RUNS)),$(if $(wildcard $(d)/summary.json),$(d)))
# The pretrained baselines get their own step size: each candidate alpha on validation tasks, then
# the best one-step alpha (PRETRAINED_STEP_SIZES in hw14_lib/report/numbers.py) on the held-out tasks.
# On the paper's environment, the step sizes each family's study tries (family:alphas); the protocol takes the best.
PAPER_PRETRAINED_ALPHAS := dir:0.1,0.5,1,2,4 vel:0.003,0.01,0.025,0.1 dyn:0.01,0.03,0.1,0.3,1 \
  crip:0.01,0.03,0.1,0.3,1 rev:0.01,0.03,0.1,0.3,1 sgn:0.01,0.03,0.1,0.3,1 svel:0.01,0.03,0.1,0.3,1
later-steps: $(STAMP)
	$(PY) -m hw14_lib later-steps $(FINISHED_MAML) --scales 1,0.5,0.25,0
	$(PY) -m hw14_lib later-steps $(filter $(wildcard results/*_maml_s[0-9]),$(FINISHED_MAML)) $(FINISHED_ADAPTERS) \
	  --scales 1,0.5,0.25,0 --validation
	for a in 0.5 1 2 4 8; do $(PY) -m hw14_lib later-steps results/dir_pretrained --alpha $$a --scales 1 --validation; done
	for a in 0.003 0.01 0.025; do $(PY) -m hw14_lib later-steps results/vel_pretrained --alpha $$a --scales 1 --validation; done
	$(PY) -m hw14_lib later-steps results/dir_pretrained --alpha 4 --scales 1
	$(PY) -m hw14_lib later-steps results/vel_pretrained --alpha 0.01 --scales 1
	for spec in $(PAPER_PRETRAINED_ALPHAS); do fam=$${spec%%:*}; for a in $$(echo $${spec#*:} | tr , ' '); do \
	  if [ -f results/paper_$${fam}_pretrained/summary.json ]; then \
	    $(PY) -m hw14_lib later-steps results/paper_$${fam}_pretrained --alpha $$a --scales 1 --validation || exit 1; fi; \
	done; done

# TeX Live for the report, installed with apt only when latexmk, pdflatex or pdftoppm is missing.
TEX_PACKAGES := texlive-latex-base texlive-latex-extra texlive-fonts-recommended latexmk poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
tex:
	@if ! command -v latexmk >/dev/null || ! command -v pdflatex >/dev/null || ! command -v pdftoppm >/dev/null; then \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $(TEX_PACKAGES); fi

# Debian's Chromium for the browser test (Playwright drives /usr/bin/chromium; it downloads no browser of its own).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium; fi

# Regenerates report/generated/ from results/ and benchmarks/results.json, then builds HW14_Solution.pdf
# (latexmk; fails on LaTeX errors and undefined references; auxiliary files in report/build/).
# Optional: STUDENT_NUMBER=... FULL_NAME=... for the title page.
report: $(STAMP) tex
	$(PY) -m hw14_lib report-assets --build \
	  $(if $(STUDENT_NUMBER),--student-number "$(STUDENT_NUMBER)") $(if $(FULL_NAME),--full-name "$(FULL_NAME)")

# The course zip: make submission STUDENT_NUMBER=400123456 FULL_NAME=JaneDoe -> dist/DRL_HW14_400123456_JaneDoe.zip
# (the PDF rebuilt, its LaTeX sources, Notebooks/ with the package, the results the notebook reads and a
# README), then prints its size and file count on one line. The notebook
# must hold the outputs of a full-mode run: a copy saved after Run All in quick mode (HW14_QUICK=1) or
# never executed is refused (exit 2, nothing written); `git checkout Notebooks/HW14_MAML.ipynb` restores
# the committed one.
submission: $(STAMP) tex
	@if [ -z "$(STUDENT_NUMBER)" ] || [ -z "$(FULL_NAME)" ]; then \
	  echo "usage: make submission STUDENT_NUMBER=400123456 FULL_NAME=JaneDoe" >&2; \
	  echo "  writes dist/DRL_HW14_<StudentNumber>_<FullName>.zip; Notebooks/HW14_MAML.ipynb must hold the outputs" >&2; \
	  echo "  of a full-mode run (a quick-mode or unexecuted copy is refused; git checkout restores the committed one)" >&2; \
	  exit 2; fi
	$(PY) -m hw14_lib package --student-number "$(STUDENT_NUMBER)" --full-name "$(FULL_NAME)"
	@$(PY) -c 'import sys; from hw14_lib.report.submission_files import describe_zip; print(describe_zip(sys.argv[1]))' \
	  "dist/DRL_HW14_$(STUDENT_NUMBER)_$(FULL_NAME).zip"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
