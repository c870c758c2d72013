"""The two rating models of the blog: ``DotBias`` (matrix factorization) and ``NeuralCF`` (embeddings + MLP).

Both are plain ``nn.Module`` s with ``forward(user_idx, book_idx) -> rating``: no I/O, no data handling, no
global random state (initialisation takes an optional ``torch.Generator``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils import skip_init

__all__ = [
    "DotBias",
    "NeuralCF",
    "RatingModel",
    "build_model",
    "default_y_range",
    "embedding_size",
    "sigmoid_range",
]

_INIT_STD = 0.01  # fastai's trunc_normal_(std=0.01) for embeddings; small starts also trained best here


def sigmoid_range(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Squash ``x`` into the open interval ``(lo, hi)`` with a sigmoid: ``lo + (hi - lo) * sigmoid(x)``."""
    return torch.sigmoid(x) * (hi - lo) + lo


def embedding_size(n: int) -> int:
    """fastai's rule of thumb for an embedding of ``n`` categories: ``min(600, round(1.6 * n**0.56))``."""
    return int(min(600, round(1.6 * n**0.56)))


def default_y_range(rating_min: float, rating_max: float) -> tuple[float, float]:
    """The output range for a rating scale: a quarter of the span below, an eighth above.

    For 1-5 stars that is fastai's ``(0, 5.5)``: the sigmoid never has to reach the extreme ratings, which it
    could only do with infinite inputs. The margin is relative, so other scales (0.5-5, 1-10) get the same
    shape; on MovieLens (0.5-5) it measured the same as ``(0, 5.5)`` (RMSE within 0.001).
    """
    span = float(rating_max) - float(rating_min)
    if span <= 0:
        span = 1.0
    return (float(rating_min) - span / 4, float(rating_max) + span / 8)


def _check_range(y_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in y_range)
    if not lo < hi:
        raise ValueError(f"y_range must be (low, high) with low < high, got {y_range}")
    return lo, hi


class RatingModel(nn.Module):
    """What both models share: a rating range, index-pair inputs and the settings that rebuild them."""

    kind: str = ""
    y_range: tuple[float, float]
    user_factors: nn.Embedding
    book_factors: nn.Embedding

    def settings(self) -> dict[str, Any]:  # pragma: no cover - overridden
        """Constructor keyword arguments (JSON-ready) that rebuild this architecture."""
        raise NotImplementedError

    @property
    def n_users(self) -> int:
        """Number of readers (rows of the reader embedding)."""
        return int(self.user_factors.num_embeddings)

    @property
    def n_books(self) -> int:
        """Number of books (rows of the book embedding)."""
        return int(self.book_factors.num_embeddings)


