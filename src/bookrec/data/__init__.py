"""Data: loading goodbooks-10k or any ratings file, id maps, splits, synthetic data, downloads.

The names below load on first use (PEP 562), so that a command that only reads a model folder, or prints its
help, does not pay for pandas and pyarrow's CSV reader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bookrec.data.dataset import Dataset, LoadReport
    from bookrec.data.ids import IdMap
    from bookrec.data.load import load_dataset
    from bookrec.data.rated import RatedBooks
    from bookrec.data.sources import DataSource
    from bookrec.data.split import holdout_per_reader, last_k_per_reader, random_split

__all__ = [
    "DataSource",
    "Dataset",
    "IdMap",
    "LoadReport",
    "RatedBooks",
    "holdout_per_reader",
    "last_k_per_reader",
    "load_dataset",
    "random_split",
]

_HOMES = {
    "Dataset": "bookrec.data.dataset",
    "LoadReport": "bookrec.data.dataset",
    "IdMap": "bookrec.data.ids",
    "load_dataset": "bookrec.data.load",
    "RatedBooks": "bookrec.data.rated",
    "DataSource": "bookrec.data.sources",
    "holdout_per_reader": "bookrec.data.split",
    "last_k_per_reader": "bookrec.data.split",
    "random_split": "bookrec.data.split",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
