"""The ranking model: implicit ALS on who read what, with each read weighted by the stars it got.

Every rating is a read. Reader ``u``'s preference for book ``b`` is ``p = 1`` for a book they read, 0
otherwise, weighted by a confidence: ``c = 1`` for a book they did not read, and for a read

    c = alpha * (floor + (1 - floor) * s) ** power,    s = (rating - lo) / (hi - lo) in [0, 1],

so on 1-5 stars with the defaults a 5-star read counts 5 times an unread book, a 4-star read 2 times, a
3-star read 0.65 and a 1-star read almost nothing: a book read and disliked says less than one never read.
ALS (Hu, Koren and Volinsky 2008) minimizes
``sum c (p - x_u · y_b)^2 + reg (|x_u|^2 + |y_b|^2)`` over reader factors ``x_u`` and book factors
``y_b``; the fit is implicit's ``AlternatingLeastSquares`` (conjugate gradient, compiled), the serving head
is numpy.

A book's "match" for a reader is ``x_u · y_b``. A new reader is folded in exactly as ALS solves a reader,
``x = (YᵀY + reg I + Σ (c_i - 1) y_i y_iᵀ)⁻¹ Σ c_i y_i``, which makes every match a sum of one term per book
the reader read: ``c_i y_bᵀ A⁻¹ y_i``, the "because you read" of the result (implicit's ``explain``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from bookrec.data.rated import RatedBooks, group_order
from bookrec.models.base import matvec

if TYPE_CHECKING:
    from bookrec.data.dataset import Dataset

__all__ = ["RANKER", "AlsHead", "FittedRanking", "RankerKind", "confidence"]

# Chosen on MovieLens-small's per-reader hold-out (20% of each reader's ratings, relevant = 4+ stars, every
# unread book ranked; benchmarks/bench_ranking.py), with 96 factors, reg 17.5, 8 sweeps, mean of 6 seeds:
# binary confidence NDCG@10 0.283 (random hold-out); power 2 0.287 / 0.105 (random / last 20% by time);
# power 4 0.301 / 0.119, with top-10 coverage 5.1%; power 3 with floor 0.1 was within 0.002 of it.
CONFIDENCE_FLOOR = 0.2
CONFIDENCE_POWER = 4.0
_GRAM_BLOCK = 65_536  # books per block of the Gram matrix's sum: 64 MB of float64 at 128 factors


def confidence(
    rating: np.ndarray, scale: tuple[float, float], alpha: float, *, floor: float = CONFIDENCE_FLOOR
) -> np.ndarray:
    """The confidence of each read from its rating (see the module docstring), relative to the scale."""
    lo, hi = scale
    span = hi - lo if hi > lo else 1.0
    share = np.clip((np.asarray(rating, dtype=np.float32) - np.float32(lo)) / np.float32(span), 0.0, 1.0)
    base = np.float32(floor) + np.float32(1.0 - floor) * share
    return (np.float32(alpha) * base ** np.float32(CONFIDENCE_POWER)).astype(np.float32, copy=False)


@dataclass(frozen=True)
class FittedRanking:
    """A reader's ranking factors and what each of their books contributed.

    Attributes:
        params: The reader's factors.
        books: Book positions the reader read (the fit's inputs).
        weights: Their confidences.
    """

    params: np.ndarray
    books: np.ndarray
    weights: np.ndarray
    _solve: Callable[[np.ndarray], np.ndarray]
    _book_factors: np.ndarray

    def contributions(self, position: int) -> np.ndarray:
        """Each read book's share of the match of the book at ``position``: ``c_i y_bᵀ A⁻¹ y_i``."""
        weighted = self._solve(self._book_factors[position].astype(np.float64))  # one thread: see fit_reader
        return (self._book_factors[self.books] @ weighted) * self.weights


class AlsHead:
    """The ranking model as arrays: reader and book factors, and what folding in a reader needs.

    Args:
        user_factors: Reader factors, (n_users, d).
        book_factors: Book factors, (n_books, d).
        regularization: The fit's L2 strength (folding in uses the same).
        alpha: The confidence scale (see ``confidence``).
        wanted: Each known reader's "wants to read" books as compressed rows (indptr over readers, book
            positions), or None: the fit learned from them, and lists leave them out like books read.
        gram: ``YᵀY + reg I`` as saved with the model, or None: made on the first fold-in.
    """

    kind = "als"

    def __init__(
        self,
        user_factors: np.ndarray,
        book_factors: np.ndarray,
        regularization: float,
        alpha: float,
        wanted: tuple[np.ndarray, np.ndarray] | None = None,
        gram: np.ndarray | None = None,
    ) -> None:
        if user_factors.ndim != 2 or book_factors.ndim != 2 or user_factors.shape[1] != book_factors.shape[1]:
            raise ValueError("reader and book factors must be tables of one width")
        if wanted is not None:
            indptr, books = wanted
            if indptr.shape != (user_factors.shape[0] + 1,) or int(indptr[-1]) != books.shape[0]:
                raise ValueError("the wanted books' rows do not match the readers")
            if books.size and (int(books.min()) < 0 or int(books.max()) >= book_factors.shape[0]):
                raise ValueError("a wanted book lies outside the books")
        self.wanted = wanted
        self.user_factors = user_factors
        self.book_factors = book_factors
        self.regularization = float(regularization)
        self.alpha = float(alpha)
        self._gram_matrix = None if gram is None else np.asarray(gram, dtype=np.float64)
        self._threads: Any = None

    @property
    def _gram(self) -> np.ndarray:
        """``YᵀY + reg I``: saved with the model (``rank_gram``), or made on the first fold-in (folders saved
        before it; on 2.36 million books that reads 1.2 GB, seconds).

        Summed over blocks of books in float64, so that no float64 copy of the whole table is made.
        """
        if self._gram_matrix is None:
            d = self.book_factors.shape[1]
            gram = self.regularization * np.eye(d)
            with self._one_thread():
                for start in range(0, self.n_books, _GRAM_BLOCK):
                    block = self.book_factors[start : start + _GRAM_BLOCK].astype(np.float64)
                    gram += block.T @ block
            self._gram_matrix = gram
        return self._gram_matrix

    @property
    def n_users(self) -> int:
        """Readers the model was fitted on."""
        return int(self.user_factors.shape[0])

    @property
    def n_books(self) -> int:
        """Books the model knows."""
        return int(self.book_factors.shape[0])

    def wanted_by(self, user: int) -> np.ndarray:
        """The book positions a known reader wants to read (empty without to_read.csv)."""
        if self.wanted is None:
            return np.zeros(0, dtype=np.int32)
        indptr, books = self.wanted
        return books[indptr[user] : indptr[user + 1]]

    def reader_params(self, user_idx: np.ndarray) -> np.ndarray:
        """Known readers' factors, (m, d)."""
        return self.user_factors[np.asarray(user_idx)]

    def scores(self, params: np.ndarray) -> np.ndarray:
        """Matches of every book: (n_books,) for one reader's (d,), (m, n_books) for (m, d)."""
        if params.ndim == 1:
            return matvec(self.book_factors, params)
        return params @ self.book_factors.T

    def fit_reader(self, books: np.ndarray, weights: np.ndarray) -> FittedRanking:
        """A reader's factors from the books they read and their confidences, as ALS itself solves them."""
        factors = self.book_factors[books].astype(np.float64)
        with self._one_thread():
            system = self._gram + factors.T @ (factors * (weights.astype(np.float64) - 1.0)[:, None])
            cholesky = np.linalg.cholesky(system)

        def solve(vector: np.ndarray) -> np.ndarray:
            with self._one_thread():
                return np.linalg.solve(cholesky.T, np.linalg.solve(cholesky, vector))

        params = solve(factors.T @ weights.astype(np.float64))
        return FittedRanking(params, books, weights.astype(np.float64), solve, self.book_factors)

    def _one_thread(self) -> Any:
        """LAPACK on one thread for the d x d solves of a query: OpenBLAS spreads even a 128 x 128 solve over
        every core, and on a busy machine waiting for them cost a query seconds (p95 2.5 s against 7 ms)."""
        if self._threads is None:
            import threadpoolctl

            self._threads = threadpoolctl.ThreadpoolController()
        return self._threads.limit(limits=1, user_api="blas")

    def to_tensors(self) -> dict[str, np.ndarray]:
        """rank_user_factors and rank_book_factors (float32), the Gram matrix the fold-in solves with
        (rank_gram, float64), and the wanted books' rows where there are."""
        tensors = {
            "rank_user_factors": self.user_factors.astype(np.float32, copy=False),
            "rank_book_factors": self.book_factors.astype(np.float32, copy=False),
            "rank_gram": self._gram,
        }
        if self.wanted is not None:
            tensors["rank_wanted_indptr"] = self.wanted[0].astype(np.int64)
            tensors["rank_wanted_book_idx"] = self.wanted[1].astype(np.int32)
        return tensors

    def settings(self) -> dict[str, Any]:
        """What the manifest records to rebuild the head (beside its tensors)."""
        return {"regularization": self.regularization, "alpha": self.alpha}

    @classmethod
    def tensor_names(cls) -> tuple[str, ...]:
        """The two factor tables."""
        return ("rank_user_factors", "rank_book_factors")

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, np.ndarray], settings: Mapping[str, Any]) -> Self:
        """The head over a model folder's arrays and the manifest's settings."""
        wanted = None
        if "rank_wanted_indptr" in tensors or "rank_wanted_book_idx" in tensors:
            wanted = (tensors["rank_wanted_indptr"], tensors["rank_wanted_book_idx"])
        return cls(
            tensors["rank_user_factors"],
            tensors["rank_book_factors"],
            float(settings["regularization"]),
            float(settings["alpha"]),
            wanted,
            tensors.get("rank_gram"),
        )


