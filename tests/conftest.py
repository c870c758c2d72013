"""Shared fixtures and factories: an isolated BOOKREC_HOME per test; data and models with planted structure.

Tests import factories from here, never from each other.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bookrec.data import Dataset, IdMap
from bookrec.data.rated import RatedBooks
from bookrec.models.dot import DotHead
from bookrec.recommender import Recommender

FIXTURES = Path(__file__).parent / "fixtures"
BOOKS_SAMPLE = FIXTURES / "books_sample.csv"
N_CLUSTERS = 4
"""Planted models put book i in taste cluster i % N_CLUSTERS."""
NOISE = 0.25
"""The noise of ``planted_dataset``'s ratings: the floor of any model's RMSE on them."""


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Tests run torch on one thread: two threads on tiny batches made two tests 15x slower, same results."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def bookrec_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty BOOKREC_HOME, so no test reads or writes a user's cache."""
    home = tmp_path_factory.mktemp("bookrec-home")
    monkeypatch.setenv("BOOKREC_HOME", str(home))
    return home


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator for test data (never the global one)."""
    return np.random.default_rng(1234)


def sample_book_ids() -> list[int]:
    """The real book ids in the committed books fixture."""
    with open(BOOKS_SAMPLE, encoding="utf-8", newline="") as handle:
        return [int(row["book_id"]) for row in csv.DictReader(handle)]


def planted_ratings(
    rng: np.random.Generator, n_users: int, book_ids: list[int], per_user: int, n_factors: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratings 1-5 from a planted low-rank model; each reader rates ``per_user`` distinct books."""
    n_books = len(book_ids)
    users = rng.normal(size=(n_users, n_factors))
    books = rng.normal(size=(n_books, n_factors))
    user_ids = np.repeat(np.arange(1, n_users + 1), per_user)
    chosen = np.concatenate([rng.choice(n_books, size=per_user, replace=False) for _ in range(n_users)])
    score = (users[user_ids - 1] * books[chosen]).sum(axis=1) + rng.normal(scale=0.3, size=chosen.size)
    stars = np.clip(np.round(3.6 + 0.8 * score), 1, 5)
    return user_ids, np.asarray(book_ids)[chosen], stars


def write_ratings(
    path: Path, rows: list[tuple[object, object, object]], header: str = "user_id,book_id,rating"
) -> Path:
    """Write a small ratings CSV exactly as given (strings are written verbatim)."""
    lines = [header] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def goodbooks_folder(tmp_path: Path, rng: np.random.Generator) -> Callable[..., Path]:
    """Make a goodbooks-shaped folder: real books from the fixture and planted synthetic ratings."""

    def make(n_users: int = 40, per_user: int = 12, name: str = "goodbooks") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        user_ids, book_ids, stars = planted_ratings(rng, n_users, sample_book_ids(), per_user)
        rows = [(int(u), int(b), int(s)) for u, b, s in zip(user_ids, book_ids, stars, strict=True)]
        write_ratings(folder / "ratings.csv", rows)
        (folder / "books.csv").write_bytes(BOOKS_SAMPLE.read_bytes())
        return folder

    return make


def planted_dataset(
    rng: np.random.Generator,
    n_users: int = 300,
    n_books: int = 150,
    per_user: int = 50,
    *,
    taste_reads: bool = False,
) -> Dataset:
    """Ratings from planted rank-3 factors and biases plus Normal(0, NOISE) noise: the floor RMSE is NOISE.

    Each reader reads ``per_user`` books, at random, or (``taste_reads``) more often those they will like,
    as real readers do: then who read what carries the taste too, which is what a ranking model learns from.
    """
    k = 3
    user_f, book_f = rng.normal(size=(n_users, k)) * 0.7, rng.normal(size=(n_books, k)) * 0.7
    user_b, book_b = rng.normal(size=n_users) * 0.3, rng.normal(size=n_books) * 0.3
    users = np.repeat(np.arange(n_users), per_user)
    if taste_reads:
        appeal = np.exp(2.0 * (user_f @ book_f.T + book_b))
        chosen = [rng.choice(n_books, per_user, replace=False, p=row / row.sum()) for row in appeal]
    else:
        chosen = [rng.choice(n_books, per_user, replace=False) for _ in range(n_users)]
    books = np.concatenate(chosen)
    clean = np.clip(3.0 + user_b[users] + book_b[books] + (user_f[users] * book_f[books]).sum(1), 1, 5)
    stars = clean + rng.normal(scale=NOISE, size=clean.size)
    return Dataset.from_ratings(users + 1, books + 1, stars, rating_scale=(1.0, 5.0), name="planted")


