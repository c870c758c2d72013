"""The genre pickers: keep only books of some genres, or start from genres before naming any book.

Genres come from the model's books table (goodbooks' shelves); a model without them gets no picker and a
caption that says why.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from bookrec.recommender import Recommender

NO_GENRES = (
    "This model's books have no genres (its data had no shelves, or it was trained before bookrec read "
    "them): retrain it on goodbooks-10k to filter by genre."
)


def options(recommender: Recommender) -> dict[str, int]:
    """The genres to offer and how many books each has, the most common first (empty: none)."""
    return recommender.genres()


def genre_filter(
    recommender: Recommender, key: str, where: Any = None, *, label: str = "Only these genres"
) -> list[str]:
    """A multiselect of the model's genres (in ``where``, default the sidebar); the genres picked.

    Without genres in the model it shows a caption saying so and returns [].
    """
    box = st.sidebar if where is None else where
    counts = options(recommender)
    if not counts:
        box.caption(NO_GENRES)
        return []
    picked = box.multiselect(
        label,
        list(counts),
        format_func=lambda name: f"{name} ({counts.get(name, 0):,})",  # options show as plain text
        key=key,
        placeholder="Any genre",
        help="Keep only books shelved under any of these genres on Goodreads.",
    )
    return [name for name in picked if name in counts]
