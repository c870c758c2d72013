"""Load ratings into a ``Dataset``: goodbooks-10k (folder or release zip) or any ratings CSV.

The first load of a file parses the CSV with pyarrow (multi-threaded) and stores a columnar cache (``.npy``
arrays read with ``allow_pickle=False`` plus a Parquet books table) keyed by the source files' SHA-256 and
the parse options; later loads read the cache. Books are keyed by ``book_id``, never by title: different
books that share a title stay apart, and every rated book is kept, with or without metadata.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bookrec._files import ordinary_permissions
from bookrec.data.ids import IdMap
from bookrec.data.paths import dataset_cache_dir, goodbooks_dir
from bookrec.errors import DataError

GOODBOOKS_SCALE = (1.0, 5.0)
GOODREADS_BOOK_URL = "https://www.goodreads.com/book/show/{}"
# Bump when the cache layout or the parsing rules change, so old caches are never misread.
# `bookrec synth` starts the README.txt of every folder it writes with this marker.
SYNTHETIC_MARKER = "SYNTHETIC DATA"
CACHE_FORMAT = 2

BOOK_COLUMNS = [
    "book_id",
    "title",
    "authors",
    "year",
    "average_rating",
    "ratings_count",
    "n_ratings",
    "image_url",
    "small_image_url",
    "goodreads_url",
]

# Column names other well-known data sets use, tried in order when reading a books file.
_ID_COLUMNS = ("book_id", "movieId", "ISBN", "item_id", "itemId", "id")
_TITLE_COLUMNS = ("title", "Book-Title", "original_title", "name")
_AUTHOR_COLUMNS = ("authors", "Book-Author", "author", "genres")
_YEAR_COLUMNS = ("original_publication_year", "Year-Of-Publication", "year")
_IMAGE_COLUMNS = ("image_url", "Image-URL-L", "Image-URL-M")
_SMALL_IMAGE_COLUMNS = ("small_image_url", "Image-URL-S")


@dataclass(frozen=True)
class DataSource:
    """Where ratings come from and how to read them.

    Either ``path`` (goodbooks-10k as a folder or the release zip; None means the copy ``bookrec download``
    made) or ``ratings`` (any ratings CSV, with its own column names, separator and encoding).

    Attributes:
        path: goodbooks-10k folder or zip.
        ratings: A ratings CSV in any layout.
        user_col: Reader id column of ``ratings``.
        item_col: Book id column of ``ratings``.
        rating_col: Rating column of ``ratings``.
        sep: Field separator of ``ratings`` (and ``books``).
        encoding: Text encoding of ``ratings`` (and ``books``).
        books: Titles for ``ratings``: a CSV with the item id column and a title column.
        limit: Keep only the first ``limit`` ratings of the file (the blog's 100,000-rating prototype).
        rating_scale: (min, max) of the scale; None takes goodbooks' 1-5, or the data's own range.
    """

    path: Path | None = None
    ratings: Path | None = None
    user_col: str = "user_id"
    item_col: str = "book_id"
    rating_col: str = "rating"
    sep: str = ","
    encoding: str = "utf-8"
    books: Path | None = None
    limit: int | None = None
    rating_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.path is not None and self.ratings is not None:
            raise DataError("give either --data (goodbooks-10k) or --ratings (any ratings file), not both")
        if self.limit is not None and self.limit < 1:
            raise DataError(f"--limit must be a positive number of ratings, got {self.limit}")
        if len(self.sep) != 1:
            raise DataError(f"--sep must be one character, got {self.sep!r}")
        try:
            "".encode(self.encoding)
        except LookupError:
            raise DataError(f"unknown --encoding {self.encoding!r}; try utf-8 or latin-1") from None

    @classmethod
    def from_options(
        cls,
        *,
        data: Path | None = None,
        ratings: Path | None = None,
        user_col: str = "user_id",
        item_col: str = "book_id",
        rating_col: str = "rating",
        sep: str = ",",
        encoding: str = "utf-8",
        books: Path | None = None,
        limit: int | None = None,
    ) -> DataSource:
        """Build a source from the CLI's data options (``\\t`` may be typed for a tab)."""
        if books is not None and ratings is None:
            raise DataError("--books goes with --ratings; goodbooks-10k (--data) brings its own books.csv")
        sep = "\t" if sep in ("\\t", "tab") else sep
        return cls(
            path=data,
            ratings=ratings,
            user_col=user_col,
            item_col=item_col,
            rating_col=rating_col,
            sep=sep,
            encoding=encoding,
            books=books,
            limit=limit,
        )

    @property
    def is_goodbooks(self) -> bool:
        """Whether this names goodbooks-10k (its own file layout and 1-5 scale)."""
        return self.ratings is None


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
        source_hash: SHA-256 over the source files and parse options (identifies the training data).
        report: What loading repaired.
        synthetic: True when the ratings were generated (``bookrec synth``), not given by real readers.
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
        digest = hashlib.sha256()
        for part in (np.asarray(user_ids), np.asarray(book_ids), values):
            digest.update(
                np.ascontiguousarray(part).tobytes() if part.dtype != object else repr(part).encode()
            )
        return _assemble(
            np.asarray(user_ids), np.asarray(book_ids), values, scale, books, name, digest.hexdigest()
        )


def _format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def load_dataset(
    source: DataSource | str | os.PathLike[str] | None = None, *, use_cache: bool = True
) -> Dataset:
    """Load ratings and book metadata into a ``Dataset``.

    Args:
        source: A DataSource, a goodbooks-10k folder or zip path, or None for the downloaded copy.
        use_cache: Read and write the columnar cache (on by default; off re-parses the CSV).

    Raises:
        DataError: One line naming the file, row and field at fault.
    """
    if not isinstance(source, DataSource):
        source = DataSource(path=Path(source) if source is not None else None)
    files = _resolve(source)
    key = _cache_key(source, files)
    cache = dataset_cache_dir() / key
    if use_cache:
        cached = _read_cache(cache)
        if cached is not None:
            return cached
    dataset = _parse(source, files, key)
    if use_cache:
        _write_cache(dataset, cache)
    return dataset


@dataclass(frozen=True)
class _Files:
    """The concrete files behind a source: a ratings file and an optional books file, maybe inside a zip."""

    ratings: str
    books: str | None
    archive: Path | None = None
    hashed: tuple[Path, ...] = ()

    def label(self, member: str) -> str:
        return f"{self.archive.name}:{member}" if self.archive else Path(member).name

    def open_bytes(self, member: str) -> bytes | Path:
        if self.archive is None:
            return Path(member)
        try:
            with zipfile.ZipFile(self.archive) as archive:
                return archive.read(member)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
            raise DataError(f"{self.archive}: not a valid zip file (truncated or corrupt): {error}") from None


def _resolve(source: DataSource) -> _Files:
    if source.ratings is not None:
        ratings = Path(source.ratings)
        _require_file(ratings, "ratings file")
        books = Path(source.books) if source.books is not None else None
        if books is not None:
            _require_file(books, "books file")
        hashed = (ratings,) if books is None else (ratings, books)
        return _Files(str(ratings), str(books) if books else None, None, hashed)
    path = Path(source.path) if source.path is not None else goodbooks_dir()
    if not path.exists():
        if source.path is None:
            raise DataError(
                f"no goodbooks-10k data at {path}: run `bookrec download`, or pass --data PATH "
                "(the release zip or its folder) or --ratings FILE"
            )
        raise DataError(f"{path}: no such file or folder (expected goodbooks-10k as a zip or a folder)")
    if path.is_dir():
        ratings = _find_in_folder(path, "ratings.csv")
        books = ratings.parent / "books.csv"
        if not books.is_file():
            raise DataError(f"{path}: has ratings.csv but no books.csv beside it (expected goodbooks-10k)")
        return _Files(str(ratings), str(books), None, (ratings, books))
    return _zip_files(path)


def _require_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such {what}")
    if not path.is_file():
        raise DataError(f"{path}: is a folder, expected a {what}")


def _find_in_folder(folder: Path, name: str) -> Path:
    direct = folder / name
    if direct.is_file():
        return direct
    nested = sorted(folder.glob(f"*/{name}"))
    if nested:
        return nested[0]
    raise DataError(f"{folder}: no {name} in this folder or one level down (expected goodbooks-10k)")


def _zip_files(path: Path) -> _Files:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{path}: not a valid zip file (truncated or corrupt): {error}") from None
    candidates = sorted(
        (n for n in names if n.rsplit("/", 1)[-1] == "ratings.csv"), key=lambda n: n.count("/")
    )
    if not candidates:
        raise DataError(f"{path}: the zip holds no ratings.csv (expected the goodbooks-10k release zip)")
    ratings = candidates[0]
    books = ratings[: -len("ratings.csv")] + "books.csv"
    if books not in names:
        raise DataError(f"{path}: the zip has {ratings} but no {books} beside it")
    return _Files(ratings, books, path, (path,))


def _cache_key(source: DataSource, files: _Files) -> str:
    """SHA-256 over the source files' bytes and every option that changes the parse."""
    digest = hashlib.sha256()
    for path in files.hashed:
        try:
            with open(path, "rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
        except OSError as error:
            raise DataError(f"{path}: cannot be read: {error.strerror}") from None
    options = {
        "format": CACHE_FORMAT,
        "goodbooks": source.is_goodbooks,
        "members": [files.ratings if files.archive else "", files.books if files.archive else ""],
        "cols": [source.user_col, source.item_col, source.rating_col],
        "sep": source.sep,
        "encoding": source.encoding,
        "limit": source.limit,
        "scale": source.rating_scale,
        "synthetic": _is_synthetic(files),
    }
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _parse(source: DataSource, files: _Files, key: str) -> Dataset:
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
    users, items, values = _read_ratings(raw, label, cols, source.sep, source.encoding, source.limit)
    scale = _rating_scale(source, values, label, cols[2])
    books = None
    if files.books is not None:
        id_col = "book_id" if source.is_goodbooks else source.item_col
        books = _read_books(files.open_bytes(files.books), files.label(files.books), id_col, source)
    name = str(
        files.archive or (Path(files.ratings) if not source.is_goodbooks else Path(files.ratings).parent)
    )
    if source.limit is not None:
        name += f" (first {source.limit:,} ratings)"
    dataset = _assemble(users, items, values, scale, books, name, key)
    return replace(dataset, synthetic=_is_synthetic(files))


def _is_synthetic(files: _Files) -> bool:
    """Whether a folder was written by ``bookrec synth`` (its README.txt starts with the marker)."""
    if files.archive is not None:
        return False
    readme = Path(files.ratings).parent / "README.txt"
    try:
        with open(readme, encoding="utf-8", errors="replace") as handle:
            return handle.read(200).startswith(SYNTHETIC_MARKER)
    except OSError:
        return False


def _assemble(
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    scale: tuple[float, float],
    books: pd.DataFrame | None,
    name: str,
    key: str,
) -> Dataset:
    """Factorize ids, drop duplicate pairs (keeping the last), and attach the books table."""
    rows_read = int(values.shape[0])
    user_map, user_idx = IdMap.factorize(users)
    book_map, book_idx = IdMap.factorize(items)
    pair = user_idx.astype(np.int64) * max(1, len(book_map)) + book_idx
    repeated = pd.Series(pair).duplicated(keep="last").to_numpy()
    n_duplicates = int(repeated.sum())
    if n_duplicates:
        keep = ~repeated
        user_idx, book_idx, values = user_idx[keep], book_idx[keep], values[keep]
    counts = np.bincount(book_idx, minlength=len(book_map))
    table, unknown = _books_for(book_map, counts, books)
    return Dataset(
        user_idx=np.ascontiguousarray(user_idx, dtype=np.int32),
        book_idx=np.ascontiguousarray(book_idx, dtype=np.int32),
        rating=np.ascontiguousarray(values, dtype=np.float32),
        users=user_map,
        books=book_map,
        rating_min=float(scale[0]),
        rating_max=float(scale[1]),
        books_table=table,
        name=name,
        source_hash=key,
        report=LoadReport(rows_read=rows_read, duplicates_dropped=n_duplicates, unknown_books=unknown),
    )


def _first_line(raw: bytes | Path, label: str, encoding: str) -> str:
    try:
        if isinstance(raw, Path):
            with open(raw, encoding=encoding, newline="") as handle:
                return handle.readline()
        return raw[: raw.find(b"\n") + 1 if b"\n" in raw else len(raw)].decode(encoding)
    except UnicodeDecodeError:
        raise DataError(
            f"{label}, line 1: not valid {encoding} text; pass --encoding with the file's encoding "
            "(e.g. latin-1)"
        ) from None
    except OSError as error:
        raise DataError(f"{label}: cannot be read: {error.strerror}") from None


def _header(raw: bytes | Path, label: str, sep: str, encoding: str) -> list[str]:
    line = _first_line(raw, label, encoding).lstrip("\ufeff").strip("\r\n")
    if not line.strip():
        raise DataError(f"{label}: the file is empty; expected a header line and one rating per line")
    return next(csv.reader([line], delimiter=sep))


def _read_ratings(
    raw: bytes | Path, label: str, cols: tuple[str, str, str], sep: str, encoding: str, limit: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    header = _header(raw, label, sep, encoding)
    missing = [c for c in cols if c not in header]
    if missing:
        found = ", ".join(header) if len(header) > 1 else f"{header[0]!r} (is --sep right?)"
        raise DataError(
            f"{label}: no column {missing[0]!r}; the header has {found}; expected {','.join(cols)} "
            "(name other columns with --user-col, --item-col, --rating-col)"
        )
    source = pa.BufferReader(raw) if isinstance(raw, bytes) else str(raw)
    try:
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(cols), column_types={cols[2]: pa.float64()}, strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as error:
        raise _diagnose(raw, label, cols, sep, encoding, error) from None
    if limit is not None:
        table = table.slice(0, limit)
    if table.num_rows == 0:
        raise DataError(f"{label}: has a header but no ratings")
    for col in cols:
        column = table.column(col)
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{label}, line {row + 2}: field {col!r} is empty")
    values = table.column(cols[2]).to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{label}, line {row + 2}: field {cols[2]!r} is {values[row]}, expected a finite number"
        )
    return _ids(table, cols[0], label), _ids(table, cols[1], label), values


def _ids(table: pa.Table, col: str, label: str) -> np.ndarray:
    column = table.column(col)
    if pa.types.is_integer(column.type):
        return column.to_numpy().astype(np.int64, copy=False)
    if pa.types.is_floating(column.type):
        values = column.to_numpy()
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
        row = int(np.flatnonzero(values != np.round(values))[0])
        raise DataError(f"{label}, line {row + 2}: field {col!r} is {values[row]}, expected an id")
    return column.cast(pa.string()).to_numpy(zero_copy_only=False).astype(str)


def _diagnose(
    raw: bytes | Path, label: str, cols: tuple[str, str, str], sep: str, encoding: str, error: Exception
) -> DataError:
    """Find the first bad line with a slow, exact scan (runs only after the fast parser failed)."""
    data = raw if isinstance(raw, bytes) else Path(raw).read_bytes()
    lines = io.BytesIO(data)
    header = next(csv.reader([lines.readline().decode(encoding, "replace").lstrip("\ufeff")], delimiter=sep))
    positions = [header.index(c) for c in cols]
    for number, line_bytes in enumerate(lines, start=2):
        try:
            line = line_bytes.decode(encoding)
        except UnicodeDecodeError:
            return DataError(
                f"{label}, line {number}: not valid {encoding} text; pass --encoding with the file's "
                "encoding (e.g. latin-1)"
            )
        if not line.strip():
            continue
        fields = next(csv.reader([line], delimiter=sep))
        if len(fields) != len(header):
            return DataError(
                f"{label}, line {number}: {len(fields)} fields, expected {len(header)} as in the header"
            )
        rating = fields[positions[2]].strip()
        try:
            float(rating)
        except ValueError:
            shown = repr(rating) if rating else "empty"
            return DataError(f"{label}, line {number}: field {cols[2]!r} is {shown}, expected a number")
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return DataError(f"{label}: cannot be parsed as CSV: {first}")


def _rating_scale(source: DataSource, values: np.ndarray, label: str, col: str) -> tuple[float, float]:
    if source.rating_scale is not None:
        scale = source.rating_scale
    elif source.is_goodbooks:
        scale = GOODBOOKS_SCALE
    else:
        return (float(values.min()), float(values.max()))
    outside = (values < scale[0]) | (values > scale[1])
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"{label}, line {row + 2}: field {col!r} is {_format_value(values[row])}, "
            f"outside the rating scale {_format_value(scale[0])}-{_format_value(scale[1])}"
        )
    return (float(scale[0]), float(scale[1]))


def _read_books(raw: bytes | Path, label: str, id_col: str, source: DataSource) -> pd.DataFrame:
    header = _header(raw, label, source.sep, source.encoding)
    id_column = id_col if id_col in header else next((c for c in _ID_COLUMNS if c in header), None)
    if id_column is None:
        raise DataError(f"{label}: no book id column {id_col!r}; the header has {', '.join(header)}")
    handle = io.BytesIO(raw) if isinstance(raw, bytes) else raw
    try:
        frame = pd.read_csv(
            handle,
            sep=source.sep,
            encoding=source.encoding,
            dtype={id_column: str},
            keep_default_na=True,
            on_bad_lines="error",
            engine="python" if len(source.sep) == 1 and source.sep not in ",;\t|" else "c",
        )
    except UnicodeDecodeError:
        raise DataError(
            f"{label}: not valid {source.encoding} text; pass --encoding with its encoding (e.g. latin-1)"
        ) from None
    except (pd.errors.ParserError, ValueError) as error:
        raise DataError(f"{label}: cannot be parsed as CSV: {str(error).splitlines()[0]}") from None
    return frame.rename(columns={id_column: "book_id"})


def _pick(frame: pd.DataFrame, names: Sequence[str]) -> pd.Series | None:
    for name in names:
        if name in frame.columns:
            return frame[name]
    return None


def _books_for(book_map: IdMap, counts: np.ndarray, books: pd.DataFrame | None) -> tuple[pd.DataFrame, int]:
    """One metadata row per book position; rated books missing from the books file get a placeholder."""
    n = len(book_map)
    table = pd.DataFrame({"book_id": book_map.ids})
    if books is None or books.empty:
        meta = pd.DataFrame(index=range(n))
        found = np.zeros(n, dtype=bool)
    else:
        keyed = books.drop_duplicates("book_id", keep="first")
        ids = keyed["book_id"].astype(str).str.strip()
        if book_map.is_numeric:
            ids = pd.to_numeric(ids, errors="coerce")
        position = book_map.index_of(ids.to_numpy()) if len(ids) else np.zeros(0, dtype=np.int64)
        keyed = keyed.assign(_pos=position)
        keyed = keyed[keyed["_pos"] >= 0].set_index("_pos").reindex(range(n))
        meta = keyed
        found = keyed["book_id"].notna().to_numpy()
    title = _pick(meta, _TITLE_COLUMNS[:1])
    original = _pick(meta, _TITLE_COLUMNS[1:])
    titles = pd.Series([None] * n, dtype=object) if title is None else title.astype(object)
    if original is not None:
        titles = titles.where(titles.notna() & (titles.astype(str).str.strip() != ""), original)
    placeholder = pd.Series([f"Book {i}" for i in book_map.ids], dtype=object)
    table["title"] = titles.where(titles.notna(), placeholder).astype(str).to_numpy()
    authors = _pick(meta, _AUTHOR_COLUMNS)
    table["authors"] = "" if authors is None else authors.fillna("").astype(str).to_numpy()
    year = _pick(meta, _YEAR_COLUMNS)
    years = pd.to_numeric(year, errors="coerce") if year is not None else pd.Series([np.nan] * n)
    table["year"] = pd.array(np.where(np.isfinite(years), np.round(years), np.nan), dtype="Float64").astype(
        "Int64"
    )
    average = _pick(meta, ("average_rating",))
    table["average_rating"] = (
        np.full(n, np.nan)
        if average is None
        else pd.to_numeric(average, errors="coerce").to_numpy(dtype=float)
    )
    popularity = _pick(meta, ("ratings_count",))
    table["ratings_count"] = (
        np.zeros(n, dtype=np.int64)
        if popularity is None
        else pd.to_numeric(popularity, errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    )
    table["n_ratings"] = counts.astype(np.int64)
    for column, names in (("image_url", _IMAGE_COLUMNS), ("small_image_url", _SMALL_IMAGE_COLUMNS)):
        values = _pick(meta, names)
        table[column] = "" if values is None else values.fillna("").astype(str).to_numpy()
    goodreads = _pick(meta, ("goodreads_book_id",))
    if goodreads is None:
        table["goodreads_url"] = ""
    else:
        numbers = pd.to_numeric(goodreads, errors="coerce")
        table["goodreads_url"] = [
            GOODREADS_BOOK_URL.format(int(v)) if np.isfinite(v) else "" for v in numbers.to_numpy(dtype=float)
        ]
    unknown = int(n - found.sum()) if books is not None else 0
    return table[BOOK_COLUMNS], unknown


# --- the columnar cache --------------------------------------------------------------------------------

_ARRAYS = ("user_idx", "book_idx", "rating", "user_ids", "book_ids")


def _read_cache(folder: Path) -> Dataset | None:
    """The cached dataset, or None when absent or unreadable (then it is rebuilt, never trusted)."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != CACHE_FORMAT:
            return None
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
        books = pq.read_table(folder / "books.parquet").to_pandas()
        n = arrays["rating"].shape[0]
        if arrays["user_idx"].shape[0] != n or arrays["book_idx"].shape[0] != n or n != meta["ratings"]:
            return None
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None
    return Dataset(
        user_idx=arrays["user_idx"],
        book_idx=arrays["book_idx"],
        rating=arrays["rating"],
        users=IdMap(arrays["user_ids"]),
        books=IdMap(arrays["book_ids"]),
        rating_min=meta["rating_min"],
        rating_max=meta["rating_max"],
        books_table=books,
        name=meta["name"],
        source_hash=meta["source_hash"],
        report=LoadReport(**meta["report"]),
        synthetic=bool(meta.get("synthetic", False)),
    )


def _write_cache(dataset: Dataset, folder: Path) -> None:
    """Write the cache into a temporary folder, then rename it into place: never half-written."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError:
        return  # a read-only cache folder only costs speed
    try:
        arrays = {
            "user_idx": dataset.user_idx,
            "book_idx": dataset.book_idx,
            "rating": dataset.rating,
            "user_ids": dataset.users.ids,
            "book_ids": dataset.books.ids,
        }
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", array, allow_pickle=False)
        table = dataset.books_table.copy()
        table["year"] = table["year"].astype("Int64")
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), staging / "books.parquet")
        meta = {
            "format": CACHE_FORMAT,
            "ratings": dataset.n_ratings,
            "rating_min": dataset.rating_min,
            "rating_max": dataset.rating_max,
            "name": dataset.name,
            "source_hash": dataset.source_hash,
            "synthetic": dataset.synthetic,
            "report": {
                "rows_read": dataset.report.rows_read,
                "duplicates_dropped": dataset.report.duplicates_dropped,
                "unknown_books": dataset.report.unknown_books,
            },
        }
        (staging / "meta.json").write_text(json.dumps(meta))
        ordinary_permissions(staging)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    except OSError:
        pass
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
