"""The neural model: reader and book embeddings concatenated through Linear -> ReLU -> Linear (the blog's).

For reader ``u`` and book ``b``::

    h = ReLU(W1 [e_u ; e_b] + c1)            (n_hidden units, dropout p after it while training)
    r_hat(u, b) = lo + (hi - lo) * sigmoid(w2 · h + c2 + a_u + c_b)

with a bias per reader ``a_u`` and per book ``c_b`` beside the network, as the dot model has, so that how
generous a reader is need not pass through the ReLU layer. Models saved before the biases existed load
without them (no reader bias to fold in, no book offset).

This module holds its torch module (``NeuralCF``), its serving head (``MlpHead``) and its registration
(``KIND``). The network's forward pass exists twice by necessity, once in torch (to train) and once in numpy
(to serve without torch); ``tests/test_contract.py`` checks that the two agree.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from bookrec.models.base import ModelKind, ServingHead, matvec

if TYPE_CHECKING:
    from bookrec.config import TrainConfig

__all__ = ["KIND", "MlpHead", "NeuralCF", "effective_book_bias"]  # noqa: F822 (NeuralCF: from __getattr__)


class MlpHead(ServingHead):
    """The neural model as arrays: ``score(u, b) = w2 . ReLU(W_u e_u + W_b e_b + c1) + c2 + a_u + c_b``.

    A reader's parameters are their embedding ``e_u`` with their bias ``a_u`` appended (d_u + 1 values; d_u
    for a model saved before the biases, whose fold-in must not gain a free parameter). The
    book half ``W_b e_b + c1`` does not depend on the reader and is computed once. ``book_bias`` is each
    book's effective bias (see ``effective_book_bias``), ``c_b`` and the network's share together.

    Args:
        user_vectors: Reader embeddings e_u, (n_users, d_u).
        book_vectors: Book embeddings e_b, (n_books, d_b).
        user_weight: W_u, (n_hidden, d_u).
        book_weight: W_b, (n_hidden, d_b).
        hidden_bias: c1, (n_hidden,).
        output_weight: w2, (n_hidden,).
        output_bias: c2.
        y_range: The output interval.
        book_bias: Effective book biases; computed from the rest when None.
        user_bias: a_u, (n_users,); None for a model saved before the biases (no reader bias to fit).
        book_offset: c_b, (n_books,); zeros when None.
    """

    kind = "nn"

    def __init__(
        self,
        user_vectors: np.ndarray,
        book_vectors: np.ndarray,
        user_weight: np.ndarray,
        book_weight: np.ndarray,
        hidden_bias: np.ndarray,
        output_weight: np.ndarray,
        output_bias: float,
        y_range: tuple[float, float],
        book_bias: np.ndarray | None = None,
        user_bias: np.ndarray | None = None,
        book_offset: np.ndarray | None = None,
    ) -> None:
        n_hidden = hidden_bias.shape[0]
        if (
            user_weight.shape != (n_hidden, user_vectors.shape[1])
            or book_weight.shape != (n_hidden, book_vectors.shape[1])
            or output_weight.shape != (n_hidden,)
        ):
            raise ValueError("the network's weights do not fit its embeddings")
        self._width = user_vectors.shape[1]  # reader parameters from here on are the bias, if any
        self._biased = user_bias is not None
        if user_bias is None:
            user_bias = np.zeros(user_vectors.shape[0], user_vectors.dtype)
        if book_offset is None:
            book_offset = np.zeros(book_vectors.shape[0], book_vectors.dtype)
        if user_bias.shape != (user_vectors.shape[0],) or book_offset.shape != (book_vectors.shape[0],):
            raise ValueError("there must be one bias per reader and per book")
        self.user_bias = user_bias
        self.book_offset = book_offset
        self.user_vectors = user_vectors
        self.book_vectors = book_vectors
        self.user_weight = user_weight
        self.book_weight = book_weight
        self.hidden_bias = hidden_bias
        self.output_weight = output_weight
        self.output_bias = float(output_bias)
        self.y_range = (float(y_range[0]), float(y_range[1]))
        self._book_part = book_vectors @ book_weight.T + hidden_bias
        params = np.hstack((user_vectors, user_bias[:, None])) if self._biased else user_vectors
        self._mean_user = params.mean(axis=0) if params.shape[0] else np.zeros(params.shape[1])
        if book_bias is None:
            book_bias = effective_book_bias(self)
        if book_bias.shape != (book_vectors.shape[0],):
            raise ValueError("there must be one bias per book")
        self.book_bias = book_bias

    @property
    def n_users(self) -> int:
        """Readers the model was trained on."""
        return int(self.user_vectors.shape[0])

    def reader_params(self, user_idx: np.ndarray) -> np.ndarray:
        """The readers' embeddings with their biases appended, (m, d_u + 1); (m, d_u) without biases."""
        user_idx = np.asarray(user_idx)
        if not self._biased:
            return self.user_vectors[user_idx]
        return np.hstack((self.user_vectors[user_idx], self.user_bias[user_idx, None]))

    def average_reader(self) -> np.ndarray:
        """The mean reader embedding and bias."""
        return self._mean_user

    def scores(self, params: np.ndarray) -> np.ndarray:
        """The network's output for every book, for one reader (p,) or many (m, p), one reader at a time.

        Many readers at once would hold (m, n_books, n_hidden) floats; one at a time holds n_books x n_hidden.
        """
        if params.ndim == 2:
            return (
                np.stack([self.scores(row) for row in params]) if len(params) else np.zeros((0, self.n_books))
            )
        d = self._width
        hidden = np.maximum(self._book_part + self.user_weight @ params[:d], 0.0)
        return matvec(hidden, self.output_weight) + self.output_bias + self.book_offset + params[d:].sum()

    def pair_scores(self, params: np.ndarray, book_idx: np.ndarray) -> np.ndarray:
        """The network's output for each (reader, book) row."""
        d = self._width
        hidden = np.maximum(self._book_part[book_idx] + params[:, :d] @ self.user_weight.T, 0.0)
        linear = hidden @ self.output_weight + self.output_bias + self.book_offset[book_idx]
        return linear + params[:, d:].sum(axis=1)

    def score_jacobian(self, params: np.ndarray, book_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Piecewise linear (ReLU): the active units' ``(active * w2) @ W_u``, and 1 for the reader's bias."""
        d = self._width
        pre = self._book_part[book_idx] + self.user_weight @ params[:d]
        active = (pre > 0).astype(np.float64)
        linear = np.maximum(pre, 0.0) @ self.output_weight + self.output_bias + self.book_offset[book_idx]
        jacobian = np.hstack(
            ((active * self.output_weight) @ self.user_weight, np.ones((len(pre), len(params) - d)))
        )
        return linear + params[d:].sum(), jacobian

    def to_tensors(self) -> dict[str, np.ndarray]:
        """The embeddings, the biases (effective and own) and the network's weights (float32)."""
        return {
            "user_vectors": self.user_vectors.astype(np.float32),
            "book_vectors": self.book_vectors.astype(np.float32),
            "book_bias": self.book_bias.astype(np.float32),
            "mlp_user_weight": self.user_weight.astype(np.float32),
            "mlp_book_weight": self.book_weight.astype(np.float32),
            "mlp_hidden_bias": self.hidden_bias.astype(np.float32),
            "mlp_output_weight": self.output_weight.astype(np.float32),
            "mlp_output_bias": np.array([self.output_bias], dtype=np.float32),
            **(
                {
                    "mlp_user_bias": self.user_bias.astype(np.float32),
                    "mlp_book_bias": self.book_offset.astype(np.float32),
                }
                if self._biased
                else {}
            ),
        }

    @classmethod
    def tensor_names(cls) -> tuple[str, ...]:
        """What ``from_tensors`` needs (``mlp_user_bias`` and ``mlp_book_bias`` may be missing: zeros)."""
        return (
            "user_vectors",
            "book_vectors",
            "book_bias",
            "mlp_user_weight",
            "mlp_book_weight",
            "mlp_hidden_bias",
            "mlp_output_weight",
            "mlp_output_bias",
        )

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, np.ndarray], y_range: tuple[float, float]) -> Self:
        """The head over a model folder's arrays."""
        return cls(
            tensors["user_vectors"],
            tensors["book_vectors"],
            tensors["mlp_user_weight"],
            tensors["mlp_book_weight"],
            tensors["mlp_hidden_bias"],
            tensors["mlp_output_weight"],
            float(tensors["mlp_output_bias"][0]),
            y_range,
            book_bias=tensors["book_bias"],
            user_bias=tensors.get("mlp_user_bias"),
            book_offset=tensors.get("mlp_book_bias"),
        )


