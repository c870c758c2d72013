"""The books table: reading books.csv (goodbooks) or a ``--books`` file, and one metadata row per book.

Books are keyed by ``book_id``, never by title: different books that share a title stay apart, and every
rated book is kept, with or without metadata (a placeholder title when the books file lacks it).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bookrec.data._csv import _header
from bookrec.data.genres import genre_column
from bookrec.data.ids import IdMap
from bookrec.errors import DataError

if TYPE_CHECKING:
    from bookrec.data.sources import DataSource

__all__ = ["BOOK_COLUMNS", "GOODREADS_BOOK_URL"]

GOODREADS_BOOK_URL = "https://www.goodreads.com/book/show/{}"
"""A book's Goodreads page, from its ``goodreads_book_id``."""

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
    "work_id",
    "original_title",
    "genres",
]
"""The columns of ``Dataset.books_table``, in order. ``work_id`` ("" when unknown) ties the editions of one
work together, so that a reader who liked one is not offered another; ``original_title`` ("" when unknown)
lets the title search find "Le Petit Prince"; ``genres`` ("fantasy;young-adult", "" when unknown) comes from
goodbooks' shelves (see ``genres``) or a books file's own genres column."""

# Column names other well-known data sets use, tried in order when reading a books file.
_ID_COLUMNS = ("book_id", "movieId", "ISBN", "item_id", "itemId", "id")
_TITLE_COLUMNS = ("title", "Book-Title", "original_title", "name")
_AUTHOR_COLUMNS = ("authors", "Book-Author", "author", "genres")
_YEAR_COLUMNS = ("original_publication_year", "Year-Of-Publication", "year")
_IMAGE_COLUMNS = ("image_url", "Image-URL-L", "Image-URL-M")
_SMALL_IMAGE_COLUMNS = ("small_image_url", "Image-URL-S")


def _read_books(raw: bytes | Path, label: str, id_col: str, source: DataSource) -> pd.DataFrame:
    """A books file as read, its id column (``id_col`` or a well-known name) renamed ``book_id``."""
    header = _header(raw, label, source.sep, source.encoding)
    id_column = id_col if id_col in header else next((c for c in _ID_COLUMNS if c in header), None)
    title_column = next((c for c in _TITLE_COLUMNS if c in header), None)
    if id_column is None or title_column is None:
        missing = [f"a book id column ({id_col!r})"] if id_column is None else []
        if title_column is None:
            missing.append(f"a title column ({' or '.join(repr(c) for c in _TITLE_COLUMNS)})")
        raise DataError(
            f"{label}: the books file needs {' and '.join(missing)}; the header has {', '.join(header)}"
        )
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
        keyed = keyed.assign(_pos=_positions(book_map, keyed["book_id"]))
        keyed = keyed[keyed["_pos"] >= 0].drop_duplicates("_pos", keep="first")
        keyed = keyed.set_index("_pos").reindex(range(n))
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
    table["authors"] = "" if authors is None else _text(authors)
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
        table[column] = "" if values is None else _text(values)
    goodreads = _pick(meta, ("goodreads_book_id",))
    if goodreads is None:
        table["goodreads_url"] = ""
    else:
        numbers = pd.to_numeric(goodreads, errors="coerce")
        table["goodreads_url"] = [
            GOODREADS_BOOK_URL.format(int(v)) if np.isfinite(v) else "" for v in numbers.to_numpy(dtype=float)
        ]
    work = _pick(meta, ("work_id",))
    table["work_id"] = "" if work is None else _id_text(work)
    original_title = _pick(meta, ("original_title",))
    table["original_title"] = "" if original_title is None else _text(original_title)
    shelved = _pick(meta, ("genres",))
    table["genres"] = "" if shelved is None else genre_column(shelved.astype(object).where(shelved.notna()))
    unknown = int(n - found.sum()) if books is not None else 0
    return table[BOOK_COLUMNS], unknown


def _text(values: pd.Series) -> np.ndarray:
    """A column as text, "" where missing (an all-empty column is read as floats, which take no "")."""
    return values.astype(object).where(values.notna(), "").astype(str).to_numpy()


def _positions(book_map: IdMap, ids: pd.Series) -> np.ndarray:
    """Each books-file row's book position, -1 for ids the ratings lack or that are blank or malformed.

    Matched one row at a time in effect: a single blank or non-numeric id once turned the whole column
    into floats, which matched no integer id, and every book lost its title.
    """
    text = ids.astype(object).where(ids.notna(), "").astype(str).str.strip()
    if not book_map.is_numeric:
        return book_map.index_of(text.to_numpy()) if len(text) else np.zeros(0, dtype=np.int64)
    position = np.full(len(text), -1, dtype=np.int64)
    whole = text.str.fullmatch(r"[+-]?\d{1,18}(\.0*)?").to_numpy(dtype=bool)  # "12" or "12.0", within int64
    if whole.any():
        numbers = text[whole].str.replace(r"\.0*$", "", regex=True).astype(np.int64).to_numpy()
        position[whole] = book_map.index_of(numbers)
    return position


def _id_text(values: pd.Series) -> np.ndarray:
    """Ids as text ("" when missing), whole numbers without a trailing ".0" (pandas reads them as floats)."""
    numbers = pd.to_numeric(values, errors="coerce")
    whole = (numbers.notna() & (numbers == numbers.round())).to_numpy()
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().to_numpy(dtype=object)
    text[whole] = numbers[whole].astype("int64").astype(str).to_numpy(dtype=object)
    return text
