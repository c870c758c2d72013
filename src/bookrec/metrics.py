"""Accuracy metrics as pure functions on arrays: rating error and top-N ranking quality.

Rating error (MSE, RMSE, MAE) compares predicted with true ratings. Top-N metrics compare each reader's
list of k recommended books with the books they rated highly in a hold-out: NDCG@k (binary relevance),
recall@k and @2k, precision@k, hit rate@k, and catalogue coverage (the share of all books in any list).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bookrec.errors import ConfigError

__all__ = [
    "RankingMetrics",
    "RatingMetrics",
    "default_like_threshold",
    "ranking_metrics",
    "rating_metrics",
    "relevance_threshold",
]


@dataclass(frozen=True)
class RatingMetrics:
    """Error of predicted ratings.

    Attributes:
        mse: Mean squared error.
        rmse: Root mean squared error.
        mae: Mean absolute error.
        n: Number of ratings compared.
    """

    mse: float
    rmse: float
    mae: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain values for JSON."""
        return {"mse": self.mse, "rmse": self.rmse, "mae": self.mae, "n": self.n}


def rating_metrics(predicted: np.ndarray, actual: np.ndarray) -> RatingMetrics:
    """MSE, RMSE and MAE of ``predicted`` against ``actual`` (NaN when there is nothing to compare)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if predicted.shape != actual.shape:
        raise ValueError(f"predicted has shape {predicted.shape} but actual has {actual.shape}")
    if actual.size == 0:
        return RatingMetrics(float("nan"), float("nan"), float("nan"), 0)
    error = predicted - actual
    mse = float(np.mean(error * error))
    return RatingMetrics(
        mse=mse, rmse=float(np.sqrt(mse)), mae=float(np.mean(np.abs(error))), n=int(actual.size)
    )


@dataclass(frozen=True)
class RankingMetrics:
    """Quality of top-k lists against the held-out books each reader liked (relevant books).

    Every figure is a mean over the evaluated readers: those with at least one relevant book.

    Attributes:
        k: List length.
        precision: Hits in the top k / k.
        recall: Hits in the top k / the reader's number of relevant books (not capped at k).
        ndcg: Normalised discounted cumulative gain at k (binary relevance; the ideal list puts
            ``min(k, relevant)`` hits first).
        coverage: Share of the catalogue in the top k of at least one list.
        n_readers: Readers evaluated (those with at least one relevant book).
        hit_rate: Share of readers with at least one hit in the top k.
        recall_2k: Recall in the top 2k, or NaN when the lists were shorter than 2k.
    """

    k: int
    precision: float
    recall: float
    ndcg: float
    coverage: float
    n_readers: int
    hit_rate: float = float("nan")
    recall_2k: float = float("nan")

    def to_dict(self) -> dict[str, float | int]:
        """Plain values for JSON: ``ndcg_at_k``, ``recall_at_k``, ``recall_at_2k``, ``precision_at_k``,
        ``hit_rate_at_k``, ``coverage``, ``n_users``, and the older keys ``precision@10``, ``recall@10``,
        ``ndcg@10`` (for k=10) and ``readers``."""
        return {
            "ndcg_at_k": self.ndcg,
            "recall_at_k": self.recall,
            "recall_at_2k": self.recall_2k,
            "precision_at_k": self.precision,
            "hit_rate_at_k": self.hit_rate,
            "coverage": self.coverage,
            "n_users": self.n_readers,
            f"precision@{self.k}": self.precision,
            f"recall@{self.k}": self.recall,
            f"ndcg@{self.k}": self.ndcg,
            "readers": self.n_readers,
        }


def ranking_metrics(
    top_k: np.ndarray, relevant: list[np.ndarray], n_books: int, *, k: int | None = None
) -> RankingMetrics:
    """NDCG, recall, precision and hit rate at k, recall at 2k, and coverage of top-k lists.

    For a reader with ``r`` relevant books of which ``h`` are in the first k of the list: precision@k is
    ``h / k``, recall@k is ``h / r`` (the plain definition, not ``h / min(k, r)``), hit rate@k is 1 if
    ``h > 0`` else 0, and NDCG@k is ``sum(1 / log2(rank + 1) over hits) / sum(1 / log2(rank + 1) for ranks
    1..min(k, r))``. Each is averaged over the readers with ``r > 0``; readers without a relevant book are
    left out. Coverage counts the distinct books in the first k of every list, over ``n_books``.

    Args:
        top_k: (n_readers, width) book indices, best first, one row per reader; -1 pads a list shorter than
            its width. ``width`` may exceed k: recall at 2k reads the first 2k columns when there are that
            many (NaN otherwise).
        relevant: For each row of ``top_k``, the distinct book indices that reader found relevant; a
            negative index is a relevant book no list can hold (one the model does not know): it counts
            in ``r`` and is never a hit.
        n_books: Catalogue size, for coverage.
        k: List length scored; default the width of ``top_k``.
    """
    top = np.asarray(top_k, dtype=np.int64)
    if top.ndim != 2 or top.shape[0] != len(relevant):
        raise ValueError("top_k must have one row per entry of relevant")
    width = top.shape[1]
    k = width if k is None else k
    if k < 1:
        raise ConfigError("k must be at least 1")
    if k > width:
        raise ValueError(f"k is {k} but the lists hold only {width} books")
    hits = _hits(top, relevant)
    n_relevant = np.array([len(books) for books in relevant], dtype=np.int64)
    rated = n_relevant > 0
    shown = top[:, :k]
    coverage = np.unique(shown[shown >= 0]).size / max(1, n_books)
    n = int(rated.sum())
    if n == 0:
        nan = float("nan")
        return RankingMetrics(k, nan, nan, nan, float(coverage), 0, nan, nan)
    hits, n_relevant = hits[rated], n_relevant[rated]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    in_k = hits[:, :k]
    n_hits = in_k.sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(k, n_relevant) - 1]
    recall_2k = float(np.mean(hits[:, : 2 * k].sum(axis=1) / n_relevant)) if width >= 2 * k else float("nan")
    return RankingMetrics(
        k=k,
        precision=float(np.mean(n_hits / k)),
        recall=float(np.mean(n_hits / n_relevant)),
        ndcg=float(np.mean(in_k @ discounts / ideal)),
        coverage=float(coverage),
        n_readers=n,
        hit_rate=float(np.mean(n_hits > 0)),
        recall_2k=recall_2k,
    )


def _hits(top: np.ndarray, relevant: list[np.ndarray]) -> np.ndarray:
    """(n_readers, width) booleans: whether each listed book is relevant to that row's reader.

    One binary search of (row, book) keys instead of a loop over readers (``np.isin`` took 3x longer on
    goodbooks' 53,424 readers).
    """
    lengths = [len(books) for books in relevant]
    books = np.concatenate([np.zeros(0, dtype=np.int64), *(np.asarray(b, dtype=np.int64) for b in relevant)])
    rows = np.repeat(np.arange(len(relevant), dtype=np.int64), lengths)
    known = books >= 0
    stride = int(max(top.max(initial=-1), books.max(initial=-1))) + 1
    # A sentinel above every key: searchsorted then always lands on an element.
    wanted = np.append(np.sort(rows[known] * stride + books[known]), np.iinfo(np.int64).max)
    keys = np.arange(top.shape[0], dtype=np.int64)[:, None] * stride + top
    return (top >= 0) & (wanted[np.searchsorted(wanted, keys)] == keys)


def default_like_threshold(rating_min: float, rating_max: float) -> float:
    """What "liked" means on a scale: the top 25% of it (4 stars and up on 1-5, 8 and up on 0-10)."""
    return rating_min + 0.75 * (rating_max - rating_min)


def relevance_threshold(rating_min: float, rating_max: float) -> float:
    """The default relevance threshold of top-N evaluation: the top fifth of the scale, rounded down.

    ``floor(rating_max - 0.2 * (rating_max - rating_min))``: 4 on 1-5 (floor 4.2), 4 on 0.5-5 (floor 4.1),
    8 on 1-10 (floor 8.2). A held-out rating at or above it is relevant.
    """
    # The small tolerance keeps a threshold that is whole on paper (5 - 0.2 * 5 = 4) from flooring to 3
    # when floating point lands a hair below it.
    return float(math.floor(rating_max - 0.2 * (rating_max - rating_min) + 1e-9))
