"""The planted model of ``bookrec synth``: how it is built from the books, and which books each reader rates.

The model, the choice of books (covering every book once, then popularity-drawn candidates kept by taste)
and the scales below are described in ``bookrec.data.synth``; the per-reader draw runs compiled, in
``_synth_kernels``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bookrec.data._synth_books import _groups, _popularity
from bookrec.data._synth_kernels import _draw_kernel
from bookrec.data._synthetic import RATING_SHARES

_N_FACTORS = 32
# Shares of a book vector's variance. A taste-cluster part (each author in one of up to 24 clusters) is
# low-rank, so a factor model learns it; author and series parts make one author's books nearest
# neighbours; era and language parts make books of one era and language closer than random ones.
_PART_SHARE = {"cluster": 0.35, "author": 0.25, "series": 0.12, "era": 0.10, "language": 0.05, "own": 0.13}
_USER_CLUSTER_SHARE = 0.75  # of a reader's taste variance: the rest is the reader's own
# Scales of the score (latent units, before the cut into stars), chosen by measurement on the default sizes
# with the real books: held-out RMSE of biases alone 0.86 (real goodbooks: about 0.85), of the planted
# noise-free score 0.69, of a 32-factor ALS fitted to the stars 0.78; planted and learned nearest
# neighbours of famous titles are mostly books by the same author or in the same series.
_USER_BIAS_SD = 0.45
_BOOK_BIAS_SD = 0.35
_TASTE_SD = 0.8
_NOISE_SD = 0.65
_SELECTION = 1.0  # Gumbel-top-k weight of taste (per taste SD) when a reader picks among candidate books
# reader_tail = 1 raises readers' Beta(2, 2.2) activity weights to this power: the weights' density near 0
# becomes ~ w^-0.8 (a power law: many light readers), while the busiest stay bounded. At the default sizes
# the median reader then rates 4 books (tail 0: 111; 0.5: 25), 54% rate 5 or fewer, the busiest 3,620, and
# none rates every book (a log-normal factor of like median put 134 readers at the cap of all 10,000 books).
_TAIL_POWER = 10.0
_TO_READ_PER_RATING = 0.153  # real: 912,705 to-read pairs for 5,976,479 ratings
_TO_READ_READERS = 0.915  # real: 48,871 of 53,424 readers marked some book to read


@dataclass(frozen=True, eq=False)
class PlantedModel:
    """The model the synthetic ratings are drawn from; row ``i`` of each array is id ``i + 1``.

    ``score(u, b) = user_bias[u] + book_bias[b] + user_factors[u] · book_factors[b]``; a drawn rating adds
    ``Normal(0, noise_sd²)`` noise to it and cuts the sum into 1-5 stars (or 1-10 points).

    Attributes:
        user_factors: Reader taste vectors, float32 of shape (n_users, n_factors).
        book_factors: Book vectors, float32 of shape (n_books, n_factors).
        user_bias: Reader biases, float32 of shape (n_users,).
        book_bias: Book biases, float32 of shape (n_books,).
        popularity: How often each book is drawn as a candidate, float64 summing to 1.
        noise_sd: Standard deviation of the noise added to each drawn rating's score.
    """

    user_factors: np.ndarray
    book_factors: np.ndarray
    user_bias: np.ndarray
    book_bias: np.ndarray
    popularity: np.ndarray
    noise_sd: float

    @property
    def n_users(self) -> int:
        """Number of readers (user_id 1..n_users)."""
        return int(self.user_factors.shape[0])

    @property
    def n_books(self) -> int:
        """Number of books (book_id 1..n_books)."""
        return int(self.book_factors.shape[0])

    def score(self, user_ids: np.ndarray, book_ids: np.ndarray) -> np.ndarray:
        """The noise-free planted score of (user_id, book_id) pairs, float64.

        Args:
            user_ids: Reader ids, 1..n_users.
            book_ids: Book ids, 1..n_books, of the same length.

        Returns:
            ``user_bias + book_bias + user_factors · book_factors`` for each pair.
        """
        u = np.asarray(user_ids, dtype=np.int64) - 1
        b = np.asarray(book_ids, dtype=np.int64) - 1
        taste = np.einsum("ij,ij->i", self.user_factors[u], self.book_factors[b], dtype=np.float64)
        return self.user_bias[u].astype(np.float64) + self.book_bias[b] + taste


def _plant(
    books: pd.DataFrame, n_users: int, rng: np.random.Generator, taste_strength: float = 1.0
) -> tuple[PlantedModel, np.ndarray]:
    """Book vectors from shared metadata parts, reader tastes near a cluster, biases, popularity.

    ``taste_strength`` scales the taste term's SD (``_TASTE_SD`` at 1); the same draws, so only the scale
    of the factors changes. Returns the model and each book's taste cluster (for the tags).
    """
    n_books = len(books)
    groups = _groups(books)
    n_clusters = int(np.clip(n_books // 40, 4, 24))
    centers = rng.normal(size=(n_clusters, _N_FACTORS))
    author_cluster = rng.integers(n_clusters, size=int(groups["author"].max()) + 1)
    vectors = math.sqrt(_PART_SHARE["cluster"]) * centers[author_cluster[groups["author"]]]
    for part in ("author", "series", "era", "language"):
        table = rng.normal(size=(int(groups[part].max()) + 1, _N_FACTORS))
        vectors += math.sqrt(_PART_SHARE[part]) * table[groups[part]]
    vectors += math.sqrt(_PART_SHARE["own"]) * rng.normal(size=(n_books, _N_FACTORS))
    near = centers[rng.integers(n_clusters, size=n_users)]
    own = rng.normal(size=(n_users, _N_FACTORS))
    users = math.sqrt(_USER_CLUSTER_SHARE) * near + math.sqrt(1 - _USER_CLUSTER_SHARE) * own
    # Scale both sides so that the taste term has _TASTE_SD (times the strength) over random pairs (measured
    # on a subsample). A weaker taste also weakens the readers' choice of books by taste (_SELECTION).
    sample_u = users[: min(n_users, 500)]
    sample_b = vectors[: min(n_books, 2000)]
    spread = float(np.std(sample_u @ sample_b.T))
    scale = math.sqrt(_TASTE_SD * taste_strength / spread) if spread > 0 else math.sqrt(taste_strength)
    average = pd.to_numeric(books["average_rating"], errors="coerce").to_numpy(dtype=np.float64)
    known = np.isfinite(average)
    quality = rng.normal(size=n_books)
    if known.sum() >= 2 and np.std(average[known]) > 0:
        z = np.zeros(n_books)
        z[known] = (average[known] - average[known].mean()) / average[known].std()
        quality = np.where(known, 0.8 * z + 0.6 * quality, quality)
    model = PlantedModel(
        user_factors=(users * scale).astype(np.float32),
        book_factors=(vectors * scale).astype(np.float32),
        user_bias=(_USER_BIAS_SD * rng.normal(size=n_users)).astype(np.float32),
        book_bias=(_BOOK_BIAS_SD * quality).astype(np.float32),
        popularity=_popularity(books),
        noise_sd=_NOISE_SD,
    )
    return model, author_cluster[groups["author"]]


# --- which books each reader rates --------------------------------------------------------------------------


def _allocate(total: int, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Integers summing to ``total``, proportional to ``weights``, none above its cap (largest remainders)."""
    out = np.zeros(weights.size, dtype=np.int64)
    remaining = int(total)
    while remaining > 0:
        active = np.flatnonzero(out < caps)
        w = weights[active].astype(np.float64)
        if w.sum() <= 0:
            w = np.ones(active.size)
        share = w / w.sum() * remaining
        add = np.floor(share).astype(np.int64)
        left = remaining - int(add.sum())
        if left:
            add[np.argsort(-(share - add), kind="stable")[:left]] += 1
        new = out[active] + add
        out[active] = np.minimum(new, caps[active])
        remaining = int(np.maximum(new - caps[active], 0).sum())
    return out


