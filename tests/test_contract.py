"""The model contract, checked on every registered model setting (implicit's RecommenderBaseTestMixin, lkpy's
scorer tests, Surprise's "every parameter changes the result").

A new model kind adds one line to ``SETTINGS``; ``test_every_registered_kind_is_checked`` fails until it does.
Each test goes through the public faces a user has: ``train``, ``TrainResult.save``, ``Recommender``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from bookrec.config import TrainConfig
from bookrec.data import Dataset
from bookrec.errors import TrainingDivergedError, UnknownBookError, UnknownUserError
from bookrec.models import model_kind, model_kinds
from bookrec.recommender import Recommender
from bookrec.train import TrainResult, train
from conftest import NOISE

# One line per model setting: the settings that learn the planted answer (the other tests shorten epochs).
SETTINGS: dict[str, dict[str, Any]] = {
    "dot-rmsprop": {"model": "dot", "engine": "sgd", "optimizer": "rmsprop"},
    "dot-sgd": {"model": "dot", "engine": "sgd", "optimizer": "sgd", "epochs": 20},
    "dot-torch": {"model": "dot", "engine": "torch", "epochs": 20},
    "nn": {"model": "nn", "epochs": 20, "lr": 0.01},
}
SHORT = {"epochs": 3}

# What every kind's training uses, with a changed value each: each must change the trained model.
COMMON_CHANGES: dict[str, Any] = {
    "n_factors": 6,
    "epochs": 4,
    "lr": None,  # doubled
    "wd": None,  # tripled
    "seed": 7,
    "init_std": 0.05,
    "pct_start": 0.5,
    "valid_pct": 0.3,
    "y_range": (0.5, 5.2),
}
SPECIFIC_CHANGES: dict[str, Any] = {"n_hidden": 20, "dropout": 0.3, "bs": 32}
# The sgd engine's per-row regularization (its choice by the probe is tested in test_adapt.py).
SGD_CHANGES: dict[str, Any] = {"shrink": 20.0, "factor_scale": 3.0}


@pytest.fixture(scope="module", params=list(SETTINGS))
def setting(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def trained(setting: str, planted: Dataset) -> TrainResult:
    """Each setting trained once on the planted data, shared by the tests of this module."""
    return train(planted, TrainConfig(**SETTINGS[setting]))


@pytest.fixture(scope="module")
def served(trained: TrainResult) -> Recommender:
    return Recommender.from_saved(trained.saved_model())


def _config(setting: str, **changes: Any) -> TrainConfig:
    # The sgd engine's probe may keep biases alone on short runs (then factors change nothing): the contract
    # is the trainer's, with the settings as given; test_adapt.py covers the probe.
    probe = {"adapt": False} if SETTINGS[setting].get("engine") == "sgd" else {}
    return TrainConfig(**{**SETTINGS[setting], **SHORT, **probe, **changes})


def _module_predictions(result: TrainResult, data: Dataset) -> np.ndarray:
    with torch.no_grad():
        users = torch.as_tensor(data.user_idx.astype(np.int64))
        return result.model(users, torch.as_tensor(data.book_idx.astype(np.int64))).double().numpy()


def test_every_registered_kind_is_checked() -> None:
    assert {values["model"] for values in SETTINGS.values()} == set(model_kinds())
    for kind in model_kinds().values():
        assert set(kind.defaults), f"{kind.name} registers no defaults"
        assert kind.engines, f"{kind.name} names no engine"


def test_learns_the_planted_answer(trained: TrainResult, planted: Dataset) -> None:
    valid = trained.valid_data
    mean_only = float(np.sqrt(np.mean((valid.rating - trained.train_data.rating.mean()) ** 2)))
    assert trained.metrics["valid_rmse"] < 1.6 * NOISE
    assert trained.metrics["valid_rmse"] < 0.5 * mean_only


def test_serving_predicts_what_the_trained_module_predicts(trained: TrainResult, served: Recommender) -> None:
    """The numpy head and the torch module are one model: the same predictions on held-out pairs."""
    valid = trained.valid_data
    got = served.predict_positions(valid.user_idx, valid.book_idx)
    np.testing.assert_allclose(got, _module_predictions(trained, valid), rtol=1e-4, atol=1e-4)
    assert served.kind == trained.config.model


def test_output_stays_inside_the_range(served: Recommender) -> None:
    lo, hi = served.head.y_range
    rng = np.random.default_rng(0)
    users = rng.integers(0, served.n_users, 500)
    books = rng.integers(0, served.n_books, 500)
    predicted = served.predict_positions(users, books)
    assert np.all((predicted > lo) & (predicted < hi))
    scores = served.scores_for(np.arange(10), by="rating")
    assert np.all((scores > lo) & (scores < hi))
    low, high = served.rating_scale
    answers = served.recommend(served.users.id_of(0), k=20) + served.recommend_for(
        [served.books.id_of(3)], k=20
    )
    assert all(low <= r.score <= high for r in answers)


def test_batch_equals_single(served: Recommender) -> None:
    rng = np.random.default_rng(1)
    users = rng.integers(0, served.n_users, 40)
    books = rng.integers(0, served.n_books, 40)
    batch = served.predict_positions(users, books)
    single = [served.predict_positions(users[i : i + 1], books[i : i + 1])[0] for i in range(40)]
    np.testing.assert_allclose(batch, single, rtol=1e-6)
    rows = served.scores_for(users[:5], by="rating")
    for row, user in zip(rows, users[:5], strict=True):
        np.testing.assert_allclose(row, served.scores_for(np.array([user]), by="rating")[0], rtol=1e-5)
        np.testing.assert_allclose(
            row[books], served.predict_positions(np.full(40, user), books), rtol=1e-5, atol=1e-6
        )
    # recommend is the top of the reader's unseen scores
    user = int(users[0])
    seen, _ = served.rated.of(user)
    unseen = np.setdiff1d(np.arange(served.n_books), seen)
    best = unseen[np.argmax(served.scores_for(np.array([user]), by="rating")[0][unseen])]
    assert served.recommend(served.users.id_of(user), k=1, by="rating")[0].book_id == served.books.id_of(best)


def test_seeded_runs_reproduce(setting: str, small: Dataset) -> None:
    # The kind's own settings switched on too (dropout draws its masks from the seed).
    own = {name: SPECIFIC_CHANGES[name] for name in model_kind(SETTINGS[setting]["model"]).hyperparameters}
    a = train(small, _config(setting, **own)).head.to_tensors()
    b = train(small, _config(setting, **own)).head.to_tensors()
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    other = train(small, _config(setting, seed=7, **own)).head.to_tensors()
    assert not np.array_equal(a["book_vectors"], other["book_vectors"])


def test_save_and_load_give_the_same_answers(trained: TrainResult, served: Recommender, tmp_path) -> None:
    loaded = Recommender.load(trained.save(tmp_path / "model"))
    assert loaded.kind == served.kind
    valid = trained.valid_data
    np.testing.assert_allclose(
        loaded.predict_positions(valid.user_idx, valid.book_idx),
        served.predict_positions(valid.user_idx, valid.book_idx),
        rtol=1e-6,
    )
    first, second = served.books.id_of(0), served.books.id_of(1)
    assert loaded.similar(first, k=5) == served.similar(first, k=5)
    assert loaded.recommend(served.users.id_of(2), k=5) == served.recommend(served.users.id_of(2), k=5)
    liked = {first: 5.0, second: 2.0}
    assert loaded.recommend_for(liked, k=5) == served.recommend_for(liked, k=5)
    assert loaded.biases("lowest", k=5) == served.biases("lowest", k=5)
    assert loaded.book_map(20).equals(served.book_map(20))


def test_unknown_readers_and_books_are_handled(served: Recommender) -> None:
    book = served.books.id_of(4)
    stranger = served.predict("no such reader", book)
    assert not stranger.known_user and stranger.known_book
    assert stranger.rating == pytest.approx(float(served.predict_positions(np.array([-1]), np.array([4]))[0]))
    lo, hi = served.head.y_range
    assert lo < stranger.rating < hi
    unknown_book = served.predict(served.users.id_of(0), "id:99999999")
    assert not unknown_book.known_book and unknown_book.rating == pytest.approx(served.rated.rating.mean())
    with pytest.raises(UnknownUserError):
        served.recommend("no such reader")
    with pytest.raises(UnknownBookError):
        served.similar("id:99999999")


def test_nan_is_caught(setting: str, small: Dataset) -> None:
    rating = small.rating.copy()
    rating[::7] = np.nan
    broken = dataclasses.replace(small, rating=rating)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1 of 3") as caught:
        train(broken, _config(setting))
    assert "\n" not in str(caught.value)


def test_folding_in_a_trained_readers_ratings_lands_near_them(served: Recommender) -> None:
    """A new reader who gives a known reader's ratings gets (nearly) that reader's recommendations."""
    overlaps = []
    for user in range(0, served.n_users, 15):
        seen, stars = served.rated.of(user)
        stars = np.clip(stars, 1.0, 5.0)  # the planted ratings carry noise beyond the scale
        liked = dict(zip((served.books.id_of(int(p)) for p in seen), stars.tolist(), strict=True))
        trained = {r.book_id for r in served.recommend(served.users.id_of(user), k=10, by="rating")}
        folded = {r.book_id for r in served.recommend_for(liked, k=10, by="rating")}
        overlaps.append(len(trained & folded) / 10)
    assert np.mean(overlaps) >= 0.7


def test_every_hyperparameter_changes_the_result(setting: str, small: Dataset) -> None:
    base = _config(setting)
    kind = model_kind(base.model)
    changes = dict(COMMON_CHANGES, lr=base.lr * 2, wd=base.wd * 3 + 0.01)
    for name in kind.hyperparameters + (("bs",) if base.engine == "torch" else ()):
        changes[name] = SPECIFIC_CHANGES[name]
    if base.engine == "sgd":
        changes.update(SGD_CHANGES)
    reference = train(small, base)
    expected = _module_predictions(reference, small)
    for name, value in changes.items():
        changed = train(small, _config(setting, **{name: value}))
        got = _module_predictions(changed, small)
        assert not np.allclose(got, expected, rtol=0, atol=1e-6), f"{name}={value!r} changed nothing"
