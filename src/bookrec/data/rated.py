"""Each reader's ratings grouped together: what a model folder keeps to leave out what a reader has read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RatedBooks"]


@dataclass(frozen=True)
class RatedBooks:
    """Each reader's ratings, as compressed rows (reader position -> book positions, ratings).

    Attributes:
        indptr: Reader ``u``'s ratings are rows ``indptr[u]:indptr[u + 1]``, (n_users + 1,).
        book_idx: Book positions.
        rating: Ratings.
    """

    indptr: np.ndarray
    book_idx: np.ndarray
    rating: np.ndarray

    @classmethod
    def from_arrays(
        cls, user_idx: np.ndarray, book_idx: np.ndarray, rating: np.ndarray, n_users: int
    ) -> RatedBooks:
        """Group ratings by reader."""
        order = np.argsort(user_idx, kind="stable")
        counts = np.bincount(user_idx, minlength=n_users)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(indptr, book_idx[order].astype(np.int32), rating[order].astype(np.float32))

    @property
    def n_users(self) -> int:
        """Readers (rows)."""
        return int(self.indptr.shape[0] - 1)

    def of(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """Book positions and ratings of one reader."""
        lo, hi = self.indptr[user], self.indptr[user + 1]
        return self.book_idx[lo:hi], self.rating[lo:hi]

    def user_idx(self) -> np.ndarray:
        """The reader position of every rating, in storage order."""
        return np.repeat(np.arange(self.n_users, dtype=np.int32), np.diff(self.indptr))
