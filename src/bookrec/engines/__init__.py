"""Engines: ways of running training epochs over a model (the loop around them: :func:`bookrec.train.train`).

- ``sgd``: a compiled per-rating SGD kernel (numba) for the dot model: the default, seconds on a CPU.
- ``torch``: mini-batches, AdamW and a one-cycle schedule (the blog's recipe) for any model's torch module,
  on CUDA or MPS when present.
- ``spark``: Spark MLlib's ALS for the dot model (and the ranking model), on a cluster or locally; it fits
  whole, not epoch by epoch, so ``train`` hands it the run (:func:`bookrec.engines.spark.train_spark`).

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

__all__ = ["ENGINE_DEFAULTS", "ENGINE_MODELS", "ENGINE_OPTIMIZERS", "create_engine"]

ENGINE_OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "sgd": ("rmsprop", "sgd"),
    "torch": ("adamw",),
    "spark": ("als",),
}
"""Each engine's optimizers; the first is its default."""

ENGINE_MODELS: dict[str, tuple[str, ...]] = {"spark": ("dot",)}
"""Engines that train model kinds from outside (no torch module steps): the kinds each trains."""

# Spark's ALS: n_factors is MLlib's rank, epochs its sweeps, wd its regParam (scaled by each reader's and
# book's rating count, "ALS-WR"), also the ridge of the driver's Gauss-Newton refinement; lr is unused.
# Chosen on planted test data (tests/test_spark.py, planted rank 3): with that L2 ridge a rank far above
# the data's overfits, whatever the loss. After 5 refinement sweeps, rank 4 / 8 / 16: 0.290 / 0.296 / 0.304
# (the sgd engine 0.283), with taste-driven reads 0.334 / 0.349 / 0.368 (sgd 0.335); rank 32 refined from
# its logit fit 0.303. Rank 8 leaves room above the planted rank; on goodbooks-shaped synthetic data
# (600,000 ratings) it reached 0.712 against the sgd engine's 0.703 (docs/scale.md). Logit fit alone, rank
# 32, one round: regParam 0.01 0.372, 0.02 0.341, 0.05 0.329, 0.1 0.374.
ENGINE_DEFAULTS: dict[str, dict[str, dict[str, object]]] = {
    "spark": {"als": {"n_factors": 8, "epochs": 10, "lr": 1.0, "wd": 0.05, "bs": None}},
}
"""Measured defaults per (engine, optimizer) for the engines of ``ENGINE_MODELS``."""


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
