"""Reading a ratings file in chunks, straight into the arrays a ``Dataset`` keeps: little memory per row.

Parsing the whole file into one table and factorizing it after held the raw table, its numpy copies, the
factorized codes and a hash table at once: about 96 bytes per rating at the peak (4.6 GB for 48 million
ratings). Here pyarrow parses one block at a time (``pyarrow.csv.open_csv`` for CSV, ``iter_batches`` for
Parquet) and each block goes straight into three growing arrays, int32 / int32 / float32, the 12 bytes a
rating keeps; a block's raw columns are dropped before the next is parsed.

Ids become positions without the raw table: whole-number ids that fit in 32 bits are kept as they are in
the int32 array and turned into positions in place at the end (a lookup table over the ids' range when it is
dense, a sorted copy of the distinct ids otherwise); other ids (text such as ISBNs, or huge numbers) are
dictionary-encoded block by block, and the blocks' dictionaries merged at the end. Either way the ids are
sorted, as ``IdMap.factorize`` sorts them, so a chunked load and an eager one give the same arrays and the
same ``source_hash``.

Checks and messages are those of the eager reader (``_csv``): an empty field or a non-finite rating names its
line; the first rating outside the scale is reported only after the whole file parsed, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bookrec.data._csv import _diagnose, _header
from bookrec.data.ids import IdMap
from bookrec.errors import DataError

__all__ = ["LoadProgress"]

LoadProgress = Callable[[int, int], None]
"""A progress callback, ``progress(done, total)``: bytes of the file parsed so far (rows for Parquet), called
after each block. The command line draws a bar from it; the library draws nothing."""

BLOCK_SIZE = 1 << 20
"""Bytes pyarrow parses at a time (1 MiB, about 75,000 goodbooks rows). Measured on 24M ratings (2 busy
cores): 16 MiB blocks kept up to 364 MB inside pyarrow at once (15 bytes a rating), 4 MiB 166 MB, 1 MiB
41 MB, and 1 MiB parsed no slower; pyarrow's threads (read-ahead) added memory and no speed there. Types
are still unified across blocks as the eager reader did (see ``_csv_batches``)."""

_SLICE = 1 << 22  # rows remapped at a time: bounds the temporaries of the final id-to-position pass
_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (\w+): invalid value '(.*)'"
)


@dataclass(frozen=True, eq=False)
class ParsedRatings:
    """A ratings file's ratings in file order, ids already positions (duplicates not yet dropped).

    Attributes:
        users: Reader ids by position.
        user_idx: Each rating's reader position (int32).
        books: Book ids by position.
        book_idx: Each rating's book position (int32).
        rating: The ratings (float32).
        scale: (min, max) of the rating scale: the one asked for, or the data's own range.
    """

    users: IdMap
    user_idx: np.ndarray
    books: IdMap
    book_idx: np.ndarray
    rating: np.ndarray
    scale: tuple[float, float]

    @property
    def rows_read(self) -> int:
        """Rating rows read (after ``limit``)."""
        return int(self.rating.shape[0])


class _Growing:
    """A 1-D array that grows by half when full; untouched capacity costs address space, not memory."""

    def __init__(self, dtype: type, capacity: int) -> None:
        self.data = np.empty(max(1, capacity), dtype=dtype)
        self.n = 0

    def append(self, values: np.ndarray) -> None:
        end = self.n + values.shape[0]
        if end > self.data.shape[0]:
            grown = np.empty(max(end, self.data.shape[0] * 3 // 2), dtype=self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : end] = values
        self.n = end

    def view(self) -> np.ndarray:
        return self.data[: self.n]


class _IdCodes:
    """One id column turned into int32 codes block by block; ``finish`` makes them positions in sorted ids.

    Whole-number ids within int32 are stored as themselves (mode "int"); any other ids are stored as slots in
    the concatenation of the blocks' dictionaries (mode "dict"), whose distinct values ``finish`` sorts.
    """

    def __init__(self, capacity: int) -> None:
        self.codes = _Growing(np.int32, capacity)
        self.mode = "int"
        self.low, self.high = np.iinfo(np.int64).max, np.iinfo(np.int64).min
        self.uniques: list[np.ndarray] = []
        self.n_slots = 0

    def add(self, column: pa.Array | pa.ChunkedArray, where: Callable[[int], str], name: str) -> None:
        if pa.types.is_floating(column.type):
            values = column.to_numpy(zero_copy_only=False)
            whole = values == np.round(values)
            if not whole.all():
                row = int(np.flatnonzero(~whole)[0])
                raise DataError(f"{where(row)}: field {name!r} is {values[row]}, expected an id")
            column = pa.array(values.astype(np.int64))
        if pa.types.is_integer(column.type):
            self.add_ints(column.to_numpy(zero_copy_only=False))
            return
        if self.mode == "int":
            self._to_dict()
        encoded = pc.dictionary_encode(pc.cast(column, pa.string()))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        self._add_slots(codes, encoded.dictionary.to_numpy(zero_copy_only=False).astype(str))

    def add_ints(self, values: np.ndarray) -> None:
        """Add a block of whole-number ids."""
        values = values.astype(np.int64, copy=False)
        if self.mode == "int" and values.size:
            low, high = int(values.min()), int(values.max())
            if low >= np.iinfo(np.int32).min and high <= np.iinfo(np.int32).max:
                self.low, self.high = min(self.low, low), max(self.high, high)
                self.codes.append(values.astype(np.int32))
                return
            self._to_dict()
        if self.mode == "dict":
            codes, uniques = pd.factorize(values)
            self._add_slots(codes, uniques)

    def _add_slots(self, codes: np.ndarray, uniques: np.ndarray) -> None:
        self.codes.append((codes + self.n_slots).astype(np.int32))
        self.uniques.append(np.asarray(uniques))
        self.n_slots += len(uniques)

    def _to_dict(self) -> None:
        """Turn the ints stored so far into slots of one dictionary (their sorted distinct values)."""
        self.mode = "dict"
        stored = self.codes.view()
        if stored.size:
            ids = np.unique(stored).astype(np.int64)
            _remap(stored, lambda part: np.searchsorted(ids, part))
            self.uniques.append(ids)
            self.n_slots = len(ids)

    def finish(self) -> tuple[IdMap, np.ndarray]:
        codes = self.codes.view()
        if self.mode == "dict":
            merged = np.concatenate(self.uniques) if self.uniques else np.zeros(0, dtype=np.int64)
            position, ids = pd.factorize(merged, sort=True)
            ids = np.asarray(ids)
            ids = ids.astype(str) if ids.dtype.kind in "OUS" else ids.astype(np.int64)
            position = position.astype(np.int32)
            _remap(codes, lambda part: position[part])
            return IdMap(ids), codes
        if codes.size == 0:
            return IdMap(np.zeros(0, dtype=np.int64)), codes
        span = self.high - self.low + 1
        if span <= max(2 * codes.size, 1 << 20):  # dense ids (goodbooks, MovieLens, UCSD): a lookup table
            present = np.zeros(span, dtype=bool)
            for start in range(0, codes.size, _SLICE):
                present[codes[start : start + _SLICE] - self.low] = True
            lookup = np.cumsum(present, dtype=np.int32) - 1
            ids = np.flatnonzero(present).astype(np.int64) + self.low
            del present
            _remap(codes, lambda part: lookup[part - self.low])
            return IdMap(ids), codes
        ids = np.unique(codes).astype(np.int64)  # sparse ids: a sorted copy of the distinct ones
        _remap(codes, lambda part: np.searchsorted(ids, part))
        return IdMap(ids), codes


def _remap(codes: np.ndarray, function: Callable[[np.ndarray], np.ndarray]) -> None:
    """Replace ``codes`` in place by ``function`` of them, a slice at a time (small temporaries)."""
    for start in range(0, codes.size, _SLICE):
        part = codes[start : start + _SLICE]
        part[:] = function(part)


class _Checker:
    """The eager reader's checks, block by block: empty fields, non-finite ratings, the scale at the end."""

    def __init__(self, cols: tuple[str, str, str], scale: tuple[float, float] | None) -> None:
        self.cols = cols
        self.scale = scale
        self.low, self.high = np.inf, -np.inf
        self.outside: tuple[int, float] | None = None

    def check(self, batch: pa.RecordBatch, offset: int, where: Callable[[int], str]) -> np.ndarray:
        """The block's ratings as float64, after its checks (DataError naming the line at fault)."""
        for col in self.cols:
            column = batch.column(col)
            if column.null_count:
                row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
                raise DataError(f"{where(offset + row)}: field {col!r} is empty")
        values = batch.column(self.cols[2]).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{where(offset + row)}: field {self.cols[2]!r} is {values[row]}, expected a finite number"
            )
        if values.size:
            self.low, self.high = min(self.low, float(values.min())), max(self.high, float(values.max()))
        if self.scale is not None and self.outside is None:
            outside = (values < self.scale[0]) | (values > self.scale[1])
            if outside.any():
                row = int(np.flatnonzero(outside)[0])
                self.outside = (offset + row, float(values[row]))
        return values

    def final_scale(self, where: Callable[[int], str]) -> tuple[float, float]:
        if self.outside is not None and self.scale is not None:
            from bookrec.data.dataset import _format_value

            row, value = self.outside
            raise DataError(
                f"{where(row)}: field {self.cols[2]!r} is {_format_value(value)}, outside the rating scale "
                f"{_format_value(self.scale[0])}-{_format_value(self.scale[1])}"
            )
        if self.scale is not None:
            return (float(self.scale[0]), float(self.scale[1]))
        return (self.low, self.high)


