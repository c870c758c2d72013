"""A per-reader hold-out of a ratings file, written as two files anyone can rerun an evaluation on.

``split_ratings_file`` reads any ratings CSV as text (every field kept as written), holds out a share of
each reader's ratings and writes ``train.csv`` and ``heldout.csv`` with the file's own header and columns,
rows in the file's order. The protocol, in full:

- readers with fewer than ``min_ratings`` ratings go wholly to train;
- every other reader with n ratings holds out ``round(holdout * n)`` of them (Python's ``round``: halves to
  even), at least 1 and at most n - 1, so each keeps a training history;
- ``by="random"``: those ratings are drawn by a generator seeded with ``seed`` (one uniform number per row
  of the file, lowest first); ``by="time"``: they are the reader's latest by the time column, ties and
  files without one going by file order (a later row is later; goodbooks' ratings.csv is in time order).

The same file, settings and seed give the same two files. ``holdout_rows`` is the rule on arrays.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bookrec._files import ordinary_permissions
from bookrec.errors import ConfigError, DataError

__all__ = ["HOLDOUT_FILES", "HoldoutReport", "holdout_rows", "split_ratings_file"]

HOLDOUT_FILES = ("train.csv", "heldout.csv")
"""The two files ``split_ratings_file`` writes, in its output folder."""

_TIME_COL = "timestamp"  # taken as the time column when the file has one and none is named


@dataclass(frozen=True)
class HoldoutReport:
    """What ``split_ratings_file`` wrote.

    Attributes:
        train: The training file.
        heldout: The held-out file.
        train_rows: Ratings in ``train``.
        heldout_rows: Ratings in ``heldout``.
        n_users: Readers in the ratings file.
        heldout_users: Readers with held-out ratings.
        train_only_users: Readers with fewer than ``min_ratings`` ratings, wholly in train.
        holdout: Share of each reader's ratings held out.
        by: "random" or "time".
        seed: Seed of the random draw (recorded for ``by="time"`` too, where it plays no part).
        time_col: The time column ordering ``by="time"``; None for file order (and for ``by="random"``).
        min_ratings: Readers with fewer ratings stay wholly in train.
    """

    train: Path
    heldout: Path
    train_rows: int
    heldout_rows: int
    n_users: int
    heldout_users: int
    train_only_users: int
    holdout: float
    by: str
    seed: int
    time_col: str | None
    min_ratings: int

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (paths as strings)."""
        values = asdict(self)
        values.update(train=str(self.train), heldout=str(self.heldout))
        return values


def _check_settings(holdout: float, by: str, min_ratings: int) -> None:
    if not 0.0 < holdout < 1.0:
        raise ConfigError(
            f"--holdout must be above 0 and below 1 (a share of each reader's ratings), got {holdout}"
        )
    if by not in ("random", "time"):
        raise ConfigError(f"--by must be random or time, got {by!r}")
    if min_ratings < 2:
        raise ConfigError(
            f"--min-ratings must be at least 2, so each reader keeps a rating, got {min_ratings}"
        )


def holdout_rows(
    user_codes: np.ndarray,
    holdout: float = 0.2,
    *,
    by: str = "random",
    seed: int = 42,
    time: np.ndarray | None = None,
    min_ratings: int = 5,
) -> np.ndarray:
    """Which rows the protocol holds out (see the module's docstring), as a boolean mask.

    Args:
        user_codes: Each row's reader, as a code 0..n_users-1 (``pd.factorize`` of the reader ids).
        holdout: Share of each reader's ratings held out, above 0 and below 1.
        by: "random" (seeded) or "time" (each reader's latest).
        seed: Seed of the random draw.
        time: For ``by="time"``, each row's time (any orderable numbers); None orders by row.
        min_ratings: Readers with fewer ratings hold nothing out; at least 2.
    """
    _check_settings(holdout, by, min_ratings)
    codes = np.asarray(user_codes, dtype=np.int64)
    n_rows = codes.size
    counts = np.bincount(codes) if n_rows else np.zeros(0, dtype=np.int64)
    # np.rint rounds halves to even, as Python's round does.
    held_per_reader = np.clip(np.rint(holdout * counts).astype(np.int64), 1, np.maximum(counts - 1, 1))
    held_per_reader[counts < min_ratings] = 0
    row = np.arange(n_rows)
    # Each reader's rows in the order they are held out (lexsort: the last key sorts first).
    if by == "random":
        draw = np.random.default_rng(seed).random(n_rows)
        order = np.lexsort((row, draw, codes))  # lowest draw first
    else:
        when = row if time is None else np.asarray(time)
        order = np.lexsort((-row, -when, codes))  # latest first; between equal times, the later row
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(n_rows, dtype=np.int64)
    rank[order] = row - starts[codes[order]]
    return rank < held_per_reader[codes]


