"""What every page shares: the model (loaded once per process), book choices, friendly errors.

The model folder is ``$BOOKREC_APP_MODEL`` when set (``bookrec app MODEL`` sets it), else the last trained
model. It is loaded once per process and shared by all sessions (``st.cache_resource``), keyed by its path
and its manifest's modification stamp, so a model retrained in place is picked up on the next interaction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from bookrec.app import MODEL_ENV, text
from bookrec.errors import BookrecError, ModelFileError
from bookrec.modelfile import MANIFEST, resolve_model_path
from bookrec.recommender import Recommender
from bookrec.results import TitleMatch

_log = logging.getLogger("bookrec.app")


def model_path() -> Path:
    """The model folder to serve: ``$BOOKREC_APP_MODEL``, else the last trained model.

    Raises:
        ModelFileError: None is named and none has been trained yet.
    """
    named = os.environ.get(MODEL_ENV) or None
    return resolve_model_path(Path(named).expanduser() if named else None)


def _stamp(path: Path) -> str:
    try:
        info = (path / MANIFEST).stat()
    except OSError:
        return "missing"
    return f"{info.st_mtime_ns}-{info.st_size}"


@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def _load(path: str, stamp: str) -> Recommender:
    # ``stamp`` is part of the cache key only: a model saved again at the same path is loaded again.
    return Recommender.load(path)


def _identity(recommender: Recommender) -> object:
    """A cache key for a model: its weights' checksum when loaded from a folder, else the object itself."""
    checksum = (recommender.manifest.get("files") or {}).get("weights.safetensors")
    return checksum or id(recommender)


def recommender() -> Recommender | None:
    """The model in use; None after showing why there is none (the empty state, or the load error)."""
    try:
        path = model_path()
        return _load(str(path), _stamp(path))
    except ModelFileError as error:
        from bookrec.app import training

        training.no_model(error, named=bool(os.environ.get(MODEL_ENV)))
        return None


def book_choice(recommender: Recommender, book_id: str) -> int | str:
    """The model's id for a book id given as text (from the address).

    Raises:
        UnknownBookError: The model has no book with that id.
    """
    return _plain(recommender.book(f"id:{book_id}").book_id)


def _plain(value: object) -> int | str:
    """A book id as a plain Python value (numpy integers are not JSON- or URL-friendly)."""
    return int(value) if isinstance(value, int | np.integer) else str(value)


@st.cache_resource(max_entries=16, hash_funcs={Recommender: _identity}, show_spinner=False)
def book_map(recommender: Recommender, n_books: int, min_ratings: int) -> pd.DataFrame:
    """The map of books (PCA of book vectors), computed once per model and settings; do not modify it."""
    return recommender.book_map(n_books, min_ratings=min_ratings)


def default_min_ratings(recommender: Recommender) -> int:
    """A floor on ratings that hides the rarest quarter of books (at most 100): their vectors are noise."""
    counts = recommender.books_table["n_ratings"].to_numpy()
    return int(min(100, np.percentile(counts, 25))) if counts.size else 0


def few_ratings(recommender: Recommender) -> int:
    """Below this many ratings a book is marked "few ratings": its place among the others is a rough guess.

    The quarter of books with the fewest ratings, at most 50 (goodbooks' rarest books have about 10).
    """
    counts = recommender.books_table["n_ratings"].to_numpy()
    return int(min(50, np.percentile(counts, 25))) if counts.size else 0


def synthetic(recommender: Recommender) -> bool:
    """Whether training recorded that the ratings were synthetic (``bookrec synth``); not recorded: False."""
    return recommender.synthetic


def suggest(recommender: Recommender, typed: str, limit: int = 8) -> list[TitleMatch]:
    """Books whose title, series or author matches what the reader typed, best first."""
    return recommender.search_titles(typed, k=limit) if typed.strip() else []


def rating_steps(recommender: Recommender) -> list[float]:
    """The star values a reader can give on this model's scale (whole steps, or halves on a 0.5-5 scale)."""
    lo, hi = recommender.rating_scale
    step = 1.0 if float(lo).is_integer() and float(hi).is_integer() else 0.5
    return [float(v) for v in np.arange(lo, hi + step / 2, step)]


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Show any error of a page body as one friendly line, never a traceback.

    Streamlit's own control flow (``st.rerun``, ``st.stop``) derives from ``BaseException`` and passes
    through.
    """
    try:
        yield
    except BookrecError as error:
        st.error(text.md(error), icon=":material/error:")
    except Exception as error:  # the app must never show a traceback; the log keeps it
        _log.exception("app error")
        st.error(
            f"Something went wrong: {type(error).__name__}: {text.md(error)}. Try again, or report it with "
            "the server's log.",
            icon=":material/error:",
        )


def sidebar_summary() -> None:
    """The model in use, in the sidebar, and the SYNTHETIC banner on every page when it applies."""
    try:
        path = model_path()
        loaded = _load(str(path), _stamp(path))
    except Exception:  # the page itself says what is wrong
        return
    kind = (loaded.manifest.get("model") or {}).get("kind", "dot")
    st.sidebar.caption(
        f"Model **{text.md(path.name)}**: {loaded.n_books:,} books, {loaded.n_users:,} readers "
        f"({text.md(kind)})."
    )
    if synthetic(loaded):
        st.warning(
            "**SYNTHETIC ratings**: this model learned from generated ratings, not from real readers; its "
            "answers show how bookrec works, not what readers like.",
            icon=":material/science:",
        )
