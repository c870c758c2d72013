"""The k best books of a score: every question the recommender answers ends in choosing them.

Apart from the recommender so that its questions (similar books, a reader's list, the explore pages) share
one way to pick the top k, with or without an approximate-nearest-neighbour index, and one check of k.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bookrec.catalog import BookFilter
from bookrec.errors import BookrecError

__all__ = ["CANDIDATES_PER_RESULT", "best", "check_k", "top"]

CANDIDATES_PER_RESULT = 10
"""Candidates an index returns per result asked for (besides the books left out), re-scored exactly:
recall@10 of 10 x 10 candidates >= 0.95 at 1M and 2.36M books (benchmarks/bench_serving.py)."""


def check_k(k: int) -> None:
    """Refuse a list of fewer than one book, in one line."""
    if k < 1:
        raise BookrecError(f"k must be at least 1, got {k}")


def top(keyed: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest finite values, largest first."""
    k = min(k, keyed.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    # -inf and NaN come last, so the k kept are finite wherever k finite values exist; one pass over the
    # scores (a mask of finite values first cost as much again on millions of books).
    part = np.argpartition(-keyed, k - 1)[:k]
    part = part[np.isfinite(keyed[part])]
    return part[np.argsort(-keyed[part], kind="stable")]


def best(
    index: Any,
    query: np.ndarray,
    score_all: Callable[[], np.ndarray],
    score_some: Callable[[np.ndarray], np.ndarray],
    leave_out: np.ndarray,
    k: int,
    allowed: BookFilter | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The k best positions that ``allowed`` lets through (None: all) not in ``leave_out``, and their
    scores, best first.

    With an ``index`` (:mod:`bookrec.ann`; None: none) its candidates for ``query`` are scored exactly
    (``score_some``): no array the size of the catalogue is made. Where the filters leave fewer than k of
    them, or without an index, every book is scored (``score_all``).
    """
    if index is not None:
        bits = None if allowed is None else allowed.bits
        found = index.search(query, CANDIDATES_PER_RESULT * k + leave_out.size, bits)
        found = found[~np.isin(found, leave_out)]
        if found.size >= k:
            values = score_some(found)
            order = np.argsort(-values, kind="stable")[:k]
            return found[order], values[order]
    keyed = np.array(score_all())  # a copy, in its own precision
    keyed[leave_out] = -np.inf
    if allowed is not None:
        keyed[~allowed.mask] = -np.inf
    chosen = top(keyed, k)
    return chosen, keyed[chosen]
