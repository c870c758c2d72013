"""Fast to start: the commands that only ask a model import no training, compiling or plotting library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = {"torch", "numba", "pooch", "matplotlib", "streamlit", "plotly", "optuna"}

# Runs the command line as `python -m bookrec` does, then lists every module it loaded (sys.modules sees
# them all, however imported).
_RUN = """
import runpy, sys
sys.argv = ["bookrec", *sys.argv[1:]]
try:
    runpy.run_module("bookrec", run_name="__main__", alter_sys=True)
finally:
    sys.stderr.write("\\nloaded: " + " ".join(sys.modules))
"""


def imported_by(*args: str) -> set[str]:
    """Every module that ``bookrec ARGS`` loads, in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stderr.rsplit("\nloaded: ", 1)[1].split())


@pytest.fixture(scope="module")
def model(planted_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return planted_model[0].save(tmp_path_factory.mktemp("startup") / "model")


def test_help_imports_nothing_heavy() -> None:
    modules = imported_by("--help")
    assert {"bookrec.cli.train", "bookrec.cli.tune"} <= modules  # every command was registered
    assert sorted(HEAVY & modules) == []


@pytest.mark.parametrize(
    "args",
    [
        ["similar", "{model}", "The Hunger Games"],
        ["recommend", "{model}", "--liked", "The Hunger Games", "--liked", "Twilight"],
        ["recommend", "{model}", "--user", "3"],
        ["explore", "{model}", "biases"],
    ],
)
def test_questions_to_a_model_import_nothing_heavy(args: list[str], model: Path) -> None:
    modules = imported_by(*(a.format(model=model) for a in args))
    assert "bookrec.recommender" in modules
    assert sorted(HEAVY & modules) == []
