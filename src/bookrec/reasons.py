"""Why a book was recommended: "because you liked X", from how each of the reader's books moved its score.

Each explainer maps a result's book position to at most two titles of the reader's books, best first. Only
books the reader liked count (``liked``): a book they disliked may push a result up by pushing its opposite
down, which is no reason a person would accept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bookrec.models.base import matvec

__all__ = ["Explainer", "by_contribution", "by_fold_in", "by_similarity", "none"]

Explainer = Callable[[int], tuple[str, ...]]
Title = Callable[[int], str]


def by_fold_in(fitted: Any, positions: np.ndarray, liked: np.ndarray, title: Title) -> Explainer:
    """The named books that pushed a result's predicted rating up most, in the rating model's linearised
    fold-in (``fitted.contributions``): up to two, each with a positive share."""
    titles = [title(int(i)) for i in positions]

    def because(position: int) -> tuple[str, ...]:
        contribution = np.where(liked, fitted.contributions(position), -np.inf)
        order = np.argsort(-contribution)
        return tuple(titles[j] for j in order[:2] if contribution[j] > 0)

    return because


def by_contribution(fitted: Any, books: np.ndarray, liked: np.ndarray, title: Title) -> Explainer:
    """The liked book that adds most to a result's match (the ranking model's own decomposition), and a
    second when it adds at least half as much."""

    def because(position: int) -> tuple[str, ...]:
        contribution = np.where(liked, fitted.contributions(position), -np.inf)
        order = np.argsort(-contribution)[:2]
        best = contribution[order[0]] if order.size else 0.0
        keep = [j for j in order if contribution[j] > 0 and contribution[j] >= 0.5 * best]
        return tuple(title(int(books[j])) for j in keep)

    return because


def by_similarity(unit_books: np.ndarray, liked: np.ndarray, title: Title) -> Explainer:
    """The two liked books whose vectors point most nearly the way the result's does (cosine)."""

    def because(position: int) -> tuple[str, ...]:
        if liked.size == 0:
            return ()
        closeness = matvec(unit_books[liked], unit_books[position])
        return tuple(title(int(i)) for i in liked[np.argsort(-closeness)[:2]])

    return because


def none(position: int) -> tuple[str, ...]:
    """No reason: a model whose vectors cannot tell books apart has none to give (see bookrec.taste)."""
    return ()