def effective_book_bias(head: MlpHead, sample: int = 2000) -> np.ndarray:
    """A neural model's book bias: each book's mean score over (a fixed sample of) readers, centred.

    The own bias ``c_b`` is only part of it, the network adds a share of its own; this is what a bias means,
    the part of a book's score that does not depend on who reads it.
    """
    step = max(1, head.n_users // sample)
    readers = head.user_vectors[::step][:sample]
    total = np.zeros(head.n_books, dtype=np.float64)
    for row in readers @ head.user_weight.T:
        total += np.maximum(head._book_part + row, 0.0) @ head.output_weight
    mean = total / max(1, readers.shape[0]) + head.output_bias + head.book_offset
    return (mean - mean.mean()).astype(np.float32)


@functools.cache
def module_class() -> type:
    """The torch module ``NeuralCF``, defined on first use: serving never imports torch."""
    from bookrec.models import _torch as t
    from bookrec.models._torch import INIT_STD, RatingModel, nn, skip_init, torch

    class NeuralCF(RatingModel):
        """Embeddings concatenated into a one-hidden-layer network (fastai's ``EmbeddingNN``), trained on MSE.

        ``r_hat(u, b) = lo + (hi - lo) * sigmoid(w2 · ReLU(W1 [e_u ; e_b] + c1) + c2 + a_u + c_b)``.

        Args:
            n_users, n_books: Readers and books.
            user_factors, book_factors: Embedding sizes; default fastai's ``min(600, round(1.6 * n**0.56))``.
            n_hidden: Units of the hidden layer.
            dropout: Dropout probability after the hidden layer, in [0, 1).
            y_range: The open output interval ``(lo, hi)``.
            biases: Learn a bias per reader and per book beside the network (False: the layout saved
                before bookrec had them).
            init_std: Standard deviation of the embeddings' normal initialisation.
            generator: Source of the initial weights.
        """

        kind = "nn"
        # Steps per epoch when the batch is automatic (the engine's ``_auto_batch``): the network keeps
        # learning from more, smaller steps (MovieLens-small, 32 factors, 3 epochs, lr 1e-2: batch 512
        # 0.8567, 256 0.8545, 128 0.8535; lr 5e-3: 128 0.8536, 64 0.8520). 1024 steps give a batch of 64
        # there and 4096 on full-size goodbooks-shaped data: 12-15 s an epoch on 2 busy cores.
        batch_steps = 1024
        # Before training, the torch engine sets the embeddings to the factors of a quick dot-model fit
        # (``engines.torch.warm_start``) and decays them 5x harder than the network (AdamW's wd per group):
        # the network starts from readers and books that already carry taste and keeps only what the
        # ratings confirm. MovieLens-small (seed 42; seed 1 in brackets): 0.8515 [0.8561] from the normal
        # start; warm, embedding wd 0.3: 0.8420, 0.5: 0.8413 [0.8491], 2 epochs 0.8448. With the dot fit's
        # biases copied too: embedding wd 0.1 0.8656 (0.8558 after epoch 2: it overfits), 0.5 0.8425
        # [0.8499], 1.0 0.8514. Tried without the warm start and rejected (each within 0.003 of 0.8515):
        # a per-row L2 ``shrink / count`` on the batch's rows, SparseAdam (lazy moments) 0.8570, 3x the
        # embeddings' lr 0.8501, the output bias at the mean rating's logit 0.8534, biases warm-started
        # from a biases-only fit 0.8587, 300 hidden units 0.8480. The dot fit follows the regularization
        # probe: where it keeps biases alone the embeddings start at zero (10% per-reader sample of
        # MovieLens-small 0.9518 -> 0.9446; biases alone 0.9149: the network still overfits there).
        warm_start_factors = True
        embedding_wd_mult = 5.0

        def __init__(
            self,
            n_users: int,
            n_books: int,
            user_factors: int | None = None,
            book_factors: int | None = None,
            n_hidden: int = 100,
            dropout: float = 0.0,
            y_range: tuple[float, float] = (0.0, 5.5),
            biases: bool = True,
            *,
            init_std: float = INIT_STD,
            generator: torch.Generator | None = None,
        ) -> None:
            super().__init__()
            user_factors = t.embedding_size(n_users) if user_factors is None else int(user_factors)
            book_factors = t.embedding_size(n_books) if book_factors is None else int(book_factors)
            if min(n_users, n_books, user_factors, book_factors, n_hidden) < 1:
                raise ValueError("NeuralCF sizes (readers, books, embeddings, hidden units) must be positive")
            if not 0.0 <= dropout < 1.0:
                raise ValueError(f"dropout must be in [0, 1), got {dropout}")
            self.y_range = t.check_range(y_range)
            self.user_factors = skip_init(nn.Embedding, n_users, user_factors)
            self.book_factors = skip_init(nn.Embedding, n_books, book_factors)
            self.hidden = skip_init(nn.Linear, user_factors + book_factors, n_hidden)
            self.dropout = t.SeededDropout(dropout)
            self.output = skip_init(nn.Linear, n_hidden, 1)
            t.init_normal((self.user_factors, self.book_factors), init_std, generator)
            t.init_linear((self.hidden, self.output), generator)
            self.user_bias: nn.Embedding | None = None
            self.book_bias: nn.Embedding | None = None
            if biases:  # start at zero: the network starts as it did without them
                self.user_bias = nn.Embedding(n_users, 1, _weight=torch.zeros(n_users, 1))
                self.book_bias = nn.Embedding(n_books, 1, _weight=torch.zeros(n_books, 1))

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
                "biases": self.user_bias is not None,
            }

        def set_dropout_generator(self, generator: torch.Generator | None) -> None:
            """Draw dropout masks from ``generator`` (a seeded one while training; None: torch's default)."""
            self.dropout.generator = generator

        def param_groups(self, wd: float) -> list[dict[str, Any]]:
            """AdamW's groups: the embeddings decayed by ``embedding_wd_mult x wd``, the rest by ``wd``."""
            embeddings = [self.user_factors.weight, self.book_factors.weight]
            chosen = {id(p) for p in embeddings}
            rest = [p for p in self.parameters() if id(p) not in chosen]
            return [
                {"params": embeddings, "weight_decay": wd * self.embedding_wd_mult},
                {"params": rest, "weight_decay": wd},
            ]

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
            out = self.output(x).squeeze(1)
            if self.user_bias is not None and self.book_bias is not None:
                out = out + self.user_bias(user_idx).squeeze(1) + self.book_bias(book_idx).squeeze(1)
            return t.sigmoid_range(out, *self.y_range)

    NeuralCF.__qualname__ = "NeuralCF"
    return NeuralCF


