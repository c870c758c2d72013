"""Regularization set by the data: how strongly to hold the factors back, and whether they help at all.

Defaults measured on one kind of data overfit another: tuned on MovieLens-small (dense: 165 ratings per
reader), the dot model scored worse than reader and book biases alone on sparse data (a few ratings per
reader, a 1-10 scale). So before the real run, ``adapt`` trains the configured model on 90% of the training
ratings and judges it on the other 10% (the "probe"; never the validation part, which stays a fair
measurement):

1. reader and book biases alone (the dot model with its factors at zero);
2. the factor model at ``factor_scale`` 1, then 3, 9, ... (x3 each, up to ``_MAX_SCALE``) while the probe's
   RMSE keeps improving (a scale multiplies the factors' ``wd`` and ``shrink``).

The best scale wins; when no scale beats biases alone (by 0.1% at least), the model keeps the biases and
its factors stay zero (``n_factors`` 1, ``init_std`` 0): it still predicts and recommends, by the biases.
Nothing here looks at the data's name or scale, only at the probe's errors. On data of more than
``PROBE_MAX_RATINGS`` ratings the probe takes a random sample of readers (all their ratings), so it costs
about as much as one run on that many ratings.

Measured (validation RMSE, random 80/20 split, seed 42; see benchmarks/bench_accuracy.py), with the dot
model's defaults (wd 0.015, shrink 5): MovieLens-small keeps x1 (0.8341; biases alone 0.867); a 10% per-reader
sample of it keeps biases alone (0.9153; Surprise's SVD 0.9205); sparse 1-10 synthetic data picks x9 (1.5201;
biases alone 1.5407, SVD 1.5998); full-size goodbooks-shaped data keeps x1 (0.7353).

A probe on a sample of readers sees each book through a part of its ratings, so it leans towards more
regularization than the whole data wants: that is why the ladder starts at the low end of what suits big
data (wd 0.015), where a lean upwards costs little. With wd 0.045 it kept x1 on full-size data (0.7539)
where x1/3 gave 0.7368; on all readers instead, a 3-epoch probe leaned the other way (x1/9, 0.7563 on the
real run), and a 10-epoch one costs several runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bookrec._random import mix_seed
from bookrec.data.ids import IdMap
from bookrec.data.split import random_split

if TYPE_CHECKING:
    from bookrec.config import TrainConfig
    from bookrec.data import Dataset

__all__ = ["PROBE_MAX_RATINGS", "PROBE_SHARE", "Adaptation", "adapt"]

PROBE_SHARE = 0.1
"""Share of the (sampled) training ratings the probe holds out."""
PROBE_MAX_RATINGS = 500_000
"""Above this many training ratings the probe runs on a sample of readers (about this many ratings)."""
_SCALE_STEP = 3.0
_MAX_SCALE = 81.0
_MIN_GAIN = 0.001  # factors must beat biases alone by 0.1% on the probe, not by the noise of one split
_PROBE_STREAM = 0xADA7  # mixed into the seed: the probe's split is not the validation split


@dataclass(frozen=True)
class Adaptation:
    """What the probe chose, as recorded in ``metrics["regularization"]``.

    Attributes:
        factors: Whether the factors beat biases alone on the probe (False: the model is biases alone).
        factor_scale: The chosen multiple of the factors' regularization (1 when ``factors`` is False).
        probe_rmse: The probe's RMSE per candidate: "biases" and "x1", "x3", ... for the scales tried.
        n_probe: Ratings in the probe's hold-out.
    """

    factors: bool
    factor_scale: float
    probe_rmse: dict[str, float]
    n_probe: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "adapted": True,
            "factors": self.factors,
            "factor_scale": self.factor_scale,
            "probe_rmse": dict(self.probe_rmse),
            "n_probe": self.n_probe,
        }

    def summary(self) -> str:
        """One line for people."""
        best = self.probe_rmse[_label(self.factor_scale)] if self.factors else self.probe_rmse["biases"]
        if not self.factors:
            return (
                "the factors did not beat reader and book biases alone on a hold-out of the training "
                f"ratings (RMSE {min(v for k, v in self.probe_rmse.items() if k != 'biases'):.4f} vs "
                f"{best:.4f}): the model keeps the biases only, and similar books carry no taste"
            )
        return (
            f"regularization {_label(self.factor_scale)} chosen on a hold-out of the training ratings "
            f"(RMSE {best:.4f}; biases alone {self.probe_rmse['biases']:.4f})"
        )


def biases_only(config: TrainConfig) -> TrainConfig:
    """``config`` for reader and book biases alone: one factor that starts and stays at zero."""
    return dataclasses.replace(config, n_factors=1, init_std=0.0, factor_scale=1.0, adapt=False)


def _probe_data(data: Dataset, seed: int) -> tuple[Dataset, np.ndarray | None, np.ndarray | None]:
    """The training ratings, or a random sample of readers (all their ratings) when there are too many.

    A sample is renumbered to the readers and books it holds (returned: their positions in ``data``), so
    the probe's tables are the sample's size, not the catalogue's (at the UCSD Goodreads shape's 3.2M readers
    and books, whole tables cost 1.7 GB and ~4 s to draw for each candidate).
    """
    if data.n_ratings <= PROBE_MAX_RATINGS:
        return data, None, None
    rng = np.random.default_rng([seed, _PROBE_STREAM, 1])
    counts = np.bincount(data.user_idx, minlength=data.n_users)
    order = rng.permutation(data.n_users)
    taken = order[: int(np.searchsorted(np.cumsum(counts[order]), PROBE_MAX_RATINGS)) + 1]
    keep = np.zeros(data.n_users, dtype=bool)
    keep[taken] = True
    sample = data.subset(keep[data.user_idx])
    users, books = np.unique(sample.user_idx), np.unique(sample.book_idx)
    renumbered = dataclasses.replace(
        sample,
        user_idx=np.searchsorted(users, sample.user_idx).astype(np.int32),
        book_idx=np.searchsorted(books, sample.book_idx).astype(np.int32),
        users=IdMap(data.users.ids[users]),
        books=IdMap(data.books.ids[books]),
        books_table=data.books_table.iloc[books].reset_index(drop=True),
        want_user_idx=np.zeros(0, dtype=np.int32),
        want_book_idx=np.zeros(0, dtype=np.int32),
    )
    return renumbered, users, books


def _probe_rmse(
    fit: Dataset,
    held: Dataset,
    config: TrainConfig,
    y_range: tuple[float, float],
    counts: tuple[np.ndarray, np.ndarray],
) -> float:
    """Train ``config`` on ``fit`` with the sgd engine and return its RMSE on ``held``."""
    from bookrec.engines.sgd import SgdEngine
    from bookrec.models.dot import initial_head

    engine = SgdEngine(initial_head(fit.n_users, fit.n_books, config, y_range), fit, config, counts=counts)
    for epoch in range(config.epochs):
        engine.run_epoch(epoch)
    mse, _ = engine.evaluate(held)
    return math.sqrt(mse) if math.isfinite(mse) else math.inf


def adapt(data: Dataset, config: TrainConfig, y_range: tuple[float, float]) -> tuple[TrainConfig, Adaptation]:
    """Choose ``config``'s regularization on a hold-out of ``data`` (the training ratings).

    Returns:
        The settings to train with (``adapt`` False, the chosen ``factor_scale``; biases alone when factors
        do not help) and what the probe measured.
    """
    chosen = dataclasses.replace(config, adapt=False)
    sample, sample_users, sample_books = _probe_data(data, config.seed)
    fit, held = random_split(sample, PROBE_SHARE, int(mix_seed(config.seed, _PROBE_STREAM, 0) >> 2))
    if fit.n_ratings == 0 or held.n_ratings == 0:  # too few ratings to judge: keep the settings
        return chosen, Adaptation(True, config.factor_scale, {}, held.n_ratings)
    # Per-row regularization from the whole data's counts (scaled to the probe's share): on a sample of
    # readers each book has a fraction of its ratings, and would be held back harder than in the real run
    # (full-size goodbooks-shaped data: the sample's counts chose x1, RMSE 0.754; x1/3 gives 0.737).
    counts = tuple(
        _probe_counts(idx, n, rows)
        for idx, n, rows in (
            (data.user_idx, data.n_users, sample_users),
            (data.book_idx, data.n_books, sample_books),
        )
    )
    rmse = {"biases": _probe_rmse(fit, held, biases_only(chosen), y_range, counts)}

    def probe(scale: float) -> float:
        changed = dataclasses.replace(chosen, factor_scale=scale)
        rmse[_label(scale)] = _probe_rmse(fit, held, changed, y_range, counts)
        return rmse[_label(scale)]

    # Up by x3 while the probe improves; when the first step up does not, down by /3 while it improves.
    best_scale, best = config.factor_scale, probe(config.factor_scale)
    for step in (_SCALE_STEP, 1.0 / _SCALE_STEP):
        scale = best_scale * step
        while 1.0 / _MAX_SCALE <= scale / config.factor_scale <= _MAX_SCALE and probe(scale) < best:
            best_scale, best = scale, rmse[_label(scale)]
            scale *= step
        if best_scale != config.factor_scale:
            break
    if best >= rmse["biases"] * (1.0 - _MIN_GAIN):
        return biases_only(chosen), Adaptation(False, 1.0, rmse, held.n_ratings)
    adaptation = Adaptation(True, best_scale, rmse, held.n_ratings)
    return dataclasses.replace(chosen, factor_scale=best_scale), adaptation


def _probe_counts(idx: np.ndarray, n: int, rows: np.ndarray | None) -> np.ndarray:
    """Each row's ratings in the whole training data, scaled to the probe's share (``rows``: a sample's)."""
    counts = (1.0 - PROBE_SHARE) * np.bincount(idx, minlength=n).astype(np.float64)
    return counts if rows is None else counts[rows]


def _label(scale: float) -> str:
    return f"x{scale:.4g}"
