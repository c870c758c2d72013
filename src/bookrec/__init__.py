"""bookrec: book recommendations from goodbooks-10k ratings by collaborative filtering.

Importing bookrec is cheap and side-effect free: torch, numba, plotting and web libraries load only when a
name that needs them is first used (``bookrec.train``, ``bookrec.DotBias``, ...); no global seeds are set.
"""

from __future__ import annotations

import importlib
from typing import Any

from bookrec.errors import (
    BookrecError,
    ConfigError,
    DataError,
    DownloadError,
    ModelFileError,
    UnknownBookError,
    UnknownUserError,
)

__version__ = "0.1.0"

# Public names whose modules import pandas, torch or numba: loaded on first use (PEP 562). The training
# function is `bookrec.train.train`: `bookrec.train` names its module, which a lazy alias would shadow.
_LAZY = {
    "Dataset": "bookrec.data",
    "DataSource": "bookrec.data",
    "load_dataset": "bookrec.data",
    "DotBias": "bookrec.models",
    "NeuralCF": "bookrec.models",
    "TrainConfig": "bookrec.config",
    "TrainResult": "bookrec.train",
    "Recommender": "bookrec.recommender",
    "BookResult": "bookrec.results",
}

__all__ = [
    "BookResult",
    "BookrecError",
    "ConfigError",
    "DataError",
    "DataSource",
    "Dataset",
    "DotBias",
    "DownloadError",
    "ModelFileError",
    "NeuralCF",
    "Recommender",
    "TrainConfig",
    "TrainResult",
    "UnknownBookError",
    "UnknownUserError",
    "__version__",
    "load_dataset",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bookrec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
