"""Genres from goodbooks' shelves: ``tags.csv`` (tag_id, tag_name) and ``book_tags.csv`` (goodreads_book_id,
tag_id, count), reduced to a curated list of genre shelves, stored as a text per book ("fantasy;young-adult").

Goodreads shelves are free text (34,252 of them in goodbooks: "to-read", "favorites", "owned", "fantasy",
"fantasy-sci-fi", ...). Only the shelves named in ``GENRES`` (and their common spellings, ``ALIASES``) count
as genres; a book gets each genre shelved at least ``GENRE_SHARE`` as often as its most-shelved genre, at most
``MAX_GENRES`` of them, most-shelved first. So a book shelved 37,000 times as fantasy and 9,000 times as
young-adult is both, but a stray shelving as romance 300 times does not make it a romance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from bookrec.data._csv import read_columns

__all__ = ["ALIASES", "GENRES", "GENRE_SHARE", "MAX_GENRES", "genre_names", "normalize_genre"]

GENRES = (
    "fantasy",
    "romance",
    "science-fiction",
    "mystery",
    "thriller",
    "crime",
    "horror",
    "historical-fiction",
    "young-adult",
    "childrens",
    "classics",
    "contemporary",
    "literary-fiction",
    "dystopian",
    "paranormal",
    "adventure",
    "humor",
    "poetry",
    "short-stories",
    "graphic-novels",
    "chick-lit",
    "non-fiction",
    "biography",
    "memoir",
    "history",
    "science",
    "philosophy",
    "psychology",
    "self-help",
    "business",
    "religion",
    "christian",
    "travel",
)
"""The genre shelves: Goodreads tag names present in goodbooks' tags.csv (and every genre ``bookrec synth``
writes). Fiction first, then non-fiction; a genre's books are those shelved under it often enough."""

ALIASES = {
    "nonfiction": "non-fiction",
    "sci-fi": "science-fiction",
    "scifi": "science-fiction",
    "ya": "young-adult",
    "children": "childrens",
    "children-s": "childrens",
    "children-s-books": "childrens",
    "childrens-books": "childrens",
    "classic": "classics",
    "historical": "historical-fiction",
    "mysteries": "mystery",
    "thrillers": "thriller",
    "autobiography": "memoir",
    "memoirs": "memoir",
    "biographies": "biography",
    "graphic-novel": "graphic-novels",
    "comics": "graphic-novels",
    "humour": "humor",
    "dystopia": "dystopian",
    "christian-fiction": "christian",
}
"""Other spellings of a genre, in tags.csv and as people type them; a book's count for a genre is the largest
of its spellings' counts (many readers shelve a book under both "non-fiction" and "nonfiction")."""

GENRE_SHARE = 0.25
"""A genre counts for a book when shelved at least this share as often as the book's most-shelved genre."""
MAX_GENRES = 4
"""The most genres one book carries."""

_SEPARATORS = re.compile(r"[|;,]")


def normalize_genre(name: object) -> str:
    """A genre as stored: lower case, words joined by "-", aliases mapped ("Sci Fi": science-fiction)."""
    text = re.sub(r"[\s_]+", "-", str(name).strip().casefold()).strip("-")
    return ALIASES.get(text, text)


def genre_names(value: object) -> tuple[str, ...]:
    """The genres of a books-table cell ("fantasy;romance", MovieLens' "Adventure|Comedy"); () for none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    names = (normalize_genre(part) for part in _SEPARATORS.split(str(value)))
    return tuple(dict.fromkeys(n for n in names if n and "(" not in n))  # "(no genres listed)" is none


def genre_column(values: Iterable[object]) -> list[str]:
    """A books file's own genres column as the books table stores it: normalized, ";" between genres."""
    return [";".join(genre_names(value)) for value in values]


def read_genres(
    tags: bytes | Path,
    tags_label: str,
    book_tags: bytes | Path,
    book_tags_label: str,
    goodreads_ids: pd.Series,
) -> list[str]:
    """The genres of each books.csv row ("fantasy;young-adult", "" for none), from the shelves' files.

    Args:
        tags: tags.csv (bytes, or a path).
        tags_label: How to name tags.csv in an error.
        book_tags: book_tags.csv (bytes, or a path).
        book_tags_label: How to name book_tags.csv in an error.
        goodreads_ids: books.csv's goodreads_book_id column: book_tags is keyed by it, not by book_id.

    Raises:
        DataError: A file lacks its columns or is not CSV (names the file).
    """
    names = _read(tags, tags_label, {"tag_id": pa.int64(), "tag_name": pa.string()})
    shelved = _read(
        book_tags,
        book_tags_label,
        {"goodreads_book_id": pa.int64(), "tag_id": pa.int64(), "count": pa.int64()},
    )
    genre_index = {name: i for i, name in enumerate(GENRES)}
    tag_genre = pd.Series(
        [genre_index.get(normalize_genre(n), -1) for n in names.column("tag_name").to_pylist()],
        index=names.column("tag_id").to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    tag_genre = tag_genre.groupby(level=0).first()
    tag = shelved.column("tag_id").to_numpy(zero_copy_only=False)
    genre = tag_genre.reindex(tag).fillna(-1).to_numpy(dtype=np.int64)
    goodreads = pd.to_numeric(goodreads_ids, errors="coerce").to_numpy(dtype=np.float64)
    n_rows = goodreads.size
    row_by_id = pd.Series(np.arange(n_rows), index=goodreads).groupby(level=0).first()
    row = row_by_id.reindex(shelved.column("goodreads_book_id").to_numpy(zero_copy_only=False)).to_numpy()
    count = shelved.column("count").to_numpy(zero_copy_only=False)
    keep = (genre >= 0) & ~np.isnan(row) & (count > 0)  # the release has a few negative counts: no shelving
    counts = np.zeros((n_rows, len(GENRES)), dtype=np.int64)
    np.maximum.at(counts, (row[keep].astype(np.int64), genre[keep]), count[keep])
    top = counts.max(axis=1, keepdims=True)
    chosen = (counts > 0) & (counts >= GENRE_SHARE * top)
    ranked = np.argsort(-counts, axis=1, kind="stable")[:, :MAX_GENRES]
    return [";".join(GENRES[g] for g in ranked[i] if chosen[i, g]) for i in range(n_rows)]


def _read(raw: bytes | Path, label: str, columns: dict[str, pa.DataType]) -> pa.Table:
    return read_columns(raw, label, columns, f"the columns {','.join(columns)}")
