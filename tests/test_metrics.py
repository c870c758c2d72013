"""Metrics (pure functions) and top-N evaluation of a scorer, checked against hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bookrec.data import Dataset
from bookrec.evaluation import evaluate_top_n, popularity_scores, top_k_unseen
from bookrec.metrics import default_like_threshold, ranking_metrics, rating_metrics, relevance_threshold


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
    assert metrics.hit_rate == pytest.approx(1.0)
    assert math.isnan(metrics.recall_2k)  # lists of 3 say nothing about the top 6
    old_keys = {"precision@3", "recall@3", "ndcg@3", "coverage", "readers"}
    new_keys = {"ndcg_at_k", "recall_at_k", "recall_at_2k", "precision_at_k", "hit_rate_at_k", "n_users"}
    assert set(metrics.to_dict()) == old_keys | new_keys


def test_ranking_metrics_at_k_and_2k_by_hand() -> None:
    # k = 2, lists of 2k = 4; g = 1 / log2(3) is the discount of rank 2.
    top = np.array(
        [
            [3, 1, 4, 0],  # A: relevant {1, 0, 7}: hit at rank 2 (and 4)
            [5, 6, -1, -1],  # B: only two books left to rank; relevant {5, one the model lacks (-1)}
            [2, 8, 9, 3],  # C: no relevant book: left out
            [9, 8, 2, 4],  # D: relevant {3}: no hit
        ]
    )
    relevant = [np.array([1, 0, 7]), np.array([5, -1]), np.array([], dtype=int), np.array([3])]
    metrics = ranking_metrics(top, relevant, n_books=10, k=2)
    assert metrics.k == 2 and metrics.n_readers == 3
    # precision@2: A 1/2, B 1/2, D 0.
    assert metrics.precision == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    # recall@2 = hits in the top 2 / relevant: A 1/3, B 1/2 (the unknown book counts), D 0.
    assert metrics.recall == pytest.approx((1 / 3 + 1 / 2 + 0) / 3)
    # recall@4: A 2/3 (books 1 and 0), B 1/2, D 0.
    assert metrics.recall_2k == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # hit rate@2: A and B have a hit, D none.
    assert metrics.hit_rate == pytest.approx(2 / 3)
    # NDCG@2: A g / (1 + g) (ideal: two hits), B 1 / (1 + g), D 0; the mean is (1 + g) / (1 + g) / 3.
    assert metrics.ndcg == pytest.approx(1 / 3)
    # coverage: books in the top 2 of any list: 3, 1, 5, 6, 2, 8, 9 = 7 of 10 (C's list counts too).
    assert metrics.coverage == pytest.approx(0.7)
    values = metrics.to_dict()
    assert values["ndcg_at_k"] == values["ndcg@2"] and values["n_users"] == values["readers"] == 3
    assert values["recall_at_2k"] == metrics.recall_2k and values["hit_rate_at_k"] == metrics.hit_rate


def test_ranking_metrics_recall_is_not_capped_at_k() -> None:
    # One reader, 4 relevant books, both list places hit: recall@2 = 2/4 (the capped form would say 2/2).
    metrics = ranking_metrics(np.array([[1, 2]]), [np.array([1, 2, 3, 4])], n_books=5)
    assert metrics.recall == pytest.approx(0.5) and metrics.precision == 1.0 and metrics.ndcg == 1.0


def test_ranking_metrics_without_relevant_books_are_nan() -> None:
    metrics = ranking_metrics(np.array([[1, 2]]), [np.array([], dtype=int)], n_books=5)
    assert metrics.n_readers == 0 and math.isnan(metrics.ndcg) and math.isnan(metrics.hit_rate)
    assert metrics.coverage == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="hold only 2"):
        ranking_metrics(np.array([[1, 2]]), [np.array([1])], n_books=5, k=3)


def test_top_k_excludes_seen_books() -> None:
    train = Dataset.from_ratings([1, 1, 2, 3], [10, 20, 10, 30], [5, 4, 3, 2], rating_scale=(1, 5))
    scores = np.array([3.0, 2.0, 1.0])  # book 10 is best, then 20, then 30

    def scores_for(users: np.ndarray) -> np.ndarray:
        return np.tile(scores, (len(users), 1))

    top = top_k_unseen(scores_for, train, np.array([0, 1]), k=1)
    assert top[:, 0].tolist() == [train.books.get(30), train.books.get(20)]
    top_two = top_k_unseen(scores_for, train, np.array([1]), k=2)
    assert top_two[0].tolist() == [train.books.get(20), train.books.get(30)]
    # Reader 1 rated 2 of the 3 books: one is left, and -1 fills the rest of the list.
    assert top_k_unseen(scores_for, train, np.array([0]), k=3)[0].tolist() == [train.books.get(30), -1, -1]
    # Batches of one reader give the same lists as one batch.
    every = np.arange(train.n_users)
    np.testing.assert_array_equal(
        top_k_unseen(scores_for, train, every, k=2, batch=1), top_k_unseen(scores_for, train, every, k=2)
    )


@pytest.mark.parametrize("tie_values", [3, 1000, None])  # many ties, some, none (continuous scores)
def test_top_k_unseen_equals_a_full_stable_sort(rng: np.random.Generator, tie_values: int | None) -> None:
    n_users, n_books, k = 40, 700, 6
    users = np.repeat(np.arange(n_users), 30)
    books = np.concatenate([rng.choice(n_books, 30, replace=False) for _ in range(n_users)])
    train = Dataset.from_ratings(users, books, np.full(users.size, 4.0), rating_scale=(1, 5))
    shape = (n_users, train.n_books)  # the books someone rated: about 580
    table = rng.random(shape) if tie_values is None else rng.integers(0, tie_values, shape).astype(float)

    def scores_for(readers: np.ndarray) -> np.ndarray:
        return table[readers]

    top = top_k_unseen(scores_for, train, np.arange(n_users), k, batch=16)
    for user in range(n_users):
        seen = set(train.book_idx[train.user_idx == user].tolist())
        ranked = [b for b in np.argsort(-table[user], kind="stable") if b not in seen]  # ties: lower first
        assert top[user].tolist() == ranked[:k]


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
    assert popular.recall_2k >= popular.recall and popular.hit_rate >= popular.precision
    assert evaluate_top_n(popularity_scores(train), train, test, k=5, max_readers=7).n_readers == 7


def test_like_threshold() -> None:
    assert default_like_threshold(1, 5) == 4
    assert default_like_threshold(0, 10) == 7.5


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        ((1, 5), 4.0),  # floor(5 - 0.2 * 4) = floor(4.2)
        ((0.5, 5), 4.0),  # floor(5 - 0.2 * 4.5) = floor(4.1)
        ((1, 10), 8.0),  # floor(10 - 0.2 * 9) = floor(8.2)
        ((0, 5), 4.0),  # floor(5 - 1) = 4 exactly, not 3 from a float a hair below
        ((0, 10), 8.0),  # floor(10 - 2) = 8
    ],
)
def test_relevance_threshold_is_the_top_fifth_rounded_down(
    scale: tuple[float, float], expected: float
) -> None:
    assert relevance_threshold(*scale) == expected
