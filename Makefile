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
PORT ?= 8501
DATA_ARG := $(if $(DATA),--data $(DATA),)

.PHONY: run test lint format clean browser screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[test,app,plot]"
	touch $@

$(VENV)/.installed-app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[app,plot]"
	touch $@

run: $(VENV)/.installed-app
	$(if $(DATA),,$(BIN)/bookrec download)
	$(BIN)/bookrec info $(DATA_ARG)
	$(BIN)/bookrec train $(DATA_ARG) --out $(MODEL_DIR)
	$(BIN)/bookrec similar $(MODEL_DIR) "The Da Vinci Code" -k 10
	$(BIN)/bookrec app $(MODEL_DIR) --port $(PORT)

test: $(VENV)/.installed-test browser
	$(BIN)/ruff check src tests benchmarks docs/make_walkthrough.py docs/import_graph.py
	$(BIN)/ruff format --check src tests benchmarks docs/make_walkthrough.py docs/import_graph.py
	BOOKREC_SCREENSHOTS=$(VENV)/screenshots $(BIN)/python -m pytest -q

# The README's screenshots of the app, made by the browser test against a planted-structure model.
screenshots: $(VENV)/.installed-test browser
	BOOKREC_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/test_app_browser.py

# The app's end-to-end test drives Debian's chromium (Playwright cannot download browsers offline).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: no chromium; the browser test will be skipped (install chromium to run it)"; fi

format: $(VENV)/.installed-test
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