def fit(
    dataset: Dataset,
    *,
    factors: int,
    regularization: float,
    alpha: float,
    iterations: int,
    seed: int,
    to_read: float = 0.0,
    on_iteration: Callable[[int, int], None] | None = None,
) -> AlsHead:
    """Fit the ranking model on every read of ``dataset`` (implicit's ALS, imported here only).

    Args:
        dataset: The ratings; each is a read weighted by ``confidence``. Its "wants to read" pairs
            (goodbooks' to_read.csv), where it has them, are reads to come, each with confidence ``to_read``.
        factors: Factors per reader and book.
        regularization: L2 strength.
        alpha: Confidence scale.
        iterations: ALS sweeps (readers, then books).
        seed: Seed of the initial factors.
        to_read: Confidence of a wanted book (0 leaves to_read.csv out).
        on_iteration: Called with (iterations done, iterations) after each sweep.
    """
    import threadpoolctl
    from implicit.cpu.als import AlternatingLeastSquares

    wanted = None
    if to_read > 0 and dataset.want_user_idx.size:
        want_users, want_books = dataset.want_user_idx, dataset.want_book_idx
        by_reader = RatedBooks.from_arrays(want_users, want_books, np.zeros(want_users.size), dataset.n_users)
        wanted = (by_reader.indptr, by_reader.book_idx)
    reads = reads_matrix(dataset, alpha, to_read)

    def report(iteration: int, _seconds: float, _loss: Any) -> None:
        if on_iteration is not None:
            on_iteration(iteration + 1, iterations)

    # implicit runs its own threads; a threaded BLAS beside them only fights them (implicit warns).
    with threadpoolctl.threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=1.0,  # the confidences above carry alpha already
            iterations=iterations,
            calculate_training_loss=False,
            random_state=seed % 2**32,
        )
        model.fit(reads, show_progress=False, callback=report)
    return AlsHead(
        np.asarray(model.user_factors), np.asarray(model.item_factors), regularization, alpha, wanted
    )


