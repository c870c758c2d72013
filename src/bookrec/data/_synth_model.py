"""The planted model of ``bookrec synth``: how it is built from the books, and which books each reader rates.

The model, the choice of books (covering every book once, then popularity-drawn candidates kept by taste)
and the scales below are described in ``bookrec.data.synth``; the per-reader draw runs compiled, in
``_synth_kernels``.
"""

from __future__ import annotations

import itertools
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


@dataclass(frozen=True, eq=False)
class _Choice:
    """Every draw made before the per-reader kernel: who rates and shelves how many books, and the covers.

    Attributes:
        rated: Ratings per reader (int64).
        to_read: To-read (shelf) pairs per reader (int64).
        cover_indptr: Reader ``u``'s covering books are ``cover_books[cover_indptr[u]:cover_indptr[u + 1]]``.
        cover_books: Books each rated once by the reader drawn to cover them (every book is rated).
        seeds: Each reader's SplitMix64 seed (uint64), so a reader's draw needs no other reader's.
    """

    rated: np.ndarray
    to_read: np.ndarray
    cover_indptr: np.ndarray
    cover_books: np.ndarray
    seeds: np.ndarray


def _choose(
    model: PlantedModel,
    n_ratings: int,
    rng: np.random.Generator,
    reader_tail: float = 0.0,
    n_to_read: int | None = None,
) -> _Choice:
    """How many books each reader rates and shelves, and who covers each book (``_draw_block`` draws which).

    ``reader_tail`` in [0, 1] reshapes readers' activity from goodbooks' even Beta spread (0) to a long
    tail of light readers (1), by a power of the same draws. ``n_to_read`` asks for that many to-read pairs
    (at most the free pairs); None keeps goodbooks' 0.153 per rating.
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
    del slots
    cover_order = np.argsort(cover_user, kind="stable")
    cover_books = cover_order.astype(np.int64)  # book index = position in slots
    cover_indptr = np.concatenate([[0], np.cumsum(np.bincount(cover_user, minlength=n_users))])
    wants = rng.beta(1.0, 2.0, size=n_users) * (rng.random(n_users) < _TO_READ_READERS)
    room = n_books - rated
    asked = round(_TO_READ_PER_RATING * n_ratings) if n_to_read is None else n_to_read
    to_read = _allocate(min(asked, int(room.sum())), wants, room)
    seeds = rng.integers(0, 2**63, size=n_users, dtype=np.int64).view(np.uint64)
    return _Choice(rated, to_read, cover_indptr.astype(np.int64), cover_books, seeds)


def _reader_blocks(rows: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Consecutive reader ranges ``[start, stop)`` of about ``size`` rows each (a busy reader may pass it).

    The ranges depend only on ``rows`` and ``size``, so anything drawn block by block is drawn the same way
    on every run.
    """
    ends = np.cumsum(rows)
    cuts = np.searchsorted(ends, np.arange(size, int(ends[-1]) if ends.size else 0, size), side="left") + 1
    bounds = np.unique(np.concatenate([[0], cuts, [rows.size]]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def _draw_block(
    model: PlantedModel, choice: _Choice, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Readers ``start..stop-1``: their rated books (int32), the taste of each, their to-read books (int32).

    Each reader draws from its own stream, so a block gives the same books as one call over all readers.
    """
    book_idx = np.empty(int(choice.rated[start:stop].sum()), dtype=np.int32)
    taste = np.empty(book_idx.size, dtype=np.float64)
    to_read_book = np.empty(int(choice.to_read[start:stop].sum()), dtype=np.int32)
    cdf = np.cumsum(model.popularity)
    cdf /= cdf[-1]
    _draw_kernel(
        choice.rated[start:stop],
        choice.to_read[start:stop],
        choice.cover_indptr[start : stop + 1],  # absolute positions in cover_books: no rebasing needed
        choice.cover_books,
        cdf,
        np.log(model.popularity),
        model.user_factors[start:stop],
        model.book_factors,
        choice.seeds[start:stop],
        _SELECTION / _TASTE_SD,
        book_idx,
        taste,
        to_read_book,
    )
    return book_idx, taste, to_read_book


_BLOCK_RATINGS = 1 << 22  # readers drawn at a time: their temporaries stay near 100 MB at any size


def _scores(
    model: PlantedModel, choice: _Choice, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which books each reader rates and shelves, and each rating's score plus noise, a block at a time.

    The noise is drawn block after block from one generator: the same numbers as one draw for all. What
    stays per rating is its book (int32) and its score (float64, until ``_cut``).

    Returns the rated books (grouped by reader, in reader order), their scores and the to-read books
    (likewise).
    """
    n_ratings = int(choice.rated.sum())
    book_idx = np.empty(n_ratings, dtype=np.int32)
    score = np.empty(n_ratings, dtype=np.float64)
    to_read_book = np.empty(int(choice.to_read.sum()), dtype=np.int32)
    rated_at, wants_at = 0, 0
    for start, stop in _reader_blocks(choice.rated, _BLOCK_RATINGS):
        books, taste, wants = _draw_block(model, choice, start, stop)
        user = np.repeat(np.arange(start, stop), choice.rated[start:stop])
        part = model.user_bias[user].astype(np.float64) + model.book_bias[books] + taste
        part += rng.normal(scale=model.noise_sd, size=part.size)
        score[rated_at : rated_at + books.size] = part
        book_idx[rated_at : rated_at + books.size] = books
        to_read_book[wants_at : wants_at + wants.size] = wants
        rated_at, wants_at = rated_at + books.size, wants_at + wants.size
        del books, taste, wants, user, part
    return book_idx, score, to_read_book


def _cut(score: np.ndarray, rating_max: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Scores cut into 1..rating_max (int8) at the quantiles that give ``RATING_SHARES``; and the cuts."""
    cuts = np.quantile(score, np.cumsum(RATING_SHARES[rating_max])[:-1])
    stars = np.empty(score.size, dtype=np.int8)
    for start in range(0, score.size, _BLOCK_RATINGS):
        part = score[start : start + _BLOCK_RATINGS]
        stars[start : start + part.size] = np.searchsorted(cuts, part, side="right") + 1
    return stars, cuts
