"""Engines: ways of running training epochs over a model (the loop around them: :func:`bookrec.train.train`).

- ``sgd``: a compiled per-rating SGD kernel (numba) for the dot model: the default, seconds on a CPU.
- ``torch``: mini-batches, AdamW and a one-cycle schedule (the blog's recipe) for any model's torch module,
  on CUDA or MPS when present.

Each lives in its own module, imported only when it trains; this package itself imports neither torch nor
numba, so settings can be checked cheaply.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bookrec.config import TrainConfig
    from bookrec.data import Dataset
    from bookrec.engines.base import Engine, OnBatch

__all__ = ["ENGINE_OPTIMIZERS", "create_engine"]

ENGINE_OPTIMIZERS: dict[str, tuple[str, ...]] = {"sgd": ("rmsprop", "sgd"), "torch": ("adamw",)}
"""Each engine's optimizers; the first is its default."""


def create_engine(
    model: Any,
    train_data: Dataset,
    config: TrainConfig,
    *,
    device: Any = None,
    on_batch: OnBatch | None = None,
) -> Engine:
    """The engine ``config.engine`` set up to train ``model`` on ``train_data``.

    Raises:
        ConfigError: The engine cannot run on ``device``.
    """
    module = importlib.import_module(f"bookrec.engines.{config.engine}")
    engine: Engine = module.ENGINE(model, train_data, config, device=device, on_batch=on_batch)
    return engine
