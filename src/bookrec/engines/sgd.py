"""The sgd engine: the dot model trained by the compiled per-rating SGD kernel (:mod:`._sgd_kernels`).

Per-parameter L2 weight decay, a one-cycle-shaped learning rate sampled every round, and LIBMF-style block
scheduling over two or more threads, deterministic for a seed. It trains numpy tables (the dot model's
serving head) from start to end, so torch is never imported. On goodbooks-sized data an epoch takes well
under a second on two cores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from bookrec.engines import _sgd_kernels as kernels
from bookrec.engines.base import Engine, OnBatch, one_cycle
from bookrec.errors import ConfigError
from bookrec.models import model_kind
from bookrec.models.dot import DotHead

if TYPE_CHECKING:
    from bookrec.config import TrainConfig
    from bookrec.data import Dataset

__all__ = ["ENGINE", "SgdEngine"]

_RMSPROP_RHO = 0.99  # decay of the per-row mean squared gradient (0.999: RMSE +0.013 on MovieLens; 0.9 mixed)
_BIAS_LR_MULT = {"rmsprop": 3.0, "sgd": 1.0}  # rmsprop: biases step 3x (2x: +0.001..0.003 RMSE; 5x: same)
# The grid: 16 blocks per round run in parallel. Fixed, so results never depend on the cores.
_N_BLOCKS = 16
_LAYOUT_STREAM = 0x7FFF_FFFF  # the (seed, stream) of the one shuffle inside blocks; epochs use 0, 1, ...


def row_regularization(
    counts: tuple[np.ndarray, np.ndarray], config: TrainConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per-rating L2 strengths of every reader's and book's factors ([:, 0]) and bias ([:, 1]).

    Each row's penalty over an epoch is ``wd x its ratings + shrink`` (a prior, whatever the row's count),
    so per rating it is ``wd + shrink / count``; the factors' strength is multiplied by ``factor_scale``.
    """

    def table(count: np.ndarray) -> np.ndarray:
        per_rating = config.wd + config.shrink / np.maximum(count, 1.0)
        return np.stack((config.factor_scale * per_rating, per_rating), axis=1).astype(np.float32)

    return table(counts[0]), table(counts[1])