def reads_matrix(
    dataset: Dataset, alpha: float, to_read: float, chunk: int = 1 << 22, gather_up_to: int = 1 << 24
) -> Any:
    """Who read what as a (readers x books) float32 CSR matrix of confidences (a pair read twice sums).

    Up to ``gather_up_to`` reads, scipy gathers them all and sorts them into rows (~3x faster); beyond, they
    are filled ``chunk`` at a time straight into their rows: beside the matrix itself (8 bytes a read) that
    needs ~150 MB whatever the size, where gathering every read first took 20 bytes a read more (4.6 GB at
    the UCSD Goodreads shape's 229M reads). Both give the same matrix.
    """
    import scipy.sparse as sparse

    parts = [(dataset.user_idx, dataset.book_idx, dataset.rating)]
    if to_read > 0 and dataset.want_user_idx.size:
        parts.append((dataset.want_user_idx, dataset.want_book_idx, None))
    n_users = dataset.n_users
    shape = (n_users, dataset.n_books)
    if sum(users.size for users, _, _ in parts) <= gather_up_to:
        weights = [
            np.full(users.size, to_read, np.float32)
            if ratings is None
            else confidence(ratings, dataset.rating_scale, alpha)
            for users, _, ratings in parts
        ]
        pairs = (np.concatenate([users for users, _, _ in parts]), np.concatenate([b for _, b, _ in parts]))
        reads = sparse.csr_matrix((np.concatenate(weights), pairs), shape=shape)
        reads.sum_duplicates()
        return reads
    counts = sum(np.bincount(users, minlength=n_users) for users, _, _ in parts)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    index_type = np.int32 if nnz < 2**31 and dataset.n_books < 2**31 else np.int64
    indices = np.empty(nnz, dtype=index_type)
    weights = np.empty(nnz, dtype=np.float32)
    next_free = indptr[:-1].copy()
    for users, books, ratings in parts:
        for start in range(0, users.size, chunk):
            part = slice(start, start + chunk)
            order = group_order(users[part], n_users)
            grouped = users[part][order]
            first = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
            run_start = np.repeat(first, np.diff(np.r_[first, grouped.size]))
            where = next_free[grouped] + (np.arange(grouped.size) - run_start)
            indices[where] = books[part][order]
            if ratings is None:
                weights[where] = to_read
            else:
                weights[where] = confidence(ratings[part][order], dataset.rating_scale, alpha)
            next_free += np.bincount(grouped, minlength=n_users)
    reads = sparse.csr_matrix((weights, indices, indptr), shape=shape)
    reads.sum_duplicates()
    return reads


@dataclass(frozen=True)
class RankerKind:
    """The registration of a ranking model kind.

    Attributes:
        name: Its name in ``TrainConfig.ranker`` and the manifest.
        summary: One line for ``--help``.
        head: The serving head class.
        fit: ``fit(dataset, factors=, regularization=, alpha=, iterations=, seed=, to_read=, on_iteration=)
            -> head``.
    """

    name: str
    summary: str
    head: type[AlsHead]
    fit: Callable[..., AlsHead]


RANKER = RankerKind(
    name="als",
    summary="implicit ALS on who read what, each read weighted by its stars",
    head=AlsHead,
    fit=fit,
)
