"""Training: ``train()``, the loop over an engine, with callbacks, checkpoints and resume.

The loop is the same for every model kind (:mod:`bookrec.models`) and engine (:mod:`bookrec.engines`).
Every epoch ends with one synchronisation (losses stay on the device until then), an evaluation, a check for
NaN or infinite losses, the callbacks, and an atomic checkpoint. All randomness of an epoch derives from
``(seed, epoch)`` and the checkpoint holds all state (weights, optimizer moments, scheduler position), so a
resumed run ends exactly where an uninterrupted one ends. The loop draws nothing: it reports progress
through callbacks, and the CLI and the app draw.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bookrec import lookups, modelfile
from bookrec.config import DEFAULTS, ENGINES, MODELS, OPTIMIZERS, TrainConfig, auto_batch_size
from bookrec.data.dataset import Dataset
from bookrec.data.split import random_split
from bookrec.engines import create_engine
from bookrec.engines.adapt import Adaptation, adapt
from bookrec.engines.base import Engine
from bookrec.errors import CheckpointError, ConfigError, TrainingDivergedError, TrainingInterrupted
from bookrec.models import model_kind
from bookrec.models.base import default_y_range
from bookrec.ranking_fit import fits_beside, join_ranker, start_ranker
from bookrec.trained import Callback, EpochStats, ProgressCallback, TrainProgress, TrainResult

__all__ = [
    "DEFAULTS",
    "ENGINES",
    "MODELS",
    "OPTIMIZERS",
    "CheckpointError",
    "EpochStats",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "auto_batch_size",
    "initial_model",
    "resolve_device",
    "train",
    "train_and_save",
]


def initial_model(dataset: Dataset, config: TrainConfig, y_range: tuple[float, float]) -> Any:
    """The untrained torch module of ``config`` for ``dataset``: class, sizes, seeded initial weights."""
    import torch

    generator = torch.Generator().manual_seed(config.seed)
    return model_kind(config.model).build(dataset.n_users, dataset.n_books, config, y_range, generator)


def _initial_state(dataset: Dataset, config: TrainConfig, y_range: tuple[float, float]) -> Any:
    """What the engine steps: the initial tables for the sgd engine (so the default training never imports
    torch: ~2 s at full size), else the torch module."""
    initial_head = model_kind(config.model).initial_head
    if config.engine == "sgd" and initial_head is not None:
        return initial_head(dataset.n_users, dataset.n_books, config, y_range)
    return initial_model(dataset, config, y_range)


def resolve_device(device: Any = None) -> Any:
    """The torch device to train on: the one named, else CUDA, else MPS, else the CPU (imports torch).

    Raises:
        ConfigError: The named device is unknown or not available here.
    """
    from bookrec.engines.torch import resolve_device as resolve

    return resolve(device)


def _fingerprint(train_data: Dataset, valid_data: Dataset) -> str:
    """Identifies a checkpoint's training data (valid_pct and seed in the config fix the split)."""
    return (
        f"{train_data.source_hash}:{train_data.n_users}x{train_data.n_books}:"
        f"{train_data.n_ratings}+{valid_data.n_ratings}"
    )


