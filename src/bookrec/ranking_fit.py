"""The ranking model's fit in a training run: on its own thread, beside the rating model where memory
allows (:mod:`bookrec.background`), else after it; its progress reported as the "ranking" stage."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bookrec.background import BackgroundFit
from bookrec.config import TrainConfig
from bookrec.data.dataset import Dataset
from bookrec.models import ranker_kinds
from bookrec.trained import ProgressCallback, TrainProgress

__all__ = ["available_memory", "fits_beside", "join_ranker", "start_ranker"]


def fits_beside(data: Dataset, config: TrainConfig) -> bool:
    """Whether the ranking fit may run beside the rating model: when its working memory (the reads matrix
    and its transpose, 16 bytes a read; two tables of factors per reader and book) is under a quarter of the
    memory available, or 1 GB where that is unknown. Otherwise it runs after, and the peak is the larger of
    the two fits, not their sum (the UCSD Goodreads shape: ~7 GB of working memory, 229M reads)."""
    reads = data.n_ratings + (data.want_user_idx.size if config.rank_to_read > 0 else 0)
    working = 16 * reads + 8 * config.rank_factors * (data.n_users + data.n_books)
    available = available_memory()
    return working < (available / 4 if available is not None else 2**30)


def available_memory() -> int | None:
    """Bytes of memory available to new work (Linux's MemAvailable), or None where the system won't say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def start_ranker(data: Dataset, config: TrainConfig) -> BackgroundFit | None:
    """The ranking model's fit on every read of ``data`` (and its wanted books, where it has them), started
    on its own thread; None without a ranking model.

    It learns from every read, the validation part's too: that part measures the rating model's error, and
    lists are better for every read they see (MovieLens-small's hold-out through `bookrec
    split/train/evaluate`: NDCG@10 0.273 fitted on the training part's 80%, 0.30 on all).
    """
    if config.ranker == "none":
        return None
    fit = ranker_kinds()[config.ranker].fit
    regularization = config.rank_regularization(data.n_users)

    def run(on_step: Callable[[int, int], None]) -> tuple[Any, float]:
        started = time.perf_counter()
        ranker = fit(
            data,
            factors=config.rank_factors,
            regularization=regularization,
            alpha=config.rank_alpha,
            iterations=config.rank_iterations,
            seed=config.seed,
            to_read=config.rank_to_read,
            on_iteration=on_step,
        )
        return ranker, time.perf_counter() - started

    return BackgroundFit(run, name="bookrec-ranking")


def join_ranker(
    ranking: BackgroundFit | None,
    config: TrainConfig,
    progress: ProgressCallback | bool | None,
    epochs_done: int | None = None,
) -> tuple[Any, float | None]:
    """The ranking model and its fit's seconds, waiting for it with a "ranking" progress report
    (``epochs_done``: the rating model's epochs done by then; None: all)."""
    if ranking is None:
        return None, None
    epochs = config.epochs if epochs_done is None else epochs_done

    def on_progress(done: int, total: int) -> None:
        if callable(progress):
            progress(TrainProgress(epochs, config.epochs, done, total, stage="ranking"))

    return ranking.result(on_progress)
