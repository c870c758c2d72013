"""Recommender: the one serving object over a trained model, keyed by the ids in the files.

It answers the blog's questions and the reader's: books similar to a book (cosine similarity of book
vectors), what a known reader should read next, what a *new* reader who names a few books should read next
(fold-in: fit their vector against the fixed book vectors, no retraining), which books are loved or disliked
beyond taste (book biases), and a map of books (PCA of book vectors).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bookrec import ann, modelfile, reasons
from bookrec.catalog import BookFilter, Catalog
from bookrec.data.ids import IdMap
from bookrec.data.rated import RatedBooks
from bookrec.errors import BookrecError, NoTasteError, UnknownBookError, UnknownUserError
from bookrec.fold_in import fit_reader
from bookrec.metrics import default_like_threshold
from bookrec.models.als import confidence
from bookrec.models.base import ServingHead, matvec
from bookrec.results import BookList, BookRef, BookResult, Prediction, TitleMatch
from bookrec.taste import RATING, book_taste

__all__ = ["BY", "BookList", "BookRef", "BookResult", "Prediction", "Recommender", "TitleMatch"]

BY = ("match", "rating")
"""How a recommendation list is ordered: by the ranking model's match (default), or by predicted rating."""


@dataclass
class Recommender:
    """Answers questions about books and readers from a trained model of any kind.

    Build one with ``Recommender.load(folder)`` for a saved model, or ``Recommender.from_saved(
    result.saved_model())`` from a training result. Every method takes and returns ids as they appear in
    the data files, never row positions. It is written once against the model contract
    (:class:`~bookrec.models.base.ServingHead`): no method asks which kind of model it serves.

    Attributes:
        head: The model's serving form (numpy arrays).
        users: Reader ids by position.
        books: Book ids by position.
        books_table: Metadata, one row per book position.
        rating_scale: (min, max) of the data's ratings.
        rated: Each reader's training ratings (to leave out what they read, and to explain).
        fold_in_l2: Regularisation of a new reader's fitted parameters, per rating they give (higher: closer
            to the average reader). None: twice the training weight decay, which matches how training
            regularised known readers (per-rating L2) and measured the closest agreement between folded-in
            and trained readers' recommendations.
        manifest: What the model folder says about itself (settings, metrics, history).
        unknown_users_predicted: Predictions made for readers the model does not know (from biases).
        ranker: The ranking model (:mod:`bookrec.models.als`) that orders recommendation lists by
            default (``by="match"``); None for folders without one, which rank by predicted rating.
        indexes: Approximate-nearest-neighbour indexes by question ("similar", "match", "rating"; see
            :mod:`bookrec.ann`): a large catalogue's queries score only the books they return. Empty (small
            catalogues, older folders): every query scores every book.
        lookups: The title index and editions' groups stored with the model (:mod:`bookrec.lookups`);
            empty (older folders, models not yet saved): made on first use.
    """

    head: ServingHead
    users: IdMap
    books: IdMap
    books_table: pd.DataFrame
    rating_scale: tuple[float, float]
    rated: RatedBooks
    fold_in_l2: float | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    unknown_users_predicted: int = 0
    ranker: Any = None
    indexes: Mapping[str, Any] = field(default_factory=dict)
    lookups: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Nothing here reads the book vectors or the ratings: on a memory-mapped model of millions of books
        # what is derived from them is made on first use, so loading costs the same at any size.
        # Similar books, the map and "near the books you liked" use the vectors that carry taste: the rating
        # model's, or the ranking model's where the probe kept biases alone (see bookrec.taste).
        self._taste = book_taste(self.head.book_vectors, self.ranker)
        self._unit_books = None if self._taste.vectors is None else _UnitBooks(self._taste.vectors)
        if "similar" in self.indexes and self._taste.source != self.manifest.get("similar_from", RATING):
            # An index built from other vectors (a biases-alone folder saved before bookrec.taste) would
            # return the wrong candidates: every book is scored instead, until the folder is saved again.
            self.indexes = {name: index for name, index in self.indexes.items() if name != "similar"}
        self._catalog = Catalog(self.books, self.books_table, self.lookups)
        self._n_ratings = self._catalog.n_ratings
        # Only books the reader liked can be a "because you liked": a 1-star book that pushed a result up
        # (by pushing its opposite down) is no reason a person would accept.
        self._like = default_like_threshold(*self.rating_scale)

    @functools.cached_property
    def _global_rating(self) -> float:
        """The mean training rating: what an unknown book is predicted (made on first use)."""
        rating = self.rated.rating
        return float(np.mean(rating, dtype=np.float64)) if rating.size else float(np.mean(self.rating_scale))

    # --- files ---------------------------------------------------------------------------------------

    @classmethod
    def from_saved(cls, saved: modelfile.SavedModel, *, fold_in_l2: float | None = None) -> Recommender:
        """Serve a model folder's contents (or a training result's ``saved_model()``, without saving)."""
        return cls(
            saved.head,
            saved.users,
            saved.books,
            saved.books_table,
            saved.rating_scale,
            saved.rated,
            fold_in_l2=fold_in_l2,
            manifest=saved.manifest,
            ranker=saved.ranker,
            indexes=saved.indexes,
            lookups=saved.lookups,
        )

    def saved_model(self) -> modelfile.SavedModel:
        """What ``save`` writes."""
        return modelfile.SavedModel(
            self.head,
            self.users,
            self.books,
            self.books_table,
            self.rated,
            self.rating_scale,
            self.manifest,
            ranker=self.ranker,
            indexes=self.indexes,
            lookups=self.lookups,
        )

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write this recommender as a model folder (atomic; a model already there is replaced only whole)."""
        return modelfile.save_model(folder, self.saved_model())

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None = None) -> Recommender:
        """Load a model folder (None: the last trained model), checking every file.

        Raises:
            ModelFileError: Missing, corrupt, truncated, tampered or from a newer bookrec; one line.
        """
        return cls.from_saved(modelfile.load_model(folder))

    def __repr__(self) -> str:
        """A one-line summary (the dataclass's own would print every array)."""
        ranker = getattr(self.ranker, "kind", type(self.ranker).__name__) if self.ranker is not None else None
        return (
            f"Recommender(model={self.kind!r}, n_users={self.n_users}, n_books={self.n_books}, "
            f"n_factors={self.head.book_vectors.shape[1]}, ranker={ranker!r})"
        )

    # --- looking things up ---------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """The model kind ("dot", "nn", ...)."""
        return self.head.kind

    @property
    def synthetic(self) -> bool:
        """Whether training recorded SYNTHETIC ratings (``bookrec synth``); not recorded: False."""
        data = self.manifest.get("data")
        return isinstance(data, dict) and data.get("synthetic") is True

    @property
    def n_users(self) -> int:
        """Readers the model knows."""
        return len(self.users)

    @property
    def n_books(self) -> int:
        """Books the model knows."""
        return len(self.books)

    def book_position(self, book: BookRef) -> int:
        """Resolve a book given by id or title to its position (see ``find_book``).

        Raises:
            UnknownBookError: No such id, no title close enough, or several alike (with suggestions).
        """
        return self._catalog.position(book)

    def find_book(self, book: BookRef) -> TitleMatch:
        """Which book a person means: by id, title (typos forgiven), part of one, original title, series or
        author; where several books share a title, the most read.

        An int is an id; "id:123" forces an id; a string of digits is an id unless a book has exactly that
        title ("1984").

        Raises:
            UnknownBookError: No such id, no title close enough, or several works about equally close (with
                "did you mean" suggestions).
        """
        return self._catalog.match(book)[1]

    def search_titles(self, query: str, k: int = 10) -> list[TitleMatch]:
        """Type-ahead: the k books ``query`` may mean, best first (match quality and how much each is read).

        The same search as ``find_book`` (titles, original titles, series, authors, typos), for search boxes:
        it never raises, and an empty or unmatched query gives an empty list. A few milliseconds on 10,000
        books.
        """
        _check_k(k)
        return self._catalog.search(query, k)

    def user_position(self, user_id: object) -> int:
        """Position of a known reader.

        Raises:
            UnknownUserError: The reader is not in the training data.
        """
        position = self.users.get(user_id)
        if position is None:
            raise UnknownUserError(
                f"no reader with id {user_id} in this model (readers have ids "
                f"{self.users.id_of(0)}..{self.users.id_of(len(self.users) - 1)}); "
                "for a new reader, recommend from books they liked (--liked)"
            )
        return position

    def search(self, query: str, limit: int = 10) -> list[BookResult]:
        """Type-ahead over titles and authors, best match first (score: 0-100 match quality)."""
        hits = self._catalog.titles.search(query, limit=limit)
        return [self._catalog.result(hit.book_idx, hit.score) for hit in hits]

    def book(self, book: BookRef) -> BookResult:
        """The metadata of one book (score: its bias)."""
        position = self.book_position(book)
        return self._catalog.result(position, float(self.head.book_bias[position]))

    # --- scores --------------------------------------------------------------------------------------

    def predict(self, user_id: object, book: BookRef) -> Prediction:
        """Predicted rating of a reader for a book.

        An unknown reader gets the prediction of the average reader (biases only), and is counted in
        ``unknown_users_predicted``; an unknown book gets the global mean rating.
        """
        user = self.users.get(user_id)
        try:
            position = self.book_position(book)
        except UnknownBookError:
            return Prediction(user_id, book, self._global_rating, user is not None, False)
        if user is None:
            self.unknown_users_predicted += 1
        rating = float(
            self.predict_positions(np.array([-1 if user is None else user]), np.array([position]))[0]
        )
        return Prediction(user_id, self.books.id_of(position), rating, user is not None, True)

    def predict_positions(self, user_idx: np.ndarray, book_idx: np.ndarray) -> np.ndarray:
        """Predicted ratings for arrays of positions; -1 marks an unknown reader or book (biases / mean)."""
        user_idx = np.asarray(user_idx)
        book_idx = np.asarray(book_idx)
        known_user = user_idx >= 0
        known_book = book_idx >= 0
        params = self.head.reader_params(np.where(known_user, user_idx, 0))
        params = np.where(known_user[:, None], params, self.head.average_reader())
        linear = self.head.pair_scores(params, np.where(known_book, book_idx, 0))
        return np.where(known_book, self.head.to_rating(linear), self._global_rating)

    def scores_for(self, user_idx: np.ndarray, *, by: str = "match") -> np.ndarray:
        """Scores of every book for reader positions (m, n_books), higher first; for top-N evaluation.

        Args:
            user_idx: Reader positions.
            by: "match" (the ranking model, where the folder has one; books the reader wants to read score
                -inf) or "rating" (predicted ratings).
        """
        users = np.asarray(user_idx)
        if self._ranks_by(by) == "match":
            scores = self.ranker.scores(self.ranker.reader_params(users))
            for row, user in enumerate(users):  # books a reader wants to read are left out, as in their lists
                scores[row, self.ranker.wanted_by(int(user))] = -np.inf
            return scores
        return self.head.to_rating(self.head.scores(self.head.reader_params(users)))

    def _ranks_by(self, by: str) -> str:
        """What orders a list: "match" needs a ranking model; without one the list is by rating."""
        if by not in BY:
            raise BookrecError(f"by must be one of {', '.join(BY)}, got {by!r}")
        return "match" if by == "match" and self.ranker is not None else "rating"

    # --- questions -----------------------------------------------------------------------------------

    def similar(
        self, book: BookRef, k: int = 10, *, min_ratings: int = 0, genres: Iterable[str] = ()
    ) -> BookList:
        """The k books whose vectors point most nearly the same way as this book's (cosine similarity).

        Args:
            book: Id or title (fuzzy; see ``find_book``).
            k: How many.
            min_ratings: Leave out books with fewer training ratings than this (too few to trust).
            genres: Keep only books of any of these genres (see ``genres()``); empty: every book.

        Returns:
            The books, most similar first; ``.matched`` holds the book ``book`` was taken to be.

        Raises:
            UnknownGenreError: A genre no book carries (with suggestions).
        """
        _check_k(k)
        allowed = self._catalog.book_filter(min_ratings, genres)
        position, matched = self._catalog.match(book)
        books = self._taste_books()
        unit = books[position]
        top, similarity = self._best(
            "similar",
            unit,
            lambda: books.similarity(position),
            lambda found: matvec(books[found], unit),
            np.array([position]),
            k,
            allowed,
        )
        results = [self._catalog.result(i, float(s)) for i, s in zip(top, similarity, strict=True)]
        return BookList(results, matched=[matched])

    def recommend(
        self,
        user_id: object,
        k: int = 10,
        *,
        min_ratings: int = 0,
        by: str = "match",
        genres: Iterable[str] = (),
    ) -> list[BookResult]:
        """The k books a known reader has not read that fit them best.

        Args:
            user_id: The reader.
            k: How many.
            min_ratings: Leave out books with fewer training ratings than this.
            by: "match": ordered by the ranking model, each result explained by the reader's liked book that
                adds most to its match, other editions and box sets of books they read left out; "rating":
                the highest predicted ratings (the blog's order), explained by the liked books nearest it.
            genres: Keep only books of any of these genres (see ``genres()``); empty: every book.
        """
        _check_k(k)
        allowed = self._catalog.book_filter(min_ratings, genres)
        user = self.user_position(user_id)
        seen, ratings = self.rated.of(user)
        params = self.head.reader_params(np.array([user]))[0]
        if self._ranks_by(by) == "rating":
            liked = seen[ratings >= np.quantile(ratings, 0.5)] if ratings.size else seen
            top, linear = self._rated(params, seen, k, allowed)
            because = (
                reasons.by_similarity(self._unit_books, liked, self._catalog.title)
                if self._unit_books is not None
                else reasons.none
            )
            return self._answer(top, linear, because)
        fitted = self.ranker.fit_reader(seen, confidence(ratings, self.rating_scale, self.ranker.alpha))
        leave_out = np.concatenate((seen, self._catalog.editions_of(seen), self.ranker.wanted_by(user)))
        because = reasons.by_contribution(fitted, seen, ratings >= self._like, self._catalog.title)
        top, matches = self._matches(self.ranker.reader_params(np.array([user]))[0], leave_out, k, allowed)
        return self._answer(top, self._stars(params)(top), because, matches)

    def recommend_for(
        self,
        liked: Iterable[BookRef] | Mapping[BookRef, float | None],
        k: int = 10,
        *,
        min_ratings: int = 0,
        exclude: Iterable[BookRef] = (),
        by: str = "match",
        genres: Iterable[str] = (),
    ) -> BookList:
        """Recommendations for a new reader who names books they liked, with or without stars.

        No retraining: the reader is folded in. The ranking model solves their factors as its own fit would
        (``by="match"``, the default); the rating model fits their taste to the stars (regularised
        Gauss-Newton through its output range), which gives the predicted stars of every result and, with
        ``by="rating"``, the order. A book named without stars counts as liked. The named books, their other
        editions and box sets, and ``exclude`` are left out; each result is explained by the liked books
        that contributed most to it.

        Args:
            liked: Books (ids or titles), or a mapping of book to stars (None for "liked").
            k: How many.
            min_ratings: Leave out books with fewer training ratings than this.
            exclude: Books the reader has already read and wants left out.
            by: "match" (the ranking model) or "rating" (highest predicted rating first).
            genres: Keep only books of any of these genres (see ``genres()``). With no liked books, a start
                for a brand-new reader: ``starter_books(genres, ...)``.

        Returns:
            The books, best first; ``.matched`` and ``.excluded`` hold the books the titles were taken to be.

        Raises:
            BookrecError: The list is empty (and no genre given), or ``by`` is unknown.
            UnknownBookError: A title matches nothing or several books alike (with suggestions).
            UnknownGenreError: A genre no book carries (with suggestions).
        """
        _check_k(k)
        order = self._ranks_by(by)
        genres = list(genres)
        if genres and not (liked.items() if isinstance(liked, Mapping) else list(liked)):
            return self.starter_books(genres, k, min_ratings=min_ratings, exclude=exclude)
        allowed = self._catalog.book_filter(min_ratings, genres)
        positions, stars, unstarred, matched = self._resolve_liked(liked)
        excluded = [self._catalog.match(b) for b in exclude]
        leave_out = np.concatenate((positions, [p for p, _ in excluded])).astype(np.int64)
        named = {"matched": matched, "excluded": [found for _, found in excluded]}
        if order == "rating":
            fitted = fit_reader(self.head, positions, stars, self._fold_in_strength() * len(positions))
            because = reasons.by_fold_in(fitted, positions, stars >= self._like, self._catalog.title)
            top, linear = self._rated(fitted.params, leave_out, k, allowed)
            return BookList(self._answer(top, linear, because), **named)
        # The stars shown: a book named without stars counts as liked, not as the top of the scale, so that
        # the predicted stars differ between results (at the top of the scale nearly all would read 5.0).
        lo, hi = self.rating_scale
        shown = np.where(unstarred, hi - (hi - lo) / 8, stars)
        taste = fit_reader(self.head, positions, shown, self._fold_in_strength() * len(positions))
        ranked = self.ranker.fit_reader(positions, confidence(stars, self.rating_scale, self.ranker.alpha))
        leave_out = np.concatenate((leave_out, self._catalog.editions_of(positions)))
        because = reasons.by_contribution(ranked, positions, stars >= self._like, self._catalog.title)
        top, matches = self._matches(ranked.params, leave_out, k, allowed)
        return BookList(self._answer(top, self._stars(taste.params)(top), because, matches), **named)

    def genres(self) -> dict[str, int]:
        """The genres the model's books carry, each with its number of books, the most common first.

        Empty for a model whose data had no shelves (goodbooks' tags.csv and book_tags.csv), or that was
        trained before bookrec read them: then no list can be filtered by genre.
        """
        return self._catalog.genre_counts()

    def starter_books(
        self,
        genres: Iterable[str],
        k: int = 10,
        *,
        min_ratings: int = 0,
        exclude: Iterable[BookRef] = (),
    ) -> BookList:
        """A start for a brand-new reader who names genres, not books: well-liked, much-read books of them.

        Each book is scored by how the average reader would rate it (the model's biases, on the scale from
        0 to 1) plus how much it is read (log of its ratings, from 0 to 1 for the most read), so a loved book
        few read and a much-read one few love both give way to books that are both. The list takes turns
        between the genres, in the order given, so that each genre named is there from the start; one
        edition per work.

        Args:
            genres: One or more genres (see ``genres()``).
            k: How many.
            min_ratings: Leave out books with fewer training ratings than this.
            exclude: Books the reader has already read.

        Returns:
            The books (``score``: the average reader's predicted stars), best first.

        Raises:
            BookrecError: No genre given, or the model's books have no genres.
            UnknownGenreError: A genre no book carries (with suggestions).
        """
        _check_k(k)
        names = list(dict.fromkeys(str(g) for g in genres if str(g).strip()))
        if not names:
            raise BookrecError("name at least one genre, or a book the reader liked")
        masks = [self._catalog.genre_mask([name]) for name in names]
        excluded = [self._catalog.match(b) for b in exclude]
        lo, hi = self.rating_scale
        average = np.clip(self.head.to_rating(self.head.scores(self.head.average_reader())), lo, hi)
        read = np.log1p(self._n_ratings) / max(float(np.log1p(self._n_ratings.max(initial=0))), 1e-12)
        keyed = (average - lo) / max(hi - lo, 1e-12) + read
        keyed[self._n_ratings < max(min_ratings, 1)] = -np.inf
        keyed[[p for p, _ in excluded]] = -np.inf
        rows = [np.where(mask, keyed, -np.inf) for mask in masks if mask is not None]
        chosen = _take_turns(rows, k, self._catalog.works())
        results = [self._catalog.result(p, float(average[p])) for p in chosen]
        return BookList(results, excluded=[found for _, found in excluded])

    def biases(self, which: str = "highest", k: int = 10, *, min_ratings: int = 0) -> list[BookResult]:
        """The books liked (``highest``) or disliked (``lowest``) beyond what readers' taste explains.

        A book's bias is what the model adds to every reader's score for it: the blog's "generally good"
        and "generally bad" books.
        """
        _check_k(k)
        if which not in ("highest", "lowest"):
            raise BookrecError(f"which must be 'highest' or 'lowest', got {which!r}")
        bias = self.head.book_bias.astype(np.float64)
        keyed = bias if which == "highest" else -bias
        keyed = np.where(self._n_ratings >= min_ratings, keyed, -np.inf)
        return [self._catalog.result(i, float(bias[i])) for i in _top(keyed, k)]

    def book_map(self, n_books: int = 500, *, min_ratings: int = 0) -> pd.DataFrame:
        """PCA (3 components) of the vectors of the most-rated books, as a table to plot.

        Returns:
            Columns book_id, title, authors, year, n_ratings, pc1, pc2, pc3; the share of variance each
            component explains is in ``frame.attrs["explained_variance"]``.
        """
        if n_books < 3:
            raise BookrecError(f"a map needs at least 3 books, got n_books={n_books}")
        eligible = np.flatnonzero(self._n_ratings >= min_ratings)
        chosen = eligible[np.argsort(-self._n_ratings[eligible], kind="stable")[:n_books]]
        vectors = np.asarray(self._taste_books().vectors[chosen], dtype=np.float64)
        centered = vectors - vectors.mean(axis=0)
        _, singular, components = np.linalg.svd(centered, full_matrices=False)
        n_components = min(3, components.shape[0])
        coords = centered @ components[:n_components].T
        if n_components < 3:
            coords = np.pad(coords, ((0, 0), (0, 3 - n_components)))
        variance = singular**2 / max(float((singular**2).sum()), 1e-12)
        table = self.books_table.iloc[chosen][["book_id", "title", "authors", "year", "n_ratings"]].copy()
        table[["pc1", "pc2", "pc3"]] = coords
        table = table.reset_index(drop=True)
        table.attrs["explained_variance"] = [float(v) for v in variance[:3]]
        table.attrs["vectors"] = self._taste.source
        return table

    @property
    def taste(self) -> str:
        """Which vectors similar books, the map and "near the books you liked" come from: "rating" (the rating
        model's book vectors), "ranking" (the ranking model's, where the rating model is biases alone) or
        "none" (see :mod:`bookrec.taste`)."""
        return self._taste.source

    # --- helpers -------------------------------------------------------------------------------------

    def _taste_books(self) -> _UnitBooks:
        """The unit book vectors that carry taste, or NoTasteError saying why there are none."""
        if self._unit_books is None:
            raise NoTasteError(
                f"{self._taste.describe()}; train with the ranking model (the default, not --ranker none) "
                "or on data where factors help"
            )
        return self._unit_books

    def _stars(self, params: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The rating model's linear scores of the given books for one reader: a list ordered by match
        shows the stars of its k books only, so the rating model need not score every book (on millions of
        books that halves the query)."""
        return lambda top: self.head.pair_scores(np.broadcast_to(params, (len(top), params.size)), top)

    def _rated(
        self, params: np.ndarray, leave_out: np.ndarray, k: int, allowed: BookFilter | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best positions by predicted rating for a reader's parameters, and their linear scores."""
        return self._best(
            "rating",
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
        return self._best(
            "match",
            params,
            lambda: self.ranker.scores(params),
            lambda found: matvec(factors[found], params),
            leave_out,
            k,
            allowed,
        )

    def _best(
        self,
        question: str,
        query: np.ndarray,
        score_all: Callable[[], np.ndarray],
        score_some: Callable[[np.ndarray], np.ndarray],
        leave_out: np.ndarray,
        k: int,
        allowed: BookFilter | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best positions that ``allowed`` lets through (None: all) not in ``leave_out``, and their
        scores, best first.

        With an index for ``question`` the index's candidates are scored exactly (``score_some``): no
        array the size of the catalogue is made. Where the filters leave fewer than k of them, or without an
        index, every book is scored (``score_all``).
        """
        index = self.indexes.get(question)
        if index is not None:
            bits = None if allowed is None else allowed.bits
            found = index.search(query, _CANDIDATES_PER_RESULT * k + leave_out.size, bits)
            found = found[~np.isin(found, leave_out)]
            if found.size >= k:
                values = score_some(found)
                order = np.argsort(-values, kind="stable")[:k]
                return found[order], values[order]
        keyed = np.array(score_all())  # a copy, in its own precision
        keyed[leave_out] = -np.inf
        if allowed is not None:
            keyed[~allowed.mask] = -np.inf
        top = _top(keyed, k)
        return top, keyed[top]

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
            self._catalog.result(i, float(r), explain(i), m)
            for i, r, m in zip(top.tolist(), ratings, shown, strict=True)
        ]

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
            position, found = self._catalog.match(book)
            positions.append(position)
            matched.append(found)
            stars.append(hi if rating is None else float(rating))
        unstarred = np.array([rating is None for _, rating in items], dtype=bool)
        positions_array = np.asarray(positions, dtype=np.int64)
        return positions_array, np.asarray(stars, dtype=np.float64), unstarred, matched

    def _fold_in_strength(self) -> float:
        if self.fold_in_l2 is not None:
            return float(self.fold_in_l2)
        wd = (self.manifest.get("config") or {}).get("wd")
        return 2.0 * float(wd) if isinstance(wd, int | float) and wd > 0 else 0.1


class _UnitBooks:
    """Book vectors scaled to unit length, for cosine similarity, made only for the rows asked for.

    A table of unit vectors would be a second copy of the book vectors (1.2 GB at 2.36 million books,
    seconds to make at load); their lengths are 4 bytes a book, computed on the first ``similarity``.
    """

    def __init__(self, vectors: np.ndarray) -> None:
        self._vectors = vectors
        self._norms: np.ndarray | None = None

    @property
    def vectors(self) -> np.ndarray:
        """The book vectors as given (not scaled)."""
        return self._vectors

    def __getitem__(self, rows: int | np.ndarray) -> np.ndarray:
        picked = np.asarray(self._vectors[rows], dtype=np.float32)
        return picked / np.maximum(np.linalg.norm(picked, axis=-1, keepdims=True), 1e-12)

    def similarity(self, position: int) -> np.ndarray:
        """Cosine similarity of every book with the book at ``position`` (float32, n_books)."""
        if self._norms is None:
            norms = np.empty(self._vectors.shape[0], dtype=np.float32)
            for start in range(0, norms.size, 1 << 16):  # in blocks: no float32 copy of a float64 table
                block = np.asarray(self._vectors[start : start + (1 << 16)], dtype=np.float32)
                norms[start : start + block.shape[0]] = np.linalg.norm(block, axis=1)
            self._norms = np.maximum(norms, 1e-12)
        return matvec(self._vectors, self[position]) / self._norms


_CANDIDATES_PER_RESULT = 10
"""Candidates an index returns per result asked for (besides the books left out), re-scored exactly:
recall@10 of 10 x 10 candidates >= 0.95 at 1M and 2.36M books (benchmarks/bench_serving.py)."""


def _check_k(k: int) -> None:
    if k < 1:
        raise BookrecError(f"k must be at least 1, got {k}")


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


def _top(keyed: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest finite values, largest first."""
    k = min(k, keyed.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    # -inf and NaN come last, so the k kept are finite wherever k finite values exist; one pass over the
    # scores (a mask of finite values first cost as much again on millions of books).
    part = np.argpartition(-keyed, k - 1)[:k]
    part = part[np.isfinite(keyed[part])]
    return part[np.argsort(-keyed[part], kind="stable")]
