"""The package's import graph keeps its rules: no circle, arrows only down the layers, serving stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "import_graph.py"


def test_the_import_graph_keeps_its_rules() -> None:
    command = [sys.executable, str(SCRIPT), "--check"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "no import circle" in done.stderr


def test_serving_imports_neither_torch_nor_numba() -> None:
    heavy = ("torch", "numba", "bookrec.train", "bookrec.engines.sgd")
    code = (
        "import sys, bookrec.recommender, bookrec.modelfile, bookrec.models;"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
