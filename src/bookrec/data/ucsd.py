"""The UCSD Goodreads Book Graph (Wan & McAuley): 229 million shelf events, read a block at a time.

A folder holding ``goodreads_interactions.csv`` is read in this layout (``--data DIR`` detects it; ``bookrec
info --ucsd DIR`` insists on it). Its files:

- ``goodreads_interactions.csv``: ``user_id,book_id,is_read,rating,is_reviewed``, one row per book a reader
  put on a shelf; ``rating`` 0 means not rated. Ids are contiguous 0..n-1.
- ``book_id_map.csv`` (``book_id_csv,book_id``): the interactions' book ids to Goodreads book ids.
- ``goodreads_books.json.gz``: one JSON object per line (``book_id`` the Goodreads id, ``title``, ``authors``
  as ``[{author_id, role}]``, ``publication_year``, ``image_url``, ``ratings_count``, ``average_rating``,
  ``work_id``, ... all as text); ``goodreads_book_authors.json.gz``: ``author_id``, ``name``.
- ``user_id_map.csv`` maps the interactions' reader ids to anonymous Goodreads hashes; not needed.

What becomes what: rows with ``rating > 0`` are the ratings (1-5 stars); rows with ``rating == 0`` are
**shelf events** (a book shelved, or read, without a rating) and become the data set's "wants to read" pairs
(``want_user_idx``/``want_book_idx``), the ranking model's implicit signal, for readers and books that have
ratings. Readers keep the interactions' ids; books take their Goodreads ids, so titles, covers and links
line up with Goodreads. Only the books that have ratings are kept from the books JSON, which is streamed.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from bookrec.data._cache import _cache_folder, _read_cache, _write_cache
from bookrec.data._chunks import LoadProgress, _Growing, _IdCodes
from bookrec.data.dataset import Dataset, _assemble_positions
from bookrec.data.ids import IdMap
from bookrec.data.sources import GOODBOOKS_SCALE, DataSource, _Files, _is_synthetic
from bookrec.errors import DataError

__all__ = ["SHELF_EVENTS", "UCSD_FILES", "is_ucsd_folder", "load_ucsd"]

INTERACTIONS = "goodreads_interactions.csv"
BOOK_ID_MAP = "book_id_map.csv"
USER_ID_MAP = "user_id_map.csv"
BOOKS_JSON = "goodreads_books.json.gz"
AUTHORS_JSON = "goodreads_book_authors.json.gz"
UCSD_FILES = (INTERACTIONS, BOOK_ID_MAP, USER_ID_MAP, BOOKS_JSON, AUTHORS_JSON)
"""The files of the layout, as ``bookrec synth --layout ucsd`` writes them."""
INTERACTION_COLUMNS = ("user_id", "book_id", "is_read", "rating", "is_reviewed")
SHELF_EVENTS = "shelf events (rating 0: shelved or read, not rated)"
"""What the "wants to read" pairs of a UCSD data set are, for people (``Dataset.wants_from``)."""

_BLOCK = 1 << 20  # as _chunks.BLOCK_SIZE: 1 MiB blocks keep pyarrow's own memory near 40 MB
_BOOK_SCHEMA = pa.schema(
    [
        ("book_id", pa.string()),
        ("title", pa.string()),
        ("authors", pa.list_(pa.struct([("author_id", pa.string()), ("role", pa.string())]))),
        ("publication_year", pa.string()),
        ("image_url", pa.string()),
        ("ratings_count", pa.string()),
        ("average_rating", pa.string()),
        ("work_id", pa.string()),
    ]
)


def is_ucsd_folder(path: Path | str | None) -> bool:
    """Whether ``path`` is a folder in the UCSD layout (it holds ``goodreads_interactions.csv``)."""
    return path is not None and Path(path).is_dir() and (Path(path) / INTERACTIONS).is_file()


def load_ucsd(
    source: DataSource | Path | str, *, use_cache: bool = True, progress: LoadProgress | None = None
) -> Dataset:
    """Load a UCSD Goodreads folder: ratings, shelf events as "wants to read", books from the JSON.

    Args:
        source: The folder, or a DataSource whose ``path`` is it (its ``limit`` keeps the first rows of the
            interactions).
        use_cache: Read and write the columnar cache, as ``load_dataset`` does.
        progress: Called after each block of the interactions with (bytes done, bytes total).

    Raises:
        DataError: The folder is not in the layout, or a file is malformed (one line naming it).
    """
    if not isinstance(source, DataSource):
        source = DataSource(path=Path(source))
    folder = Path(source.path) if source.path is not None else Path()
    if not is_ucsd_folder(folder):
        raise DataError(f"{folder}: no {INTERACTIONS} in this folder (expected the UCSD Goodreads files)")
    files = _files(folder)
    cache = _cache_folder(source, files) if use_cache else None
    if cache is not None:
        cached = _read_cache(cache)
        if cached is not None:
            return cached
    dataset = _parse(folder, files, source.limit, progress)
    if cache is not None:
        _write_cache(dataset, cache)
    return dataset


def _files(folder: Path) -> _Files:
    present = [folder / name for name in UCSD_FILES if name != USER_ID_MAP and (folder / name).is_file()]
    books = folder / BOOKS_JSON
    return _Files(str(folder / INTERACTIONS), str(books) if books.is_file() else None, None, tuple(present))


def _parse(folder: Path, files: _Files, limit: int | None, progress: LoadProgress | None) -> Dataset:
    book_ids = _book_id_map(folder / BOOK_ID_MAP)
    size = (folder / INTERACTIONS).stat().st_size
    capacity = min(size // 10 + 1, limit or size)  # a row is at least "0,0,0,0,0\n"
    users, books = _IdCodes(capacity), _IdCodes(capacity)
    stars = _Growing(np.float32, capacity)
    shelf_user, shelf_book = _Growing(np.int32, capacity), _Growing(np.int32, capacity)
    rows = 0
    for user, book, rating, done in _interactions(folder / INTERACTIONS, limit):
        bad = (rating < 0) | (rating > GOODBOOKS_SCALE[1])
        if bad.any():
            row = rows + int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{INTERACTIONS}, line {row + 2}: field 'rating' is {rating[row - rows]}, expected 0-5"
            )
        goodreads = _goodreads_ids(book, book_ids, rows)
        rated = rating > 0
        users.add_ints(user[rated])
        books.add_ints(goodreads[rated])
        stars.append(rating[rated].astype(np.float32))
        shelf_user.append(user[~rated].astype(np.int32))
        shelf_book.append(goodreads[~rated].astype(np.int32))  # Goodreads ids stay below 2**31
        rows += user.shape[0]
        if progress is not None:
            progress(min(done, size), size)
    if stars.n == 0:
        raise DataError(f"{INTERACTIONS}: no rows with a rating above 0 (rating 0 means not rated)")
    user_map, user_idx = users.finish()
    book_map, book_idx = books.finish()
    table = _books_table(folder, book_map) if files.books is not None else None
    dataset = _assemble_positions(
        user_map, user_idx, book_map, book_idx, stars.view(), GOODBOOKS_SCALE, table, str(folder)
    )
    want_user, want_book = _shelf_pairs(shelf_user, shelf_book, user_map, book_map)
    return replace(
        dataset,
        synthetic=_is_synthetic(files),
        want_user_idx=want_user,
        want_book_idx=want_book,
        wants_from=SHELF_EVENTS,
    )


def _interactions(path: Path, limit: int | None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """(user_id, book_id, rating, bytes read) per block of the interactions file."""
    stream = pa.OSFile(str(path))
    taken = 0
    try:
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(block_size=_BLOCK),
            convert_options=pacsv.ConvertOptions(
                include_columns=["user_id", "book_id", "rating"],
                column_types={"user_id": pa.int64(), "book_id": pa.int64(), "rating": pa.int64()},
            ),
        )
        for batch in reader:
            if limit is not None and taken + batch.num_rows > limit:
                batch = batch.slice(0, limit - taken)
            columns = [batch.column(name).to_numpy(zero_copy_only=False) for name in ("user_id", "book_id")]
            yield columns[0], columns[1], batch.column("rating").to_numpy(zero_copy_only=False), stream.tell()
            taken += batch.num_rows
            if limit is not None and taken >= limit:
                return
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowTypeError) as error:
        raise DataError(
            f"{INTERACTIONS}: expected whole-number columns {','.join(INTERACTION_COLUMNS)} "
            f"({str(error).splitlines()[0]})"
        ) from None
    except OSError as error:
        raise DataError(f"{INTERACTIONS}: cannot be read: {error}") from None
    finally:
        stream.close()


def _book_id_map(path: Path) -> np.ndarray | None:
    """Goodreads book id by the interactions' book id (``book_id_map.csv``); None without the file."""
    if not path.is_file():
        return None
    try:
        table = pacsv.read_csv(
            str(path),
            convert_options=pacsv.ConvertOptions(
                include_columns=["book_id_csv", "book_id"],
                column_types={"book_id_csv": pa.int64(), "book_id": pa.int64()},
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowTypeError) as error:
        raise DataError(
            f"{BOOK_ID_MAP}: expected whole-number columns book_id_csv,book_id ({str(error).splitlines()[0]})"
        ) from None
    csv_ids = table.column("book_id_csv").to_numpy()
    if csv_ids.size and (csv_ids.min() < 0 or csv_ids.max() > 4 * csv_ids.size):
        raise DataError(
            f"{BOOK_ID_MAP}: book_id_csv should run 0..n-1, found {csv_ids.min()}..{csv_ids.max()}"
        )
    goodreads = np.full(int(csv_ids.max()) + 1 if csv_ids.size else 0, -1, dtype=np.int64)
    goodreads[csv_ids] = table.column("book_id").to_numpy()
    if goodreads.size and not 0 <= goodreads.max() <= np.iinfo(np.int32).max:
        raise DataError(f"{BOOK_ID_MAP}: book_id should be Goodreads ids (0 to 2**31 - 1)")
    return goodreads


def _goodreads_ids(book: np.ndarray, book_ids: np.ndarray | None, rows: int) -> np.ndarray:
    """The Goodreads ids of a block's book ids (the ids themselves without a map)."""
    if book_ids is None:
        return book.astype(np.int64, copy=False)
    known = (book >= 0) & (book < book_ids.shape[0])
    goodreads = np.where(known, book_ids[np.where(known, book, 0)], -1)
    if (goodreads < 0).any():
        row = rows + int(np.flatnonzero(goodreads < 0)[0])
        raise DataError(f"{INTERACTIONS}, line {row + 2}: book_id {book[row - rows]} is not in {BOOK_ID_MAP}")
    return goodreads


def _shelf_pairs(
    shelf_user: _Growing, shelf_book: _Growing, users: IdMap, books: IdMap
) -> tuple[np.ndarray, np.ndarray]:
    """Shelf events as sorted distinct (reader, book) positions, for readers and books with ratings.

    A pair is on one row of the interactions, rated or not, so no shelf event is also a rating. The events'
    raw ids are let go as soon as their keys are made: at the UCSD size they outnumber the ratings.
    """
    n_books = max(1, len(books))
    pair = np.empty(shelf_user.n, dtype=np.int64)
    kept = 0
    step = 1 << 20  # index_of makes several arrays of its input's size: small slices keep them small
    for start in range(0, shelf_user.n, step):
        user = users.index_of(shelf_user.data[start : min(start + step, shelf_user.n)].astype(np.int64))
        book = books.index_of(shelf_book.data[start : min(start + step, shelf_book.n)].astype(np.int64))
        known = (user >= 0) & (book >= 0)
        count = int(np.count_nonzero(known))
        pair[kept : kept + count] = user[known] * n_books + book[known]
        kept += count
    shelf_user.data = shelf_book.data = np.zeros(0, dtype=np.int32)  # the raw ids are no longer needed
    pair = pair[:kept]
    pair.sort()
    first = np.ones(kept, dtype=bool)
    np.not_equal(pair[1:], pair[:-1], out=first[1:])
    # Split the distinct keys a slice at a time: whole-array quotients and a compressed copy of the keys
    # would add 16 bytes an event at the peak (2 GB at the UCSD size).
    n_pairs = int(np.count_nonzero(first))
    want_user, want_book = np.empty(n_pairs, dtype=np.int32), np.empty(n_pairs, dtype=np.int32)
    done = 0
    for start in range(0, kept, step):
        part = pair[start : start + step][first[start : start + step]]
        want_user[done : done + part.size] = part // n_books
        want_book[done : done + part.size] = part % n_books
        done += part.size
    return want_user, want_book


def _books_table(folder: Path, books: IdMap) -> pd.DataFrame:
    """The rated books' rows of the books JSON (streamed), with their authors' names, as ``_books_for``
    reads a books file."""
    path = folder / BOOKS_JSON
    kept: list[pd.DataFrame] = []
    for batch in _json_batches(path, _BOOK_SCHEMA):
        ids = pd.to_numeric(
            pd.Series(batch.column("book_id").to_numpy(zero_copy_only=False)), errors="coerce"
        )
        ids = ids.fillna(-1).astype(np.int64).to_numpy()
        wanted = books.index_of(ids) >= 0
        if wanted.any():
            rows = batch.filter(pa.array(wanted))
            frame = rows.drop_columns(["authors"]).to_pandas()
            frame["author_ids"] = [_primary(authors) for authors in rows.column("authors").to_pylist()]
            kept.append(frame)
    if not kept:
        return pd.DataFrame({"book_id": pd.Series([], dtype=str), "title": pd.Series([], dtype=str)})
    table = pd.concat(kept, ignore_index=True)
    names = _author_names(folder / AUTHORS_JSON, {a for ids in table["author_ids"] for a in ids})
    table["authors"] = [
        ", ".join(names.get(a, "") for a in ids if names.get(a)) for ids in table["author_ids"]
    ]
    return (
        table.drop(columns=["author_ids"])
        .rename(columns={"publication_year": "year"})
        .assign(goodreads_book_id=table["book_id"])
    )


def _primary(authors: list[dict[str, str]] | None) -> list[str]:
    """The author ids of a book's main authors (role ""), or all of them when none is main."""
    authors = authors or []
    main = [a["author_id"] for a in authors if not (a.get("role") or "").strip()]
    return main or [a["author_id"] for a in authors]


def _author_names(path: Path, wanted: set[str]) -> dict[str, str]:
    if not path.is_file() or not wanted:
        return {}
    schema = pa.schema([("author_id", pa.string()), ("name", pa.string())])
    names: dict[str, str] = {}
    for batch in _json_batches(path, schema):
        for author, name in zip(
            batch.column("author_id").to_pylist(), batch.column("name").to_pylist(), strict=True
        ):
            if author in wanted and name:
                names[author] = name
    return names


def _json_batches(path: Path, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """A gzipped JSON-lines file a block at a time, only the fields of ``schema`` parsed."""
    try:
        with gzip.open(path, "rb") as handle:
            reader = pajson.open_json(
                handle,
                read_options=pajson.ReadOptions(block_size=_BLOCK * 4),
                parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
            )
            yield from reader
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError) as error:
        raise DataError(
            f"{path.name}: cannot be read as gzipped JSON lines: {str(error).splitlines()[0]}"
        ) from None