def _draw_pairs(
    model: PlantedModel, n_ratings: int, rng: np.random.Generator, reader_tail: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rated pairs (user_idx, book_idx, taste) grouped by reader, and to-read pairs.

    ``reader_tail`` in [0, 1] reshapes readers' activity from goodbooks' even Beta spread (0) to a long
    tail of light readers (1), by a power of the same draws.
    """
    n_users, n_books = model.n_users, model.n_books
    # Readers' activity: a Beta-shaped spread from 2 to about twice the mean (real: a few to 200, mean 112).
    activity = rng.beta(2.0, 2.2, size=n_users)
    if reader_tail > 0:  # the same draws, reshaped: nothing else in the data moves but who rates how many
        activity = activity ** (1.0 + (_TAIL_POWER - 1.0) * reader_tail)
    rated = 2 + _allocate(n_ratings - 2 * n_users, activity, np.full(n_users, n_books - 2))
    # Every book is rated once by a reader drawn in proportion to activity: distinct slots of the rating
    # array, so no reader gets more such books than ratings.
    slots = rng.choice(n_ratings, size=n_books, replace=False)
    cover_user = np.searchsorted(np.cumsum(rated), slots, side="right")
    cover_order = np.argsort(cover_user, kind="stable")
    cover_books = cover_order.astype(np.int64)  # book index = position in slots
    cover_indptr = np.concatenate([[0], np.cumsum(np.bincount(cover_user, minlength=n_users))])
    wants = rng.beta(1.0, 2.0, size=n_users) * (rng.random(n_users) < _TO_READ_READERS)
    room = n_books - rated
    to_read = _allocate(min(round(_TO_READ_PER_RATING * n_ratings), int(room.sum())), wants, room)
    seeds = rng.integers(0, 2**63, size=n_users, dtype=np.int64).view(np.uint64)
    cdf = np.cumsum(model.popularity)
    cdf /= cdf[-1]
    book_idx = np.empty(n_ratings, dtype=np.int32)
    taste = np.empty(n_ratings, dtype=np.float64)
    to_read_book = np.empty(int(to_read.sum()), dtype=np.int32)
    _draw_kernel(
        rated,
        to_read,
        cover_indptr.astype(np.int64),
        cover_books,
        cdf,
        np.log(model.popularity),
        model.user_factors,
        model.book_factors,
        seeds,
        _SELECTION / _TASTE_SD,
        book_idx,
        taste,
        to_read_book,
    )
    user_idx = np.repeat(np.arange(n_users, dtype=np.int32), rated)
    to_read_user = np.repeat(np.arange(n_users, dtype=np.int32), to_read)
    return user_idx, book_idx, taste, to_read_user, to_read_book


def _stars(
    model: PlantedModel,
    user_idx: np.ndarray,
    book_idx: np.ndarray,
    taste: np.ndarray,
    rng: np.random.Generator,
    rating_max: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's score plus noise, cut into 1..rating_max at the quantiles that give ``RATING_SHARES``.

    Returns the ratings (int8) and the ``rating_max - 1`` cut points.
    """
    score = model.user_bias[user_idx].astype(np.float64) + model.book_bias[book_idx] + taste
    score += rng.normal(scale=model.noise_sd, size=score.size)
    cuts = np.quantile(score, np.cumsum(RATING_SHARES[rating_max])[:-1])
    stars = (np.searchsorted(cuts, score, side="right") + 1).astype(np.int8)
    return stars, cuts
