"""Questions about the catalogue rather than a reader: starter books by genre, books loved or disliked beyond
taste (biases), and a map of books.

Apart from :class:`~bookrec.recommender.Recommender`, which answers them through thin methods of the same
names (their docstrings are the reference), because none of them needs a reader: each reads the catalogue
and one part of the model.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from bookrec._topk import check_k, top
from bookrec.catalog import Catalog
from bookrec.errors import BookrecError
from bookrec.models.base import ServingHead
from bookrec.results import BookList, BookRef, BookResult
from bookrec.taste import BookTaste

__all__ = ["biases", "book_map", "starter_books"]


def starter_books(
    catalog: Catalog,
    head: ServingHead,
    rating_scale: tuple[float, float],
    genres: Iterable[str],
    k: int = 10,
    *,
    min_ratings: int = 0,
    exclude: Iterable[BookRef] = (),
) -> BookList:
    """Well-liked, much-read books of the named genres, in turns (see ``Recommender.starter_books``).

    Raises:
        BookrecError: No genre given, or the model's books have no genres.
        UnknownGenreError: A genre no book carries (with suggestions).
    """
    check_k(k)
    names = list(dict.fromkeys(str(g) for g in genres if str(g).strip()))
    if not names:
        raise BookrecError("name at least one genre, or a book the reader liked")
    masks = [catalog.genre_mask([name]) for name in names]
    excluded = [catalog.match(b) for b in exclude]
    lo, hi = rating_scale
    average = np.clip(head.to_rating(head.scores(head.average_reader())), lo, hi)
    n_ratings = catalog.n_ratings
    read = np.log1p(n_ratings) / max(float(np.log1p(n_ratings.max(initial=0))), 1e-12)
    keyed = (average - lo) / max(hi - lo, 1e-12) + read
    keyed[n_ratings < max(min_ratings, 1)] = -np.inf
    keyed[[p for p, _ in excluded]] = -np.inf
    rows = [np.where(mask, keyed, -np.inf) for mask in masks if mask is not None]
    chosen = _take_turns(rows, k, catalog.works())
    results = [catalog.result(p, float(average[p])) for p in chosen]
    return BookList(results, excluded=[found for _, found in excluded])


def biases(
    catalog: Catalog, book_bias: np.ndarray, which: str = "highest", k: int = 10, *, min_ratings: int = 0
) -> list[BookResult]:
    """The k books with the highest (or ``lowest``) bias, of those with at least ``min_ratings`` ratings
    (``Recommender.biases``)."""
    check_k(k)
    if which not in ("highest", "lowest"):
        raise BookrecError(f"which must be 'highest' or 'lowest', got {which!r}")
    bias = book_bias.astype(np.float64)
    keyed = bias if which == "highest" else -bias
    keyed = np.where(catalog.n_ratings >= min_ratings, keyed, -np.inf)
    return [catalog.result(i, float(bias[i])) for i in top(keyed, k)]


def book_map(catalog: Catalog, taste: BookTaste, n_books: int = 500, *, min_ratings: int = 0) -> pd.DataFrame:
    """PCA (3 components) of the taste vectors of the most-rated books, as a table (``Recommender.book_map``).

    Raises:
        BookrecError: Fewer than 3 books asked for.
        NoTasteError: No vectors carry taste (see :mod:`bookrec.taste`).
    """
    if n_books < 3:
        raise BookrecError(f"a map needs at least 3 books, got n_books={n_books}")
    n_ratings = catalog.n_ratings
    eligible = np.flatnonzero(n_ratings >= min_ratings)
    chosen = eligible[np.argsort(-n_ratings[eligible], kind="stable")[:n_books]]
    vectors = np.asarray(taste.require()[chosen], dtype=np.float64)
    centered = vectors - vectors.mean(axis=0)
    _, singular, components = np.linalg.svd(centered, full_matrices=False)
    n_components = min(3, components.shape[0])
    coords = centered @ components[:n_components].T
    if n_components < 3:
        coords = np.pad(coords, ((0, 0), (0, 3 - n_components)))
    variance = singular**2 / max(float((singular**2).sum()), 1e-12)
    table = catalog.table.iloc[chosen][["book_id", "title", "authors", "year", "n_ratings"]].copy()
    table[["pc1", "pc2", "pc3"]] = coords
    table = table.reset_index(drop=True)
    table.attrs["explained_variance"] = [float(v) for v in variance[:3]]
    table.attrs["vectors"] = taste.source
    return table


def _take_turns(keyed: list[np.ndarray], k: int, works: np.ndarray) -> list[int]:
    """Up to k positions, taking in turn from each row its best finite one not yet taken, one per work
    (``works``: each position's work, -1 when unknown)."""
    orders = [np.argsort(-row, kind="stable")[: int(np.isfinite(row).sum())] for row in keyed]
    cursor = [0] * len(orders)
    chosen: list[int] = []
    taken_works: set[int] = set()
    while len(chosen) < k and any(c < len(o) for c, o in zip(cursor, orders, strict=True)):
        for turn, order in enumerate(orders):
            while cursor[turn] < len(order):
                position = int(order[cursor[turn]])
                cursor[turn] += 1
                work = int(works[position])
                if position not in chosen and (work < 0 or work not in taken_works):
                    chosen.append(position)
                    taken_works.add(work)
                    break
            if len(chosen) == k:
                break
    return chosen