class DotBias(RatingModel):
    """Biased matrix factorization squashed into the rating range (fastai's ``EmbeddingDotBias``).

    For reader ``u`` and book ``b``::

        r_hat(u, b) = lo + (hi - lo) * sigmoid(p_u · q_b + a_u + c_b)

    with reader factors ``p_u`` and book factors ``q_b`` (``n_factors`` each), reader bias ``a_u``, book bias
    ``c_b`` and ``(lo, hi) = y_range``. Training minimizes the mean squared error to the ratings,

        L = mean over ratings of (r_hat(u, b) - r)^2,

    with weight decay ``wd`` on every parameter: ``0.5 * wd * |theta|^2`` added at each rating that touches
    ``theta`` in the sgd engine, decoupled AdamW decay in the torch engine (see :mod:`bookrec.train`).

    Args:
        n_users: Number of readers.
        n_books: Number of books.
        n_factors: Length of each factor vector.
        y_range: The open output interval ``(lo, hi)``; ``(0, 5.5)`` suits 1-5 stars.
        init_std: Standard deviation of the normal initialisation of every weight.
        generator: Source of the initial weights (a seeded ``torch.Generator`` gives reproducible models).

    Attributes:
        user_factors: Reader factor embedding, ``(n_users, n_factors)``.
        book_factors: Book factor embedding, ``(n_books, n_factors)``.
        user_bias: Reader bias embedding, ``(n_users, 1)``.
        book_bias: Book bias embedding, ``(n_books, 1)``.
    """

    kind = "dot"

    def __init__(
        self,
        n_users: int,
        n_books: int,
        n_factors: int = 128,
        y_range: tuple[float, float] = (0.0, 5.5),
        *,
        init_std: float = _INIT_STD,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_users < 1 or n_books < 1 or n_factors < 1:
            raise ValueError(
                f"n_users, n_books and n_factors must be positive, got {n_users}, {n_books}, {n_factors}"
            )
        self.y_range = _check_range(y_range)
        # skip_init: no draw from torch's global generator; the weights come from ``generator`` below.
        self.user_factors = skip_init(nn.Embedding, n_users, n_factors)
        self.book_factors = skip_init(nn.Embedding, n_books, n_factors)
        self.user_bias = skip_init(nn.Embedding, n_users, 1)
        self.book_bias = skip_init(nn.Embedding, n_books, 1)
        with torch.no_grad():
            for emb in (self.user_factors, self.book_factors, self.user_bias, self.book_bias):
                nn.init.normal_(emb.weight, 0.0, init_std, generator=generator)

    @property
    def n_factors(self) -> int:
        """Length of each factor vector."""
        return int(self.user_factors.embedding_dim)

    def settings(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-ready) that rebuild this architecture."""
        return {
            "n_users": self.n_users,
            "n_books": self.n_books,
            "n_factors": self.n_factors,
            "y_range": list(self.y_range),
        }

    def factor_tables(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The learned tables (what serving uses): reader factors and biases, book factors and biases."""
        return (
            self.user_factors.weight,
            self.user_bias.weight[:, 0],
            self.book_factors.weight,
            self.book_bias.weight[:, 0],
        )

    def forward(self, user_idx: torch.Tensor, book_idx: torch.Tensor) -> torch.Tensor:
        """Predicted ratings for index pairs (1-D integer tensors of equal length)."""
        dot = (self.user_factors(user_idx) * self.book_factors(book_idx)).sum(dim=1)
        x = dot + self.user_bias(user_idx).squeeze(1) + self.book_bias(book_idx).squeeze(1)
        return sigmoid_range(x, *self.y_range)


class _SeededDropout(nn.Module):
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


class NeuralCF(RatingModel):
    """Reader and book embeddings concatenated into a one-hidden-layer network (fastai's ``EmbeddingNN``).

    For reader ``u`` and book ``b``::

        h = ReLU(W1 [e_u ; e_b] + c1)            (n_hidden units, dropout p after it)
        r_hat(u, b) = lo + (hi - lo) * sigmoid(w2 · h + c2)

    with embeddings ``e_u`` (``user_factors`` long) and ``e_b`` (``book_factors`` long), by default of
    fastai's sizes ``min(600, round(1.6 * n**0.56))``. Training minimizes the mean squared error with
    decoupled weight decay (AdamW), as for ``DotBias``.

    Args:
        n_users: Number of readers.
        n_books: Number of books.
        user_factors: Reader embedding size; default by fastai's rule.
        book_factors: Book embedding size; default by fastai's rule.
        n_hidden: Units of the hidden layer.
        dropout: Dropout probability after the hidden layer, in [0, 1).
        y_range: The open output interval ``(lo, hi)``.
        init_std: Standard deviation of the normal initialisation of the embeddings.
        generator: Source of the initial weights.
    """

    kind = "nn"

    def __init__(
        self,
        n_users: int,
        n_books: int,
        user_factors: int | None = None,
        book_factors: int | None = None,
        n_hidden: int = 100,
        dropout: float = 0.0,
        y_range: tuple[float, float] = (0.0, 5.5),
        *,
        init_std: float = _INIT_STD,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        user_factors = embedding_size(n_users) if user_factors is None else int(user_factors)
        book_factors = embedding_size(n_books) if book_factors is None else int(book_factors)
        if min(n_users, n_books, user_factors, book_factors, n_hidden) < 1:
            raise ValueError("NeuralCF sizes (readers, books, embeddings, hidden units) must be positive")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.y_range = _check_range(y_range)
        self.user_factors = skip_init(nn.Embedding, n_users, user_factors)
        self.book_factors = skip_init(nn.Embedding, n_books, book_factors)
        self.hidden = skip_init(nn.Linear, user_factors + book_factors, n_hidden)
        self.dropout = _SeededDropout(dropout)
        self.output = skip_init(nn.Linear, n_hidden, 1)
        with torch.no_grad():
            for emb in (self.user_factors, self.book_factors):
                nn.init.normal_(emb.weight, 0.0, init_std, generator=generator)
            for layer in (self.hidden, self.output):
                # PyTorch's own Linear initialisation (Kaiming-uniform), drawn from the generator.
                bound = 1.0 / layer.in_features**0.5
                nn.init.kaiming_uniform_(layer.weight, a=5**0.5, generator=generator)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def settings(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-ready) that rebuild this architecture."""
        return {
            "n_users": self.n_users,
            "n_books": self.n_books,
            "user_factors": int(self.user_factors.embedding_dim),
            "book_factors": int(self.book_factors.embedding_dim),
            "n_hidden": int(self.hidden.out_features),
            "dropout": float(self.dropout.p),
            "y_range": list(self.y_range),
        }

    def set_dropout_generator(self, generator: torch.Generator | None) -> None:
        """Draw dropout masks from ``generator`` (training sets a seeded one; None uses torch's default)."""
        self.dropout.generator = generator

    def forward(self, user_idx: torch.Tensor, book_idx: torch.Tensor) -> torch.Tensor:
        """Predicted ratings for index pairs (1-D integer tensors of equal length)."""
        # hidden([e_u; e_b]) = W_u e_u + W_b e_b + c1: project each distinct reader and book of the batch
        # once (a batch of 32k ratings holds ~7k distinct books), then gather. Same function as the
        # concatenation, about 1.6x faster to train on goodbooks-sized data.
        users, user_pos = torch.unique(user_idx, return_inverse=True)
        books, book_pos = torch.unique(book_idx, return_inverse=True)
        split = self.user_factors.embedding_dim
        weight = self.hidden.weight
        user_part = nn.functional.linear(self.user_factors(users), weight[:, :split])
        book_part = nn.functional.linear(self.book_factors(books), weight[:, split:], self.hidden.bias)
        x = self.dropout(torch.relu(user_part[user_pos] + book_part[book_pos]))
        return sigmoid_range(self.output(x).squeeze(1), *self.y_range)


def build_model(kind: str, settings: dict[str, Any]) -> RatingModel:
    """Rebuild a model architecture from its ``kind`` ("dot" or "nn") and :meth:`RatingModel.settings`.

    Raises:
        ValueError: Unknown kind or settings.
    """
    kwargs = dict(settings)
    if "y_range" in kwargs:
        kwargs["y_range"] = tuple(kwargs["y_range"])
    if kind == "dot":
        return DotBias(**kwargs)
    if kind == "nn":
        return NeuralCF(**kwargs)
    raise ValueError(f"unknown model kind {kind!r}; expected 'dot' or 'nn'")
