"""Where bookrec keeps downloads, data caches and models."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "BOOKREC_HOME"


def bookrec_home() -> Path:
    """The folder for everything bookrec stores: ``$BOOKREC_HOME``, else the platform's user cache folder."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("bookrec", appauthor=False))


def goodbooks_dir() -> Path:
    """Where ``bookrec download`` unpacks goodbooks-10k, and where loading looks when no data is named."""
    return bookrec_home() / "goodbooks-10k"


def dataset_cache_dir() -> Path:
    """Columnar caches of parsed ratings, one folder per source file hash and parse options."""
    return bookrec_home() / "cache"


def models_dir() -> Path:
    """Trained models, when no ``--out`` is given."""
    return bookrec_home() / "models"