def read_ratings_chunked(
    raw: bytes | Path,
    label: str,
    cols: tuple[str, str, str],
    sep: str,
    encoding: str,
    limit: int | None,
    scale: tuple[float, float] | None,
    progress: LoadProgress | None = None,
) -> ParsedRatings:
    """The (reader, book, rating) columns ``cols`` of a ratings CSV or Parquet file, a block at a time.

    Args:
        raw: The file, or the bytes of a zip member.
        label: The file's name for messages.
        cols: Reader id, book id and rating column names.
        sep: CSV field separator.
        encoding: CSV text encoding.
        limit: Keep only the first ``limit`` rows.
        scale: The rating scale to check against; None takes the data's own range.
        progress: Called after each block with (done, total).

    Raises:
        DataError: One line naming the file, and the line and field at fault where there is one.
    """
    types: dict[str, pa.DataType] = {cols[2]: pa.float64()}
    while True:
        try:
            return _read_once(raw, label, cols, sep, encoding, limit, scale, progress, types)
        except _Restart as restart:  # an id column's type changed after the first block: read it again
            types.update(restart.types)


def _read_once(
    raw: bytes | Path,
    label: str,
    cols: tuple[str, str, str],
    sep: str,
    encoding: str,
    limit: int | None,
    scale: tuple[float, float] | None,
    progress: LoadProgress | None,
    types: dict[str, pa.DataType],
) -> ParsedRatings:
    if _is_parquet(raw):
        batches, total, where = _parquet_batches(raw, label, cols)
    else:
        _check_header(raw, label, cols, sep, encoding)
        batches, total = _csv_batches(raw, label, cols, sep, encoding, types), _size(raw)
        where = _line(label)
    capacity = _capacity(raw, total, limit)
    users, books = _IdCodes(capacity), _IdCodes(capacity)
    ratings = _Growing(np.float32, capacity)
    checker = _Checker(cols, scale)
    offset = 0
    for batch, done in batches:
        if limit is not None and offset + batch.num_rows > limit:
            batch = batch.slice(0, limit - offset)
        values = checker.check(batch, offset, where)
        users.add(batch.column(cols[0]), lambda row, o=offset: where(o + row), cols[0])
        books.add(batch.column(cols[1]), lambda row, o=offset: where(o + row), cols[1])
        ratings.append(values.astype(np.float32))
        offset += batch.num_rows
        del batch, values
        if progress is not None:
            progress(min(done, total), total)
        if limit is not None and offset >= limit:
            break
    if offset == 0:
        raise DataError(f"{label}: has a header but no ratings")
    final_scale = checker.final_scale(where)
    del batches
    pa.default_memory_pool().release_unused()  # the parser's freed blocks, before the ids are remapped
    user_map, user_idx = users.finish()
    book_map, book_idx = books.finish()
    return ParsedRatings(user_map, user_idx, book_map, book_idx, ratings.view(), final_scale)


