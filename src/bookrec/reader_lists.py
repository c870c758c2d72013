"""A reader's list of books, known or new: the k best by the ranking model's match or by predicted rating,
each with its stars and the reader's books that explain it.

Apart from :class:`~bookrec.recommender.Recommender` (its ``recommend`` and ``recommend_for`` are the
reference) so that the facade keeps the questions' arguments and errors, and this module how an answer is
made: which model orders the list, what is left out, which stars are shown and why each book is there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bookrec import ann, reasons
from bookrec._topk import best
from bookrec.catalog import BookFilter, Catalog
from bookrec.errors import BookrecError
from bookrec.fold_in import fit_reader
from bookrec.metrics import default_like_threshold
from bookrec.models.als import confidence
from bookrec.models.base import ServingHead, matvec
from bookrec.results import BookList, BookRef, BookResult, TitleMatch
from bookrec.similarity import UnitBooks

__all__ = ["BY", "ReaderLists", "fold_in_strength", "list_order"]

BY = ("match", "rating")
"""How a recommendation list is ordered: by the ranking model's match (default), or by predicted rating."""


def list_order(by: str, ranker: Any) -> str:
    """What orders a list: "match" needs a ranking model (``ranker``); without one the list is by rating."""
    if by not in BY:
        raise BookrecError(f"by must be one of {', '.join(BY)}, got {by!r}")
    return "match" if by == "match" and ranker is not None else "rating"


def fold_in_strength(fold_in_l2: float | None, manifest: Mapping[str, Any]) -> float:
    """A new reader's L2 per rating they give: ``fold_in_l2``, or else twice the training weight decay the
    ``manifest`` records (see ``Recommender.fold_in_l2``), or 0.1 where it records none."""
    if fold_in_l2 is not None:
        return float(fold_in_l2)
    wd = (manifest.get("config") or {}).get("wd")
    return 2.0 * float(wd) if isinstance(wd, int | float) and wd > 0 else 0.1


