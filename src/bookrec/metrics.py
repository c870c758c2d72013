"""Accuracy metrics as pure functions on arrays: rating error and top-N ranking quality.

Rating error (MSE, RMSE, MAE) compares predicted with true ratings. Top-N metrics compare each reader's
list of k recommended books with the books they rated highly in a hold-out: precision@k, recall@k, NDCG@k
(binary relevance) and catalogue coverage (the share of all books that appear in any list).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bookrec.errors import ConfigError

__all__ = ["RankingMetrics", "RatingMetrics", "default_like_threshold", "ranking_metrics", "rating_metrics"]


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


def default_like_threshold(rating_min: float, rating_max: float) -> float:
    """What "liked" means on a scale: the top 25% of it (4 stars and up on 1-5, 8 and up on 0-10)."""
    return rating_min + 0.75 * (rating_max - rating_min)
