"""Training: ``TrainConfig``, ``train()``, one-cycle learning rates, checkpoints and resume.

Two engines train the models of :mod:`bookrec.models`:

- ``sgd`` (the default for ``DotBias``): a compiled per-rating SGD kernel (:mod:`bookrec._kernels`) of the
  same model and loss, with per-parameter L2 weight decay, a one-cycle-shaped learning rate sampled every
  round, and LIBMF-style block scheduling over two or more threads, deterministic for a seed. The learned
  tables are loaded into the ``DotBias`` module at the end. On goodbooks-sized data an epoch takes well
  under a second on two cores.
- ``torch`` (always for ``NeuralCF``; the blog's recipe for ``DotBias``): mini-batches, MSE loss, AdamW
  (decoupled weight decay) and ``OneCycleLR``, shuffled by ``torch.Generator`` objects seeded per epoch.
  It runs on CUDA or MPS when present.

Every epoch ends with one synchronisation (losses stay on the device until then), an evaluation under
``inference_mode``, a check for NaN or infinite losses, the callbacks, and an atomic checkpoint. All
randomness of an epoch derives from ``(seed, epoch)`` and the checkpoint holds all state (weights, optimizer
moments, scheduler position), so a resumed run ends exactly where an uninterrupted one ends.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from bookrec import _kernels
from bookrec.data.load import Dataset
from bookrec.data.split import random_split
from bookrec.errors import BookrecError, ConfigError
from bookrec.models import DotBias, NeuralCF, RatingModel, default_y_range

__all__ = [
    "DEFAULTS",
    "ENGINES",
    "MODELS",
    "OPTIMIZERS",
    "CheckpointError",
    "EpochStats",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "auto_batch_size",
    "resolve_device",
    "train",
]

MODELS = ("dot", "nn")
ENGINES = ("auto", "sgd", "torch")
OPTIMIZERS = ("auto", "rmsprop", "sgd", "adamw")
_ENGINE_OPTIMIZERS = {"sgd": ("rmsprop", "sgd"), "torch": ("adamw",)}

# Defaults by measurement, per (model, optimizer), on MovieLens-small (random 80/20 split, seed 42; seeds 1
# and 7 in brackets) and on full-size goodbooks-shaped synthetic data (bookrec.data.synth with the real books;
# the sweeps ran on its placeholder-book draw, where the default reaches 0.789 and biases alone 0.848):
# - dot/rmsprop, the default: validation RMSE 0.835 [0.838, 0.840] on MovieLens; the blog's recipe in this
#   code 0.847 [0.848, 0.854], Surprise's SVD() 0.881 and SVDpp() 0.869, biases alone 0.871. On
#   goodbooks-shaped data 0.742 (biases alone 0.867; Surprise's SVD(n_factors=50) 0.796), ~7 s from loaded
#   data to a saved model on 2 cores. MovieLens alone would pick a lower lr and a higher wd, goodbooks the
#   other way; lr 0.0025 / wd 0.045 is within 0.004 of both optima. 64 factors lose 0.002 on MovieLens and
#   0.01 on goodbooks, 256 gain nothing; 8 epochs lose 0.006 on goodbooks, 12 gain nothing; init 0.01
#   beats 0.02 by 0.003.
# - dot/sgd (plain SGD): the best of a sweep, 0.848 on MovieLens and 0.789 on the placeholder-book draw.
# - dot/adamw: the blog's recipe, fit_one_cycle(5, 5e-3, wd=0.1) with 50 factors: 0.847 at the blog's batch
#   of 64, 0.853 at the automatic batch (512 on MovieLens).
# - nn/adamw: the blog's numbers: 0.87 on MovieLens; 0.842 on the placeholder-book draw (lr 1e-2: 0.835).
DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("dot", "rmsprop"): {"n_factors": 128, "epochs": 10, "lr": 0.0025, "wd": 0.045, "bs": 1},
    ("dot", "sgd"): {"n_factors": 128, "epochs": 10, "lr": 0.05, "wd": 0.04, "bs": 1},
    ("dot", "adamw"): {"n_factors": 50, "epochs": 5, "lr": 5e-3, "wd": 0.1, "bs": None},
    ("nn", "adamw"): {"n_factors": None, "epochs": 5, "lr": 5e-3, "wd": 0.1, "bs": None},
}
"""Default n_factors, epochs, lr, wd and bs per (model, optimizer).

