"""What answers are made of: small frozen records keyed by the ids in the files (Surprise's Prediction)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BookRef", "BookResult", "Prediction"]

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
        }


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
