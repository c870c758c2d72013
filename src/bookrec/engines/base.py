"""What an engine does for the training loop: run an epoch, evaluate, report its state for checkpoints."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from bookrec._random import mix_seed

if TYPE_CHECKING:
    from bookrec.data import Dataset

__all__ = ["DIV_FACTOR", "FINAL_DIV_FACTOR", "Engine", "OnBatch", "epoch_seed", "one_cycle"]

OnBatch = Callable[[int, int], None]
"""Called with (batches done, batches in the epoch) during an epoch, for progress displays."""

DIV_FACTOR = 25.0  # one-cycle: start at lr / 25 (fastai's and torch's default)
FINAL_DIV_FACTOR = 1e4  # ... and end at lr / 25 / 1e4 (torch's default)


class Engine(ABC):
    """One way of running epochs over a model; the training loop around it is shared.

    Attributes:
        bs: Ratings per optimizer step (1 for per-rating SGD).
    """

    bs: int = 1

    @abstractmethod
    def run_epoch(self, epoch: int) -> float:
        """Train one epoch (0-based); return the mean training loss (synchronised once)."""

    @abstractmethod
    def evaluate(self, data: Dataset) -> tuple[float, float]:
        """Mean squared and mean absolute error on ``data``."""

    @abstractmethod
    def lr_at_end(self, epoch: int) -> float:
        """The learning rate at the end of epoch ``epoch`` (0-based)."""

    @abstractmethod
    def finite(self) -> bool:
        """Whether every parameter is finite (checked once per epoch)."""

    @abstractmethod
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Everything a resumed run needs: arrays, and JSON values."""

    @abstractmethod
    def load_state(self, arrays: dict[str, np.ndarray], values: dict[str, Any]) -> None:
        """Restore what ``state`` returned.

        Raises:
            KeyError, ValueError: The state does not fit this model.
        """

    @abstractmethod
    def finish(self) -> Any:
        """The trained torch module on the CPU, in eval mode."""


def one_cycle(frac: float, lr: float, pct_start: float) -> float:
    """The learning rate at ``frac`` (0..1) of a one-cycle schedule: torch's ``OneCycleLR`` with cosine
    annealing, as a continuous function (warm from lr/25 to lr over ``pct_start``, then down to lr/25/1e4)."""
    initial = lr / DIV_FACTOR
    final = initial / FINAL_DIV_FACTOR
    if frac < pct_start:
        start, end, pct = initial, lr, frac / pct_start
    else:
        start, end, pct = lr, final, (frac - pct_start) / (1.0 - pct_start)
    return end + (start - end) / 2.0 * (math.cos(math.pi * min(max(pct, 0.0), 1.0)) + 1.0)


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed for one epoch's stream (shuffle, dropout): SplitMix64 of (seed, epoch, stream)."""
    return int(mix_seed(seed, epoch, stream)) >> 1
