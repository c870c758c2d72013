"""Hyper-parameter search with Optuna: factors, learning rate, weight decay, epochs (and batch size).

The search never sees the ratings that will measure its winner. The data are split as ``train`` splits
them (``valid_pct``, ``seed``); every trial trains on the training part only, which ``train`` splits again
with the same share and seed into a part to fit and a part to score (validation RMSE). The best settings,
trained by ``train`` on the whole data set, are then judged on the outer validation part, which no trial
used: that RMSE is an honest one, the tuning RMSE (chosen as the best of many) is not.

Optuna's TPE sampler is seeded; the first trial is always the measured defaults (the nn model's factors,
set by fastai's size rule by default, are drawn), so tuning ends no worse than them on the tuning split.
The search stops after ``n_trials`` trials or once ``minutes`` have passed (Optuna's ``timeout``: a trial
that is running then is finished, not cut short). Optuna is an optional dependency (``pip install
optuna``), imported only here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bookrec.config import DEFAULTS, TrainConfig
from bookrec.data.dataset import Dataset
from bookrec.data.split import random_split
from bookrec.errors import BookrecError, ConfigError, TrainingDivergedError
from bookrec.train import train

__all__ = ["SEARCH_SPACES", "TrialResult", "TuneResult", "check_budget", "tune"]

# Ranges around the measured defaults (see bookrec.train.DEFAULTS), wide enough to hold both MovieLens' and
# goodbooks' optima: lr, wd and factors on a log scale, epochs linear.
SEARCH_SPACES: dict[str, dict[str, tuple[float, float]]] = {
    "sgd": {"n_factors": (16, 256), "lr": (5e-4, 1e-2), "wd": (5e-3, 0.2), "epochs": (4, 16)},
    "torch": {"n_factors": (8, 256), "lr": (1e-3, 3e-2), "wd": (1e-3, 0.5), "epochs": (2, 10)},
}
"""Search range (low, high) of each setting per engine; the torch engine also tries batch sizes."""

_BATCH_MULTIPLIERS = (0.25, 0.5, 1.0, 2.0)  # torch engine: these times the automatic batch size
_MAX_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class TrialResult:
    """One trial of the search.

    Attributes:
        number: 0-based trial number.
        params: The settings tried (n_factors, lr, wd, epochs, and bs for the torch engine).
        rmse: Validation RMSE on the tuning split; None when training diverged.
        seconds: Training time.
        state: "complete", or "diverged" (the loss became NaN or infinite; scored as pruned).
    """

    number: int
    params: dict[str, Any]
    rmse: float | None
    seconds: float
    state: str

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "number": self.number,
            **self.params,
            "rmse": self.rmse,
            "seconds": self.seconds,
            "state": self.state,
        }


@dataclass(frozen=True)
class TuneResult:
    """The best settings found and every trial.

    Attributes:
        best_config: The best settings, with the caller's valid_pct and seed, ready for ``train``.
        best_rmse: Its validation RMSE on the tuning split (optimistic: the best of all trials).
        trials: Every trial, in order.
        seconds: Wall time of the search.
    """

    best_config: TrainConfig
    best_rmse: float
    trials: tuple[TrialResult, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "best_rmse": self.best_rmse,
            "best_config": self.best_config.to_dict(),
            "n_trials": len(self.trials),
            "seconds": self.seconds,
            "trials": [t.to_dict() for t in self.trials],
        }


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise BookrecError(
            "tuning needs Optuna: pip install optuna (or pip install 'bookrec[tune]')"
        ) from None
    return optuna


@contextlib.contextmanager
def _quiet(optuna: Any) -> Iterator[None]:
    """Silence Optuna's per-trial log lines for the search, then restore its verbosity (no global change)."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def check_budget(minutes: float | None, n_trials: int | None, valid_pct: float) -> None:
    """Refuse a budget or split that ``tune`` cannot work with (before any data is loaded).

    Raises:
        ConfigError: Neither limit given, minutes not positive, trials below 1, or valid_pct not in (0, 1).
    """
    if minutes is None and n_trials is None:
        raise ConfigError("give a time budget (minutes) or a number of trials, or both")
    if minutes is not None and not (
        isinstance(minutes, int | float) and math.isfinite(minutes) and 0 < minutes <= _MAX_MINUTES
    ):
        raise ConfigError(f"minutes must be a positive number up to {_MAX_MINUTES} (a week), got {minutes!r}")
    if n_trials is not None and not (isinstance(n_trials, int) and 1 <= n_trials <= 100_000):
        raise ConfigError(f"trials must be a whole number from 1 to 100000, got {n_trials!r}")
    if not (isinstance(valid_pct, int | float) and 0 < valid_pct < 1):
        raise ConfigError(f"valid_pct must be above 0 and below 1 for tuning, got {valid_pct!r}")