def split_ratings_file(
    ratings: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    holdout: float = 0.2,
    by: str = "random",
    seed: int = 42,
    user_col: str = "user_id",
    item_col: str = "book_id",
    rating_col: str = "rating",
    time_col: str | None = None,
    sep: str = ",",
    encoding: str = "utf-8",
    min_ratings: int = 5,
) -> HoldoutReport:
    """Hold out a share of each reader's ratings of a CSV and write ``out/train.csv`` and ``out/heldout.csv``.

    Both files keep the ratings file's header, columns and field text, rows in the file's order. Each is
    written to a temporary file in ``out`` and renamed into place, so neither is ever half written.

    Args:
        ratings: The ratings CSV.
        out: The folder to write; created if needed. It may hold earlier train.csv and heldout.csv
            (replaced), nothing else.
        holdout: Share of each reader's ratings held out, above 0 and below 1.
        by: "random" (seeded) or "time" (each reader's latest).
        seed: Seed of the random draw.
        user_col: Reader id column.
        item_col: Book id column.
        rating_col: Rating column (checked to hold numbers, so both files load).
        time_col: For ``by="time"``: the column ordering ratings in time (numbers or dates). Default:
            "timestamp" when the file has it, else file order.
        sep: Field separator (also of the written files).
        encoding: Text encoding (also of the written files).
        min_ratings: Readers with fewer ratings go wholly to train; at least 2.

    Raises:
        ConfigError: A setting out of range, or ``time_col`` with ``by="random"``.
        DataError: An unreadable file, a missing column, an empty or malformed field, or an ``out`` folder
            that holds other files.
    """
    _check_settings(holdout, by, min_ratings)
    if time_col is not None and by != "time":
        raise ConfigError("--time-col goes with --by time")
    path, folder = Path(ratings), Path(out)
    _check_out(folder)
    table = _read_text_table(path, sep, encoding)
    _require_columns(table, path, (user_col, item_col, rating_col) + ((time_col,) if time_col else ()))
    if time_col is None and by == "time" and _TIME_COL in table.columns:
        time_col = _TIME_COL
    users = table[user_col]
    _require_filled(users, path, user_col)
    _require_filled(table[item_col], path, item_col)
    _require_numbers(table[rating_col], path, rating_col)
    codes, uniques = pd.factorize(users)
    time = _times(table[time_col], path, time_col) if time_col else None
    held = holdout_rows(codes, holdout, by=by, seed=seed, time=time, min_ratings=min_ratings)
    counts = np.bincount(codes, minlength=len(uniques))
    written = _write_pair(folder, (table[~held], table[held]), sep, encoding)
    return HoldoutReport(
        train=written[0],
        heldout=written[1],
        train_rows=int((~held).sum()),
        heldout_rows=int(held.sum()),
        n_users=len(uniques),
        heldout_users=int(np.unique(codes[held]).size),
        train_only_users=int((counts < min_ratings).sum()),
        holdout=holdout,
        by=by,
        seed=seed,
        time_col=time_col if by == "time" else None,
        min_ratings=min_ratings,
    )


def _check_out(folder: Path) -> None:
    """Refuse an ``out`` that is a file, or a folder holding anything but an earlier split."""
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: is a file; --out names a folder for {' and '.join(HOLDOUT_FILES)}")
    if folder.is_dir():
        others = sorted(entry.name for entry in folder.iterdir() if entry.name not in HOLDOUT_FILES)
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise DataError(
                f"{folder}: holds other files than {' and '.join(HOLDOUT_FILES)} ({shown}); "
                "choose a new or empty folder for --out"
            )


def _read_text_table(path: Path, sep: str, encoding: str) -> pd.DataFrame:
    """Every field of a CSV as the text written in it (no number parsing, empty fields kept as "")."""
    if not path.is_file():
        raise DataError(f"{path}: no such ratings file" if not path.exists() else f"{path}: is a folder")
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: the file is empty; expected a header line and one rating per line"
        ) from None
    except UnicodeDecodeError:
        raise DataError(
            f"{path}: not valid {encoding} text; pass --encoding with the file's encoding"
        ) from None
    except pd.errors.ParserError as error:
        first = str(error).splitlines()[0] if str(error) else "malformed"
        raise DataError(f"{path}: cannot be parsed as CSV: {first}") from None
    if table.empty:
        raise DataError(f"{path}: has a header but no ratings")
    return table


def _require_columns(table: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    for column in columns:
        if column not in table.columns:
            header = list(table.columns)
            found = ", ".join(header) if len(header) > 1 else f"{header[0]!r} (is --sep right?)"
            raise DataError(
                f"{path}: no column {column!r}; the header has {found} "
                "(name the columns with --user-col, --item-col, --rating-col, --time-col)"
            )


def _line(mask: pd.Series | np.ndarray) -> int:
    """The file line of the first True row (the header is line 1)."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 2


def _require_filled(column: pd.Series, path: Path, name: str) -> None:
    empty = (column.str.strip() == "").to_numpy(dtype=bool)
    if empty.any():
        raise DataError(f"{path}, line {_line(empty)}: field {name!r} is empty")


def _require_numbers(column: pd.Series, path: Path, name: str) -> None:
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        shown = column.iloc[_line(bad) - 2]
        raise DataError(f"{path}, line {_line(bad)}: field {name!r} is {shown!r}, expected a number")


def _times(column: pd.Series, path: Path, name: str) -> np.ndarray:
    """A time column as orderable numbers: numbers as they are, dates and times as instants."""
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isfinite(numbers).all():
        return numbers
    instants = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
    missing = instants.isna().to_numpy(dtype=bool)
    if missing.any():
        shown = column.iloc[_line(missing) - 2]
        raise DataError(
            f"{path}, line {_line(missing)}: field {name!r} is {shown!r}, expected a number or a date"
        )
    return instants.astype("int64").to_numpy()


def _write_pair(
    folder: Path, parts: tuple[pd.DataFrame, pd.DataFrame], sep: str, encoding: str
) -> list[Path]:
    """Write both parts under temporary names in ``folder``, then rename them into place."""
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    try:
        for name, part in zip(HOLDOUT_FILES, parts, strict=True):
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
            os.close(handle)
            staged.append(Path(temporary))
            part.to_csv(temporary, sep=sep, encoding=encoding, index=False, lineterminator="\n")
            ordinary_permissions(temporary)
        targets = [folder / name for name in HOLDOUT_FILES]
        for temporary, target in zip(staged, targets, strict=True):
            os.replace(temporary, target)
        return targets
    finally:
        for temporary in staged:
            temporary.unlink(missing_ok=True)
