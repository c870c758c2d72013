"""Load ratings into a ``Dataset``: goodbooks-10k (folder or release zip) or any ratings CSV.

The first load of a file parses the CSV with pyarrow (multi-threaded) and stores a columnar cache (``.npy``
arrays read with ``allow_pickle=False`` plus a Parquet books table) keyed by the source files' SHA-256 and
the parse options (hashed once per version of the files, see ``_cache``); later loads read the cache. Books
are keyed by ``book_id``, never by title: different books that share a title stay apart, and every rated
book is kept, with or without metadata.

The parts live in their own modules: ``sources`` (what files a source names), ``_csv`` (parsing),
``books`` (the books table), ``dataset`` (the result) and ``_cache``; this one ties them together and
re-exports the names that were defined here before the split.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from bookrec.data._cache import CACHE_FORMAT, _cache_folder, _read_cache, _write_cache
from bookrec.data._chunks import LoadProgress, read_ratings_chunked
from bookrec.data._csv import read_columns
from bookrec.data._synthetic import SYNTHETIC_MARKER, recorded_scale
from bookrec.data.books import BOOK_COLUMNS, GOODREADS_BOOK_URL, _read_books
from bookrec.data.dataset import Dataset, LoadReport, _assemble_positions
from bookrec.data.genres import read_genres
from bookrec.data.sources import GOODBOOKS_SCALE, DataSource, _Files, _is_synthetic, _resolve
from bookrec.data.ucsd import is_ucsd_folder, load_ucsd

__all__ = [
    "BOOK_COLUMNS",
    "CACHE_FORMAT",
    "GOODBOOKS_SCALE",
    "GOODREADS_BOOK_URL",
    "SYNTHETIC_MARKER",
    "DataSource",
    "Dataset",
    "LoadReport",
    "load_dataset",
]


def load_dataset(
    source: DataSource | str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
    progress: LoadProgress | None = None,
) -> Dataset:
    """Load ratings and book metadata into a ``Dataset``.

    Args:
        source: A DataSource, a goodbooks-10k folder or zip path, or None for the downloaded copy.
        use_cache: Read and write the columnar cache (on by default; off re-parses the CSV).
        progress: Called as the ratings file is parsed, ``progress(done, total)`` (see ``LoadProgress``);
            not called when the cache answers.

    Raises:
        DataError: One line naming the file, row and field at fault.
    """
    if not isinstance(source, DataSource):
        source = DataSource(path=Path(source) if source is not None else None)
    if is_ucsd_folder(source.path):  # the UCSD Goodreads layout: goodreads_interactions.csv and its JSON
        return load_ucsd(source, use_cache=use_cache, progress=progress)
    files = _resolve(source)
    cache = _cache_folder(source, files) if use_cache else None
    if cache is not None:
        cached = _read_cache(cache)
        if cached is not None:
            return cached
    dataset = _parse(source, files, progress)
    if cache is not None:
        _write_cache(dataset, cache)
    return dataset


def _parse(source: DataSource, files: _Files, progress: LoadProgress | None = None) -> Dataset:
    cols = (
        ("user_id", "book_id", "rating")
        if source.is_goodbooks
        else (
            source.user_col,
            source.item_col,
            source.rating_col,
        )
    )
    label = files.label(files.ratings)
    raw = files.open_bytes(files.ratings)
    if source.is_goodbooks and source.rating_scale is None:
        # A `bookrec synth --scale 1-10` folder records its scale in README.txt; goodbooks' 1-5 otherwise.
        source = replace(source, rating_scale=recorded_scale(files.ratings, files.archive))
    scale = source.rating_scale or (GOODBOOKS_SCALE if source.is_goodbooks else None)
    parsed = read_ratings_chunked(
        raw, label, cols, source.sep, source.encoding, source.limit, scale, progress=progress
    )
    del raw
    books = None
    if files.books is not None:
        id_col = "book_id" if source.is_goodbooks else source.item_col
        books = _read_books(files.open_bytes(files.books), files.label(files.books), id_col, source)
        if files.shelves is not None and "goodreads_book_id" in books:
            books = books.assign(genres=_shelved_genres(files, books["goodreads_book_id"]))
    name = str(
        files.archive or (Path(files.ratings) if not source.is_goodbooks else Path(files.ratings).parent)
    )
    if source.limit is not None:
        name += f" (first {source.limit:,} ratings)"
    dataset = _assemble_positions(
        parsed.users, parsed.user_idx, parsed.books, parsed.book_idx, parsed.rating, parsed.scale, books, name
    )
    del parsed
    dataset = replace(dataset, synthetic=_is_synthetic(files))
    if files.to_read is not None:
        raw_wants = files.open_bytes(files.to_read)
        want_user, want_book = _read_wants(raw_wants, files.label(files.to_read), dataset)
        dataset = replace(dataset, want_user_idx=want_user, want_book_idx=want_book)
    return dataset


def _shelved_genres(files: _Files, goodreads_ids: pd.Series) -> list[str]:
    """Each books.csv row's genres, from tags.csv and book_tags.csv (keyed by goodreads_book_id)."""
    tags, shelved = files.shelves or ("", "")
    raw_tags, raw_shelved = files.open_bytes(tags), files.open_bytes(shelved)
    return read_genres(raw_tags, files.label(tags), raw_shelved, files.label(shelved), goodreads_ids)


def _read_wants(raw: bytes | Path, label: str, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The (reader, book) positions of to_read.csv's pairs that ``dataset`` knows and has no rating for.

    Readers or books the ratings never mention are dropped: no model has a place for them.
    """
    columns = {"user_id": pa.int64(), "book_id": pa.int64()}
    table = read_columns(raw, label, columns, "whole-number user_id,book_id columns")
    user = dataset.users.index_of(table.column("user_id").to_numpy(zero_copy_only=False))
    book = dataset.books.index_of(table.column("book_id").to_numpy(zero_copy_only=False))
    known = (user >= 0) & (book >= 0)
    n_books = max(1, dataset.n_books)
    pair = np.unique(user[known] * n_books + book[known])
    del table, user, book, known
    # The rated pairs are looked up in the (few) sorted wants a slice at a time: np.isin over all the
    # ratings' keys held ~40 bytes a rating at once (2 GB of a 24M-rating first load).
    rated = np.zeros(pair.size, dtype=bool)
    step = 1 << 22
    for start in range(0, dataset.n_ratings, step):
        keys = dataset.user_idx[start : start + step].astype(np.int64) * n_books
        keys += dataset.book_idx[start : start + step]
        at = np.minimum(np.searchsorted(pair, keys), max(pair.size - 1, 0))
        if pair.size:
            rated[at[pair[at] == keys]] = True
    pair = pair[~rated]
    return (pair // n_books).astype(np.int32), (pair % n_books).astype(np.int32)
