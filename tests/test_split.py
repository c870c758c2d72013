"""Splits: the blog's random split, per-reader hold-outs and last-k by file order."""

from __future__ import annotations

import numpy as np
import pytest

from bookrec.data import Dataset, holdout_per_reader, last_k_per_reader, random_split
from bookrec.errors import ConfigError


@pytest.fixture
def dataset(rng: np.random.Generator) -> Dataset:
    users = np.repeat(np.arange(100), rng.integers(1, 30, size=100))
    books = np.concatenate([rng.choice(500, size=(users == u).sum(), replace=False) for u in range(100)])
    return Dataset.from_ratings(users, books, rng.integers(1, 6, size=users.size), rating_scale=(1, 5))


def _pairs(part: Dataset) -> set[tuple[int, int]]:
    return set(zip(part.user_idx.tolist(), part.book_idx.tolist(), strict=True))


def test_random_split_is_a_seeded_partition(dataset: Dataset) -> None:
    train, valid = random_split(dataset, valid_pct=0.2, seed=7)
    assert valid.n_ratings == round(0.2 * dataset.n_ratings)
    assert train.n_ratings + valid.n_ratings == dataset.n_ratings
    assert not _pairs(train) & _pairs(valid)
    assert _pairs(train) | _pairs(valid) == _pairs(dataset)
    assert train.users is dataset.users and valid.books is dataset.books
    _, again_valid = random_split(dataset, valid_pct=0.2, seed=7)
    assert np.array_equal(valid.book_idx, again_valid.book_idx)
    _, other = random_split(dataset, valid_pct=0.2, seed=8)
    assert _pairs(other) != _pairs(valid)


def test_zero_valid_pct_keeps_everything(dataset: Dataset) -> None:
    train, valid = random_split(dataset, valid_pct=0.0)
    assert train.n_ratings == dataset.n_ratings and valid.n_ratings == 0


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_bad_valid_pct(dataset: Dataset, bad: float) -> None:
    with pytest.raises(ConfigError, match="valid_pct"):
        random_split(dataset, valid_pct=bad)


def test_holdout_per_reader(dataset: Dataset) -> None:
    train, valid = holdout_per_reader(dataset, k=3, seed=1)
    counts = np.bincount(dataset.user_idx, minlength=dataset.n_users)
    held = np.bincount(valid.user_idx, minlength=dataset.n_users)
    assert np.array_equal(held, np.where(counts >= 6, 3, 0))
    assert not _pairs(train) & _pairs(valid)
    assert train.n_ratings + valid.n_ratings == dataset.n_ratings


def test_last_k_per_reader_takes_the_latest_rows(dataset: Dataset) -> None:
    _, valid = last_k_per_reader(dataset, k=2)
    counts = np.bincount(dataset.user_idx, minlength=dataset.n_users)
    for user in range(dataset.n_users):
        rows = np.flatnonzero(dataset.user_idx == user)
        expected = set(dataset.book_idx[rows[-2:]].tolist()) if counts[user] >= 4 else set()
        assert set(valid.book_idx[valid.user_idx == user].tolist()) == expected


def test_k_must_leave_training_ratings(dataset: Dataset) -> None:
    with pytest.raises(ConfigError):
        holdout_per_reader(dataset, k=0)
    with pytest.raises(ConfigError):
        last_k_per_reader(dataset, k=3, min_ratings=3)
