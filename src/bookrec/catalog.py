"""The books a model knows: finding one by id or title, and describing one as a person reads it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bookrec.data.ids import IdMap
from bookrec.errors import UnknownBookError
from bookrec.results import BookRef, BookResult
from bookrec.titles import TitleIndex

__all__ = ["Catalog"]


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

    def position(self, book: BookRef) -> int:
        """Resolve a book given by id or title to its position.

        An int is an id; a string is a title ("id:123" forces an id); a string of digits is an id unless a
        book has exactly that title ("1984").

        Raises:
            UnknownBookError: No such id, or no title close enough (with suggestions).
        """
        if isinstance(book, int | np.integer):
            return self.id_position(book)
        text = str(book).strip()
        if text.lower().startswith("id:"):
            return self.id_position(text[3:].strip())
        if text.isdigit() and self.books.is_numeric:
            try:
                exact = self.titles.find(text)
                if self.table["title"].iat[exact].strip() == text:
                    return exact
            except UnknownBookError:
                pass
            return self.id_position(text)
        return self.titles.find(text)

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

    def result(self, position: int, score: float, because: Sequence[str] = ()) -> BookResult:
        """The book at ``position`` as an answer, with ``score`` and the reasons given."""
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
        )
