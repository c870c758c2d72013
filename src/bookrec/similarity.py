"""Cosine similarity of the book vectors that carry taste (:mod:`bookrec.taste`), without a second copy.

Its own module because three questions share it: similar books, the reasons of a list ordered by rating
("near the books you liked") and the index that answers similar books on a large catalogue. It needs the
models' single-threaded product (``matvec``), which keeps it out of :mod:`bookrec.taste`'s lower layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from bookrec._topk import best, check_k
from bookrec.catalog import BookFilter, Catalog
from bookrec.models.base import matvec
from bookrec.results import BookList, BookRef
from bookrec.taste import BookTaste

__all__ = ["UnitBooks", "similar"]


def similar(
    catalog: Catalog,
    taste: BookTaste,
    books: UnitBooks | None,
    index: Any,
    book: BookRef,
    k: int,
    min_ratings: int,
    genres: Iterable[str],
) -> BookList:
    """The k books most similar to ``book`` by the vectors that carry ``taste`` (``books``: them as unit
    vectors, None where there are none; ``index``: the "similar" index of :mod:`bookrec.ann`, or None), as
    ``Recommender.similar`` answers.

    Raises:
        NoTasteError: No vectors carry taste (after the arguments are checked and ``book`` is found).
    """
    check_k(k)
    allowed = catalog.book_filter(min_ratings, genres)
    position, matched = catalog.match(book)
    # No unit books exactly where the taste has no vectors: then require() raises, saying why.
    books = books if books is not None else UnitBooks(taste.require())
    top, similarity = books.nearest(position, k, allowed, index)
    results = [catalog.result(i, float(s)) for i, s in zip(top, similarity, strict=True)]
    return BookList(results, matched=[matched])


class UnitBooks:
    """Book vectors scaled to unit length, for cosine similarity, made only for the rows asked for.

    A table of unit vectors would be a second copy of the book vectors (1.2 GB at 2.36 million books,
    seconds to make at load); their lengths are 4 bytes a book, computed on the first ``similarity``.
    """

    def __init__(self, vectors: np.ndarray) -> None:
        self._vectors = vectors
        self._norms: np.ndarray | None = None

    @property
    def vectors(self) -> np.ndarray:
        """The book vectors as given (not scaled)."""
        return self._vectors

    def __getitem__(self, rows: int | np.ndarray) -> np.ndarray:
        picked = np.asarray(self._vectors[rows], dtype=np.float32)
        return picked / np.maximum(np.linalg.norm(picked, axis=-1, keepdims=True), 1e-12)

    def similarity(self, position: int) -> np.ndarray:
        """Cosine similarity of every book with the book at ``position`` (float32, n_books)."""
        if self._norms is None:
            norms = np.empty(self._vectors.shape[0], dtype=np.float32)
            for start in range(0, norms.size, 1 << 16):  # in blocks: no float32 copy of a float64 table
                block = np.asarray(self._vectors[start : start + (1 << 16)], dtype=np.float32)
                norms[start : start + block.shape[0]] = np.linalg.norm(block, axis=1)
            self._norms = np.maximum(norms, 1e-12)
        return matvec(self._vectors, self[position]) / self._norms

    def nearest(
        self, position: int, k: int, allowed: BookFilter | None, index: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k books most similar to the one at ``position`` (itself left out) that ``allowed`` lets
        through, and their cosine similarities, most similar first; ``index``: the "similar" index of
        :mod:`bookrec.ann`, or None to score every book."""
        unit = self[position]
        return best(
            index,
            unit,
            lambda: self.similarity(position),
            lambda found: matvec(self[found], unit),
            np.array([position]),
            k,
            allowed,
        )
