"""Shared fixtures: an isolated BOOKREC_HOME for every test; goodbooks-shaped data with planted structure."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
BOOKS_SAMPLE = FIXTURES / "books_sample.csv"


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
