"""The books a model knows: finding one by id or title, and describing one as a person reads it."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bookrec.data.ids import IdMap
from bookrec.errors import UnknownBookError
from bookrec.results import BookRef, BookResult, TitleMatch
from bookrec.titles import TitleIndex

__all__ = ["Catalog"]

_SERIES_NOTE = re.compile(r"\(([^()#]+?),?\s*#\s*([\d.]+)(\s*-\s*[\d.]+)?\s*\)")  # "(Harry Potter, #1-7)"
_OMNIBUS_WORDS = re.compile(
    r"\b(?:box ?set|boxed set|collection|omnibus|complete series|trilogy|books? \d+ ?- ?\d+)\b"
)


class Catalog:
    """Book ids, metadata and the title index, by book position.

    Args:
        books: Book ids by position.
        books_table: Metadata, one row per position (book_id, title, authors, year, n_ratings, ...).
    """

    def __init__(self, books: IdMap, books_table: pd.DataFrame) -> None:
        self.books = books
        self.table = books_table
        self.titles = TitleIndex(books_table)
        self.n_ratings = books_table["n_ratings"].to_numpy(dtype=np.int64)
        self._editions: _Editions | None = None

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
        year = self.table["year"].iat[position] if "year" in self.table else None
        return position, TitleMatch(
            query=query,
            book_id=self.books.id_of(position),
            title=str(self.table["title"].iat[position]),
            authors=str(self.table["authors"].iat[position]),
            year=None if year is None or pd.isna(year) else int(year),
            ratings_count=int(self.titles.popularity[position]),
            score=float(score),
            matched_on=matched_on,
        )

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
        return str(self.table["title"].iat[position])

    def result(
        self, position: int, score: float, because: Sequence[str] = (), match: float | None = None
    ) -> BookResult:
        """The book at ``position`` as an answer, with ``score``, the reasons given and its match."""
        row = self.table.iloc[position]
        year = row["year"]
        average = row["average_rating"]
        return BookResult(
            book_id=self.books.id_of(position),
            title=str(row["title"]),
            authors=str(row["authors"]),
            year=None if pd.isna(year) else int(year),
            score=float(score),
            average_rating=None if pd.isna(average) else float(average),
            n_ratings=int(row["n_ratings"]),
            image_url=str(row["image_url"]),
            goodreads_url=str(row["goodreads_url"]),
            because=tuple(because),
            match=None if match is None else float(match),
        )

    def editions_of(self, positions: np.ndarray) -> np.ndarray:
        """Other editions, box sets and omnibuses of the works at ``positions`` (positions, excluding them).

        The same ``work_id`` is another edition; a title whose series note spans several volumes ("(Harry
        Potter, #1-7)") or that reads as a box set or collection of a named book's series is an omnibus of it.
        """
        if self._editions is None:
            self._editions = _Editions(self.table)
        return self._editions.of(np.asarray(positions, dtype=np.int64))


class _Editions:
    """Work and series keys of every book, for finding editions and omnibuses of liked books."""

    def __init__(self, table: pd.DataFrame) -> None:
        n = len(table)
        work = table["work_id"].astype(str).str.strip() if "work_id" in table else pd.Series([""] * n)
        codes, _ = pd.factorize(work.where(work != "", None), use_na_sentinel=True)
        self.work = codes  # -1: unknown
        titles = table["title"].astype(str)
        notes = titles.str.extract(_SERIES_NOTE)
        self.series = [" ".join(_words(name)) for name in notes[0].fillna("")]
        lowered = titles.str.casefold()
        omnibus = np.flatnonzero(
            (notes[2].notna() | lowered.str.contains(_OMNIBUS_WORDS)).to_numpy(dtype=bool)
        )
        # Every run of up to 6 words of every omnibus title, so a series name finds its omnibuses in one look.
        self.omnibus_by_words: dict[str, list[int]] = {}
        for position in omnibus:
            words = _words(lowered.iat[position])
            runs = {" ".join(words[i : i + n]) for n in range(1, 7) for i in range(len(words) - n + 1)}
            for run in runs:
                self.omnibus_by_words.setdefault(run, []).append(int(position))

    def of(self, positions: np.ndarray) -> np.ndarray:
        found = np.zeros(len(self.work), dtype=bool)
        works = self.work[positions]
        if (works >= 0).any():
            found |= np.isin(self.work, works[works >= 0])
        for series in {self.series[p] for p in positions} - {""}:
            found[self.omnibus_by_words.get(series, [])] = True
        found[positions] = False
        return np.flatnonzero(found)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())
