"""Where ratings come from: ``DataSource``, and the files it names (a goodbooks zip or folder, or any CSV)."""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

from bookrec.data._synthetic import SYNTHETIC_MARKER, SYNTHETIC_README
from bookrec.data.paths import goodbooks_dir
from bookrec.errors import DataError

__all__ = ["GOODBOOKS_SCALE", "DataSource"]

GOODBOOKS_SCALE = (1.0, 5.0)
"""goodbooks-10k's rating scale: 1 to 5 stars."""
TO_READ_FILE = "to_read.csv"
"""goodbooks-10k's "wants to read" shelf (user_id, book_id), beside ratings.csv: a read still to come."""
SHELF_FILES = ("tags.csv", "book_tags.csv")
"""goodbooks-10k's shelves (tag_id, tag_name; goodreads_book_id, tag_id, count): where genres come from."""


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
class _Files:
    """The files behind a source: a ratings file, optional books and to-read files, maybe in a zip."""

    ratings: str
    books: str | None
    archive: Path | None = None
    hashed: tuple[Path, ...] = ()
    to_read: str | None = None
    shelves: tuple[str, str] | None = None  # tags.csv and book_tags.csv, when both are there

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
    """The files to read for ``source``, checked to exist (DataError naming the path and the fix if not)."""
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
        to_read = ratings.parent / TO_READ_FILE
        found = _Files(str(ratings), str(books), None, (ratings, books))
        if to_read.is_file():
            found = _Files(str(ratings), str(books), None, (ratings, books, to_read), str(to_read))
        return _with_shelves(found, [ratings.parent / name for name in SHELF_FILES])
    return _zip_files(path)


def _with_shelves(files: _Files, shelves: list[Path]) -> _Files:
    """``files`` with the shelves' two files (hashed too) when both are in the folder."""
    if not all(path.is_file() for path in shelves):
        return files
    return replace(files, hashed=files.hashed + tuple(shelves), shelves=(str(shelves[0]), str(shelves[1])))


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
    to_read = ratings[: -len("ratings.csv")] + TO_READ_FILE
    tags, book_tags = (ratings[: -len("ratings.csv")] + name for name in SHELF_FILES)
    shelves = (tags, book_tags) if tags in names and book_tags in names else None
    return _Files(ratings, books, path, (path,), to_read if to_read in names else None, shelves)


def _is_synthetic(files: _Files) -> bool:
    """Whether a folder was written by ``bookrec synth`` (its README.txt starts with the marker)."""
    if files.archive is not None:  # a zipped synth folder: its README.txt lies beside ratings.csv inside
        member = files.ratings[: -len("ratings.csv")] + SYNTHETIC_README
        try:
            with zipfile.ZipFile(files.archive) as archive, archive.open(member) as handle:
                return handle.read(200).decode("utf-8", "replace").startswith(SYNTHETIC_MARKER)
        except (KeyError, zipfile.BadZipFile, OSError, EOFError, zlib.error):
            return False
    readme = Path(files.ratings).parent / SYNTHETIC_README
    try:
        with open(readme, encoding="utf-8", errors="replace") as handle:
            return handle.read(200).startswith(SYNTHETIC_MARKER)
    except OSError:
        return False
