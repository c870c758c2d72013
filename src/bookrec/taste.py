"""Which book vectors carry taste: what "similar books", the map of books and "near the books you liked" use.

The rating model's book vectors, as the blog does, except where the regularization probe kept reader and
book biases alone (``engines/adapt.py``: sparse data whose factors did not beat biases on a hold-out). Its
one factor is then zero for every book, and the cosine of zero vectors ranks books in storage order (every
similarity 0.000). The ranking model (ALS on who read what, trained from the same ratings) still learns
which books share readers, so its book factors stand in. Without either there is no taste to ask about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bookrec.errors import NoTasteError

__all__ = ["RANKING", "RATING", "BookTaste", "biases_alone", "book_taste"]

RATING = "rating"
"""The rating model's book vectors."""
RANKING = "ranking"
"""The ranking model's book factors, where the rating model is biases alone."""


@dataclass(frozen=True)
class BookTaste:
    """The vectors similar books are measured with, and where they come from.

    Attributes:
        vectors: One row per book position; None when the model has no taste to measure.
        source: ``RATING``, ``RANKING`` or "none".
    """

    vectors: np.ndarray | None
    source: str

    def describe(self) -> str:
        """One line for people: which model's vectors answer similarity questions."""
        if self.source == RATING:
            return "similar books come from the rating model's book vectors"
        if self.source == RANKING:
            return (
                "the rating model is biases alone, so similar books come from the ranking model's book "
                "factors (who read what)"
            )
        return "the model is biases alone and has no ranking model: it cannot tell which books are alike"

    def require(self) -> np.ndarray:
        """The vectors, or NoTasteError saying why there are none and how to train a model that has them."""
        if self.vectors is None:
            raise NoTasteError(
                f"{self.describe()}; train with the ranking model (the default, not --ranker none) "
                "or on data where factors help"
            )
        return self.vectors


def biases_alone(book_vectors: np.ndarray) -> bool:
    """Whether the rating model's book vectors are the probe's biases-alone form: one factor, zero for all.

    Only a one-column table is scanned (4 bytes a book), so a model of millions of books with factors
    is never read here.
    """
    return book_vectors.ndim == 2 and book_vectors.shape[1] == 1 and not np.any(book_vectors)


def book_taste(book_vectors: np.ndarray, ranker: Any = None) -> BookTaste:
    """The vectors that carry taste: the rating model's, or the ranking model's book factors where the rating
    model is biases alone (``ranker``: a ranking model with ``book_factors``, or None)."""
    if not biases_alone(book_vectors):
        return BookTaste(book_vectors, RATING)
    if ranker is not None:
        return BookTaste(ranker.book_factors, RANKING)
    return BookTaste(None, "none")
