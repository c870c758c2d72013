"""Regularization set by the data: how strongly to hold the factors back, and whether they help at all.

Defaults measured on one kind of data overfit another: tuned on MovieLens-small (dense: 165 ratings per
reader), the dot model scored worse than reader and book biases alone on sparse data (a few ratings per
reader, a 1-10 scale). So before the real run, ``adapt`` trains the configured model on 90% of the training
ratings and judges it on the other 10% (the "probe"; never the validation part, which stays a fair
measurement):

1. reader and book biases alone (the dot model with its factors at zero);
2. the factor model at ``factor_scale`` 1, then 3, 9, ... (x3 each, up to ``_MAX_SCALE``) while the probe's
   RMSE keeps improving (a scale multiplies the factors' ``wd`` and ``shrink``);
3. with ``adapt_epochs`` (on when the epochs are left to the default) and a probe on all the training
   ratings, the winner at x3 the epochs, then x9, while that improves the probe's RMSE by 0.1%.

The best scale wins when it beats biases alone clearly: by 0.3% of RMSE and by one standard error of the
paired difference of squared errors on the probe's ratings. Otherwise the model keeps the biases and its
factors stay zero (``n_factors`` 1, ``init_std`` 0): it still predicts and recommends, by the biases.
Nothing here looks at the data's name, only at the probe's errors. Each candidate's rows are regularized by
their own ratings in the probe. On more ratings than ``PROBE_MAX_RATINGS`` the probe takes a random sample
of readers and books (``_probe_data``), large enough that sampled rows keep ``PROBE_ROW_RATINGS`` ratings on
average (``probe_size``: the fixed 500,000 at goodbooks' size, about 10M at the UCSD Goodreads shape's 2.36M
books), so it costs about as much as a few runs on that many ratings.

Measured (validation RMSE, random 80/20 split, seed 42; see benchmarks/bench_accuracy.py), with the dot
model's defaults (wd 0.015, shrink 5, 10 epochs): MovieLens-small keeps x1 at 10 epochs (0.8344; biases
alone 0.8665); a 10% per-reader sample of it keeps biases alone at 30 epochs (0.9108; biases alone at 10
epochs 0.9149, Surprise's SVD 0.9205); sparse 1-10 synthetic data picks x9 at 30 epochs (1.5087; at 10
epochs 1.5166; biases alone 1.5345); full-size goodbooks-shaped data keeps x1 at 10 epochs (0.7352); the
UCSD shape x 0.1 (10.5M ratings, 236,066 books) keeps x1 at 10 epochs (0.8022; biases alone 0.8533, which
the probe kept when it sampled 500,000 ratings by reader). Over split seeds 42, 1, 7, 3 and 5 on the 10%
sample, the default was below biases alone on four and equal on one; with the 0.1% bar alone (no standard
errors) the probe's 829 ratings once chose factors that lost to biases alone by 0.0006.

The ladder starts at the low end of what suits big data (wd 0.015). With wd 0.045, a probe on a sample of
readers kept x1 on full-size data (0.7539) where x1/3 gave 0.7368; on all readers, a 3-epoch probe leaned
the other way (x1/9, 0.7563 on the real run).
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

__all__ = [
    "PROBE_MAX_RATINGS",
    "PROBE_ROW_RATINGS",
    "PROBE_SHARE",
    "Adaptation",
    "adapt",
    "clearly_better",
    "probe_size",
]

PROBE_SHARE = 0.1
"""Share of the (sampled) training ratings the probe holds out."""
PROBE_MAX_RATINGS = 500_000
"""Above this many training ratings the probe runs on a sample (this many ratings, or ``probe_size``)."""
PROBE_ROW_RATINGS = 20
"""Ratings a sampled reader and book keep on average, at least. UCSD shape x 0.1 (10.5M ratings, 236,066
books; validation RMSE of factors x1 0.8022, biases alone 0.8533): at 20 a row (a 1M-rating sample) the probe
chose x1 at split seeds 42, 1, 7 and 3, its factors beating biases alone by 0.5-0.6% of RMSE (the bar:
0.3%); at 28 (2M) by 1.2-1.4%, for twice the probe's time; at 2 a row (500,000 ratings by reader) it kept
biases alone."""
_SCALE_STEP = 3.0
_MAX_SCALE = 81.0
_MAX_EPOCH_STEP = 9.0  # at most 9x the configured epochs
_MIN_GAIN = 0.001  # factors (or more epochs) must beat biases alone by 0.1% on the probe ...
# Factors must beat biases alone by more: 0.3% of RMSE and one standard error of the paired difference.
# Calibrated on 25 per-reader samples of MovieLens-small (3% to 50% of each reader's ratings, 2 samples x 2
# splits, and the 10% sample at 5 splits): where the factors lost to biases alone on the validation part,
# their probe gain was at most 0.16% (z up to 1.77); where they won by more than 0.001, it was 0.57% or more
# (z 1.50 to 4.26). A bar of two standard errors alone kept biases on 5 of the 13 where factors won.
_FACTORS_MIN_GAIN = 0.003
_FACTORS_Z = 1.0
_PROBE_STREAM = 0xADA7  # mixed into the seed: the probe's split is not the validation split


@dataclass(frozen=True)
class Adaptation:
    """What the probe chose, as recorded in ``metrics["regularization"]``.

    Attributes:
        factors: Whether the factors beat biases alone on the probe (False: the model is biases alone).
        factor_scale: The chosen multiple of the factors' regularization (1 when ``factors`` is False).
        probe_rmse: The probe's RMSE per candidate: "biases" and "x1", "x3", ... for the scales tried, then
            the winner at longer schedules ("x1 30 epochs", "biases 30 epochs", ...).
        n_probe: Ratings in the probe's hold-out.
        epochs: The chosen number of epochs.
    """

    factors: bool
    factor_scale: float
    probe_rmse: dict[str, float]
    n_probe: int
    epochs: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "adapted": True,
            "factors": self.factors,
            "factor_scale": self.factor_scale,
            "probe_rmse": dict(self.probe_rmse),
            "n_probe": self.n_probe,
            "epochs": self.epochs,
        }

    def summary(self) -> str:
        """One line for people."""
        label = _label(self.factor_scale) if self.factors else "biases"
        longer = f"{label} {self.epochs} epochs"
        schedule = (
            f"; {self.epochs} epochs, which beat the shorter schedule (RMSE {self.probe_rmse[longer]:.4f})"
            if longer in self.probe_rmse
            else ""
        )
        if not self.factors:
            factored = [v for k, v in self.probe_rmse.items() if k.startswith("x") and " " not in k]
            tried = f" (RMSE {min(factored):.4f} vs {self.probe_rmse['biases']:.4f})" if factored else ""
            return (
                "the factors did not clearly beat reader and book biases alone on a hold-out of the training "
                f"ratings{tried}: the model keeps the biases only (similar books come from the ranking "
                f"model, where there is one){schedule}"
            )
        return (
            f"regularization {label} chosen on a hold-out of the training ratings "
            f"(RMSE {self.probe_rmse[label]:.4f}; biases alone {self.probe_rmse['biases']:.4f}){schedule}"
        )


def biases_only(config: TrainConfig) -> TrainConfig:
    """``config`` for reader and book biases alone: one factor that starts and stays at zero."""
    return dataclasses.replace(
        config, n_factors=1, init_std=0.0, factor_scale=1.0, adapt=False, adapt_epochs=False
    )


def probe_size(n_ratings: int, readers: int, books: int) -> int:
    """Ratings in the probe's sample: ``PROBE_MAX_RATINGS``, or more where that many would leave a sampled
    reader or book fewer than ``PROBE_ROW_RATINGS`` ratings (see ``_probe_data``); at most all of them.

    A sample of a share p of the ratings, drawn so that sampled readers and books keep as many ratings each
    (``_probe_data``), leaves them about sqrt(p x ratings per reader x ratings per book); solved for p.
    """
    wanted = PROBE_ROW_RATINGS**2 * readers * books / max(n_ratings, 1)
    return int(min(n_ratings, max(PROBE_MAX_RATINGS, math.ceil(wanted))))


def _probe_data(data: Dataset, seed: int) -> Dataset:
    """The training ratings, or a random sample of ``probe_size`` of them when there are more.

    The sample keeps a random share of the readers and a random share of the books, and the ratings where
    both meet, with the shares chosen so that a sampled reader and a sampled book keep the same number of
    ratings on average: factors are judged on rows that have ratings to learn from. Sampling readers alone
    thins the books: at the UCSD Goodreads shape x 0.1 (236,066 books) a 500,000-rating sample of readers
    left about 2 ratings a book, and the probe kept biases alone (validation RMSE 0.8533) where factors give
    0.8022.

    A sample is renumbered to the readers and books it holds, so the probe's tables are the sample's size,
    not the catalogue's (at the UCSD Goodreads shape's 3.2M readers and books, whole tables cost 1.7 GB and
    ~4 s to draw for each candidate).
    """
    readers = int(np.count_nonzero(np.bincount(data.user_idx, minlength=data.n_users)))
    books = int(np.count_nonzero(np.bincount(data.book_idx, minlength=data.n_books)))
    size = probe_size(data.n_ratings, readers, books)
    if size >= data.n_ratings:
        return data
    rng = np.random.default_rng([seed, _PROBE_STREAM, 1])
    share = size / data.n_ratings
    # reader share x book share = share, and reader share x ratings per book = book share x ratings per reader
    reader_share = min(1.0, math.sqrt(share * books / max(readers, 1)))
    book_share = min(1.0, share / reader_share)
    reader_share = min(1.0, share / book_share)
    keep_reader = rng.random(data.n_users) < reader_share
    keep_book = rng.random(data.n_books) < book_share
    sample = data.subset(keep_reader[data.user_idx] & keep_book[data.book_idx])
    users, books_kept = np.unique(sample.user_idx), np.unique(sample.book_idx)
    renumbered = dataclasses.replace(
        sample,
        user_idx=np.searchsorted(users, sample.user_idx).astype(np.int32),
        book_idx=np.searchsorted(books_kept, sample.book_idx).astype(np.int32),
        users=IdMap(data.users.ids[users]),
        books=IdMap(data.books.ids[books_kept]),
        books_table=data.books_table.iloc[books_kept].reset_index(drop=True),
        want_user_idx=np.zeros(0, dtype=np.int32),
        want_book_idx=np.zeros(0, dtype=np.int32),
    )
    return renumbered


def _probe_errors(
    fit: Dataset,
    held: Dataset,
    config: TrainConfig,
    y_range: tuple[float, float],
) -> np.ndarray:
    """Train ``config`` on ``fit`` with the sgd engine and return its squared error on each of ``held``'s
    ratings (inf where training diverged).

    Rows are regularized by their own ratings in ``fit``, as the real run regularizes rows with as many
    ratings (a sample keeps rows of about the real density: see ``_probe_data``).
    """
    from bookrec.engines.sgd import SgdEngine
    from bookrec.models.dot import initial_head

    engine = SgdEngine(initial_head(fit.n_users, fit.n_books, config, y_range), fit, config)
    for epoch in range(config.epochs):
        engine.run_epoch(epoch)
    error = engine.predict(held).astype(np.float64) - held.rating
    squared = error * error
    return squared if np.all(np.isfinite(squared)) else np.full_like(squared, np.inf)


def clearly_better(
    candidate: np.ndarray, incumbent: np.ndarray, min_gain: float = _MIN_GAIN, min_z: float = 0.0
) -> bool:
    """Whether ``candidate``'s squared errors beat ``incumbent``'s on the same ratings by more than chance.

    Better means a relative gain of ``min_gain`` in RMSE (worth the factors' or the longer schedule's cost)
    and a mean paired difference above ``min_z`` standard errors.
    """
    if not np.all(np.isfinite(candidate)):
        return False
    if not np.all(np.isfinite(incumbent)):
        return True
    gain = 1.0 - math.sqrt(float(np.mean(candidate)) / max(float(np.mean(incumbent)), 1e-300))
    difference = incumbent - candidate
    spread = float(np.std(difference, ddof=1)) / math.sqrt(difference.size) if difference.size > 1 else 0.0
    return gain >= min_gain and float(np.mean(difference)) > min_z * spread


def adapt(data: Dataset, config: TrainConfig, y_range: tuple[float, float]) -> tuple[TrainConfig, Adaptation]:
    """Choose ``config``'s regularization (and, with ``adapt_epochs``, its epochs) on a hold-out of ``data``
    (the training ratings).

    Returns:
        The settings to train with (``adapt`` off, the chosen ``factor_scale`` and epochs; biases alone when
        factors do not help) and what the probe measured.
    """
    chosen = dataclasses.replace(config, adapt=False, adapt_epochs=False)
    sample = _probe_data(data, config.seed)
    fit, held = random_split(sample, PROBE_SHARE, int(mix_seed(config.seed, _PROBE_STREAM, 0) >> 2))
    if fit.n_ratings == 0 or held.n_ratings == 0:  # too few ratings to judge: keep the settings
        return chosen, Adaptation(True, config.factor_scale, {}, held.n_ratings, config.epochs)
    errors: dict[str, np.ndarray] = {}

    def probe(label: str, candidate: TrainConfig) -> np.ndarray:
        errors[label] = _probe_errors(fit, held, candidate, y_range)
        return errors[label]

    probe("biases", biases_only(chosen))

    def scaled(scale: float) -> np.ndarray:
        return probe(_label(scale), dataclasses.replace(chosen, factor_scale=scale))

    # Up by x3 while the probe improves; when the first step up does not, down by /3 while it improves.
    best_scale, best = config.factor_scale, float(np.mean(scaled(config.factor_scale)))
    for step in (_SCALE_STEP, 1.0 / _SCALE_STEP):
        scale = best_scale * step
        while 1.0 / _MAX_SCALE <= scale / config.factor_scale <= _MAX_SCALE and np.mean(scaled(scale)) < best:
            best_scale, best = scale, float(np.mean(errors[_label(scale)]))
            scale *= step
        if best_scale != config.factor_scale:
            break
    # Factors must beat biases alone beyond the hold-out's noise (on a 10% sample of MovieLens-small its 829
    # ratings picked factors that lost to biases alone on the validation part); a longer schedule of the
    # same model needs only the 0.1% gain.
    factors = clearly_better(errors[_label(best_scale)], errors["biases"], _FACTORS_MIN_GAIN, _FACTORS_Z)
    winner = dataclasses.replace(chosen, factor_scale=best_scale) if factors else biases_only(chosen)
    label = _label(best_scale) if factors else "biases"
    incumbent = errors[label]
    # Then longer schedules (x3 epochs) while they clearly help: small data converges slowly at the
    # defaults' steps (10% of MovieLens-small, biases alone: 0.9149 at 10 epochs, 0.9108 at 30).
    # Only where the probe fits on all the training ratings: a sample's rows have fewer ratings than the real
    # run's, converge more slowly and so ask for more epochs than it needs (UCSD shape x 0.1: 30 epochs chosen
    # on a 1M sample gave validation RMSE 0.8131 where 10 give 0.8022).
    whole = sample.n_ratings == data.n_ratings
    while whole and config.adapt_epochs and winner.epochs * _SCALE_STEP <= config.epochs * _MAX_EPOCH_STEP:
        longer = dataclasses.replace(winner, epochs=int(winner.epochs * _SCALE_STEP))
        if not clearly_better(probe(f"{label} {longer.epochs} epochs", longer), incumbent):
            break
        winner, incumbent = longer, errors[f"{label} {longer.epochs} epochs"]
    rmse = {key: math.sqrt(float(np.mean(value))) for key, value in errors.items()}
    return winner, Adaptation(factors, best_scale if factors else 1.0, rmse, held.n_ratings, winner.epochs)


def _label(scale: float) -> str:
    return f"x{scale:.4g}"
