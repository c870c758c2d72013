"""The default's regularization comes from the data (engines/adapt.py): factors kept only where they help."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bookrec.config import TrainConfig
from bookrec.data import Dataset
from bookrec.errors import ConfigError, NoTasteError
from bookrec.recommender import Recommender
from bookrec.train import train
from conftest import NOISE


def _biases_and_noise(seed: int = 5, n_users: int = 200, n_books: int = 100, per_user: int = 25) -> Dataset:
    """Ratings = reader bias + book bias + noise: no taste for factors to find."""
    rng = np.random.default_rng(seed)
    user_b, book_b = rng.normal(size=n_users) * 0.4, rng.normal(size=n_books) * 0.4
    users = np.repeat(np.arange(n_users), per_user)
    books = np.concatenate([rng.choice(n_books, per_user, replace=False) for _ in range(n_users)])
    stars = np.clip(3.5 + user_b[users] + book_b[books], 1, 5) + rng.normal(scale=NOISE, size=users.size)
    return Dataset.from_ratings(users + 1, books + 1, stars, rating_scale=(1.0, 5.0), name="no taste")


@pytest.fixture(scope="module")
def no_taste() -> Dataset:
    return _biases_and_noise()


def test_without_taste_the_default_keeps_the_biases_and_says_so(no_taste: Dataset, tmp_path: Path) -> None:
    result = train(no_taste, TrainConfig(ranker="none"), progress=False)
    choice = result.metrics["regularization"]
    assert choice["adapted"] and choice["factors"] is False
    assert result.adaptation is not None and "biases only" in result.adaptation.summary()
    assert result.config.n_factors == 1 and not result.config.adapt
    assert not np.any(result.head.user_vectors) and not np.any(result.head.book_vectors)
    alone = {"ranker": "none", "adapt": False, "n_factors": 1, "init_std": 0.0}
    biases = train(no_taste, TrainConfig(**alone, epochs=result.config.epochs))
    assert result.metrics["valid_rmse"] == pytest.approx(biases.metrics["valid_rmse"], rel=1e-6)
    assert result.config.epochs == choice["epochs"]
    at_the_defaults = train(no_taste, TrainConfig(**alone)).metrics["valid_rmse"]
    assert result.metrics["valid_rmse"] <= at_the_defaults
    result.save(tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["metrics"]["regularization"]["factors"] is False
    served = Recommender.load(tmp_path / "model")  # biases alone still serve lists, by predicted rating
    user = served.users.id_of(0)
    assert len(served.recommend(user, k=5, by="rating")) == 5
    # ... but with no ranking model nothing tells books apart: similar books say so (tests/test_taste.py)
    with pytest.raises(NoTasteError, match="biases alone"):
        served.similar(served.books.id_of(0), k=3)


def test_with_taste_the_default_keeps_the_factors(planted: Dataset) -> None:
    result = train(planted, TrainConfig(ranker="none"), progress=False)
    choice = result.metrics["regularization"]
    assert choice["factors"] is True and result.config.n_factors == 128
    assert choice["probe_rmse"][f"x{choice['factor_scale']:.4g}"] < 0.7 * choice["probe_rmse"]["biases"]
    assert result.manifest()["metrics"]["regularization"] == choice
    assert result.manifest()["config"]["factor_scale"] == choice["factor_scale"]


def test_the_choice_is_the_same_on_a_second_run(small: Dataset) -> None:
    first = train(small, TrainConfig(ranker="none", epochs=3), progress=False)
    second = train(small, TrainConfig(ranker="none", epochs=3), progress=False)
    assert first.metrics["regularization"] == second.metrics["regularization"]
    assert first.metrics["valid_rmse"] == second.metrics["valid_rmse"]


def test_a_schedule_too_short_to_converge_is_lengthened_and_an_explicit_one_is_kept(
    no_taste: Dataset,
) -> None:
    """At a tiny learning rate 10 epochs leave the biases far from the ratings: the probe triples the
    epochs while that clearly helps; a number of epochs the user gives is trained as given."""
    slow = train(no_taste, TrainConfig(ranker="none", lr=2e-4), progress=False)
    choice = slow.metrics["regularization"]
    assert choice["epochs"] in (30, 90) and slow.config.epochs == choice["epochs"]
    label = f"x{choice['factor_scale']:.4g}" if choice["factors"] else "biases"
    assert choice["probe_rmse"][f"{label} 30 epochs"] < 0.999 * choice["probe_rmse"][label]
    assert f"{choice['epochs']} epochs, which beat the shorter schedule" in slow.adaptation.summary()
    given = train(no_taste, TrainConfig(ranker="none", lr=2e-4, epochs=10), progress=False)
    assert given.config.epochs == 10 and given.metrics["regularization"]["epochs"] == 10
    assert not any(" epochs" in key for key in given.metrics["regularization"]["probe_rmse"])
    assert slow.metrics["valid_rmse"] < given.metrics["valid_rmse"]
    assert TrainConfig().adapt_epochs and not TrainConfig(epochs=10).adapt_epochs
    assert not TrainConfig(model="nn").adapt_epochs


def test_factors_must_beat_biases_beyond_the_noise_of_the_hold_out() -> None:
    """A gain that a few lucky ratings make is not a gain; the same mean gain on every rating is."""
    from bookrec.engines.adapt import clearly_better

    rng = np.random.default_rng(0)
    incumbent = rng.gamma(1.0, 1.0, size=800)
    incumbent[:2] = 5.0
    lucky = incumbent.copy()
    lucky[:2] = 3.0  # about 0.5% lower mean squared error, all from 2 of 800 ratings
    assert np.mean(lucky) < 0.996 * np.mean(incumbent)
    assert clearly_better(lucky, incumbent) and not clearly_better(lucky, incumbent, min_z=2.0)
    steady = incumbent * 0.99
    assert clearly_better(steady, incumbent, min_z=2.0)
    assert not clearly_better(incumbent * 0.9995, incumbent)  # below the 0.1% RMSE bar
    diverged = np.full(800, np.inf)
    assert not clearly_better(diverged, incumbent) and clearly_better(incumbent, diverged)


def test_adapt_off_trains_the_settings_as_given(small: Dataset) -> None:
    result = train(small, TrainConfig(ranker="none", epochs=2, adapt=False, factor_scale=3.0))
    assert result.metrics["regularization"] is None and result.adaptation is None
    assert result.config.factor_scale == 3.0


def test_per_row_regularization_belongs_to_the_sgd_engine() -> None:
    assert TrainConfig(model="nn").shrink == 0 and TrainConfig(model="nn").adapt is False
    assert TrainConfig().adapt is True and TrainConfig().shrink > 0
    with pytest.raises(ConfigError, match="sgd engine only"):
        TrainConfig(engine="torch", shrink=2.0)
    with pytest.raises(ConfigError, match="factor_scale"):
        TrainConfig(factor_scale=0)


def test_a_sampled_probe_is_renumbered_to_its_own_readers_and_books(monkeypatch: pytest.MonkeyPatch) -> None:
    """On big data the probe samples readers and books; its tables are the sample's size, its ids the same."""
    from bookrec.engines import adapt

    data = _biases_and_noise(n_users=400, n_books=300, per_user=20)
    monkeypatch.setattr(adapt, "PROBE_MAX_RATINGS", 2_000)
    monkeypatch.setattr(adapt, "PROBE_ROW_RATINGS", 1)
    sample = adapt._probe_data(data, seed=3)
    assert 1_500 <= sample.n_ratings <= 2_500 and sample.n_ratings < data.n_ratings
    assert sample.n_users < data.n_users and sample.n_books < data.n_books
    assert sample.user_idx.max() < sample.n_users and sample.book_idx.max() < sample.n_books
    pairs = set(zip(sample.users.ids[sample.user_idx], sample.books.ids[sample.book_idx], strict=True))
    whole = set(zip(data.users.ids[data.user_idx], data.books.ids[data.book_idx], strict=True))
    assert pairs <= whole
    # Readers (20 ratings each) and books (26.7 on average) are both sampled so that a sampled reader and a
    # sampled book keep as many ratings: sqrt(2000 / 8000 x 20 x 26.7) = 11.5 each (readers alone: 20, 6.7).
    per_reader, per_book = sample.n_ratings / sample.n_users, sample.n_ratings / sample.n_books
    assert 9 < per_reader < 14 and 9 < per_book < 14
    _, adaptation = adapt.adapt(data, TrainConfig(epochs=2), (0.0, 5.5))
    assert adaptation.n_probe > 0 and "biases" in adaptation.probe_rmse
    assert not any(" epochs" in key for key in adaptation.probe_rmse)  # a sample cannot judge the epochs


def test_the_probe_sample_grows_with_the_catalogue() -> None:
    """Enough ratings for sampled readers and books to keep PROBE_ROW_RATINGS on average; at most all."""
    from bookrec.engines.adapt import PROBE_MAX_RATINGS, PROBE_ROW_RATINGS, probe_size

    goodbooks = probe_size(4_781_183, 53_424, 10_000)
    assert goodbooks == PROBE_MAX_RATINGS
    ucsd = probe_size(83_641_239, 876_145, 2_360_655)
    assert 5_000_000 < ucsd < 15_000_000
    share = ucsd / 83_641_239
    per_row = (share * (83_641_239 / 876_145) * (83_641_239 / 2_360_655)) ** 0.5
    assert per_row == pytest.approx(PROBE_ROW_RATINGS, rel=0.01)
    assert probe_size(1_000, 900, 900) == 1_000
