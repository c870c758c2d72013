"""Data: loading goodbooks-10k or any ratings file, id maps, splits, synthetic data, downloads."""

from __future__ import annotations

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