def _build(
    n_users: int, n_books: int, config: TrainConfig, y_range: tuple[float, float], generator: Any
) -> Any:
    return module_class()(
        n_users,
        n_books,
        config.n_factors,
        config.n_factors,
        config.n_hidden,
        config.dropout,
        y_range,
        init_std=config.init_std,
        generator=generator,
    )


def _rebuild(settings: dict[str, Any]) -> Any:
    kwargs = dict(settings)
    kwargs["y_range"] = tuple(kwargs.get("y_range", (0.0, 5.5)))
    kwargs.setdefault("biases", False)  # settings recorded before the biases existed
    return module_class()(**kwargs)


def _to_head(module: Any) -> MlpHead:
    from bookrec.models._torch import as_array

    split = module.user_factors.embedding_dim
    hidden_weight = as_array(module.hidden.weight)
    biases = module.user_bias is not None and module.book_bias is not None
    return MlpHead(
        user_vectors=as_array(module.user_factors.weight),
        book_vectors=as_array(module.book_factors.weight),
        user_weight=hidden_weight[:, :split],
        book_weight=hidden_weight[:, split:],
        hidden_bias=as_array(module.hidden.bias),
        output_weight=as_array(module.output.weight).reshape(-1),
        output_bias=float(as_array(module.output.bias).reshape(-1)[0]),
        y_range=module.y_range,
        user_bias=as_array(module.user_bias.weight).reshape(-1) if biases else None,
        book_offset=as_array(module.book_bias.weight).reshape(-1) if biases else None,
    )


