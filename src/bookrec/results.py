"""What answers are made of: small frozen records keyed by the ids in the files (Surprise's Prediction)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BookList", "BookRef", "BookResult", "Prediction", "TitleMatch"]

BookRef = int | str
"""A book as a person names it: its id (int, or "id:123"), or its title."""


@dataclass(frozen=True)
class BookResult:
    """One book in an answer, with what a person needs to recognise it.

    Attributes:
        book_id: The book's id in the data.
        title: Display title.
        authors: Authors.
        year: Original publication year, when known.
        score: The answer's score: predicted rating (recommendations), cosine similarity (similar books)
            or bias (biases).
        average_rating: Goodreads' average rating, when known.
        n_ratings: Ratings of the book in the training data.
        image_url: Cover image ("" when unknown).
        goodreads_url: The book's Goodreads page ("" when unknown).
        because: Titles of the reader's books that contributed most to this recommendation.
        match: Recommendations ranked by the ranking model: how well the book fits the reader's reads (the
            order of the list; higher is better), None otherwise. ``score`` stays the predicted stars.
        genres: The book's genres, most-shelved first (empty when the data had no shelves).
    """

    book_id: int | str
    title: str
    authors: str
    year: int | None
    score: float
    average_rating: float | None = None
    n_ratings: int = 0
    image_url: str = ""
    goodreads_url: str = ""
    because: tuple[str, ...] = ()
    match: float | None = None
    genres: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "book_id": self.book_id,
            "title": self.title,
            "authors": self.authors,
            "year": self.year,
            "score": self.score,
            "average_rating": self.average_rating,
            "n_ratings": self.n_ratings,
            "image_url": self.image_url,
            "goodreads_url": self.goodreads_url,
            "because": list(self.because),
            "match": self.match,
            "genres": list(self.genres),
        }


@dataclass(frozen=True)
class TitleMatch:
    """A book as the title search found it for what a person typed: the answer to "which book?".

    Attributes:
        query: What was typed (a title, part of one, an author, a series, an id).
        book_id: The book's id in the data.
        title: Display title.
        authors: Authors.
        year: Original publication year, when known.
        ratings_count: How much the book is read (Goodreads' ratings count, else its ratings in the data).
        score: Match quality, 0-100 (100: the exact title, or the book's id).
        matched_on: What matched: "id", "title", "original title", "series" or "author".
    """

    query: str
    book_id: int | str
    title: str
    authors: str
    year: int | None
    ratings_count: int
    score: float
    matched_on: str

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return asdict(self)


class BookList(list[BookResult]):
    """Answers in order, and the books the question named as the title search understood them.

    A plain list of ``BookResult`` for every use; ``matched`` says which book each named title was taken
    to be (so a wrong guess shows), ``excluded`` the same for books left out on request.
    """

    def __init__(
        self,
        results: Iterable[BookResult] = (),
        matched: Iterable[TitleMatch] = (),
        excluded: Iterable[TitleMatch] = (),
    ) -> None:
        super().__init__(results)
        self.matched: tuple[TitleMatch, ...] = tuple(matched)
        self.excluded: tuple[TitleMatch, ...] = tuple(excluded)


@dataclass(frozen=True)
class Prediction:
    """A predicted rating.

    Attributes:
        user_id: The reader.
        book_id: The book.
        rating: Predicted rating on the data's scale.
        known_user: False when the reader was not in the training data (the rating comes from biases).
        known_book: False when the book was not in the training data (the global mean is used).
    """

    user_id: int | str
    book_id: int | str
    rating: float
    known_user: bool
    known_book: bool
