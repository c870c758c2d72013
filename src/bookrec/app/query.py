"""The reader's book list as it travels in the page address: ``?liked=26:5,7,240&read=3,9``.

Plain functions without Streamlit, so that the format is tested on its own. A book is its id; stars follow
a colon and are optional (``7`` is "liked, no stars").
"""

from __future__ import annotations

import math

Liked = dict[str, float | None]
"""Book id (as text) -> stars, or None for "liked" without stars; in the order the reader added them."""


def parse_liked(text: str) -> tuple[Liked, list[str]]:
    """Read a ``liked`` value.

    Args:
        text: Comma-separated ``id`` or ``id:stars`` items.

    Returns:
        The books in order (a repeated id keeps its last stars), and the items that could not be read.
    """
    liked: Liked = {}
    bad: list[str] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        book, _, stars = item.partition(":")
        book = book.strip()
        if not book:
            bad.append(item)
            continue
        value: float | None = None
        if stars.strip():
            try:
                value = float(stars)
            except ValueError:
                bad.append(item)
                continue
            if not math.isfinite(value):
                bad.append(item)
                continue
        liked.pop(book, None)
        liked[book] = value
    return liked, bad


def format_liked(liked: Liked) -> str:
    """Write a ``liked`` value (the inverse of ``parse_liked``)."""
    return ",".join(book if stars is None else f"{book}:{stars:g}" for book, stars in liked.items())


def parse_ids(text: str) -> list[str]:
    """Read a comma-separated list of book ids (the ``read`` value), without repeats, in order."""
    return list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))


def format_ids(ids: list[str]) -> str:
    """Write a comma-separated list of book ids."""
    return ",".join(ids)
