"""Each reader's ratings grouped together: what a model folder keeps to leave out what a reader has read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RatedBooks", "group_order"]


def group_order(keys: np.ndarray, n_groups: int) -> np.ndarray:
    """The stable order that groups ``keys`` (whole numbers in ``[0, n_groups)``), in linear time.

    numpy sorts 16-bit keys by radix sort: one pass (two above 65,536 groups) takes ~0.2 s on 6M ratings,
    where its stable sort of the int32 keys takes ~0.8 s.
    """
    keys = np.asarray(keys)
    if n_groups <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    high = (keys[order] >> 16).astype(np.uint16)  # below 2**16 for up to 2**32 groups
    return order[np.argsort(high, kind="stable")]


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
        order = group_order(user_idx, n_users)
        counts = np.bincount(user_idx, minlength=n_users)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(
            indptr, book_idx[order].astype(np.int32, copy=False), rating[order].astype(np.float32, copy=False)
        )

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