None n_factors: fastai's size rule (nn). None bs: chosen from the data's size (``auto_batch_size``).
"""

_RMSPROP_RHO = 0.99  # decay of the per-row mean squared gradient (0.999: RMSE +0.013 on MovieLens; 0.9 mixed)
_BIAS_LR_MULT = {"rmsprop": 3.0, "sgd": 1.0}  # rmsprop: biases step 3x (2x: +0.001..0.003 RMSE; 5x: same)
_MAX_EPOCHS = 10_000
_MAX_FACTORS = 4_096
_EVAL_BATCH = 1 << 16
# The sgd engine's grid: 16 blocks per round run in parallel. Fixed, so results never depend on the cores.
_N_BLOCKS = 16
_LAYOUT_STREAM = 0x7FFF_FFFF  # the (seed, stream) of the one shuffle inside blocks; epochs use 0, 1, ...
_DIV_FACTOR = 25.0  # one-cycle: start at lr / 25 (fastai's and torch's default)
_FINAL_DIV_FACTOR = 1e4  # ... and end at lr / 25 / 1e4 (torch's default)
_CHECKPOINT = "checkpoint.safetensors"
_CHECKPOINT_FORMAT = 1


class TrainingDivergedError(BookrecError):
    """The loss became NaN or infinite; the last good checkpoint (if any) is kept."""


class CheckpointError(BookrecError):
    """A checkpoint is missing, unreadable, or was made by other settings or data."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: carries the epochs completed and where the checkpoint lies.

    Attributes:
        epochs_done: Epochs completed; with a checkpoint folder, epochs saved in its checkpoint.
        checkpoint_dir: The checkpoint folder, or None.
    """

    def __init__(self, message: str, epochs_done: int, checkpoint_dir: Path | None) -> None:
        super().__init__(message)
        self.epochs_done = epochs_done
        self.checkpoint_dir = checkpoint_dir

    def __str__(self) -> str:
        return str(self.args[0])


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (what the model folder records; run-time knobs live in ``train``).

    Fields left as None take the measured default of the chosen model and optimizer (``DEFAULTS``), filled
    in at construction, so a config holds concrete numbers (bs may stay None: automatic) and ``to_dict``
    records them. To switch model or engine, build a new config rather than ``dataclasses.replace`` one,
    whose filled-in defaults belong to the old choice.

    Attributes:
        model: "dot" (``DotBias``) or "nn" (``NeuralCF``).
        engine: "sgd" (compiled per-rating SGD, dot only), "torch" (AdamW + one-cycle mini-batches), or
            "auto": sgd for dot, torch for nn.
        optimizer: "rmsprop" (sgd engine: step sizes adapted per embedding row), "sgd" (sgd engine: plain
            steps), "adamw" (torch engine), or "auto": rmsprop for the sgd engine, adamw for torch.
        n_factors: Factors per reader and book (dot), or both embedding sizes (nn; None: fastai's rule).
        epochs: Passes over the training ratings.
        lr: Peak learning rate of the one-cycle schedule.
        wd: Weight decay: per-rating L2 on the touched parameters (sgd), decoupled AdamW decay (torch).
        bs: Ratings per mini-batch (torch; None: ``auto_batch_size`` of the training ratings); the sgd
            engine steps per rating (bs 1).
        valid_pct: Share of ratings held out for validation, in [0, 1); 0 trains on everything.
        seed: Seed of the split, the initial weights and every shuffle.
        y_range: Output range (lo, hi); None follows the data's scale ((0, 5.5) for 1-5 stars).
        n_hidden: Hidden units of the nn model.
        dropout: Dropout after the nn model's hidden layer, in [0, 1).
        init_std: Standard deviation of the initial weights.
        pct_start: Share of the schedule spent warming the learning rate up, in (0, 1).
    """

    model: str = "dot"
    engine: str = "auto"
    optimizer: str = "auto"
    n_factors: int | None = None
    epochs: int | None = None
    lr: float | None = None
    wd: float | None = None
    bs: int | None = None
    valid_pct: float = 0.2
    seed: int = 42
    y_range: tuple[float, float] | None = None
    n_hidden: int = 100
    dropout: float = 0.0
    init_std: float = 0.01
    pct_start: float = 0.25

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        engine = self.engine
        if engine == "auto":
            engine = "sgd" if self.model == "dot" else "torch"
        if self.model == "nn" and engine == "sgd":
            raise ConfigError("engine 'sgd' trains only the dot model; use engine 'torch' (or auto) for nn")
        object.__setattr__(self, "engine", engine)
        allowed = _ENGINE_OPTIMIZERS[engine]
        optimizer = allowed[0] if self.optimizer == "auto" else self.optimizer
        if optimizer not in allowed:
            raise ConfigError(
                f"optimizer must be one of {', '.join(('auto', *allowed))} with the {engine} engine, "
                f"got {self.optimizer!r}"
            )
        object.__setattr__(self, "optimizer", optimizer)
        if engine == "sgd" and self.bs not in (None, 1):
            raise ConfigError(
                f"bs must be 1 with the sgd engine (it steps per rating), got {self.bs}; "
                "use engine 'torch' for mini-batches"
            )
        for name, value in DEFAULTS[(self.model, optimizer)].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        self._validate()

    def _validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        if self.n_factors is not None or self.model == "dot":
            need(
                _is_int(self.n_factors) and 1 <= self.n_factors <= _MAX_FACTORS,
                f"n_factors must be a whole number from 1 to {_MAX_FACTORS}, got {self.n_factors!r}",
            )
        need(
            _is_int(self.epochs) and 1 <= self.epochs <= _MAX_EPOCHS,
            f"epochs must be a whole number from 1 to {_MAX_EPOCHS}, got {self.epochs!r}",
        )
        need(
            _is_real(self.lr) and math.isfinite(self.lr) and 0 < self.lr <= 10,
            f"lr must be a positive number up to 10, got {self.lr!r}",
        )
        need(
            _is_real(self.wd) and math.isfinite(self.wd) and 0 <= self.wd <= 10,
            f"wd must be a number from 0 to 10, got {self.wd!r}",
        )
        need(
            self.bs is None or (_is_int(self.bs) and 1 <= self.bs <= 1 << 24),
            f"bs must be a whole number from 1 to {1 << 24}, got {self.bs!r}",
        )
        need(
            _is_real(self.valid_pct) and 0 <= self.valid_pct < 1,
            f"valid_pct must be at least 0 and below 1, got {self.valid_pct!r}",
        )
        need(
            _is_int(self.seed) and 0 <= self.seed < 2**63,
            f"seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}",
        )
        if self.y_range is not None:
            ok = (
                isinstance(self.y_range, tuple | list)
                and len(self.y_range) == 2
                and all(_is_real(v) and math.isfinite(v) for v in self.y_range)
                and self.y_range[0] < self.y_range[1]
            )
            need(ok, f"y_range must be two finite numbers (low, high) with low < high, got {self.y_range!r}")
            object.__setattr__(self, "y_range", (float(self.y_range[0]), float(self.y_range[1])))
        need(
            _is_int(self.n_hidden) and 1 <= self.n_hidden <= 1 << 16,
            f"n_hidden must be a whole number from 1 to {1 << 16}, got {self.n_hidden!r}",
        )
        need(
            _is_real(self.dropout) and 0 <= self.dropout < 1,
            f"dropout must be at least 0 and below 1, got {self.dropout!r}",
        )
        need(
            _is_real(self.init_std) and math.isfinite(self.init_std) and 0 <= self.init_std <= 10,
            f"init_std must be a number from 0 to 10, got {self.init_std!r}",
        )
        need(
            _is_real(self.pct_start) and 0 < self.pct_start < 1,
            f"pct_start must be above 0 and below 1, got {self.pct_start!r}",
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values of every field (y_range as a list)."""
        values = asdict(self)
        if self.y_range is not None:
            values["y_range"] = list(self.y_range)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The config ``to_dict`` wrote (unknown keys are refused; missing ones take their defaults).

        Raises:
            ConfigError: An unknown key or an out-of-range value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
        values = dict(values)
        if values.get("y_range") is not None:
            values["y_range"] = tuple(values["y_range"])
        return cls(**values)


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


Callback = Callable[[EpochStats], None]


@dataclass(frozen=True, eq=False)
class TrainResult:
    """What ``train`` returns.

    Attributes:
        model: The trained module, on the CPU, in eval mode.
        config: The settings used (all concrete).
        history: One row per epoch.
        metrics: Final figures: valid_mse, valid_rmse, valid_mae (None without validation), train_loss,
            seconds (wall time of this call), epochs, bs (the batch size used), n_train, n_valid.
        train_data: The ratings trained on.
        valid_data: The ratings held out (empty when valid_pct is 0).
        y_range: The model's output range.
    """

    model: RatingModel
    config: TrainConfig
    history: tuple[EpochStats, ...]
    metrics: dict[str, Any]
    train_data: Dataset
    valid_data: Dataset
    y_range: tuple[float, float]

    def manifest(self) -> dict[str, Any]:
        """What a model folder records about this run (JSON values)."""
        data = self.train_data
        return {
            "model": {"kind": self.config.model, "settings": self.model.settings()},
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

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the model folder (atomic) that ``Recommender.load`` serves, for either model.

        Raises:
            ModelFileError: The folder cannot be written.
        """
        from bookrec.recommender import RatedBooks, Recommender, tables_from_module

        data, held = self.train_data, self.valid_data
        # "Rated" covers the validation ratings too: a reader is never recommended a book they rated.
        rated = RatedBooks.from_arrays(
            np.concatenate((data.user_idx, held.user_idx)),
            np.concatenate((data.book_idx, held.book_idx)),
            np.concatenate((data.rating, held.rating)),
            data.n_users,
        )
        recommender = Recommender(
            tables=tables_from_module(self.model, self.y_range),
            users=data.users,
            books=data.books,
            books_table=data.books_table,
            rating_scale=data.rating_scale,
            rated=rated,
            manifest=self.manifest(),
        )
        return recommender.save(folder)


def initial_model(dataset: Dataset, config: TrainConfig, y_range: tuple[float, float]) -> RatingModel:
    """The untrained model of ``config`` for ``dataset``: its class, sizes and seeded initial weights."""
    generator = torch.Generator().manual_seed(config.seed)
    if config.model == "dot":
        return DotBias(
            dataset.n_users,
            dataset.n_books,
            config.n_factors,
            y_range,
            init_std=config.init_std,
            generator=generator,
        )
    return NeuralCF(
        dataset.n_users,
        dataset.n_books,
        config.n_factors,
        config.n_factors,
        config.n_hidden,
        config.dropout,
        y_range,
        init_std=config.init_std,
        generator=generator,
    )


def auto_batch_size(n_ratings: int) -> int:
    """The torch engine's batch size when none is given: about 128 steps per epoch, within 64..32768.

    Dense AdamW touches every weight at every step (as fastai does), so on goodbooks-sized data the step
    count, not the batch, sets the time: 146 steps of 32768 take ~20 s per nn epoch on 2 cores, the blog's
    batch of 64 would take over an hour. On MovieLens-small it gives 512 (158 steps per epoch).
    """
    target = max(1.0, n_ratings / 128)
    return int(min(32768, max(64, 2 ** round(math.log2(target)))))


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the one named, else CUDA, else MPS, else the CPU.

    Raises:
        ConfigError: The named device is unknown or not available here.
    """
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r} asked for, but MPS is not available here; use --device cpu")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    return resolved


def _one_cycle(frac: float, lr: float, pct_start: float) -> float:
    """The learning rate at ``frac`` (0..1) of a one-cycle schedule: torch's ``OneCycleLR`` with cosine
    annealing, as a continuous function (warm from lr/25 to lr over ``pct_start``, then down to lr/25/1e4)."""
    initial = lr / _DIV_FACTOR
    final = initial / _FINAL_DIV_FACTOR
    if frac < pct_start:
        start, end, pct = initial, lr, frac / pct_start
    else:
        start, end, pct = lr, final, (frac - pct_start) / (1.0 - pct_start)
    return end + (start - end) / 2.0 * (math.cos(math.pi * min(max(pct, 0.0), 1.0)) + 1.0)


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed for one epoch's stream (shuffle, dropout): SplitMix64 of (seed, epoch, stream)."""
    return int(_kernels.mix_seed(seed, epoch, stream)) >> 1


class _Engine:
    """One way of running epochs over a model; the training loop around it is shared."""

    def run_epoch(self, epoch: int) -> float:
        """Train one epoch (0-based); return the mean training loss (synchronised once)."""
        raise NotImplementedError

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        """Mean squared and mean absolute error on ``data``."""
        raise NotImplementedError

    def lr_at_end(self, epoch: int) -> float:
        """The learning rate at the end of epoch ``epoch`` (0-based)."""
        raise NotImplementedError

    def finite(self) -> bool:
        """Whether every parameter is finite (checked once per epoch)."""
        raise NotImplementedError

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Everything a resumed run needs: tensors, and JSON values."""
        raise NotImplementedError

    def load_state(self, tensors: dict[str, torch.Tensor], values: dict[str, Any]) -> None:
        """Restore what ``state`` returned."""
        raise NotImplementedError

    def finish(self) -> RatingModel:
        """The trained module on the CPU, in eval mode."""
        raise NotImplementedError


class _SgdEngine(_Engine):
    """DotBias trained by the compiled per-rating SGD kernel on numpy copies of its tables."""

    def __init__(self, model: DotBias, train_data: Dataset, config: TrainConfig) -> None:
        self.model = model
        self.config = config
        self.lo, self.hi = model.y_range
        with torch.no_grad():
            self.user_factors = model.user_factors.weight.detach().numpy().copy()
            self.book_factors = model.book_factors.weight.detach().numpy().copy()
            self.user_bias = model.user_bias.weight.detach().numpy()[:, 0].copy()
            self.book_bias = model.book_bias.weight.detach().numpy()[:, 0].copy()
        # Readers and books go to blocks of equal size at random (balanced work per thread), once per seed.
        rng = np.random.default_rng([config.seed, 0x5EED])
        user_block = np.empty(model.n_users, dtype=np.int32)
        user_block[rng.permutation(model.n_users)] = np.arange(model.n_users) % _N_BLOCKS
        book_block = np.empty(model.n_books, dtype=np.int32)
        book_block[rng.permutation(model.n_books)] = np.arange(model.n_books) % _N_BLOCKS
        user_idx = np.ascontiguousarray(train_data.user_idx, dtype=np.int32)
        book_idx = np.ascontiguousarray(train_data.book_idx, dtype=np.int32)
        rating = np.ascontiguousarray(train_data.rating, dtype=np.float32)
        order, self.ptr = _kernels.block_sort(user_idx, book_idx, user_block, book_block, _N_BLOCKS)
        # The ratings laid out block by block, shuffled within each block once (not per epoch: see sgd_epoch).
        self.block_user = np.empty_like(user_idx)
        self.block_book = np.empty_like(book_idx)
        self.block_rating = np.empty_like(rating)
        _kernels.shuffle_blocks(
            user_idx, book_idx, rating, order, self.ptr, config.seed, _LAYOUT_STREAM,
            self.block_user, self.block_book, self.block_rating,
        )  # fmt: skip
        # Then each reader's ratings together inside a block, readers in a random order per seed: far fewer
        # cache misses, the same accuracy (see group_readers_in_blocks).
        user_key = rng.permutation(model.n_users).astype(np.int64)
        _kernels.group_readers_in_blocks(
            self.block_user, self.block_book, self.block_rating, self.ptr, user_key
        )
        # Per-row mean squared gradients of RMSprop ([:, 0] factors, [:, 1] bias): the optimizer's moments.
        self.user_sq = np.zeros((model.n_users, 2), dtype=np.float32)
        self.book_sq = np.zeros((model.n_books, 2), dtype=np.float32)
        self.rho = _RMSPROP_RHO if config.optimizer == "rmsprop" else 0.0
        self.bias_lr_mult = _BIAS_LR_MULT[config.optimizer]

    def _round_lrs(self, epoch: int) -> np.ndarray:
        epochs, cfg = self.config.epochs, self.config
        return np.array(
            [
                _one_cycle((epoch + (t + 0.5) / _N_BLOCKS) / epochs, cfg.lr, cfg.pct_start)
                for t in range(_N_BLOCKS)
            ],
            dtype=np.float32,
        )

    def run_epoch(self, epoch: int) -> float:
        seed = self.config.seed
        sse = _kernels.sgd_epoch(
            self.block_user, self.block_book, self.block_rating, self.ptr, _N_BLOCKS,
            self.user_factors, self.book_factors, self.user_bias, self.book_bias, self.user_sq, self.book_sq,
            self._round_lrs(epoch), float(self.config.wd), self.bias_lr_mult, self.rho, self.lo, self.hi,
            seed, epoch,
        )  # fmt: skip
        return float(sse) / max(1, self.block_rating.shape[0])

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        predicted = _kernels.predict(
            np.ascontiguousarray(data.user_idx, dtype=np.int32),
            np.ascontiguousarray(data.book_idx, dtype=np.int32),
            self.user_factors, self.book_factors, self.user_bias, self.book_bias, self.lo, self.hi,
        )  # fmt: skip
        error = predicted.astype(np.float64) - data.rating
        return float(np.mean(error * error)), float(np.mean(np.abs(error)))

    def lr_at_end(self, epoch: int) -> float:
        return _one_cycle((epoch + 1) / self.config.epochs, self.config.lr, self.config.pct_start)

    def finite(self) -> bool:
        arrays = (self.user_factors, self.book_factors, self.user_bias, self.book_bias)
        return all(bool(np.isfinite(a).all()) for a in arrays)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {
            "user_factors.weight": torch.from_numpy(self.user_factors),
            "book_factors.weight": torch.from_numpy(self.book_factors),
            "user_bias.weight": torch.from_numpy(self.user_bias).reshape(-1, 1),
            "book_bias.weight": torch.from_numpy(self.book_bias).reshape(-1, 1),
        }

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {f"model.{k}": v for k, v in self._tensors().items()}
        tensors["optim.user_sq"] = torch.from_numpy(self.user_sq)
        tensors["optim.book_sq"] = torch.from_numpy(self.book_sq)
        return tensors, {}

    def load_state(self, tensors: dict[str, torch.Tensor], values: dict[str, Any]) -> None:
        targets = {f"model.{k}": v for k, v in self._tensors().items()}
        targets["optim.user_sq"] = torch.from_numpy(self.user_sq)
        targets["optim.book_sq"] = torch.from_numpy(self.book_sq)
        for name, target in targets.items():
            if tuple(tensors[name].shape) != tuple(target.shape):
                raise ValueError(
                    f"{name} has shape {tuple(tensors[name].shape)}, expected {tuple(target.shape)}"
                )
            target.copy_(tensors[name])

    def finish(self) -> RatingModel:
        self.model.load_state_dict({k: v.clone() for k, v in self._tensors().items()})
        return self.model.eval()


class _TorchEngine(_Engine):
    """Mini-batch training with AdamW and OneCycleLR (the fastai recipe), on any torch device."""

    def __init__(
        self,
        model: RatingModel,
        train_data: Dataset,
        config: TrainConfig,
        device: torch.device,
        on_batch: Callable[[int, int], None] | None,
    ) -> None:
        self.config = config
        self.device = device
        self.model = model.to(device)
        self.on_batch = on_batch
        self.user_idx = torch.as_tensor(train_data.user_idx, dtype=torch.int64, device=device)
        self.book_idx = torch.as_tensor(train_data.book_idx, dtype=torch.int64, device=device)
        self.rating = torch.as_tensor(train_data.rating, dtype=torch.float32, device=device)
        self.n = int(self.rating.shape[0])
        self.bs = config.bs or auto_batch_size(self.n)
        self.steps_per_epoch = max(1, math.ceil(self.n / self.bs))
        # fastai's Adam: betas (0.9, 0.99), eps 1e-5; one-cycle also cycles beta1 between 0.95 and 0.85.
        # The fused implementation updates all weights in one pass: half the step time on a CPU.
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config.lr,
            betas=(0.9, 0.99),
            eps=1e-5,
            weight_decay=config.wd,
            fused=device.type in ("cpu", "cuda"),
        )
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer,
            max_lr=config.lr,
            total_steps=config.epochs * self.steps_per_epoch,
            pct_start=config.pct_start,
            div_factor=_DIV_FACTOR,
            final_div_factor=_FINAL_DIV_FACTOR,
            base_momentum=0.85,
            max_momentum=0.95,
        )

    def _generator(self, seed: int) -> torch.Generator:
        generator = torch.Generator(device=self.device if self.device.type == "cuda" else "cpu")
        generator.manual_seed(seed)
        return generator

    def run_epoch(self, epoch: int) -> float:
        config = self.config
        model = self.model.train()
        shuffle = torch.Generator().manual_seed(_epoch_seed(config.seed, epoch, 1))
        order = torch.randperm(self.n, generator=shuffle).to(self.device)
        if isinstance(model, NeuralCF):
            model.set_dropout_generator(self._generator(_epoch_seed(config.seed, epoch, 2)))
        total = torch.zeros((), dtype=torch.float32, device=self.device)
        for step in range(self.steps_per_epoch):
            rows = order[step * self.bs : (step + 1) * self.bs]
            predicted = model(self.user_idx[rows], self.book_idx[rows])
            loss = nn.functional.mse_loss(predicted, self.rating[rows])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            total += loss.detach() * rows.shape[0]
            if self.on_batch is not None and (step % 64 == 63 or step == self.steps_per_epoch - 1):
                self.on_batch(step + 1, self.steps_per_epoch)
        if isinstance(model, NeuralCF):
            model.set_dropout_generator(None)
        return float(total.item()) / max(1, self.n)  # the one synchronisation of the epoch

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        model = self.model.eval()
        users = torch.as_tensor(data.user_idx, dtype=torch.int64, device=self.device)
        books = torch.as_tensor(data.book_idx, dtype=torch.int64, device=self.device)
        actual = torch.as_tensor(data.rating, dtype=torch.float32, device=self.device)
        sse = torch.zeros((), dtype=torch.float64, device=self.device)
        sae = torch.zeros((), dtype=torch.float64, device=self.device)
        with torch.inference_mode():
            for start in range(0, data.n_ratings, _EVAL_BATCH):
                part = slice(start, start + _EVAL_BATCH)
                error = (model(users[part], books[part]) - actual[part]).double()
                sse += (error * error).sum()
                sae += error.abs().sum()
        n = max(1, data.n_ratings)
        return float(sse.item()) / n, float(sae.item()) / n

    def lr_at_end(self, epoch: int) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def finite(self) -> bool:
        with torch.no_grad():
            return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        optim = self.optimizer.state_dict()
        for index, slots in optim["state"].items():
            for slot, value in slots.items():
                tensors[f"optim.{index}.{slot}"] = torch.as_tensor(value).detach().cpu().contiguous()
        groups = [
            {k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in optim["param_groups"]
        ]
        return tensors, {"param_groups": groups, "scheduler": self.scheduler.state_dict()}

    def load_state(self, tensors: dict[str, torch.Tensor], values: dict[str, Any]) -> None:
        own = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
        self.model.load_state_dict(own)
        state: dict[int, dict[str, torch.Tensor]] = {}
        for name, value in tensors.items():
            if name.startswith("optim."):
                _, index, slot = name.split(".", 2)
                state.setdefault(int(index), {})[slot] = value
        groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in values["param_groups"]]
        self.optimizer.load_state_dict({"state": state, "param_groups": groups})
        self.scheduler.load_state_dict(values["scheduler"])

    def finish(self) -> RatingModel:
        return self.model.cpu().eval()


def _fingerprint(train_data: Dataset, valid_data: Dataset) -> str:
    """Identifies a checkpoint's training data (valid_pct and seed in the config fix the split)."""
    return (
        f"{train_data.source_hash}:{train_data.n_users}x{train_data.n_books}:"
        f"{train_data.n_ratings}+{valid_data.n_ratings}"
    )


def _write_checkpoint(folder: Path, tensors: dict[str, torch.Tensor], values: dict[str, Any]) -> None:
    """One file, replaced atomically: a crash mid-write leaves the previous checkpoint intact."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=folder)
    os.close(handle)
    try:
        save_file(tensors, tmp, metadata={"bookrec": json.dumps(values)})
        os.replace(tmp, folder / _CHECKPOINT)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = folder / _CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"no checkpoint to resume in {folder}; train without --resume to start afresh")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        values = json.loads(metadata["bookrec"])
        tensors = load_file(str(path))
    except (SafetensorError, OSError, KeyError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable checkpoint ({error}); train without --resume") from None
    if values.get("format") != _CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {values.get('format')!r} is not one this bookrec reads"
        )
    return tensors, values


def _describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    changed = [
        f"{k} {old.get(k)!r} -> {new.get(k)!r}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    return ", ".join(changed[:3])


def _progress_bar(enabled: bool) -> Any:
    """A rich progress display on stderr (or a no-op), as a context manager with ``bar`` and ``set``."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def train(
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    callbacks: Iterable[Callback] = (),
    progress: bool = True,
    device: str | torch.device | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> TrainResult:
    """Split ``dataset``, train the configured model, and return it with its history and metrics.

    Args:
        dataset: The ratings (split by ``config.valid_pct`` and ``config.seed``).
        config: Hyper-parameters; default ``TrainConfig()`` (the measured defaults).
        callbacks: Called with each epoch's ``EpochStats`` (also for epochs restored on resume).
        progress: Show a progress bar on stderr.
        device: For the torch engine: "cpu", "cuda", "mps", or None/"auto" (CUDA, else MPS, else CPU).
            The sgd engine always runs on the CPU.
        checkpoint_dir: Where to write a checkpoint after every epoch (None: no checkpoints).
        resume: Go on from the checkpoint in ``checkpoint_dir`` (same settings and data required).

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
    callbacks = tuple(callbacks)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if resume and folder is None:
        raise ConfigError("resume needs a checkpoint folder (checkpoint_dir)")
    if config.engine == "sgd":
        if device is not None and str(device) not in ("auto", "cpu"):
            raise ConfigError(
                f"the sgd engine (the dot model's default) runs on the CPU; "
                f"use engine 'torch' to train on {device}"
            )
        torch_device = torch.device("cpu")
    else:
        torch_device = resolve_device(device)

    train_data, valid_data = random_split(dataset, config.valid_pct, config.seed)
    if train_data.n_ratings == 0:
        raise ConfigError(f"no ratings to train on: {dataset.name} has {dataset.n_ratings} ratings")
    y_range = config.y_range or default_y_range(dataset.rating_min, dataset.rating_max)
    model = initial_model(dataset, config, y_range)

    fingerprint = _fingerprint(train_data, valid_data)
    history: list[EpochStats] = []
    with _progress_bar(progress) as bar:
        epoch_task = bar.add_task("epochs", total=config.epochs) if bar is not None else None
        batch_task = bar.add_task("batches", total=None, visible=False) if bar is not None else None

        def on_batch(done: int, total: int) -> None:
            if bar is not None:
                bar.update(batch_task, completed=done, total=total, visible=True)

        engine: _Engine
        if config.engine == "sgd":
            assert isinstance(model, DotBias)
            engine = _SgdEngine(model, train_data, config)
        else:
            engine = _TorchEngine(model, train_data, config, torch_device, on_batch)

        start_epoch = 0
        if resume:
            assert folder is not None
            tensors, values = _read_checkpoint(folder)
            if values.get("config") != config.to_dict():
                raise CheckpointError(
                    f"the checkpoint in {folder} was made with other settings "
                    f"({_describe_difference(values.get('config') or {}, config.to_dict())}); "
                    "use the same settings, or train without --resume"
                )
            if values.get("data") != fingerprint:
                raise CheckpointError(
                    f"the checkpoint in {folder} was made on other data; "
                    "use the same data, or train without --resume"
                )
            try:
                engine.load_state(tensors, values.get("engine") or {})
            except (KeyError, RuntimeError, ValueError) as error:
                raise CheckpointError(
                    f"the checkpoint in {folder} does not fit this model ({error})"
                ) from None
            start_epoch = int(values["epoch"])
            history = [EpochStats(**row, restored=True) for row in values["history"]]
            for row in history:
                for callback in callbacks:
                    callback(row)
            if bar is not None:
                bar.update(epoch_task, completed=start_epoch)

        checkpointed = start_epoch
        try:
            for epoch in range(start_epoch, config.epochs):
                tick = time.perf_counter()
                train_loss = engine.run_epoch(epoch)
                valid_mse = valid_mae = None
                if valid_data.n_ratings:
                    valid_mse, valid_mae = engine.evaluate(valid_data)
                bad = [
                    name
                    for name, value in (("training", train_loss), ("validation", valid_mse))
                    if value is not None and not math.isfinite(value)
                ]
                if bad or not engine.finite():
                    kept = (
                        f"; the last good checkpoint (epoch {epoch}) is kept in {folder}"
                        if folder is not None and epoch > 0
                        else ""
                    )
                    what = (
                        f"the {bad[0]} loss became {train_loss if bad[0] == 'training' else valid_mse}"
                        if bad
                        else "the weights became infinite or NaN"
                    )
                    raise TrainingDivergedError(
                        f"{what} in epoch {epoch + 1} of {config.epochs}; "
                        f"try a lower --lr (now {config.lr:g}){kept}"
                    )
                stats = EpochStats(
                    epoch=epoch + 1,
                    epochs=config.epochs,
                    train_loss=train_loss,
                    valid_loss=valid_mse,
                    valid_rmse=None if valid_mse is None else math.sqrt(valid_mse),
                    valid_mae=valid_mae,
                    seconds=time.perf_counter() - tick,
                    lr=engine.lr_at_end(epoch),
                )
                history.append(stats)
                if folder is not None:
                    tensors, engine_values = engine.state()
                    _write_checkpoint(
                        folder,
                        tensors,
                        {
                            "format": _CHECKPOINT_FORMAT,
                            "epoch": epoch + 1,
                            "config": config.to_dict(),
                            "data": fingerprint,
                            "history": [row.to_dict() for row in history],
                            "engine": engine_values,
                        },
                    )
                    checkpointed = epoch + 1
                if bar is not None:
                    bar.update(epoch_task, completed=epoch + 1)
                    bar.update(batch_task, visible=False)
                for callback in callbacks:
                    callback(stats)
        except KeyboardInterrupt:
            done = checkpointed if folder is not None else len(history)
            where = (
                f"the checkpoint after epoch {done} is in {folder}; resume to go on"
                if folder is not None and done
                else "nothing was saved"
            )
            raise TrainingInterrupted(
                f"training interrupted in epoch {len(history) + 1} of {config.epochs}; {where}", done, folder
            ) from None

    trained = engine.finish()
    last = history[-1] if history else None
    metrics: dict[str, Any] = {
        "valid_mse": last.valid_loss if last else None,
        "valid_rmse": last.valid_rmse if last else None,
        "valid_mae": last.valid_mae if last else None,
        "train_loss": last.train_loss if last else None,
        "seconds": time.perf_counter() - started,
        "epochs": config.epochs,
        "bs": engine.bs if isinstance(engine, _TorchEngine) else 1,
        "n_train": train_data.n_ratings,
        "n_valid": valid_data.n_ratings,
    }
    return TrainResult(trained, config, tuple(history), metrics, train_data, valid_data, tuple(y_range))
