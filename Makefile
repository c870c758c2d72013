# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install bookrec, get goodbooks-10k, train the default model, open the app
#   make test   create .venv, install bookrec with its test extras, lint, run the whole test suite
# `make run DATA=PATH` installs a local copy of goodbooks-10k (the release zip or its folder): no network.
#   make shell  a shell where `bookrec` is on PATH

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch: this pin takes the wheel that lies on the team's machines; override it
# (e.g. TORCH_SPEC='torch>=2.2') to let pip choose a build for your own hardware.
TORCH_SPEC ?= torch==2.13.0
DATA ?=
# The SHA-256 a DATA zip must have: the release's by default; set it for another zip (e.g. `bookrec synth`'s).
DATA_SHA256 ?=
MODEL_DIR ?= models/default
PORT ?= 8501

.PHONY: run shell test fuzz lint format clean browser java screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[test,app,plot,spark]"
	$(BIN)/python -m bookrec.warmup
	touch $@

$(VENV)/.installed-app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[app,plot]"
	$(BIN)/python -m bookrec.warmup
	touch $@

# DATA is installed into the cache as a download would be (`bookrec download --from`), so every later command
# finds it without --data. Paths are quoted: DATA="my data/gb.zip" works.
run: $(VENV)/.installed-app
	$(BIN)/bookrec download $(if $(DATA),--from "$(DATA)" $(if $(DATA_SHA256),--sha256 "$(DATA_SHA256)",))
	$(BIN)/bookrec info
	$(BIN)/bookrec train --out "$(MODEL_DIR)"
	$(BIN)/bookrec similar "$(MODEL_DIR)" "The Da Vinci Code" -k 10
	@echo "bookrec is installed in $(VENV): run $(BIN)/bookrec, or 'source $(BIN)/activate' to type bookrec"
	$(BIN)/bookrec app "$(MODEL_DIR)" --port $(PORT)

# A shell with the virtual environment active, where `bookrec` is on PATH (exit to leave it).
shell: $(VENV)/.installed-app
	@echo "bookrec is on PATH in this shell; exit to leave it"
	@VIRTUAL_ENV="$(abspath $(VENV))" PATH="$(abspath $(BIN)):$$PATH" $${SHELL:-/bin/sh} -i

test: $(VENV)/.installed-test browser java
	$(BIN)/ruff check src tests benchmarks docs/make_walkthrough.py docs/import_graph.py
	$(BIN)/ruff format --check src tests benchmarks docs/make_walkthrough.py docs/import_graph.py
	BOOKREC_SCREENSHOTS=$(VENV)/screenshots $(BIN)/python -m pytest -q

# The generated-input tests of tests/test_fuzz.py with ten times CI's examples (400 each), new ones each run.
fuzz: $(VENV)/.installed-test
	BOOKREC_FUZZ_EXAMPLES=400 $(BIN)/python -m pytest -q tests/test_fuzz.py

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

# The spark engine's tests run Spark in local[2], which needs a Java runtime (Debian's, like chromium above).
java:
	@if command -v java >/dev/null 2>&1 || [ -x "$${JAVA_HOME:-/nonexistent}/bin/java" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Java for the spark engine's tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless libopenblas0 >/dev/null; \
	elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless libopenblas0 >/dev/null; \
	else echo "note: no Java; the spark engine's tests will be skipped (install Java 17 to run them)"; fi

format: $(VENV)/.installed-test
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
