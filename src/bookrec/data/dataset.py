"""``Dataset``: ratings as contiguous positions, the id maps back and the books table; and ``LoadReport``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from bookrec.data.books import _books_for
from bookrec.data.ids import IdMap

__all__ = ["Dataset", "LoadReport"]


@dataclass(frozen=True)
class LoadReport:
    """What loading noticed and repaired, for the user to read.

    Attributes:
        rows_read: Rating rows in the file (after ``limit``).
        duplicates_dropped: Repeated (reader, book) pairs; the last rating of each was kept.
        unknown_books: Rated book ids absent from the books file; kept, with a placeholder title.
    """

    rows_read: int = 0
    duplicates_dropped: int = 0
    unknown_books: int = 0

    def notes(self) -> list[str]:
        """One sentence per repair, empty when the file was clean."""
        notes = []
        if self.duplicates_dropped:
            notes.append(
                f"{self.duplicates_dropped:,} duplicate (reader, book) pairs: kept the last rating of each"
            )
        if self.unknown_books:
            notes.append(f"{self.unknown_books:,} rated book ids are not in the books file: kept, untitled")
        return notes


@dataclass(frozen=True, eq=False)
class Dataset:
    """Ratings as contiguous indices plus the maps back to ids and the books' metadata.

    Attributes:
        user_idx: Reader position of each rating (int32).
        book_idx: Book position of each rating (int32).
        rating: The ratings (float32), in file order.
        users: Reader ids by position.
        books: Book ids by position.
        rating_min: Bottom of the rating scale.
        rating_max: Top of the rating scale.
        books_table: One row per book position: book_id, title, authors, year, average_rating,
            ratings_count (Goodreads'), n_ratings (in this data), image_url, small_image_url, goodreads_url.
        name: Where the data came from, for people.
        source_hash: SHA-256 of the parsed ratings (ids and ratings in file order): the same for a folder
            and its zip, and for any two files that parse to the same ratings (identifies the training data).
        report: What loading repaired.
        synthetic: True when the ratings were generated (``bookrec synth``), not given by real readers.
        want_user_idx: Reader position of each "wants to read" pair (goodbooks' to_read.csv; int32, often
            empty): reads still to come, which the ranking model learns from beside the ratings.
        want_book_idx: Book position of each "wants to read" pair (int32).
        wants_from: Where the "wants to read" pairs came from, for people: goodbooks' to_read.csv, or a UCSD
            Goodreads folder's shelf events (books shelved or read without a rating).
    """

    user_idx: np.ndarray
    book_idx: np.ndarray
    rating: np.ndarray
    users: IdMap
    books: IdMap
    rating_min: float
    rating_max: float
    books_table: pd.DataFrame
    name: str = "in-memory"
    source_hash: str = ""
    report: LoadReport = field(default_factory=LoadReport)
    synthetic: bool = False
    want_user_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    want_book_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    wants_from: str = "to_read.csv"

    @property
    def n_users(self) -> int:
        """Number of distinct readers."""
        return len(self.users)

    @property
    def n_books(self) -> int:
        """Number of distinct books."""
        return len(self.books)

    @property
    def n_ratings(self) -> int:
        """Number of ratings."""
        return int(self.rating.shape[0])

    @property
    def rating_scale(self) -> tuple[float, float]:
        """(min, max) of the rating scale."""
        return (self.rating_min, self.rating_max)

    def subset(self, rows: np.ndarray) -> Dataset:
        """The same readers, books and metadata with only the ratings at ``rows`` (a split's part)."""
        return replace(
            self, user_idx=self.user_idx[rows], book_idx=self.book_idx[rows], rating=self.rating[rows]
        )

    def histogram(self) -> dict[float, int]:
        """How many ratings each rating value has, in ascending order of value."""
        values, counts = np.unique(self.rating, return_counts=True)
        return {float(v): int(c) for v, c in zip(values, counts, strict=True)}

    def summary(self) -> dict[str, Any]:
        """The figures ``bookrec info`` shows, as plain JSON-ready values."""
        return {
            "name": self.name,
            "users": self.n_users,
            "books": self.n_books,
            "ratings": self.n_ratings,
            "rating_min": self.rating_min,
            "rating_max": self.rating_max,
            "rating_mean": float(self.rating.mean()) if self.n_ratings else None,
            "density": self.n_ratings / max(1, self.n_users * self.n_books),
            "histogram": {_format_value(k): v for k, v in self.histogram().items()},
            "duplicates_dropped": self.report.duplicates_dropped,
            "unknown_books": self.report.unknown_books,
            "synthetic": self.synthetic,
            "source_hash": self.source_hash,
            "to_read": int(self.want_user_idx.shape[0]),
            "to_read_from": self.wants_from,
        }

    @classmethod
    def from_ratings(
        cls,
        user_ids: Sequence[Any] | np.ndarray,
        book_ids: Sequence[Any] | np.ndarray,
        ratings: Sequence[float] | np.ndarray,
        *,
        rating_scale: tuple[float, float] | None = None,
        books: pd.DataFrame | None = None,
        name: str = "in-memory",
    ) -> Dataset:
        """Build a dataset from arrays (tests, notebooks): duplicates keep the last rating.

        Args:
            user_ids: Reader id of each rating.
            book_ids: Book id of each rating.
            ratings: The ratings.
            rating_scale: (min, max); default the data's own range.
            books: Optional metadata with a ``book_id`` column and at least ``title``.
            name: A label for people.
        """
        values = np.asarray(ratings, dtype=np.float64)
        scale = rating_scale or ((float(values.min()), float(values.max())) if values.size else (0.0, 1.0))
        return _assemble(np.asarray(user_ids), np.asarray(book_ids), values, scale, books, name)


def _format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def content_hash(
    users: IdMap, books: IdMap, user_idx: np.ndarray, book_idx: np.ndarray, rating: np.ndarray
) -> str:
    """SHA-256 of parsed ratings: the ids (as text, so 7 and "7" agree) and each rating, in order.

    What identifies a data set is what was parsed, not the file it came in: a folder and its zip, or a
    re-saved CSV, give the same hash. (Hashing ``repr`` of an id array, as before, missed most of a large
    one: numpy shortens it past 1,000 elements.)
    """
    digest = hashlib.sha256()
    for ids in (users.ids, books.ids):
        digest.update(len(ids).to_bytes(8, "little"))
        digest.update("\x1f".join(map(str, ids.tolist())).encode("utf-8", "surrogatepass"))
    for part, dtype in ((user_idx, np.int32), (book_idx, np.int32), (rating, np.float32)):
        digest.update(memoryview(np.ascontiguousarray(part, dtype=dtype)))  # no copy of the bytes
    return digest.hexdigest()


def _assemble(
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    scale: tuple[float, float],
    books: pd.DataFrame | None,
    name: str,
) -> Dataset:
    """Factorize ids, drop duplicate pairs (keeping the last), attach the books table, hash the content."""
    user_map, user_idx = IdMap.factorize(users)
    book_map, book_idx = IdMap.factorize(items)
    return _assemble_positions(user_map, user_idx, book_map, book_idx, values, scale, books, name)


def _assemble_positions(
    user_map: IdMap,
    user_idx: np.ndarray,
    book_map: IdMap,
    book_idx: np.ndarray,
    values: np.ndarray,
    scale: tuple[float, float],
    books: pd.DataFrame | None,
    name: str,
) -> Dataset:
    """``_assemble`` after the ids became positions (the chunked reader's output): duplicates, books, hash."""
    rows_read = int(values.shape[0])
    keep = _last_of_each_pair(user_idx, book_idx, len(book_map))
    n_duplicates = 0 if keep is None else int(rows_read - np.count_nonzero(keep))
    if keep is not None:
        user_idx, book_idx, values = user_idx[keep], book_idx[keep], values[keep]
    counts = np.zeros(len(book_map), dtype=np.int64)
    for start in range(0, book_idx.shape[0], 1 << 22):  # bincount copies its input to int64: in slices
        counts += np.bincount(book_idx[start : start + (1 << 22)], minlength=len(book_map))
    table, unknown = _books_for(book_map, counts, books)
    user_idx = np.ascontiguousarray(user_idx, dtype=np.int32)
    book_idx = np.ascontiguousarray(book_idx, dtype=np.int32)
    rating = np.ascontiguousarray(values, dtype=np.float32)
    return Dataset(
        user_idx=user_idx,
        book_idx=book_idx,
        rating=rating,
        users=user_map,
        books=book_map,
        rating_min=float(scale[0]),
        rating_max=float(scale[1]),
        books_table=table,
        name=name,
        source_hash=content_hash(user_map, book_map, user_idx, book_idx, rating),
        report=LoadReport(rows_read=rows_read, duplicates_dropped=n_duplicates, unknown_books=unknown),
    )


def _last_of_each_pair(user_idx: np.ndarray, book_idx: np.ndarray, n_books: int) -> np.ndarray | None:
    """Which rows to keep so that each (reader, book) pair keeps its last rating; None when none repeats.

    Sorting one key per rating finds repeats in 4 or 8 bytes a rating (a hash table of the pairs, as
    ``pandas.duplicated`` builds, took several times that); only the rows of repeated pairs are looked at
    again, in file order.
    """
    if user_idx.shape[0] < 2:
        return None
    n_users = int(user_idx.max()) + 1
    # 4 bytes a key where every pair fits (goodbooks: 53,424 x 10,000), 8 otherwise
    dtype = np.uint32 if n_users * max(1, n_books) <= np.iinfo(np.uint32).max else np.int64
    pair = user_idx.astype(dtype)
    pair *= dtype(max(1, n_books))
    np.add(pair, book_idx, out=pair, casting="unsafe")  # in place: no second array of keys
    pair.sort()
    step = 1 << 22  # compared a slice at a time: no array of a flag per rating
    windows = (pair[start : start + step + 1] for start in range(0, pair.shape[0] - 1, step))
    keys = np.unique(np.concatenate([w[1:][w[1:] == w[:-1]] for w in windows]))
    del pair
    if keys.size == 0:
        return None

    def pair_of(rows: slice | np.ndarray) -> np.ndarray:
        return (user_idx[rows].astype(np.int64) * max(1, n_books) + book_idx[rows]).astype(dtype)

    rows_of_keys = np.concatenate(
        [
            np.flatnonzero(np.isin(pair_of(slice(start, start + step)), keys)) + start
            for start in range(0, user_idx.shape[0], step)
        ]
    )
    key = pair_of(rows_of_keys)
    _, last_from_end = np.unique(key[::-1], return_index=True)
    keep = np.ones(user_idx.shape[0], dtype=bool)
    keep[rows_of_keys] = False
    keep[rows_of_keys[::-1][last_from_end]] = True
    return keep
