"""The model contract: what every model kind provides, so that training and serving never branch on the kind.

A model kind lives in one module of this package (``dot.py``, ``nn.py``, ...) and provides three things:

1. **A torch module** (built only when training: torch is imported there and nowhere on the serving path),
   ``forward(user_idx, book_idx) -> rating``, with ``settings()`` that rebuild it.
2. **A serving head**: a subclass of :class:`ServingHead`, the trained model as numpy arrays, with the few
   operations the :class:`~bookrec.recommender.Recommender` needs (scores of every book for a reader, scores
   of pairs, the Jacobian that fits a new reader, effective book biases, book vectors), and its conversion
   to and from the tensors of a model folder.
3. **Its registration**: a module-level ``KIND = ModelKind(...)`` naming the two above, the engines that can
   train it and its measured defaults. :mod:`bookrec.models` finds every such module by itself.

A reader is a parameter vector of the head's own making (``reader_params``): the dot model's is its factor
vector with its bias appended, the neural model's its embedding. The recommender only passes these vectors
back to the head, so it never needs to know what is inside.

See ``docs/adding-a-model.md`` for a worked example.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

if TYPE_CHECKING:
    from bookrec.config import TrainConfig

__all__ = ["ModelKind", "ServingHead", "default_y_range", "matvec", "sigmoid"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, overflow-free (through tanh)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` in one thread.

    OpenBLAS splits a 10,000 x 128 product over every core; on a machine busy with other work (a shared
    server, concurrent app sessions) waiting for the other threads costs milliseconds to hundreds of
    milliseconds a query, the product itself ~0.1 ms. einsum does not call BLAS.
    """
    return np.einsum("ij,j->i", matrix, vector.astype(matrix.dtype, copy=False))


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


class ServingHead(ABC):
    """A trained model as numpy arrays: everything serving needs, and nothing of torch.

    Scores are *linear* scores, before the output squashing; :meth:`to_rating` maps them into ``y_range``
    (``lo + (hi - lo) * sigmoid(score)`` for every kind so far).

    Attributes:
        kind: The registered name of the model kind ("dot", "nn", ...).
        y_range: The open output interval (lo, hi).
        book_vectors: One vector per book, (n_books, d): what "similar books" and the map compare.
        book_bias: Each book's (effective) bias, (n_books,): the part of its score that does not depend
            on the reader, for "loved beyond taste".
    """

    kind: ClassVar[str] = ""
    y_range: tuple[float, float]
    book_vectors: np.ndarray
    book_bias: np.ndarray

    # --- sizes --------------------------------------------------------------------------------------

    @property
    @abstractmethod
    def n_users(self) -> int:
        """Readers the model was trained on."""

    @property
    def n_books(self) -> int:
        """Books the model knows."""
        return int(self.book_vectors.shape[0])

    @property
    def n_factors(self) -> int:
        """Length of each book vector."""
        return int(self.book_vectors.shape[1])

    # --- readers ------------------------------------------------------------------------------------

    @abstractmethod
    def reader_params(self, user_idx: np.ndarray) -> np.ndarray:
        """The parameter vectors of known readers, (m, p) for positions (m,)."""

    @abstractmethod
    def average_reader(self) -> np.ndarray:
        """The parameters (p,) of a reader the model does not know: the average reader."""

    def fold_in_prior(self) -> np.ndarray:
        """Where a new reader's fit starts and is pulled towards (p,); the average reader by default."""
        return self.average_reader().astype(np.float64)

    # --- scores -------------------------------------------------------------------------------------

    @abstractmethod
    def scores(self, params: np.ndarray) -> np.ndarray:
        """Linear scores of every book: (n_books,) for one reader's (p,), (m, n_books) for (m, p)."""

    @abstractmethod
    def pair_scores(self, params: np.ndarray, book_idx: np.ndarray) -> np.ndarray:
        """Linear scores of pairs: row i is reader ``params[i]`` (m, p) with book ``book_idx[i]`` (m,)."""

    @abstractmethod
    def score_jacobian(self, params: np.ndarray, book_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One reader's linear scores for some books (n,), and their derivatives by the parameters (n, p).

        Folding in a new reader fits ``params`` to their ratings by Gauss-Newton with this Jacobian; for a
        piecewise-linear model it holds for the current activation pattern.
        """

    def to_rating(self, linear: np.ndarray) -> np.ndarray:
        """Linear scores squashed into the output range: ``lo + (hi - lo) * sigmoid(score)``."""
        lo, hi = self.y_range
        return lo + (hi - lo) * sigmoid(linear)

    # --- files --------------------------------------------------------------------------------------

    @abstractmethod
    def to_tensors(self) -> dict[str, np.ndarray]:
        """The arrays a model folder stores (float32), by name."""

    @classmethod
    @abstractmethod
    def tensor_names(cls) -> tuple[str, ...]:
        """The names :meth:`from_tensors` needs (loading checks they are there)."""

    @classmethod
    @abstractmethod
    def from_tensors(cls, tensors: Mapping[str, np.ndarray], y_range: tuple[float, float]) -> Self:
        """Rebuild the head from :meth:`to_tensors`' arrays.

        Raises:
            ValueError: The arrays do not fit together (shapes), with what is wrong.
        """


@dataclass(frozen=True)
class ModelKind:
    """The registration of one model kind: its names, its parts, the engines that train it, its defaults.

    Attributes:
        name: The name in ``--model``, the manifest and ``TrainConfig.model``.
        summary: One line for ``--help``.
        head: The serving head class (numpy only).
        engines: Engines that can train it; the first is the default ("sgd", "torch", ...).
        defaults: Measured defaults per optimizer: n_factors, epochs, lr, wd, bs (None: chosen at run time).
        build: ``build(n_users, n_books, config, y_range, generator) -> torch module`` with seeded initial
            weights; imports torch when called.
        rebuild: ``rebuild(settings) -> torch module`` from the module's ``settings()`` (a checkpoint's
            or a manifest's record of the architecture).
        to_head: ``to_head(module) -> head``: the trained module's serving form.
        initial_head: ``initial_head(n_users, n_books, config, y_range) -> head`` with seeded initial tables,
            for engines that train numpy tables (the sgd engine); None for kinds only torch trains.
        from_head: ``from_head(head) -> torch module`` holding the head's tables; None where unneeded.
        hyperparameters: The ``TrainConfig`` fields this kind uses beyond those every kind uses (n_factors,
            epochs, lr, wd, seed, init_std, pct_start, valid_pct, y_range); the contract tests check that
            each of them changes the result.
    """

    name: str
    summary: str
    head: type[ServingHead]
    engines: tuple[str, ...]
    defaults: Mapping[str, Mapping[str, Any]]
    build: Callable[[int, int, TrainConfig, tuple[float, float], Any], Any]
    rebuild: Callable[[dict[str, Any]], Any]
    to_head: Callable[[Any], ServingHead]
    hyperparameters: tuple[str, ...] = ()
    initial_head: Callable[[int, int, TrainConfig, tuple[float, float]], ServingHead] | None = None
    from_head: Callable[[Any], Any] | None = None
