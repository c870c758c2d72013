"""What the torch modules of every model kind share: the output squashing, the base class, seeded pieces.

Imported only when a torch module is built (training, lr-find, tests): serving never loads torch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils import skip_init

__all__ = [
    "RatingModel",
    "SeededDropout",
    "check_range",
    "embedding_size",
    "nn",
    "sigmoid_range",
    "skip_init",
]

INIT_STD = 0.01  # fastai's trunc_normal_(std=0.01) for embeddings; small starts also trained best here


def sigmoid_range(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Squash ``x`` into the open interval ``(lo, hi)`` with a sigmoid: ``lo + (hi - lo) * sigmoid(x)``."""
    return torch.sigmoid(x) * (hi - lo) + lo


def embedding_size(n: int) -> int:
    """fastai's rule of thumb for an embedding of ``n`` categories: ``min(600, round(1.6 * n**0.56))``."""
    return int(min(600, round(1.6 * n**0.56)))


def check_range(y_range: tuple[float, float]) -> tuple[float, float]:
    """``y_range`` as two floats, refused unless low < high."""
    lo, hi = (float(v) for v in y_range)
    if not lo < hi:
        raise ValueError(f"y_range must be (low, high) with low < high, got {y_range}")
    return lo, hi


class RatingModel(nn.Module):
    """What every model's torch module shares: a rating range, index-pair inputs, settings that rebuild it."""

    kind: str = ""
    y_range: tuple[float, float]
    user_factors: nn.Embedding
    book_factors: nn.Embedding

    def settings(self) -> dict[str, Any]:  # pragma: no cover - overridden
        """Constructor keyword arguments (JSON-ready) that rebuild this architecture."""
        raise NotImplementedError

    def set_dropout_generator(self, generator: torch.Generator | None) -> None:
        """Draw dropout masks from ``generator`` (training sets a seeded one); no-op without dropout."""

    @property
    def n_users(self) -> int:
        """Number of readers (rows of the reader embedding)."""
        return int(self.user_factors.num_embeddings)

    @property
    def n_books(self) -> int:
        """Number of books (rows of the book embedding)."""
        return int(self.book_factors.num_embeddings)


class SeededDropout(nn.Module):
    """Dropout drawing its masks from ``self.generator`` when set (reproducible without global seeds)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.generator is None:
            return nn.functional.dropout(x, self.p, training=True)
        keep = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1.0 - self.p)


def as_array(tensor: torch.Tensor) -> Any:
    """A trained tensor as a float32 numpy array on the CPU."""
    return tensor.detach().cpu().numpy().astype("float32")


def init_normal(embeddings: tuple[nn.Embedding, ...], std: float, generator: torch.Generator | None) -> None:
    """Normal(0, std) weights drawn from ``generator`` (never from torch's global one)."""
    with torch.no_grad():
        for embedding in embeddings:
            nn.init.normal_(embedding.weight, 0.0, std, generator=generator)


def init_linear(layers: tuple[nn.Linear, ...], generator: torch.Generator | None) -> None:
    """PyTorch's own Linear initialisation (Kaiming-uniform), drawn from ``generator``."""
    with torch.no_grad():
        for layer in layers:
            bound = 1.0 / layer.in_features**0.5
            nn.init.kaiming_uniform_(layer.weight, a=5**0.5, generator=generator)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