# Issue 12 (the neural model earns its place), MovieLens-small through `bookrec train` (80/20, seed 42;
# biases alone 0.8665, the dot model's default 0.8341). The blog's setup (fastai's sizes 58 / 272, 5 epochs,
# lr 5e-3, wd 0.1, batch 512) reached 0.8677, worse than biases alone, and peaked an epoch early. Reader and
# book biases beside the network: 0.8673. At batch 512: 32 factors 4 epochs 0.8578; wd 0.5 / 1 / 2 0.8641 /
# 0.8613 / 0.8616; dropout 0.2-0.5 no gain; lr 1e-2 3 epochs 0.8567; a dot-product term beside the network
# (NeuMF's GMF) 0.8609; L2 on the batch's rows 0.8595. What helped was more, smaller steps (see
# ``NeuralCF.batch_steps``): batch 64, 3 epochs, lr 5e-3: 32 factors 0.8520, 48 0.8515, 64 0.8527, fastai's
# sizes 0.8544; 4 epochs 0.8550, 2 epochs 0.8571; lr 3e-3 0.8532; wd 0.03 / 0.2 0.8529 / 0.8529; 50 / 200
# hidden units 0.8530 / 0.8523; batch 32 0.8519. Seed 1: 0.8561 against biases alone 0.8694. Then the warm
# start from a dot fit (``NeuralCF.warm_start_factors``): 0.8413 (dot 0.8344), seed 1 0.8491 (dot 0.8402).
KIND = ModelKind(
    name="nn",
    summary="embeddings concatenated through Linear -> ReLU -> Linear (the blog's neural net)",
    head=MlpHead,
    engines=("torch",),
    defaults={"adamw": {"n_factors": 48, "epochs": 3, "lr": 5e-3, "wd": 0.1, "bs": None}},
    build=_build,
    rebuild=_rebuild,
    to_head=_to_head,
    hyperparameters=("n_hidden", "dropout"),
)


def __getattr__(name: str) -> Any:
    if name == "NeuralCF":
        return module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
