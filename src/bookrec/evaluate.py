"""Accuracy metrics as pure functions on arrays: rating error and top-N ranking quality.

Rating error (MSE, RMSE, MAE) compares predicted with true ratings. Top-N metrics compare each reader's
list of k recommended books with the books they rated highly in a hold-out: precision@k, recall@k, NDCG@k
(binary relevance) and catalogue coverage (the share of all books that appear in any list).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bookrec.data.load import Dataset
from bookrec.errors import ConfigError


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
    """Quality of top-k lists against the held-out books each reader liked.

    Attributes:
        k: List length.
        precision: Mean share of the k recommended books that the reader liked.
        recall: Mean share of the reader's liked held-out books that made the list.
        ndcg: Mean normalised discounted cumulative gain (binary relevance).
        coverage: Share of the catalogue recommended to at least one reader.
        n_readers: Readers evaluated (those with at least one liked held-out book).
    """

    k: int
    precision: float
    recall: float
    ndcg: float
    coverage: float
    n_readers: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain values for JSON, keyed like ``precision@10``."""
        return {
            f"precision@{self.k}": self.precision,
            f"recall@{self.k}": self.recall,
            f"ndcg@{self.k}": self.ndcg,
            "coverage": self.coverage,
            "readers": self.n_readers,
        }


def ranking_metrics(top_k: np.ndarray, relevant: list[np.ndarray], n_books: int) -> RankingMetrics:
    """Precision, recall and NDCG at k, and coverage.

    Args:
        top_k: (n_readers, k) book indices, best first, one row per evaluated reader.
        relevant: For each row of ``top_k``, the book indices that reader liked in the hold-out.
        n_books: Catalogue size, for coverage.
    """
    top_k = np.asarray(top_k)
    if top_k.ndim != 2 or top_k.shape[0] != len(relevant):
        raise ValueError("top_k must have one row per entry of relevant")
    k = top_k.shape[1]
    if k < 1:
        raise ConfigError("k must be at least 1")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precisions, recalls, ndcgs = [], [], []
    for row, liked in zip(top_k, relevant, strict=True):
        if len(liked) == 0:
            continue
        hits = np.isin(row, liked)
        n_hits = int(hits.sum())
        precisions.append(n_hits / k)
        recalls.append(n_hits / len(liked))
        ideal = discounts[: min(k, len(liked))].sum()
        ndcgs.append(float((hits * discounts).sum() / ideal))
    shown = np.unique(top_k[top_k >= 0]) if top_k.size else np.zeros(0)
    n = len(precisions)
    return RankingMetrics(
        k=k,
        precision=float(np.mean(precisions)) if n else float("nan"),
        recall=float(np.mean(recalls)) if n else float("nan"),
        ndcg=float(np.mean(ndcgs)) if n else float("nan"),
        coverage=float(shown.size / max(1, n_books)),
        n_readers=n,
    )


def top_k_unseen(
    scores_for: Callable[[np.ndarray], np.ndarray],
    train: Dataset,
    user_idx: np.ndarray,
    k: int,
    *,
    batch: int = 512,
) -> np.ndarray:
    """The k best-scored books per reader among those the reader has not rated in ``train``.

    Args:
        scores_for: Maps reader positions (m,) to scores for every book (m, n_books); higher is better.
        train: The ratings the lists must exclude.
        user_idx: Reader positions to rank for.
        k: List length.
        batch: Readers scored at once (bounds memory at ``batch * n_books`` floats).
    """
    order = np.argsort(train.user_idx, kind="stable")
    starts = np.searchsorted(train.user_idx[order], np.arange(train.n_users + 1))
    seen_books = train.book_idx[order]
    result = np.empty((len(user_idx), k), dtype=np.int64)
    for lo in range(0, len(user_idx), batch):
        users = np.asarray(user_idx[lo : lo + batch])
        scores = np.array(scores_for(users), dtype=np.float64, copy=True)
        for row, user in enumerate(users):
            scores[row, seen_books[starts[user] : starts[user + 1]]] = -np.inf
        part = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
        picked = np.take_along_axis(scores, part, axis=1)
        result[lo : lo + len(users)] = np.take_along_axis(
            part, np.argsort(-picked, axis=1, kind="stable"), axis=1
        )
    return result


def popularity_scores(train: Dataset) -> Callable[[np.ndarray], np.ndarray]:
    """The most-popular baseline: every reader gets the books with most ratings in ``train``."""
    counts = np.bincount(train.book_idx, minlength=train.n_books).astype(np.float64)

    def scores_for(users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(counts, (len(users), counts.size))

    return scores_for


def liked_in_holdout(test: Dataset, min_rating: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Readers with held-out ratings, and for each the held-out books rated at least ``min_rating``."""
    users = np.unique(test.user_idx)
    liked_mask = test.rating >= min_rating
    order = np.argsort(test.user_idx[liked_mask], kind="stable")
    liked_users = test.user_idx[liked_mask][order]
    liked_books = test.book_idx[liked_mask][order]
    bounds = np.searchsorted(liked_users, np.concatenate((users, [np.iinfo(np.int64).max])))
    return users, [liked_books[bounds[i] : bounds[i + 1]] for i in range(len(users))]


def default_like_threshold(rating_min: float, rating_max: float) -> float:
    """What "liked" means on a scale: the top 25% of it (4 stars and up on 1-5, 8 and up on 0-10)."""
    return rating_min + 0.75 * (rating_max - rating_min)


def evaluate_top_n(
    scores_for: Callable[[np.ndarray], np.ndarray],
    train: Dataset,
    test: Dataset,
    *,
    k: int = 10,
    min_rating: float | None = None,
    max_readers: int | None = 5000,
    seed: int = 0,
) -> RankingMetrics:
    """Top-N metrics of a scorer on a per-reader hold-out (see ``bookrec.data.holdout_per_reader``).

    Args:
        scores_for: Maps reader positions to scores for every book.
        train: Ratings the model saw (excluded from the lists).
        test: Held-out ratings.
        k: List length.
        min_rating: Held-out ratings at or above this count as liked; default the top quarter of the scale.
        max_readers: Evaluate a seeded sample of at most this many readers (None: all).
        seed: Seed of that sample.
    """
    threshold = (
        default_like_threshold(train.rating_min, train.rating_max) if min_rating is None else min_rating
    )
    users, liked = liked_in_holdout(test, threshold)
    keep = np.array([len(books) > 0 for books in liked], dtype=bool)
    users = users[keep]
    liked = [books for books, kept in zip(liked, keep, strict=True) if kept]
    if max_readers is not None and len(users) > max_readers:
        chosen = np.sort(np.random.default_rng(seed).choice(len(users), size=max_readers, replace=False))
        users = users[chosen]
        liked = [liked[i] for i in chosen]
    top = top_k_unseen(scores_for, train, users, k)
    return ranking_metrics(top, liked, train.n_books)
