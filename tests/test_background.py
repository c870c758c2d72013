"""The ranking model's fit on a thread beside the rating model: same result, progress, errors and stops."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bookrec.background import BackgroundFit, FitCancelled
from bookrec.config import TrainConfig
from bookrec.errors import TrainingInterrupted
from bookrec.models import ranker_kinds
from bookrec.train import train
from conftest import planted_dataset


def test_progress_is_reported_on_the_callers_thread_and_the_result_returned() -> None:
    release = threading.Event()

    def fit(on_step):
        for done in range(1, 4):
            on_step(done, 3)
        release.wait(5)
        return threading.current_thread().name

    seen: list[tuple[int, int, str]] = []
    fit_run = BackgroundFit(fit, name="worker")
    release.set()
    name = fit_run.result(lambda d, t: seen.append((d, t, threading.current_thread().name)), 0.01)
    assert name == "worker"
    assert seen and seen[-1][:2] == (3, 3)
    assert {thread for *_, thread in seen} == {threading.current_thread().name}


def test_an_error_in_the_fit_is_raised_by_result() -> None:
    def fit(on_step):
        raise MemoryError("no room for the factors")

    with pytest.raises(MemoryError, match="no room"):
        BackgroundFit(fit).result()


def test_cancel_stops_the_fit_at_its_next_step() -> None:
    steps: list[int] = []
    started = threading.Event()

    def fit(on_step):
        for done in range(1, 10_000):
            started.set()
            steps.append(done)
            on_step(done, 10_000)
            threading.Event().wait(0.001)
        return "finished"

    fit_run = BackgroundFit(fit)
    started.wait(5)
    fit_run.cancel()
    with pytest.raises(FitCancelled):
        fit_run.result()
    assert len(steps) < 10_000


def test_the_ranking_model_fitted_beside_equals_one_fitted_alone() -> None:
    data = planted_dataset(np.random.default_rng(3), taste_reads=True)
    config = TrainConfig(epochs=2, rank_factors=8, rank_iterations=3, seed=5)
    result = train(data, config)
    alone = ranker_kinds()["als"].fit(
        data,
        factors=8,
        regularization=config.rank_regularization(data.n_users),
        alpha=config.rank_alpha,
        iterations=3,
        seed=5,
        to_read=config.rank_to_read,
    )
    np.testing.assert_array_equal(result.ranker.book_factors, alone.book_factors)
    np.testing.assert_array_equal(result.ranker.user_factors, alone.user_factors)
    assert result.metrics["rank_seconds"] > 0


def test_a_failed_rating_model_cancels_the_ranking_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    from bookrec.engines.sgd import SgdEngine

    def interrupted(self: SgdEngine, epoch: int) -> float:
        raise KeyboardInterrupt

    monkeypatch.setattr(SgdEngine, "run_epoch", interrupted)
    before = {t.name for t in threading.enumerate()}
    data = planted_dataset(np.random.default_rng(3), taste_reads=True)
    with pytest.raises(TrainingInterrupted):
        train(data, TrainConfig(epochs=2, rank_factors=8, adapt=False))
    assert "bookrec-ranking" not in {t.name for t in threading.enumerate()} - before


def test_a_ranking_fit_too_big_to_run_beside_runs_alone_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where memory is short the ranking fit runs first, alone, with the same result."""
    import bookrec.ranking_fit as ranking_fit

    data = planted_dataset(np.random.default_rng(3), taste_reads=True)
    config = TrainConfig(epochs=1, rank_factors=8, rank_iterations=2, seed=5, adapt=False)
    beside = train(data, config)
    monkeypatch.setattr(ranking_fit, "available_memory", lambda: 1)
    after = train(data, config)
    assert beside.metrics["rank_beside"] is True and after.metrics["rank_beside"] is False
    np.testing.assert_array_equal(beside.ranker.book_factors, after.ranker.book_factors)
    np.testing.assert_array_equal(beside.head.book_vectors, after.head.book_vectors)