def tune(
    dataset: Dataset,
    *,
    model: str = "dot",
    engine: str = "auto",
    minutes: float | None = 10.0,
    n_trials: int | None = None,
    valid_pct: float = 0.2,
    seed: int = 42,
    device: str | None = None,
    callbacks: Iterable[Callable[[TrialResult], None]] = (),
) -> TuneResult:
    """Search factors, lr, wd and epochs (and bs with the torch engine) for the lowest validation RMSE.

    Args:
        dataset: The ratings. Trials see only the training part of its (valid_pct, seed) split.
        model: "dot" or "nn".
        engine: "sgd", "torch" or "auto" (as ``TrainConfig``).
        minutes: Time budget; no trial starts after it (None: no limit).
        n_trials: Most trials to run (None: until the time budget is spent).
        valid_pct: Share held out, at both levels of the split; above 0.
        seed: Seed of the splits, the sampler and every trial's training.
        device: Device of the torch engine (None: automatic).
        callbacks: Called with each trial's result as it finishes.

    Returns:
        The best settings (to train on the whole data set) and every trial.

    Raises:
        ConfigError: Bad settings, or every trial diverged.
        BookrecError: Optuna is not installed.
    """
    check_budget(minutes, n_trials, valid_pct)
    base = TrainConfig(model=model, engine=engine, valid_pct=valid_pct, seed=seed)  # validates model/engine
    optuna = _import_optuna()
    tuning_part, _ = random_split(dataset, valid_pct, seed)
    if tuning_part.n_ratings < 2:
        raise ConfigError(f"too few ratings to tune on: {dataset.name} has {dataset.n_ratings}")
    space = SEARCH_SPACES[base.engine]
    batch_sizes: list[int] = []
    auto_bs = None
    if base.engine == "torch":
        auto_bs = _auto_batch(tuning_part, base)
        batch_sizes = sorted({max(32, int(auto_bs * m)) for m in _BATCH_MULTIPLIERS})
    objective = _Objective(tuning_part, base, space, batch_sizes, device, tuple(callbacks), optuna)
    started = time.perf_counter()
    with _quiet(optuna):
        sampler = optuna.samplers.TPESampler(seed=seed % 2**32)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        # The measured defaults first: the search can only improve on them.
        study.enqueue_trial(_first_trial(base, space, auto_bs))
        study.optimize(objective, n_trials=n_trials, timeout=None if minutes is None else minutes * 60.0)
    trials = objective.trials
    scored = [(t.rmse, t.number, t) for t in trials if t.rmse is not None]
    if not scored:
        raise ConfigError(
            "every trial diverged (the loss became NaN or infinite); try another engine or model"
        )
    best_rmse, _, best = min(scored)
    best_config = TrainConfig(
        model=base.model,
        engine=base.engine,
        optimizer=base.optimizer,
        valid_pct=valid_pct,
        seed=seed,
        **best.params,
    )
    return TuneResult(
        best_config=best_config,
        best_rmse=float(best_rmse),
        trials=tuple(trials),
        seconds=time.perf_counter() - started,
    )


def _auto_batch(tuning_part: Dataset, base: TrainConfig) -> int:
    """The batch each trial's torch engine picks by itself (the nn model asks for more steps than the dot)."""
    from bookrec.engines.torch import auto_batch
    from bookrec.models.base import default_y_range
    from bookrec.train import initial_model

    y_range = base.y_range or default_y_range(tuning_part.rating_min, tuning_part.rating_max)
    model = initial_model(tuning_part, base, y_range)
    return auto_batch(model, round(tuning_part.n_ratings * (1 - base.valid_pct)))


def _first_trial(base: TrainConfig, space: dict[str, Any], bs: int | None) -> dict[str, Any]:
    """The measured defaults as a trial (factors dropped when outside the search space)."""
    defaults = DEFAULTS[(base.model, base.optimizer)]
    first = {
        name: defaults[name] for name in ("n_factors", "lr", "wd", "epochs") if defaults[name] is not None
    }
    if "n_factors" in first and not space["n_factors"][0] <= first["n_factors"] <= space["n_factors"][1]:
        del first["n_factors"]
    if bs is not None:
        first["bs"] = bs
    return first


@dataclass
class _Objective:
    """One trial: draw settings, train on the tuning part, report the validation RMSE (pruned if diverged)."""

    tuning_part: Dataset
    base: TrainConfig
    space: dict[str, Any]
    batch_sizes: list[int]
    device: str | None
    callbacks: tuple[Callable[[TrialResult], None], ...]
    optuna: Any
    trials: list[TrialResult] = field(default_factory=list)

    def settings(self, trial: Any) -> dict[str, Any]:
        space = self.space
        params = {
            "n_factors": trial.suggest_int("n_factors", *space["n_factors"], log=True),
            "lr": trial.suggest_float("lr", *space["lr"], log=True),
            "wd": trial.suggest_float("wd", *space["wd"], log=True),
            "epochs": trial.suggest_int("epochs", *space["epochs"]),
        }
        if self.batch_sizes:
            params["bs"] = trial.suggest_categorical("bs", self.batch_sizes)
        return params

    def record(self, record: TrialResult) -> None:
        self.trials.append(record)
        for callback in self.callbacks:
            callback(record)

    def __call__(self, trial: Any) -> float:
        params = self.settings(trial)
        base = self.base
        config = TrainConfig(
            model=base.model,
            engine=base.engine,
            optimizer=base.optimizer,
            valid_pct=base.valid_pct,
            seed=base.seed,
            **params,
        )
        started = time.perf_counter()
        try:
            # Trials score the rating model only: fitting the ranking model each time would only cost time.
            result = train(self.tuning_part, dataclasses.replace(config, ranker="none"), device=self.device)
        except TrainingDivergedError:
            self.record(TrialResult(trial.number, params, None, time.perf_counter() - started, "diverged"))
            raise self.optuna.TrialPruned() from None
        rmse = float(result.metrics["valid_rmse"])
        self.record(TrialResult(trial.number, params, rmse, time.perf_counter() - started, "complete"))
        return rmse
