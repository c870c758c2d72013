"""A CSV's header, and an exact diagnosis when pyarrow's parser fails (the parsing itself is in ``_chunks``).

pyarrow's errors name neither the line nor the field, so after a failure ``_diagnose`` scans the file again
with the standard csv module, slowly but exactly, and names the first line and field at fault.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

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


def read_columns(raw: bytes | Path, label: str, columns: dict[str, pa.DataType], expected: str) -> pa.Table:
    """The named columns of a small side file (to_read.csv, tags.csv, book_tags.csv) with their types.

    Raises:
        DataError: One line: ``"{label}: expected {expected} (pyarrow's reason)"``, or the file is unreadable.
    """
    source = pa.BufferReader(raw) if isinstance(raw, bytes) else str(raw)
    try:
        return pacsv.read_csv(
            source,
            convert_options=pacsv.ConvertOptions(include_columns=list(columns), column_types=columns),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError, KeyError) as error:
        raise DataError(f"{label}: expected {expected} ({str(error).splitlines()[0]})") from None
    except OSError as error:
        raise DataError(f"{label}: cannot be read: {error}") from None
