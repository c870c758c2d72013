"""Metrics (pure functions) and top-N evaluation of a scorer, checked against hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bookrec.data import Dataset
from bookrec.evaluation import evaluate_top_n, popularity_scores, top_k_unseen
from bookrec.metrics import default_like_threshold, ranking_metrics, rating_metrics


def test_rating_metrics_by_hand() -> None:
    metrics = rating_metrics(np.array([3.0, 4.0, 5.0]), np.array([4.0, 4.0, 3.0]))
    assert metrics.mse == pytest.approx(5 / 3)
    assert metrics.rmse == pytest.approx(math.sqrt(5 / 3))
    assert metrics.mae == pytest.approx(1.0)
    assert metrics.n == 3
    assert math.isnan(rating_metrics(np.zeros(0), np.zeros(0)).rmse)


def test_ranking_metrics_by_hand() -> None:
    top = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    relevant = [np.array([2, 10]), np.array([], dtype=int), np.array([7, 8, 9, 11])]
    metrics = ranking_metrics(top, relevant, n_books=20)
    assert metrics.n_readers == 2
    assert metrics.precision == pytest.approx((1 / 3 + 3 / 3) / 2)
    assert metrics.recall == pytest.approx((1 / 2 + 3 / 4) / 2)
    ndcg_first = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert metrics.ndcg == pytest.approx((ndcg_first + 1.0) / 2)
    assert metrics.coverage == pytest.approx(9 / 20)
    assert set(metrics.to_dict()) == {"precision@3", "recall@3", "ndcg@3", "coverage", "readers"}


def test_top_k_excludes_seen_books() -> None:
    train = Dataset.from_ratings([1, 1, 2, 3], [10, 20, 10, 30], [5, 4, 3, 2], rating_scale=(1, 5))
    scores = np.array([3.0, 2.0, 1.0])  # book 10 is best, then 20, then 30

    def scores_for(users: np.ndarray) -> np.ndarray:
        return np.tile(scores, (len(users), 1))

    top = top_k_unseen(scores_for, train, np.array([0, 1]), k=1)
    assert top[:, 0].tolist() == [train.books.get(30), train.books.get(20)]
    top_two = top_k_unseen(scores_for, train, np.array([1]), k=2)
    assert top_two[0].tolist() == [train.books.get(20), train.books.get(30)]


def test_popularity_baseline_and_evaluate(rng: np.random.Generator) -> None:
    n_users, n_books = 60, 30
    popularity = np.linspace(3, 0.1, n_books)
    users, books = [], []
    for user in range(n_users):
        chosen = rng.choice(n_books, size=10, replace=False, p=popularity / popularity.sum())
        users += [user] * 10
        books += chosen.tolist()
    data = Dataset.from_ratings(users, books, np.full(len(users), 5.0), rating_scale=(1, 5))
    half = np.arange(data.n_ratings) % 2 == 0
    train, test = data.subset(np.flatnonzero(half)), data.subset(np.flatnonzero(~half))
    popular = evaluate_top_n(popularity_scores(train), train, test, k=5)

    def random_scores(users: np.ndarray) -> np.ndarray:
        return rng.random((len(users), n_books))

    chance = evaluate_top_n(random_scores, train, test, k=5)
    assert popular.n_readers == n_users
    assert popular.precision > chance.precision


def test_like_threshold() -> None:
    assert default_like_threshold(1, 5) == 4
    assert default_like_threshold(0, 10) == 7.5
