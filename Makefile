# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install bookrec, get goodbooks-10k, train the default model, open the app
#   make test   create .venv, install bookrec with its test extras, lint, run the whole test suite
# `make run DATA=PATH` uses a local copy of goodbooks-10k (the release zip or its folder) and no network.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch: this pin takes the wheel that lies on the team's machines; override it
# (e.g. TORCH_SPEC='torch>=2.2') to let pip choose a build for your own hardware.
TORCH_SPEC ?= torch==2.13.0
DATA ?=
MODEL_DIR ?= models/default
DATA_ARG := $(if $(DATA),--data $(DATA),)

.PHONY: run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[test,app]"
	touch $@

$(VENV)/.installed-app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[app]"
	touch $@

run: $(VENV)/.installed-app
	$(if $(DATA),,$(BIN)/bookrec download)
	$(BIN)/bookrec info $(DATA_ARG)

test: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m pytest -q

format: $(VENV)/.installed-test
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
