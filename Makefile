# hw14 MAML. `make run` trains the default configuration; `make test` runs lint and every test.
# Both create the virtual environment .venv (pinned requirements.txt) when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_DIR ?= runs/default
CONFIG ?= configs/backward.yaml
export MUJOCO_GL ?= egl

.PHONY: venv run test lint format bench results clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# Trains into $(RUN_DIR); continues it from its checkpoint when one is there (resumable).
run: $(STAMP)
	@if [ -f $(RUN_DIR)/checkpoint.pt ]; then flag=--resume; else flag=; fi; \
	$(PY) -m hw14_lib train --config $(CONFIG) --out $(RUN_DIR) $$flag

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
