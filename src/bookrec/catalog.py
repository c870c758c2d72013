"""The books a model knows: finding one by id or title, and describing one as a person reads it."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bookrec import ann
from bookrec.data.genres import genre_names, normalize_genre
from bookrec.data.ids import IdMap
from bookrec.errors import BookrecError, UnknownBookError, UnknownGenreError
from bookrec.lookups import Editions
from bookrec.results import BookRef, BookResult, TitleMatch
from bookrec.titles import TitleIndex

__all__ = ["BookFilter", "Catalog"]


class Catalog:
    """Book ids, metadata and the title index, by book position.

    Args:
        books: Book ids by position.
        books_table: Metadata, one row per position (book_id, title, authors, year, n_ratings, ...).
        lookups: The title index and the editions' groups made from the table when the model was saved
            (:mod:`bookrec.lookups`); empty (folders saved before them): made on first use.
    """

    def __init__(
        self, books: IdMap, books_table: pd.DataFrame, lookups: Mapping[str, np.ndarray] | None = None
    ) -> None:
        self.books = books
        self.table = books_table
        self._lookups = dict(lookups or {})
        self.titles = TitleIndex(books_table, stored=self._lookups)
        self.n_ratings = books_table["n_ratings"].to_numpy(dtype=np.int64)
        self._editions: Editions | None = None
        self._genres: _Genres | None = None
        self._fields: _Fields | None = None
        # Per catalogue, not per class: an lru_cache on the method would keep every catalogue alive.
        self._filter = functools.lru_cache(maxsize=_FILTERS)(self._make_filter)

    def position(self, book: BookRef) -> int:
        """Resolve a book given by id or title to its position (see ``match``).

        Raises:
            UnknownBookError: No such id, or no title close enough or several alike (with suggestions).
        """
        return self.match(book)[0]

    def match(self, book: BookRef) -> tuple[int, TitleMatch]:
        """Resolve a book given by id or title to its position, and say which book it was taken to be.

        An int is an id; a string is a title, part of one, an original title, a series or an author
        ("id:123" forces an id); a string of digits is an id unless a book has exactly that title ("1984").

        Raises:
            UnknownBookError: No such id, or no title close enough or several alike (with suggestions).
        """
        if isinstance(book, int | np.integer):
            return self._found(str(book), self.id_position(book), 100.0, "id")
        text = str(book).strip()
        if text.lower().startswith("id:"):
            return self._found(text, self.id_position(text[3:].strip()), 100.0, "id")
        if text.isdigit() and self.books.is_numeric:
            try:
                hit = self.titles.match(text)
                if self.table["title"].iat[hit.book_idx].strip() == text:
                    return self._found(text, hit.book_idx, hit.score, hit.matched_on)
            except UnknownBookError:
                pass
            return self._found(text, self.id_position(text), 100.0, "id")
        hit = self.titles.match(text)
        return self._found(text, hit.book_idx, hit.score, hit.matched_on)

    def search(self, query: str, k: int = 10) -> list[TitleMatch]:
        """The books ``query`` may mean, best first: match quality and how much each is read."""
        hits = self.titles.search(query, limit=k)
        return [self._found(query, hit.book_idx, hit.score, hit.matched_on)[1] for hit in hits]

    def _found(self, query: str, position: int, score: float, matched_on: str) -> tuple[int, TitleMatch]:
        fields = self._rows()
        return position, TitleMatch(
            query=query,
            book_id=self.books.id_of(position),
            title=fields["title"][position],
            authors=fields["authors"][position],
            year=fields["year"][position],
            ratings_count=int(self.titles.popularity[position]),
            score=float(score),
            matched_on=matched_on,
        )

    def _rows(self) -> _Fields:
        """The shown columns, by position: Python lists made once on a catalogue of up to ``_EAGER_ROWS``
        books (a 200-book list looked each book up in pandas rows, about 0.5 ms a book, a fifth of the
        page's time); above it each book's values read when first shown (the lists took 3.6 s at a million
        books, on the first answer)."""
        if self._fields is None:
            self._fields = _Fields(self.table, self.n_ratings)
        return self._fields

    def id_position(self, book_id: object) -> int:
        """The position of a book id.

        Raises:
            UnknownBookError: The model does not know the id.
        """
        position = self.books.get(book_id)
        if position is None:
            raise UnknownBookError(f"no book with id {book_id} in this model")
        return position

    def title(self, position: int) -> str:
        """Display title."""
        return self._rows()["title"][position]

    def result(
        self, position: int, score: float, because: Sequence[str] = (), match: float | None = None
    ) -> BookResult:
        """The book at ``position`` as an answer, with ``score``, the reasons given and its match."""
        fields = self._rows()
        return BookResult(
            book_id=self.books.id_of(position),
            title=fields["title"][position],
            authors=fields["authors"][position],
            year=fields["year"][position],
            score=float(score),
            average_rating=fields["average_rating"][position],
            n_ratings=fields["n_ratings"][position],
            image_url=fields["image_url"][position],
            goodreads_url=fields["goodreads_url"][position],
            because=tuple(because),
            match=None if match is None else float(match),
            genres=self.genres_of(position),
        )

    def works(self) -> np.ndarray:
        """Each book's work (a number; -1 when unknown): the editions of one work share it."""
        if self._editions is None:
            self._editions = Editions.of_table(self.table, self._lookups)
        return self._editions.work

    def genres_of(self, position: int) -> tuple[str, ...]:
        """The genres of the book at ``position``, most-shelved first."""
        if self._genres is not None:
            return self._genres.of(position)
        # One book's cell: every answer shows its books' genres, and indexing all of them first cost the
        # first answer 8 s on 2.36 million books.
        return genre_names(self.table["genres"].iat[position]) if "genres" in self.table else ()

    def genre_counts(self) -> dict[str, int]:
        """Every genre the books carry and how many books carry it, the most common first."""
        return dict(self._genre_index().counts)

    def genre_mask(self, genres: Iterable[str]) -> np.ndarray | None:
        """Which books carry any of ``genres`` (a boolean per position); None when no genre is given.

        Raises:
            UnknownGenreError: A genre no book carries (with the closest names).
            BookrecError: The books carry no genres at all (the data had no shelves).
        """
        wanted = [str(g) for g in genres if str(g).strip()]
        if not wanted:
            return None
        index = self._genre_index()
        if not index.counts:
            raise BookrecError(
                "this model's books have no genres (its data had no tags.csv and book_tags.csv, or it was "
                "trained before bookrec read them): retrain it on goodbooks-10k to filter by genre"
            )
        mask = np.zeros(len(self.books), dtype=bool)
        for genre in wanted:
            name = normalize_genre(genre)
            books = index.mask(name)
            if books is None:
                known = [known_name for known_name, _ in index.counts]
                close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
                raise UnknownGenreError(
                    f"no genre {genre!r} in this model ({len(known)} genres: see `bookrec explore genres`).",
                    close or known[:5],
                )
            mask |= books
        return mask

    def book_filter(self, min_ratings: int, genres: Iterable[str]) -> BookFilter | None:
        """Which books a list may hold: of any of ``genres`` (all when empty), with at least
        ``min_ratings`` training ratings; None when that is every book.

        Made once for each of the last few filters asked for (an app asks for the same one again and again):
        a mask of enough ratings and its bitmap cost 3.6 ms at 2.36 million books, about as much as an indexed
        query's search.

        Raises:
            UnknownGenreError: A genre no book carries (with the closest names).
            BookrecError: A genre is given, and the books carry no genres at all.
        """
        return self._filter(max(int(min_ratings), 0), tuple(str(g) for g in genres if str(g).strip()))

    def _make_filter(self, min_ratings: int, genres: tuple[str, ...]) -> BookFilter | None:
        keep = self.genre_mask(genres)
        if min_ratings > 0:
            enough = self.n_ratings >= min_ratings
            keep = enough if keep is None else keep & enough
        if keep is None:
            return None
        keep.flags.writeable = False  # shared by every list that asks for this filter
        return BookFilter(keep, ann.pack(keep))

    def _genre_index(self) -> _Genres:
        if self._genres is None:
            self._genres = _Genres(self.table)
        return self._genres

    def editions_of(self, positions: np.ndarray) -> np.ndarray:
        """Other editions, box sets and omnibuses of the works at ``positions`` (positions, excluding them).

        The same ``work_id`` is another edition; a title whose series note spans several volumes ("(Harry
        Potter, #1-7)") or that reads as a box set or collection of a named book's series is an omnibus of it.
        """
        if self._editions is None:
            self._editions = Editions.of_table(self.table, self._lookups)
        return self._editions.of(np.asarray(positions, dtype=np.int64))


_FILTERS = 8  # book filters kept (see Catalog.book_filter): 2.4 MB + 0.3 MB each at 2.36 million books


@dataclass(frozen=True)
class BookFilter:
    """Which books a list may hold.

    Attributes:
        mask: A boolean per book position.
        bits: The same packed for an approximate-nearest-neighbour index (``ann.pack``).
    """

    mask: np.ndarray
    bits: np.ndarray


_EAGER_ROWS = 200_000
_NUMBERS: dict[str, type] = {"year": int, "average_rating": float}  # None where missing


class _Fields:
    """Each shown column's value by position: ``fields["title"][position]`` (see ``Catalog._rows``)."""

    def __init__(self, table: pd.DataFrame, n_ratings: np.ndarray) -> None:
        self._table = table
        self._n_ratings = n_ratings
        self._columns: dict[str, list] = {}
        self._series: dict[str, pd.Series] = {}
        self._eager = len(table) <= _EAGER_ROWS

    def __getitem__(self, name: str) -> _Fields._Column:
        return _Fields._Column(self, name)

    def value(self, name: str, position: int) -> object:
        if name == "n_ratings":
            return int(self._n_ratings[position])
        if self._eager:
            if name not in self._columns:
                self._columns[name] = [self._convert(name, v) for v in self._raw(name).tolist()]
            return self._columns[name][position]
        if name not in self._series:
            self._series[name] = self._raw(name)
        return self._convert(name, self._series[name].iat[position])

    def _raw(self, name: str) -> pd.Series:
        if name in self._table:
            return self._table[name]
        default = "" if name in ("image_url", "goodreads_url") else None
        return pd.Series([default] * len(self._table), dtype=object)

    def _convert(self, name: str, value: object) -> object:
        if name in _NUMBERS:
            return None if pd.isna(value) else _NUMBERS[name](value)
        return str(value)

    class _Column:
        def __init__(self, fields: _Fields, name: str) -> None:
            self._fields, self._name = fields, name

        def __getitem__(self, position: int) -> object:
            return self._fields.value(self._name, int(position))


class _Genres:
    """Each book's genres, each genre's books (a mask) and counts, from the table's ``genres`` column.

    Books share few distinct cells ("fantasy;young-adult"): each distinct cell is read once and the books
    keep its number, so 2.36 million books cost one factorisation (tenths of a second), not a Python call
    per book (seconds, on the app's first page).
    """

    def __init__(self, table: pd.DataFrame) -> None:
        if "genres" in table:
            codes, cells = pd.factorize(table["genres"], use_na_sentinel=True)
        else:
            codes, cells = np.full(len(table), -1), []
        self._codes = np.asarray(codes, dtype=np.int64)
        self._names = [genre_names(cell) for cell in list(cells)]
        per_cell = np.bincount(self._codes[self._codes >= 0], minlength=len(self._names))
        self._cells: dict[str, list[int]] = {}
        for cell, names in enumerate(self._names):
            for name in names:
                self._cells.setdefault(name, []).append(cell)
        counts = ((name, int(per_cell[cells].sum())) for name, cells in self._cells.items())
        self.counts = sorted(((n, c) for n, c in counts if c > 0), key=lambda c: (-c[1], c[0]))
        self._masks: dict[str, np.ndarray] = {}

    def of(self, position: int) -> tuple[str, ...]:
        """The genres of the book at ``position``."""
        code = int(self._codes[position])
        return self._names[code] if code >= 0 else ()

    def mask(self, name: str) -> np.ndarray | None:
        """Which books carry the genre (made on first use); None when none does."""
        if name not in self._masks:
            cells = self._cells.get(name)
            if not cells:
                return None
            self._masks[name] = np.isin(self._codes, np.asarray(cells, dtype=np.int64))
        return self._masks[name]