def _line(label: str) -> Callable[[int], str]:
    return lambda row: f"{label}, line {row + 2}"


def _size(raw: bytes | Path) -> int:
    return len(raw) if isinstance(raw, bytes) else Path(raw).stat().st_size


def _capacity(raw: bytes | Path, total: int, limit: int | None) -> int:
    """A first guess of the rows: exact for Parquet, else the most a CSV of this size can hold (6+ bytes a
    row), which costs only address space: pages never written are never resident."""
    rows = total if _is_parquet(raw) else _size(raw) // 6 + 1
    return min(rows, limit) if limit is not None else rows


def _check_header(raw: bytes | Path, label: str, cols: tuple[str, str, str], sep: str, encoding: str) -> None:
    header = _header(raw, label, sep, encoding)
    missing = [c for c in cols if c not in header]
    if missing:
        found = ", ".join(header) if len(header) > 1 else f"{header[0]!r} (is --sep right?)"
        raise DataError(
            f"{label}: no column {missing[0]!r}; the header has {found}; expected {','.join(cols)} "
            "(name other columns with --user-col, --item-col, --rating-col)"
        )


def _csv_batches(
    raw: bytes | Path,
    label: str,
    cols: tuple[str, str, str],
    sep: str,
    encoding: str,
    types: dict[str, pa.DataType],
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """The CSV's blocks with the bytes read so far.

    pyarrow's streaming reader fixes each column's type from the first block, where the eager one unified
    the blocks' types; so on a conversion error in an id column the read starts over with that column typed
    as the eager reader would have unified it (double, or text).
    """
    header = _header(raw, label, sep, encoding)
    types = dict(types)
    while True:
        stream = pa.BufferReader(raw) if isinstance(raw, bytes) else pa.OSFile(str(raw))
        rows = 0
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(encoding=encoding, block_size=BLOCK_SIZE, use_threads=False),
                parse_options=pacsv.ParseOptions(delimiter=sep),
                convert_options=pacsv.ConvertOptions(
                    include_columns=list(cols), column_types=types, strings_can_be_null=True
                ),
            )
            for batch in reader:
                rows += batch.num_rows
                yield batch, stream.tell()
            return
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as error:
            retyped = _unified_type(str(error), header, cols, types)
            if retyped is None:
                raise _diagnose(raw, label, cols, sep, encoding, error) from None
            types.update(retyped)
            if rows:
                raise _Restart(types) from None
        except OSError as error:
            raise DataError(f"{label}: cannot be read: {error}") from None
        finally:
            stream.close()


