"""The compiled part of ``bookrec synth``: which books each reader rates, one reader after another.

Each reader draws from its own SplitMix64 stream (``bookrec._random``), seeded by the caller's numpy
Generator, so the draw depends only on the seed.
"""

from __future__ import annotations

import numba
import numpy as np

from bookrec._random import next_uniform


@numba.njit(cache=True)
def _dot(a: np.ndarray, b: np.ndarray) -> float:
    total = 0.0
    for i in range(a.shape[0]):
        total += np.float64(a[i]) * np.float64(b[i])  # as PlantedModel.score
    return total


@numba.njit(cache=True)
def _draw_kernel(
    rated: np.ndarray,
    to_read: np.ndarray,
    cover_indptr: np.ndarray,
    cover_books: np.ndarray,
    cdf: np.ndarray,
    log_pop: np.ndarray,
    user_factors: np.ndarray,
    book_factors: np.ndarray,
    seeds: np.ndarray,
    selection: float,
    out_books: np.ndarray,
    out_taste: np.ndarray,
    out_to_read: np.ndarray,
) -> None:
    """Per reader: its covering books, then the rest by Gumbel-top-k over popularity-drawn candidates.

    Sparse readers (most): draw about twice the needed number of distinct candidates by popularity, keep
    the best by selection * taste + Gumbel noise; the next best become to-read books. Dense readers (who
    need a large share of all books) rank every free book by log popularity + selection * taste + Gumbel,
    which is exact weighted sampling without replacement.
    """
    n_users = rated.shape[0]
    n_books = book_factors.shape[0]
    mark = np.zeros(n_books, dtype=np.bool_)
    pool = np.empty(n_books, dtype=np.int64)
    keys = np.empty(n_books, dtype=np.float64)
    taste = np.empty(n_books, dtype=np.float64)
    pos = 0
    to_read_pos = 0
    for u in range(n_users):
        state = seeds[u]
        factors = user_factors[u]
        for j in range(cover_indptr[u], cover_indptr[u + 1]):
            b = cover_books[j]
            mark[b] = True
            out_books[pos] = b
            out_taste[pos] = _dot(factors, book_factors[b])
            pos += 1
        n_cover = cover_indptr[u + 1] - cover_indptr[u]
        need = rated[u] - n_cover
        want = need + to_read[u]
        if want > 0:
            m = 0
            dense = True
            target = 2 * want + 8
            if 2 * target <= n_books - n_cover:
                tries = 0
                while m < target and tries < 50 * target:
                    tries += 1
                    state, x = next_uniform(state)
                    b = min(np.searchsorted(cdf, x), n_books - 1)
                    if not mark[b]:
                        mark[b] = True
                        pool[m] = b
                        t = _dot(factors, book_factors[b])
                        taste[m] = t
                        state, x = next_uniform(state)
                        keys[m] = selection * t - np.log(-np.log(x))
                        m += 1
                if m >= want:
                    dense = False
                else:
                    for i in range(m):
                        mark[pool[i]] = False
                    m = 0
            if dense:
                for b in range(n_books):
                    if not mark[b]:
                        t = _dot(factors, book_factors[b])
                        state, x = next_uniform(state)
                        pool[m] = b
                        taste[m] = t
                        keys[m] = log_pop[b] + selection * t - np.log(-np.log(x))
                        m += 1
            order = np.argsort(-keys[:m])
            for i in range(need):
                out_books[pos] = pool[order[i]]
                out_taste[pos] = taste[order[i]]
                pos += 1
            for i in range(need, want):
                out_to_read[to_read_pos] = pool[order[i]]
                to_read_pos += 1
            if not dense:
                for i in range(m):
                    mark[pool[i]] = False
        for j in range(cover_indptr[u], cover_indptr[u + 1]):
            mark[cover_books[j]] = False
