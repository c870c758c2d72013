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


def test_the_default_training_never_imports_torch() -> None:
    """The sgd engine trains numpy tables from start to end: torch's import and module set-up cost ~2 s of a
    full-size run. ``TrainResult.model`` still gives the torch module, made when asked."""
    code = (
        "import sys, numpy as np\n"
        "from bookrec.data import Dataset\n"
        "from bookrec.train import TrainConfig, train\n"
        "rng = np.random.default_rng(0)\n"
        "users, books = rng.integers(0, 60, 1500), rng.integers(0, 40, 1500)\n"
        "data = Dataset.from_ratings(users, books, rng.integers(1, 6, 1500).astype(float))\n"
        "result = train(data, TrainConfig(epochs=1, rank_factors=4, rank_iterations=1))\n"
        "print('torch' in sys.modules, end=' ')\n"
        "print(type(result.model).__name__, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "DotBias", "True"]
