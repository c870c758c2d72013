"""Reading a ratings CSV: pyarrow's fast multi-threaded parser, and an exact diagnosis when it fails.

pyarrow's errors name neither the line nor the field, so after a failure ``_diagnose`` scans the file again
with the standard csv module, slowly but exactly, and names the first line and field at fault.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bookrec.errors import DataError


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
    """The column names of a CSV (a file, or the bytes of a zip member); DataError when it is empty."""
    line = _first_line(raw, label, encoding).lstrip("\ufeff").strip("\r\n")
    if not line.strip():
        raise DataError(f"{label}: the file is empty; expected a header line and one rating per line")
    return next(csv.reader([line], delimiter=sep))


def _read_ratings(
    raw: bytes | Path, label: str, cols: tuple[str, str, str], sep: str, encoding: str, limit: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (reader id, book id, rating) columns ``cols`` of a ratings CSV, in file order.

    Raises:
        DataError: One line naming the file, and the line and field at fault where there is one.
    """
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
