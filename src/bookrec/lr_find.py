"""The learning-rate range test (Leslie Smith's, as fastai's ``lr_find``): which peak rate to train with.

The torch engine's model and optimizer (AdamW, fastai's betas and eps, the config's weight decay) take one
mini-batch step at each of ``n_steps`` learning rates growing exponentially from ``start_lr`` to
``end_lr``, on the training part of the config's split. The loss of each step is smoothed by an exponential
moving average (debiased, beta 0.98); the test stops early once the smoothed loss exceeds four times its
minimum or becomes NaN/infinite (the loss has exploded). Every draw comes from generators seeded by
``config.seed``: the same call gives the same curve.

The suggested rate is the rate at the lowest smoothed loss divided by 10 (Smith's rule; fastai's
``lr_min``), found after dropping the first tenth of the steps (the average is still warming up) and the
last five (already climbing): the loss is still falling well there, a decade before it turns up. Measured
on MovieLens-small (200 steps, torch-engine defaults, seeds 1, 7, 11, 42): 0.011-0.012 for the dot model
and 0.006-0.008 for the nn model, where full training runs find their best peak rates between 0.005 and
0.01. fastai's newer "valley" rule (the middle of the longest falling run) gave 2e-4..4e-3 there: the
loss of these models stays flat for decades of rates, so the run it finds is mostly noise. The steepest
descent (slope over a twentieth of the steps on each side) gave 0.03-0.04 (dot) and 0.004-0.005 (nn).
Both are in the result for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from bookrec.config import TrainConfig
from bookrec.data.dataset import Dataset
from bookrec.data.split import random_split
from bookrec.engines.torch import auto_batch
from bookrec.errors import ConfigError, TrainingDivergedError
from bookrec.models.base import default_y_range
from bookrec.train import initial_model, resolve_device

__all__ = ["LrFindResult", "lr_find", "suggest_valley"]

_SMOOTH = 0.98  # EMA of the loss (fastai's): the raw mini-batch losses are too noisy to read a slope from
_DIVERGE = 4.0  # stop once the smoothed loss is this many times its minimum (fastai's stop_div)
_SHUFFLE_STREAM = 0x1F_F1D  # the (seed, stream) of the batch order, apart from the weights' stream


@dataclass(frozen=True)
class LrFindResult:
    """The loss at each learning rate of a range test, and the suggested rate.

    Attributes:
        lrs: The learning rate of each step taken, growing exponentially.
        losses: The smoothed training loss (MSE) after each step.
        raw_losses: The mini-batch loss of each step, unsmoothed.
        suggested_lr: The rate to train with: the rate at the lowest smoothed loss, divided by 10.
        lr_valley: fastai's "valley" rate (middle of the longest falling run), for comparison.
        lr_steep: The rate where the smoothed loss falls fastest (per decade of rate), for comparison.
        stopped_early: Whether the loss exploded before ``end_lr`` was reached.
        bs: Ratings per mini-batch.
        config: The settings of the model and optimizer tested.
    """

    lrs: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    suggested_lr: float
    lr_valley: float
    lr_steep: float
    stopped_early: bool
    bs: int
    config: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON (the curve as lists)."""
        return {
            "suggested_lr": self.suggested_lr,
            "method": "minimum/10",
            "lr_valley": self.lr_valley,
            "lr_steep": self.lr_steep,
            "n_steps": int(self.lrs.size),
            "stopped_early": self.stopped_early,
            "bs": self.bs,
            "model": self.config.model,
            "n_factors": self.config.n_factors,
            "wd": self.config.wd,
            "lrs": [float(v) for v in self.lrs],
            "losses": [float(v) for v in self.losses],
        }