class _Restart(Exception):
    """An id column changed type after some blocks were taken: the caller starts over with ``types``."""

    def __init__(self, types: dict[str, pa.DataType]) -> None:
        super().__init__(types)
        self.types = types


def _unified_type(
    message: str, header: list[str], cols: tuple[str, str, str], types: dict[str, pa.DataType]
) -> dict[str, pa.DataType] | None:
    """The type pyarrow's eager reader would have unified an id column to, from a streaming conversion
    error ("In CSV column #0: CSV conversion error to int64: invalid value 'x1'"); None for other errors."""
    match = _CONVERSION.search(message)
    if match is None or int(match.group(1)) >= len(header):
        return None
    name = header[int(match.group(1))]
    if name not in cols[:2] or types.get(name) == pa.string():
        return None
    try:
        float(match.group(3))
        numeric = match.group(2) != "double"
    except ValueError:
        numeric = False
    return {name: pa.float64() if numeric else pa.string()}


def _is_parquet(raw: bytes | Path) -> bool:
    if isinstance(raw, bytes):
        return raw[:4] == b"PAR1"
    try:
        with open(raw, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False


def _parquet_batches(
    raw: bytes | Path, label: str, cols: tuple[str, str, str]
) -> tuple[Iterator[tuple[pa.RecordBatch, int]], int, Callable[[int], str]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(raw) if isinstance(raw, bytes) else str(raw))
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{label}: not a readable Parquet file: {str(error).splitlines()[0]}") from None
    names = parquet.schema_arrow.names
    missing = [c for c in cols if c not in names]
    if missing:
        raise DataError(
            f"{label}: no column {missing[0]!r}; the file has {', '.join(names)}; expected {','.join(cols)} "
            "(name other columns with --user-col, --item-col, --rating-col)"
        )
    total = parquet.metadata.num_rows

    def batches() -> Iterator[tuple[pa.RecordBatch, int]]:
        done = 0
        try:
            for batch in parquet.iter_batches(batch_size=1 << 20, columns=list(cols)):
                done += batch.num_rows
                rating = batch.column(cols[2])
                if not pa.types.is_floating(rating.type) and not pa.types.is_integer(rating.type):
                    raise DataError(f"{label}: column {cols[2]!r} holds {rating.type}, expected numbers")
                yield batch, done
        except (pa.ArrowException, OSError) as error:
            raise DataError(f"{label}: cannot be read as Parquet: {str(error).splitlines()[0]}") from None

    return batches(), total, lambda row: f"{label}, row {row + 1}"
