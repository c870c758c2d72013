"""bookrec: book recommendations from goodbooks-10k ratings by collaborative filtering.

Importing bookrec is cheap and side-effect free: no plotting or web libraries, no global seeds.
"""

from __future__ import annotations

from bookrec.data import Dataset, DataSource, load_dataset
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

__all__ = [
    "BookrecError",
    "ConfigError",
    "DataError",
    "DataSource",
    "Dataset",
    "DownloadError",
    "ModelFileError",
    "UnknownBookError",
    "UnknownUserError",
    "__version__",
    "load_dataset",
]