def suggest_valley(lrs: np.ndarray, losses: np.ndarray) -> int:
    """Index of fastai's "valley" rate: halfway along the longest decreasing run of the loss curve.

    The run is the longest subsequence of strictly falling losses (not necessarily adjacent steps, so
    noise does not break it); the point halfway between its first and last step sits well inside the
    region where training makes progress, before the loss turns up.

    Args:
        lrs: Learning rates, increasing.
        losses: The smoothed loss at each rate.

    Returns:
        An index into ``lrs``.
    """
    n = len(losses)
    if n == 0:
        raise ValueError("no losses to suggest a rate from")
    losses = np.asarray(losses, dtype=np.float64)
    length = np.ones(n, dtype=np.int64)  # longest falling run ending at step i
    start = np.arange(n)  # ... and where that run begins
    for i in range(1, n):
        earlier = np.flatnonzero(losses[:i] > losses[i])
        if earlier.size:
            best = earlier[np.argmax(length[earlier])]
            length[i] = length[best] + 1
            start[i] = start[best]
    end = int(np.argmax(length))
    return int(start[end] + (end - start[end]) // 2)


def _check(start_lr: float, end_lr: float, n_steps: int) -> None:
    if not (isinstance(start_lr, int | float) and math.isfinite(start_lr) and start_lr > 0):
        raise ConfigError(f"start_lr must be a positive number, got {start_lr!r}")
    if not (isinstance(end_lr, int | float) and math.isfinite(end_lr) and start_lr < end_lr <= 1e3):
        raise ConfigError(f"end_lr must be above start_lr ({start_lr:g}) and at most 1000, got {end_lr!r}")
    if not (isinstance(n_steps, int) and 10 <= n_steps <= 100_000):
        raise ConfigError(f"n_steps must be a whole number from 10 to 100000, got {n_steps!r}")


def lr_find(
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    n_steps: int = 200,
    device: str | torch.device | None = None,
) -> LrFindResult:
    """Run the learning-rate range test for the torch engine's model and optimizer.

    Args:
        dataset: The ratings; the test steps over the training part of ``config``'s split.
        config: Model, factors, weight decay, batch size and seed; it must use the torch engine (the rate
            it suggests is AdamW's). Default ``TrainConfig(engine="torch")``.
        start_lr: The first learning rate.
        end_lr: The last learning rate (reached only if the loss does not explode first).
        n_steps: Mini-batch steps between them (fastai takes 100; 200 gave steadier suggestions here).
        device: "cpu", "cuda", "mps", or None/"auto".

    Returns:
        The loss curve and the suggested rate.

    Raises:
        ConfigError: Bad rates or steps, a config for the sgd engine, or no ratings to step over.
        TrainingDivergedError: The loss was not finite from the first step on (no curve to read).
    """
    config = config or TrainConfig(engine="torch")
    if config.engine != "torch":
        raise ConfigError(
            "lr_find tests the torch engine's AdamW; build the config with engine='torch' "
            "(the sgd engine's rates are on another scale)"
        )
    _check(start_lr, end_lr, n_steps)
    torch_device = resolve_device(device)
    train_part, _ = random_split(dataset, config.valid_pct, config.seed)
    if train_part.n_ratings == 0:
        raise ConfigError(f"no ratings to step over: {dataset.name} has {dataset.n_ratings} ratings")
    y_range = config.y_range or default_y_range(dataset.rating_min, dataset.rating_max)
    model = initial_model(dataset, config, y_range).to(torch_device).train()
    lrs = start_lr * (end_lr / start_lr) ** (np.arange(n_steps) / (n_steps - 1))
    raw_losses, bs = _sweep(model, train_part, config, lrs, torch_device)
    smoothed = _smooth(raw_losses)
    keep = _before_explosion(smoothed)
    stopped_early = keep < n_steps
    raw_losses, smoothed, taken = raw_losses[:keep], smoothed[:keep], lrs[:keep]
    if keep < 2:
        raise TrainingDivergedError(
            f"the loss was not finite from the first steps on (start_lr {start_lr:g}); try a lower start_lr"
        )
    # fastai's trim: the first tenth (the average is still warming up) and the last few steps (already
    # climbing) say nothing about where to train.
    lo, hi = keep // 10, max(keep // 10 + 2, keep - 5)
    window_lrs, window = taken[lo:hi], smoothed[lo:hi]
    valley = lo + suggest_valley(window_lrs, window)
    # The slope over a span of steps on each side, not between neighbours: neighbours' differences are noise.
    span = max(1, window.size // 20)
    ahead, behind = (
        np.minimum(np.arange(window.size) + span, window.size - 1),
        np.maximum(np.arange(window.size) - span, 0),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = (window[ahead] - window[behind]) / np.log10(window_lrs[ahead] / window_lrs[behind])
    steep = lo + int(np.nanargmin(slopes)) if np.isfinite(slopes).any() else lo
    lowest = lo + int(np.argmin(window))
    return LrFindResult(
        lrs=taken,
        losses=smoothed,
        raw_losses=raw_losses,
        suggested_lr=float(taken[lowest] / 10.0),
        lr_valley=float(taken[valley]),
        lr_steep=float(taken[steep]),
        stopped_early=bool(stopped_early),
        bs=int(bs),
        config=config,
    )


def _sweep(
    model: Any, train_part: Dataset, config: TrainConfig, lrs: np.ndarray, torch_device: torch.device
) -> tuple[np.ndarray, int]:
    """One AdamW step per rate in ``lrs`` over shuffled mini-batches; the raw losses (until an explosion)
    and the batch size used."""
    users = torch.as_tensor(train_part.user_idx, dtype=torch.int64, device=torch_device)
    books = torch.as_tensor(train_part.book_idx, dtype=torch.int64, device=torch_device)
    stars = torch.as_tensor(train_part.rating, dtype=torch.float32, device=torch_device)
    n = train_part.n_ratings
    bs = min(config.bs or auto_batch(model, n), n)  # the batch training would take
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(lrs[0]), betas=(0.9, 0.99), eps=1e-5, weight_decay=config.wd
    )
    shuffle_seed = np.random.SeedSequence([config.seed, _SHUFFLE_STREAM]).generate_state(1, np.uint64)[0]
    shuffle = torch.Generator().manual_seed(int(shuffle_seed) >> 1)
    dropout = torch.Generator(device=torch_device if torch_device.type == "cuda" else "cpu")
    model.set_dropout_generator(dropout.manual_seed(config.seed))
    raw: list[torch.Tensor] = []
    order = torch.randperm(n, generator=shuffle).to(torch_device)
    position = 0
    for lr in lrs:
        if position + bs > n:  # a fresh shuffle whenever a pass over the training part is used up
            order, position = torch.randperm(n, generator=shuffle).to(torch_device), 0
        rows = order[position : position + bs]
        position += bs
        for group in optimizer.param_groups:
            group["lr"] = float(lr)
        loss = nn.functional.mse_loss(model(users[rows], books[rows]), stars[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        raw.append(loss.detach())
        # Check for an explosion every 10 steps only: each check is a device synchronisation.
        if len(raw) % 10 == 0 and _exploded(torch.stack(raw).cpu().numpy()):
            break
    model.set_dropout_generator(None)
    return torch.stack(raw).double().cpu().numpy(), int(bs)


def _smooth(raw: np.ndarray) -> np.ndarray:
    """Debiased exponential moving average (NaN and infinity propagate, as the explosion check wants)."""
    smoothed = np.empty_like(raw, dtype=np.float64)
    average = 0.0
    for i, value in enumerate(raw):
        average = _SMOOTH * average + (1.0 - _SMOOTH) * value
        smoothed[i] = average / (1.0 - _SMOOTH ** (i + 1))
    return smoothed


def _before_explosion(smoothed: np.ndarray) -> int:
    """How many leading steps come before the smoothed loss explodes (non-finite, or 4x its minimum)."""
    best = math.inf
    for i, value in enumerate(smoothed):
        if not math.isfinite(value) or value > _DIVERGE * best:
            return i
        best = min(best, value)
    return len(smoothed)


def _exploded(raw: np.ndarray) -> bool:
    return _before_explosion(_smooth(raw)) < len(raw)