@dataclass(frozen=True)
class ReaderLists:
    """Makes reading lists, and the scores of every book that top-N evaluation ranks, from a model's parts
    (made per question, from the recommender's fields as they are).

    Attributes:
        head: The rating model's serving form.
        ranker: The ranking model, or None (then every list is by rating).
        catalog: The books.
        indexes: Approximate-nearest-neighbour indexes by question ("match", "rating"; :mod:`bookrec.ann`).
        rating_scale: (min, max) of the data's ratings.
        unit_books: The vectors that carry taste (explain lists by rating), or None.
    """

    head: ServingHead
    ranker: Any
    catalog: Catalog
    indexes: Mapping[str, Any]
    rating_scale: tuple[float, float]
    unit_books: UnitBooks | None

    @property
    def like(self) -> float:
        """The lowest rating that counts as liked: only books the reader liked can be a "because you liked"
        (a 1-star book that pushed a result up, by pushing its opposite down, is no reason a person would
        accept)."""
        return default_like_threshold(*self.rating_scale)

    def for_reader(
        self,
        user: int,
        seen: np.ndarray,
        ratings: np.ndarray,
        order: str,
        k: int,
        allowed: BookFilter | None,
    ) -> list[BookResult]:
        """The list of the known reader at position ``user``, who rated ``seen`` with ``ratings``, ordered
        by ``order`` ("match" or "rating"; see ``Recommender.recommend``)."""
        params = self.head.reader_params(np.array([user]))[0]
        if order == "rating":
            liked = seen[ratings >= np.quantile(ratings, 0.5)] if ratings.size else seen
            top, linear = self._rated(params, seen, k, allowed)
            because = (
                reasons.by_similarity(self.unit_books, liked, self.catalog.title)
                if self.unit_books is not None
                else reasons.none
            )
            return self._answer(top, linear, because)
        fitted = self.ranker.fit_reader(seen, confidence(ratings, self.rating_scale, self.ranker.alpha))
        leave_out = np.concatenate((seen, self.catalog.editions_of(seen), self.ranker.wanted_by(user)))
        because = reasons.by_contribution(fitted, seen, ratings >= self.like, self.catalog.title)
        top, matches = self._matches(self.ranker.reader_params(np.array([user]))[0], leave_out, k, allowed)
        return self._answer(top, self._stars(params)(top), because, matches)

    def for_new_reader(
        self,
        liked: Iterable[BookRef] | Mapping[BookRef, float | None],
        exclude: Iterable[BookRef],
        order: str,
        k: int,
        allowed: BookFilter | None,
        strength: float,
    ) -> BookList:
        """The list of a new reader who named ``liked`` books, with or without stars, and read ``exclude``,
        ordered by ``order`` ("match" or "rating") and folded in with L2 ``strength`` per book named (see
        ``Recommender.recommend_for``)."""
        positions, stars, unstarred, matched = self._resolve_liked(liked)
        excluded = [self.catalog.match(b) for b in exclude]
        leave_out = np.concatenate((positions, [p for p, _ in excluded])).astype(np.int64)
        named = {"matched": matched, "excluded": [found for _, found in excluded]}
        if order == "rating":
            fitted = fit_reader(self.head, positions, stars, strength * len(positions))
            because = reasons.by_fold_in(fitted, positions, stars >= self.like, self.catalog.title)
            top, linear = self._rated(fitted.params, leave_out, k, allowed)
            return BookList(self._answer(top, linear, because), **named)
        # The stars shown: a book named without stars counts as liked, not as the top of the scale, so that
        # the predicted stars differ between results (at the top of the scale nearly all would read 5.0).
        lo, hi = self.rating_scale
        shown = np.where(unstarred, hi - (hi - lo) / 8, stars)
        taste = fit_reader(self.head, positions, shown, strength * len(positions))
        ranked = self.ranker.fit_reader(positions, confidence(stars, self.rating_scale, self.ranker.alpha))
        leave_out = np.concatenate((leave_out, self.catalog.editions_of(positions)))
        because = reasons.by_contribution(ranked, positions, stars >= self.like, self.catalog.title)
        top, matches = self._matches(ranked.params, leave_out, k, allowed)
        return BookList(self._answer(top, self._stars(taste.params)(top), because, matches), **named)

    def scores(self, users: np.ndarray, order: str) -> np.ndarray:
        """Scores of every book for reader positions (m, n_books), higher first, by ``order`` ("match" or
        "rating"; see ``Recommender.scores_for``)."""
        if order == "match":
            scores = self.ranker.scores(self.ranker.reader_params(users))
            for row, user in enumerate(users):  # books a reader wants to read are left out, as in their lists
                scores[row, self.ranker.wanted_by(int(user))] = -np.inf
            return scores
        return self.head.to_rating(self.head.scores(self.head.reader_params(users)))

    def _resolve_liked(
        self, liked: Iterable[BookRef] | Mapping[BookRef, float | None]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[TitleMatch]]:
        """Positions and stars of the named books, which were named without stars, and what each matched."""
        items = list(liked.items()) if isinstance(liked, Mapping) else [(book, None) for book in liked]
        if not items:
            raise BookrecError("name at least one book the reader liked")
        lo, hi = self.rating_scale
        # A book named without stars was liked: it counts as the top of the scale. (4.5 of 5 left new readers'
        # lists almost all high-bias books: too weak a signal to move the fitted taste off the average.)
        positions, stars, matched = [], [], []
        for book, rating in items:
            if rating is not None and not lo <= float(rating) <= hi:
                raise BookrecError(
                    f'the rating of "{book}" must be between {lo:g} and {hi:g}, got {rating:g}'
                )
            position, found = self.catalog.match(book)
            positions.append(position)
            matched.append(found)
            stars.append(hi if rating is None else float(rating))
        unstarred = np.array([rating is None for _, rating in items], dtype=bool)
        positions_array = np.asarray(positions, dtype=np.int64)
        return positions_array, np.asarray(stars, dtype=np.float64), unstarred, matched

    def _stars(self, params: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The rating model's linear scores of the given books for one reader: a list ordered by match
        shows the stars of its k books only, so the rating model need not score every book (on millions of
        books that halves the query)."""
        return lambda top: self.head.pair_scores(np.broadcast_to(params, (len(top), params.size)), top)

    def _rated(
        self, params: np.ndarray, leave_out: np.ndarray, k: int, allowed: BookFilter | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best positions by predicted rating for a reader's parameters, and their linear scores."""
        return best(
            self.indexes.get("rating"),
            ann.rating_query(params),
            lambda: self.head.scores(params),
            self._stars(params),
            leave_out,
            k,
            allowed,
        )

    def _matches(
        self, params: np.ndarray, leave_out: np.ndarray, k: int, allowed: BookFilter | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best positions by the ranking model's match for a reader's factors, and their matches."""
        factors = self.ranker.book_factors
        return best(
            self.indexes.get("match"),
            params,
            lambda: self.ranker.scores(params),
            lambda found: matvec(factors[found], params),
            leave_out,
            k,
            allowed,
        )

    def _answer(
        self,
        top: np.ndarray,
        linear: np.ndarray,
        explain: reasons.Explainer,
        matches: np.ndarray | None = None,
    ) -> list[BookResult]:
        """The books at ``top`` as results: stars from the rating model's ``linear`` scores of them, the
        reasons ``explain`` gives, and their ``matches`` (the ranking model's, where it ordered them)."""
        # The output range reaches past the scale (0-5.5 for 1-5 stars); a person reads stars on the scale.
        ratings = np.clip(self.head.to_rating(linear), *self.rating_scale)
        shown = [None] * len(top) if matches is None else [float(m) for m in matches]
        return [
            self.catalog.result(i, float(r), explain(i), m)
            for i, r, m in zip(top.tolist(), ratings, shown, strict=True)
        ]