class SgdEngine(Engine):
    """DotBias trained by the compiled per-rating SGD kernel on numpy copies of its tables (CPU only)."""

    def __init__(
        self,
        model: Any,
        train_data: Dataset,
        config: TrainConfig,
        *,
        device: Any = None,
        on_batch: OnBatch | None = None,
        counts: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """``counts``: each reader's and book's ratings for the per-row regularization (default: counted
        in ``train_data``; the regularization probe passes the whole data's, scaled, on a sample)."""
        if device is not None and str(device) not in ("auto", "cpu"):
            raise ConfigError(
                f"the sgd engine (the dot model's default) runs on the CPU; "
                f"use engine 'torch' to train on {device}"
            )
        if getattr(model, "kind", None) != "dot":
            raise ConfigError("the sgd engine trains only the dot model; use engine 'torch'")
        if not isinstance(model, DotHead):  # a torch module: copies of its tables (train() passes a head)
            head = model_kind("dot").to_head(model)
            tables = (head.user_vectors, head.user_bias, head.book_vectors, head.book_bias)
            model = DotHead(*(np.array(t, dtype=np.float32) for t in tables), head.y_range)
        self.config = config
        self.lo, self.hi = model.y_range
        # Trained in place (the initial head is the engine's own: no second copy of the tables at scale).
        self.user_factors = _writable(model.user_vectors)
        self.book_factors = _writable(model.book_vectors)
        self.user_bias = _writable(model.user_bias)
        self.book_bias = _writable(model.book_bias)
        self.model = DotHead(
            self.user_factors, self.user_bias, self.book_factors, self.book_bias, model.y_range
        )
        # Readers and books go to blocks of equal size at random (balanced work per thread), once per seed.
        rng = np.random.default_rng([config.seed, 0x5EED])
        user_block = np.empty(model.n_users, dtype=np.int32)
        user_block[rng.permutation(model.n_users)] = np.arange(model.n_users) % _N_BLOCKS
        book_block = np.empty(model.n_books, dtype=np.int32)
        book_block[rng.permutation(model.n_books)] = np.arange(model.n_books) % _N_BLOCKS
        user_idx = np.ascontiguousarray(train_data.user_idx, dtype=np.int32)
        book_idx = np.ascontiguousarray(train_data.book_idx, dtype=np.int32)
        rating = np.ascontiguousarray(train_data.rating, dtype=np.float32)
        order, self.ptr = kernels.block_sort(user_idx, book_idx, user_block, book_block, _N_BLOCKS)
        # The ratings laid out block by block, shuffled within each block once (not per epoch: see sgd_epoch).
        self.block_user = np.empty_like(user_idx)
        self.block_book = np.empty_like(book_idx)
        self.block_rating = np.empty_like(rating)
        kernels.shuffle_blocks(
            user_idx, book_idx, rating, order, self.ptr, config.seed, _LAYOUT_STREAM,
            self.block_user, self.block_book, self.block_rating,
        )  # fmt: skip
        # Then each reader's ratings together inside a block, readers in a random order per seed: far fewer
        # cache misses, the same accuracy (see group_readers_in_blocks).
        user_key = rng.permutation(model.n_users).astype(np.int64)
        kernels.group_readers_in_blocks(
            self.block_user, self.block_book, self.block_rating, self.ptr, user_key
        )
        # Per-row mean squared gradients of RMSprop ([:, 0] factors, [:, 1] bias): the optimizer's moments.
        self.user_sq = np.zeros((model.n_users, 2), dtype=np.float32)
        self.book_sq = np.zeros((model.n_books, 2), dtype=np.float32)
        if counts is None:
            counts = (
                np.bincount(train_data.user_idx, minlength=model.n_users).astype(np.float64),
                np.bincount(train_data.book_idx, minlength=model.n_books).astype(np.float64),
            )
        self.user_reg, self.book_reg = row_regularization(counts, config)
        # The biases start at, and are pulled towards, an even split of the mean rating's logit: the L2
        # penalty then shrinks a book with few ratings towards the average book, not towards the middle of
        # the output range (sparse MovieLens, 10% of each reader's ratings: RMSE 0.973 -> 0.916, biases
        # alone; full MovieLens-small 0.831 -> 0.833 together with shrink).
        mean = float(np.mean(rating, dtype=np.float64)) if rating.size else 0.5 * (self.lo + self.hi)
        share = min(max((mean - self.lo) / (self.hi - self.lo), 1e-3), 1.0 - 1e-3)
        self.bias_center = 0.5 * float(np.log(share / (1.0 - share)))
        self.user_bias += np.float32(self.bias_center)
        self.book_bias += np.float32(self.bias_center)
        self.rho = _RMSPROP_RHO if config.optimizer == "rmsprop" else 0.0
        self.bias_lr_mult = _BIAS_LR_MULT[config.optimizer]

    def _round_lrs(self, epoch: int) -> np.ndarray:
        epochs, cfg = self.config.epochs, self.config
        return np.array(
            [
                one_cycle((epoch + (t + 0.5) / _N_BLOCKS) / epochs, cfg.lr, cfg.pct_start)
                for t in range(_N_BLOCKS)
            ],
            dtype=np.float32,
        )

    def run_epoch(self, epoch: int) -> float:
        seed = self.config.seed
        sse = kernels.sgd_epoch(
            self.block_user, self.block_book, self.block_rating, self.ptr, _N_BLOCKS,
            self.user_factors, self.book_factors, self.user_bias, self.book_bias, self.user_sq, self.book_sq,
            self._round_lrs(epoch), self.user_reg, self.book_reg, self.bias_center, self.bias_lr_mult,
            self.rho, self.lo, self.hi,
            seed, epoch,
        )  # fmt: skip
        return float(sse) / max(1, self.block_rating.shape[0])

    def evaluate(self, data: Dataset) -> tuple[float, float]:
        error = self.predict(data).astype(np.float64) - data.rating
        return float(np.mean(error * error)), float(np.mean(np.abs(error)))

    def predict(self, data: Dataset) -> np.ndarray:
        """The model's stars for ``data``'s (reader, book) pairs, in ``data``'s order (float32)."""
        return kernels.predict(
            np.ascontiguousarray(data.user_idx, dtype=np.int32),
            np.ascontiguousarray(data.book_idx, dtype=np.int32),
            self.user_factors, self.book_factors, self.user_bias, self.book_bias, self.lo, self.hi,
        )  # fmt: skip

    def lr_at_end(self, epoch: int) -> float:
        return one_cycle((epoch + 1) / self.config.epochs, self.config.lr, self.config.pct_start)

    def finite(self) -> bool:
        arrays = (self.user_factors, self.book_factors, self.user_bias, self.book_bias)
        return all(bool(np.isfinite(a).all()) for a in arrays)

    def _arrays(self) -> dict[str, np.ndarray]:
        """The module's state-dict names for the tables (views, so loading writes through)."""
        return {
            "user_factors.weight": self.user_factors,
            "book_factors.weight": self.book_factors,
            "user_bias.weight": self.user_bias.reshape(-1, 1),
            "book_bias.weight": self.book_bias.reshape(-1, 1),
        }

    def _targets(self) -> dict[str, np.ndarray]:
        targets = {f"model.{k}": v for k, v in self._arrays().items()}
        targets["optim.user_sq"] = self.user_sq
        targets["optim.book_sq"] = self.book_sq
        return targets

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return dict(self._targets()), {}

    def load_state(self, arrays: dict[str, np.ndarray], values: dict[str, Any]) -> None:
        for name, target in self._targets().items():
            if tuple(arrays[name].shape) != tuple(target.shape):
                raise ValueError(
                    f"{name} has shape {tuple(arrays[name].shape)}, expected {tuple(target.shape)}"
                )
            target[...] = arrays[name]

    def finish(self) -> DotHead:
        """The trained tables as the dot model's serving head, without a copy: the engine's last call
        (``TrainResult`` builds a torch module from it only when asked)."""
        return self.model


def _writable(table: np.ndarray) -> np.ndarray:
    """``table`` itself when it is a writable, contiguous float32 array, else a copy that is."""
    if table.dtype == np.float32 and table.flags.c_contiguous and table.flags.writeable:
        return table
    return np.array(table, dtype=np.float32, order="C")


ENGINE = SgdEngine