@pytest.fixture(scope="module")
def planted() -> Dataset:
    """15,000 planted ratings (300 readers x 50 of 150 books): enough to learn the planted factors."""
    return planted_dataset(np.random.default_rng(1234))


@pytest.fixture(scope="module")
def small() -> Dataset:
    """900 planted ratings (60 readers x 15 of 40 books): quick runs of every setting."""
    return planted_dataset(np.random.default_rng(99), n_users=60, n_books=40, per_user=15)


def sample_books(n_books: int | None = None) -> pd.DataFrame:
    """The committed real books (all 332, or the first ``n_books``)."""
    books = pd.read_csv(BOOKS_SAMPLE)
    return books if n_books is None else books.head(n_books)


def books_table(books: pd.DataFrame, n_ratings: np.ndarray) -> pd.DataFrame:
    """A model's books table over real metadata, with the given rating counts."""
    table = books[["book_id", "title", "authors"]].copy()
    table["year"] = pd.array(books.original_publication_year.round(), dtype="Int64")
    table["average_rating"] = books.average_rating
    table["ratings_count"] = books.ratings_count
    table["n_ratings"] = n_ratings
    table["image_url"] = books.image_url.fillna("")
    table["small_image_url"] = books.small_image_url.fillna("")
    table["goodreads_url"] = [f"https://www.goodreads.com/book/show/{g}" for g in books.goodreads_book_id]
    return table.reset_index(drop=True)


HISTORY = [
    {"epoch": e, "epochs": 3, "train_loss": 1.2 - 0.2 * e, "valid_loss": 1.1 - 0.1 * e, "valid_rmse": 0.9}
    for e in (1, 2, 3)
]
PLANTED_MANIFEST = {
    "model": {"kind": "dot", "settings": {"n_factors": 8}},
    "config": {"model": "dot", "epochs": 3, "lr": 0.01, "wd": 0.05},
    "data": {"name": "planted test data", "n_train": 576, "n_valid": 64},
    "metrics": {"valid_rmse": 0.912, "valid_mae": 0.7, "epochs": 3, "seconds": 0.5, "n_train": 576},
    "history": HISTORY,
}
"""What a saved planted model's manifest says about its training (as ``train`` would record it)."""


def planted_recommender(books: pd.DataFrame, *, n_users: int = 80, k: int = 8, seed: int = 7) -> Recommender:
    """A dot model over real books in 4 taste clusters (book i in cluster i % 4); each reader loves one
    cluster and rated 8 of its books 5 stars. Book 5 has a high bias (everyone likes it), book 6 a low one."""
    rng = np.random.default_rng(seed)
    n_books = len(books)
    cluster = np.arange(n_books) % N_CLUSTERS
    directions = np.eye(k)[:N_CLUSTERS] * 2.0
    book_vectors = directions[cluster] + rng.normal(scale=0.15, size=(n_books, k))
    user_cluster = np.arange(n_users) % N_CLUSTERS
    user_vectors = directions[user_cluster] * 0.8 + rng.normal(scale=0.1, size=(n_users, k))
    book_bias = rng.normal(scale=0.3, size=n_books)
    book_bias[5], book_bias[6] = 2.5, -2.5
    head = DotHead(user_vectors, rng.normal(scale=0.1, size=n_users), book_vectors, book_bias, (0.0, 5.5))
    users, rated_books = [], []
    for user in range(n_users):
        mine = np.flatnonzero(cluster == user_cluster[user])
        rated_books += rng.choice(mine, size=8, replace=False).tolist()
        users += [user] * 8
    stars = np.full(len(users), 5.0)
    rated = RatedBooks.from_arrays(np.array(users), np.array(rated_books), stars, n_users)
    return Recommender(
        head=head,
        users=IdMap(np.arange(1, n_users + 1)),
        books=IdMap(books.book_id.to_numpy()),
        books_table=books_table(books, np.bincount(np.array(rated_books), minlength=n_books) + 10),
        rating_scale=(1.0, 5.0),
        rated=rated,
    )


@pytest.fixture(scope="module")
def planted_model() -> tuple[Recommender, np.ndarray]:
    """``planted_recommender`` over the first 120 sample books, with each book's cluster."""
    recommender = planted_recommender(sample_books(120))
    return recommender, np.arange(recommender.n_books) % N_CLUSTERS