def _describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = [
        f"{k} {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    return ", ".join(changed[:3])


def _resume(engine: Engine, folder: Path, config: TrainConfig, fingerprint: str) -> list[EpochStats]:
    """Load the checkpoint in ``folder`` into ``engine``; return the epochs it had completed."""
    arrays, values = modelfile.read_checkpoint(folder)
    if values.get("config") != config.to_dict():
        raise CheckpointError(
            f"the checkpoint in {folder} was made with other settings "
            f"({_describe_difference(values.get('config') or {}, config.to_dict())}); "
            "use the same settings, or train without --resume"
        )
    if values.get("data") != fingerprint:
        raise CheckpointError(
            f"the checkpoint in {folder} was made on other data; use the same data, or train without --resume"
        )
    try:
        engine.load_state(arrays, values.get("engine") or {})
    except (KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"the checkpoint in {folder} does not fit this model ({error})") from None
    return [EpochStats(**row, restored=True) for row in values["history"]]


def _checked_epoch(
    engine: Engine, epoch: int, config: TrainConfig, valid_data: Dataset, folder: Path | None
) -> EpochStats:
    """Run one epoch and evaluate it; raise ``TrainingDivergedError`` on a NaN or infinite loss or weight."""
    tick = time.perf_counter()
    train_loss = engine.run_epoch(epoch)
    valid_mse = valid_mae = None
    if valid_data.n_ratings:
        valid_mse, valid_mae = engine.evaluate(valid_data)
    losses = (("training", train_loss), ("validation", valid_mse))
    bad = [(name, value) for name, value in losses if value is not None and not math.isfinite(value)]
    if bad or not engine.finite():
        kept = (
            f"; the last good checkpoint (epoch {epoch}) is kept in {folder}"
            if folder is not None and epoch > 0
            else ""
        )
        what = f"the {bad[0][0]} loss became {bad[0][1]}" if bad else "the weights became infinite or NaN"
        raise TrainingDivergedError(
            f"{what} in epoch {epoch + 1} of {config.epochs}; try a lower lr (now {config.lr:g}){kept}"
        )
    return EpochStats(
        epoch=epoch + 1,
        epochs=config.epochs,
        train_loss=train_loss,
        valid_loss=valid_mse,
        valid_rmse=None if valid_mse is None else math.sqrt(valid_mse),
        valid_mae=valid_mae,
        seconds=time.perf_counter() - tick,
        lr=engine.lr_at_end(epoch),
    )


def train(
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    callbacks: Iterable[Callback] = (),
    progress: ProgressCallback | bool | None = None,
    device: Any = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    spark_master: str | None = None,
) -> TrainResult:
    """Split ``dataset``, train the configured model, and return it with its history and metrics.

    Args:
        dataset: The ratings (split by ``config.valid_pct`` and ``config.seed``).
        config: Hyper-parameters; default ``TrainConfig()`` (the measured defaults).
        callbacks: Called with each epoch's ``EpochStats`` (also for epochs restored on resume).
        progress: Called with a ``TrainProgress`` as epochs and batches complete, to draw a progress bar
            (the CLI and the app do). ``True``/``False`` draw nothing (kept for older callers).
        device: For the torch engine: "cpu", "cuda", "mps", or None/"auto" (CUDA, else MPS, else CPU).
            The sgd engine always runs on the CPU.
        checkpoint_dir: Where to write a checkpoint after every epoch (None: no checkpoints).
        resume: Go on from the checkpoint in ``checkpoint_dir`` (same settings and data required).
        spark_master: For the spark engine: the Spark master URL (None: what spark-submit or the Spark
            configuration says, else every local core). The spark engine writes no checkpoints.

    Returns:
        The trained model, the settings, one row per epoch and the final metrics.

    Raises:
        ConfigError: Settings that cannot work with this data or device.
        CheckpointError: ``resume`` without a usable checkpoint for these settings and data.
        TrainingDivergedError: The loss became NaN or infinite (the last good checkpoint is kept).
        TrainingInterrupted: Ctrl-C; completed epochs are checkpointed.
    """
    started = time.perf_counter()
    config = config or TrainConfig()
    if config.engine == "spark":  # MLlib fits whole, in one Spark job: no epochs to loop over, no checkpoints
        if resume:
            raise ConfigError("the spark engine writes no checkpoints to resume from; train without resume")
        from bookrec.engines.spark import train_spark

        return train_spark(dataset, config, master=spark_master, callbacks=callbacks, progress=progress)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if resume and folder is None:
        raise ConfigError("resume needs a checkpoint folder (checkpoint_dir)")
    # What finding books needs, made while memory is free (4 GB at 2.36M books; saving writes it).
    book_lookups = lookups.build(dataset.books_table)
    # The ranking model fits on its own thread, beside the rating model where memory allows (ranking_fit.py);
    # else first, alone: its working memory is freed before the rating model's is taken.
    beside = config.ranker != "none" and fits_beside(dataset, config)
    ranking = start_ranker(dataset, config) if beside else None
    ranker, rank_seconds = None, None
    if config.ranker != "none" and not beside:
        ranker, rank_seconds = join_ranker(start_ranker(dataset, config), config, progress, epochs_done=0)
    try:
        history, engine, train_data, valid_data, y_range, adaptation, config = _rating_model(
            dataset, config, folder, resume, callbacks, progress, device
        )
    except BaseException:
        if ranking is not None:
            ranking.cancel()
        raise
    if beside:
        ranker, rank_seconds = join_ranker(ranking, config, progress)
    last = history[-1] if history else None
    metrics: dict[str, Any] = {
        "valid_mse": last.valid_loss if last else None,
        "valid_rmse": last.valid_rmse if last else None,
        "valid_mae": last.valid_mae if last else None,
        "train_loss": last.train_loss if last else None,
        "seconds": time.perf_counter() - started,
        "epochs": config.epochs,
        "bs": engine.bs,
        "n_train": train_data.n_ratings,
        "n_valid": valid_data.n_ratings,
        "rank_seconds": rank_seconds,
        "rank_on": None if ranker is None else RANK_ON_ALL,
        "rank_beside": None if ranker is None else beside,
        "regularization": None if adaptation is None else adaptation.to_dict(),
    }
    return TrainResult(
        engine.finish(),
        config,
        tuple(history),
        metrics,
        train_data,
        valid_data,
        tuple(y_range),
        ranker,
        adaptation,
        book_lookups,
    )


RANK_ON_ALL = "all ratings"
"""The manifest's ``metrics.rank_on`` when the ranking model saw the validation part too."""


def _rating_model(
    dataset: Dataset,
    config: TrainConfig,
    folder: Path | None,
    resume: bool,
    callbacks: Iterable[Callback],
    progress: ProgressCallback | bool | None,
    device: Any,
) -> tuple[list[EpochStats], Engine, Dataset, Dataset, tuple[float, float], Adaptation | None, TrainConfig]:
    """Split, choose the regularization, and run the rating model's epochs."""
    train_data, valid_data = random_split(dataset, config.valid_pct, config.seed)
    if train_data.n_ratings == 0:
        raise ConfigError(f"no ratings to train on: {dataset.name} has {dataset.n_ratings} ratings")
    y_range = config.y_range or default_y_range(dataset.rating_min, dataset.rating_max)
    adaptation = None
    if config.adapt:  # the data sets the regularization (engines/adapt.py); the chosen settings are recorded
        config, adaptation = adapt(train_data, config, y_range)
    run = _Run(config, valid_data, folder, _fingerprint(train_data, valid_data), tuple(callbacks), progress)
    engine = create_engine(
        _initial_state(dataset, config, y_range), train_data, config, device=device, on_batch=run.on_batch
    )
    history = run.epochs(engine, resume)
    return history, engine, train_data, valid_data, y_range, adaptation, config


def _checkpointed_epoch(folder: Path, believed: int) -> int:
    """The epoch of the checkpoint on disk: a stop that lands between its atomic swap and the loop's own count
    would otherwise name the epoch before it."""
    try:
        _, values = modelfile.read_checkpoint(folder)
        return int(values["epoch"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return believed


@dataclass
class _Run:
    """One run's loop over epochs: callbacks, progress reports, checkpoints, the Ctrl-C message."""

    config: TrainConfig
    valid_data: Dataset
    folder: Path | None
    fingerprint: str
    callbacks: tuple[Callback, ...]
    progress: ProgressCallback | bool | None
    epochs_done: int = 0

    def report(self, batches_done: int = 0, batches: int = 0) -> None:
        if callable(self.progress):
            self.progress(TrainProgress(self.epochs_done, self.config.epochs, batches_done, batches))

    def on_batch(self, done: int, total: int) -> None:
        self.report(done, total)

    def epochs(self, engine: Engine, resume: bool) -> list[EpochStats]:
        """Run the remaining epochs; return every epoch's row (restored ones first)."""
        config, folder = self.config, self.folder
        history = _resume(engine, folder, config, self.fingerprint) if resume and folder is not None else []
        for row in history:
            for callback in self.callbacks:
                callback(row)
        checkpointed = self.epochs_done = len(history)
        self.report()
        try:
            for epoch in range(self.epochs_done, config.epochs):
                stats = _checked_epoch(engine, epoch, config, self.valid_data, folder)
                history.append(stats)
                self.epochs_done = epoch + 1
                if folder is not None:
                    self.checkpoint(engine, history)
                    checkpointed = epoch + 1
                self.report()
                for callback in self.callbacks:
                    callback(stats)
        except KeyboardInterrupt:
            done = _checkpointed_epoch(folder, checkpointed) if folder is not None else len(history)
            where = (
                f"the checkpoint after epoch {done} is in {folder}; resume to go on"
                if folder is not None and done
                else "nothing was saved"
            )
            raise TrainingInterrupted(
                f"training interrupted in epoch {len(history) + 1} of {config.epochs}; {where}", done, folder
            ) from None
        return history

    def checkpoint(self, engine: Engine, history: list[EpochStats]) -> None:
        """Everything a resumed run needs, in one atomically replaced file."""
        assert self.folder is not None
        arrays, engine_values = engine.state()
        values = {
            "format": modelfile.CHECKPOINT_FORMAT,
            "epoch": len(history),
            "config": self.config.to_dict(),
            "data": self.fingerprint,
            "history": [row.to_dict() for row in history],
            "engine": engine_values,
        }
        modelfile.write_checkpoint(self.folder, arrays, values)


def train_and_save(
    dataset: Dataset,
    config: TrainConfig | None,
    folder: str | os.PathLike[str],
    *,
    callbacks: Iterable[Callback] = (),
    progress: ProgressCallback | bool | None = None,
    device: Any = None,
    resume: bool = False,
    checkpoints: bool = True,
    remember: bool = True,
    spark_master: str | None = None,
) -> TrainResult:
    """Train, save the model folder, make it the last trained model: what `bookrec train` and the app do.

    The destination is checked before training (a folder that holds anything but a model is refused, so
    nothing is trained for nothing); checkpoints go to its ``checkpoint/`` subfolder while training.

    Args:
        dataset: The ratings.
        config: Hyper-parameters (None: the defaults).
        folder: The model folder to write.
        callbacks: As for ``train``.
        progress: As for ``train``.
        device: As for ``train``.
        resume: Go on from the checkpoint in the folder.
        checkpoints: Write a checkpoint after every epoch.
        remember: Record the folder as the last trained model, the default wherever a model is asked for.
        spark_master: As for ``train``.

    Raises:
        ModelFileError: The destination cannot be written or holds something else.
        Everything ``train`` raises.
    """
    modelfile.ensure_replaceable(folder)
    result = train(
        dataset,
        config,
        callbacks=callbacks,
        progress=progress,
        device=device,
        checkpoint_dir=Path(folder) / modelfile.CHECKPOINT_DIR if checkpoints or resume else None,
        resume=resume,
        spark_master=spark_master,
    )
    result.save(folder)
    if remember:
        modelfile.remember_last_model(folder)
    return result
