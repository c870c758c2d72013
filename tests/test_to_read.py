"""goodbooks' to_read.csv: loaded beside the ratings, learned from by the ranking model, left out of lists."""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bookrec.config import RANK_REG_PER_SQRT_READER, TrainConfig
from bookrec.data import Dataset, load_dataset
from bookrec.errors import DataError
from bookrec.recommender import Recommender
from bookrec.train import train


def _ratings(folder: Path) -> list[tuple[int, int]]:
    lines = (folder / "ratings.csv").read_text().splitlines()[1:]
    return [(int(u), int(b)) for u, b, _ in (line.split(",") for line in lines)]


def _with_to_read(folder: Path, pairs: list[tuple[object, object]]) -> Path:
    rows = ["user_id,book_id", *(f"{u},{b}" for u, b in pairs)]
    (folder / "to_read.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_wanted_books_load_beside_the_ratings(goodbooks_folder: Callable[..., Path]) -> None:
    folder = goodbooks_folder()
    rated = _ratings(folder)
    user, book = rated[0]
    unread = next(b for _, b in rated if (user, b) not in set(rated))
    # one new pair, one already rated (left out: a rating says more), one unknown reader and one unknown book
    _with_to_read(
        folder, [(user, unread), (user, book), (999_999, unread), (user, 123_456_789), (user, unread)]
    )
    data = load_dataset(folder)
    assert data.want_user_idx.tolist() == data.users.index_of([user]).tolist()
    assert data.want_book_idx.tolist() == data.books.index_of([unread]).tolist()
    assert data.summary()["to_read"] == 1
    again = load_dataset(folder)  # from the cache
    assert again.want_book_idx.tolist() == data.want_book_idx.tolist()


def test_a_zip_with_to_read_loads_the_same(goodbooks_folder: Callable[..., Path], tmp_path: Path) -> None:
    folder = goodbooks_folder()
    rated = _ratings(folder)
    user = rated[0][0]
    unread = [b for _, b in rated if (user, b) not in set(rated)][:3]
    _with_to_read(folder, [(user, b) for b in unread])
    archive = tmp_path / "goodbooks.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("ratings.csv", "books.csv", "to_read.csv"):
            zipped.write(folder / name, f"goodbooks-10k/{name}")
    assert sorted(load_dataset(archive).want_book_idx.tolist()) == sorted(
        load_dataset(folder).want_book_idx.tolist()
    )


def test_a_broken_to_read_file_is_one_line(goodbooks_folder: Callable[..., Path]) -> None:
    folder = _with_to_read(goodbooks_folder(), [(1, "not-a-book")])
    with pytest.raises(DataError, match=r"to_read\.csv: expected whole-number user_id,book_id") as caught:
        load_dataset(folder)
    assert "\n" not in str(caught.value)


def _kinds_with_wants() -> Dataset:
    """Readers of books 0-29 who also want to read books 30-34; nobody rated books 30-34 much."""
    rng = np.random.default_rng(3)
    users, books, stars = [], [], []
    for user in range(60):
        for book in rng.choice(30, size=10, replace=False):
            users.append(user)
            books.append(int(book))
            stars.append(int(rng.integers(3, 6)))
    for user in range(60, 70):  # a few readers keep books 30-39 known to every model
        for book in range(30, 40):
            users.append(user)
            books.append(book)
            stars.append(3)
    data = Dataset.from_ratings(users, books, stars, rating_scale=(1.0, 5.0))
    want_user = np.repeat(np.arange(40, dtype=np.int32), 2)
    want_book = np.tile(data.books.index_of([30, 31]).astype(np.int32), 40)
    return dataclasses.replace(data, want_user_idx=want_user, want_book_idx=want_book)


def test_the_ranking_model_learns_from_wanted_books_and_lists_leave_them_out(tmp_path: Path) -> None:
    data = _kinds_with_wants()
    config = TrainConfig(epochs=2, valid_pct=0.0)
    with_wants = Recommender.from_saved(train(data, config).saved_model())
    without = Recommender.from_saved(train(data, dataclasses.replace(config, rank_to_read=0.0)).saved_model())
    wanted = set(data.books.index_of([30, 31]).tolist())
    # reader 50 wants nothing: readers like them want books 30 and 31, so those rank higher with to_read
    reader = data.users.index_of([50])
    assert with_wants.ranker.scores(with_wants.ranker.reader_params(reader))[0][list(wanted)].mean() > (
        without.ranker.scores(without.ranker.reader_params(reader))[0][list(wanted)].mean()
    )
    # reader 0 wants books 30 and 31: their list leaves them out, as it leaves out books they read
    assert not {r.book_id for r in with_wants.recommend(0, k=20)} & {30, 31}
    assert np.isneginf(with_wants.scores_for(np.array([0]))[0][list(wanted)]).all()
    assert without.ranker.wanted is None
    loaded = Recommender.load(with_wants.save(tmp_path / "model"))
    assert loaded.ranker.wanted_by(0).tolist() == with_wants.ranker.wanted_by(0).tolist()
    assert loaded.recommend(0, k=5) == with_wants.recommend(0, k=5)


def test_the_ranking_regularization_grows_with_the_readers() -> None:
    config = TrainConfig()
    assert config.rank_regularization(610) == pytest.approx(RANK_REG_PER_SQRT_READER * 610**0.5)
    assert config.rank_regularization(53_424) > 9 * config.rank_regularization(610)
    assert config.rank_regularization(1) == 1.0
    assert TrainConfig(rank_reg=7.5).rank_regularization(53_424) == 7.5
    with pytest.raises(Exception, match="rank_to_read must be"):
        TrainConfig(rank_to_read=-1.0)
