"""What a training run reports and returns: a row per epoch, progress, and the trained result.

Kept apart from the loop (:mod:`bookrec.train`, which re-exports these names) so that the callers who only
read a result (the CLI's table, the app's progress bar) need not know the loop.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bookrec import modelfile
from bookrec.config import TrainConfig
from bookrec.data.dataset import Dataset
from bookrec.data.rated import RatedBooks
from bookrec.engines.adapt import Adaptation
from bookrec.models import model_kind
from bookrec.models.base import ServingHead

__all__ = ["Callback", "EpochStats", "ProgressCallback", "TrainProgress", "TrainResult"]


@dataclass(frozen=True)
class EpochStats:
    """One row of the training table (fastai's epoch / train_loss / valid_loss / time, plus RMSE and MAE).

    Attributes:
        epoch: Epoch number, from 1.
        epochs: Epochs in the run.
        train_loss: Mean squared error on the training ratings during the epoch.
        valid_loss: Mean squared error on the validation ratings after it (None without validation).
        valid_rmse: Root of ``valid_loss``.
        valid_mae: Mean absolute validation error.
        seconds: Wall time of the epoch, evaluation included.
        lr: Learning rate at the end of the epoch.
        restored: True for epochs read back from a checkpoint on resume.
    """

    epoch: int
    epochs: int
    train_loss: float
    valid_loss: float | None
    valid_rmse: float | None
    valid_mae: float | None
    seconds: float
    lr: float
    restored: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (``restored`` left out)."""
        values = asdict(self)
        values.pop("restored")
        return values


@dataclass(frozen=True)
class TrainProgress:
    """Where a run stands, for progress displays (sent often; cheap to ignore).

    Attributes:
        epochs_done: Epochs completed.
        epochs: Epochs in the run.
        batches_done: Batches done in the current epoch (0 when the engine does not count batches); in
            the "ranking" stage, sweeps of the ranking model done.
        batches: Batches per epoch (0 when the engine does not count batches); sweeps while ranking.
        stage: "rating" (the rating model's epochs) or "ranking" (the ranking model's fit, after them).
    """

    epochs_done: int
    epochs: int
    batches_done: int = 0
    batches: int = 0
    stage: str = "rating"


Callback = Callable[[EpochStats], None]
ProgressCallback = Callable[[TrainProgress], None]


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What ``train`` returns.

    Attributes:
        trained: What the engine returned: the trained torch module, or the serving head where the engine
            trained numpy tables (the sgd and spark engines). ``model`` and ``head`` give either form.
        config: The settings used (all concrete).
        history: One row per epoch.
        metrics: Final figures: valid_mse, valid_rmse, valid_mae (None without validation), train_loss,
            seconds (wall time of this call), epochs, bs (the batch size used), n_train, n_valid.
        train_data: The ratings trained on.
        valid_data: The ratings held out (empty when valid_pct is 0).
        y_range: The model's output range.
        ranker: The ranking model (None without one).
        adaptation: What the data chose for the regularization (``TrainConfig.adapt``), else None; also in
            ``metrics["regularization"]``.
        lookups: What finding books needs (:mod:`bookrec.lookups`), made from the books table when training
            began (memory is freest then: ~4 GB at 2.36M books), else None (made when saving).
    """

    trained: Any
    config: TrainConfig
    history: tuple[EpochStats, ...]
    metrics: dict[str, Any]
    train_data: Dataset
    valid_data: Dataset
    y_range: tuple[float, float]
    ranker: Any = None
    adaptation: Adaptation | None = None
    lookups: Mapping[str, np.ndarray] | None = None

    @functools.cached_property
    def model(self) -> Any:
        """The trained torch module, on the CPU, in eval mode (imports torch; made once)."""
        if isinstance(self.trained, ServingHead):
            from_head = model_kind(self.config.model).from_head
            if from_head is None:
                raise TypeError(f"the {self.config.model} model has no torch module to build from its tables")
            return from_head(self.trained)
        return self.trained

    @functools.cached_property
    def head(self) -> ServingHead:
        """The trained model's serving form (numpy arrays), made once."""
        if isinstance(self.trained, ServingHead):
            return self.trained
        return model_kind(self.config.model).to_head(self.trained)

    def manifest(self) -> dict[str, Any]:
        """What a model folder records about this run (JSON values)."""
        data = self.train_data
        return {
            "model": {"kind": self.config.model, "settings": self.trained.settings()},
            "config": self.config.to_dict(),
            "data": {
                "name": data.name,
                "source_hash": data.source_hash,
                "synthetic": data.synthetic,
                "users": data.n_users,
                "books": data.n_books,
                "rating_scale": list(data.rating_scale),
                "n_train": self.metrics["n_train"],
                "n_valid": self.metrics["n_valid"],
            },
            "metrics": dict(self.metrics),
            "history": [row.to_dict() for row in self.history],
        }

    def saved_model(self) -> modelfile.SavedModel:
        """The model folder's contents in memory (``Recommender.from_saved`` serves them unsaved)."""
        data, held = self.train_data, self.valid_data
        # "Rated" covers the validation ratings too: a reader is never recommended a book they rated.
        rated = RatedBooks.from_arrays(
            np.concatenate((data.user_idx, held.user_idx)),
            np.concatenate((data.book_idx, held.book_idx)),
            np.concatenate((data.rating, held.rating)),
            data.n_users,
        )
        return modelfile.SavedModel(
            self.head,
            data.users,
            data.books,
            data.books_table,
            rated,
            data.rating_scale,
            self.manifest(),
            ranker=self.ranker,
            lookups=self.lookups or {},
        )

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the model folder (atomic) that ``Recommender.load`` serves.

        Raises:
            ModelFileError: The folder cannot be written.
        """
        return modelfile.save_model(folder, self.saved_model(), made_lookups=self.lookups)
