"""Recommender: the one serving object over a trained model, keyed by the ids in the files.

It answers the blog's questions and the reader's: books similar to a book (cosine similarity of book
vectors), what a known reader should read next, what a *new* reader who names a few books should read next
(fold-in: fit their vector against the fixed book vectors, no retraining), which books are loved or disliked
beyond taste (book biases), and a map of books (PCA of book vectors). It is the facade: the answers are
made in :mod:`bookrec.similarity`, :mod:`bookrec.reader_lists` and :mod:`bookrec.explore`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bookrec import explore, modelfile, similarity
from bookrec._topk import check_k
from bookrec.catalog import Catalog
from bookrec.data.ids import IdMap
from bookrec.data.rated import RatedBooks
from bookrec.errors import UnknownBookError, UnknownUserError
from bookrec.models.base import ServingHead
from bookrec.reader_lists import BY, ReaderLists, fold_in_strength, list_order
from bookrec.results import BookList, BookRef, BookResult, Prediction, TitleMatch
from bookrec.taste import RATING, book_taste

__all__ = ["BY", "BookList", "BookRef", "BookResult", "Prediction", "Recommender", "TitleMatch"]


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
        self._unit_books = None if self._taste.vectors is None else similarity.UnitBooks(self._taste.vectors)
        if "similar" in self.indexes and self._taste.source != self.manifest.get("similar_from", RATING):
            # An index built from other vectors (a biases-alone folder saved before bookrec.taste) would
            # return the wrong candidates: every book is scored instead, until the folder is saved again.
            self.indexes = {name: index for name, index in self.indexes.items() if name != "similar"}
        self._catalog = Catalog(self.books, self.books_table, self.lookups)

    @functools.cached_property
    def _global_rating(self) -> float:
        """The mean training rating: what an unknown book is predicted (made on first use)."""
        rating = self.rated.rating
        return float(np.mean(rating, dtype=np.float64)) if rating.size else float(np.mean(self.rating_scale))

    # --- files ---------------------------------------------------------------------------------------

    @classmethod
    def from_saved(cls, saved: modelfile.SavedModel, *, fold_in_l2: float | None = None) -> Recommender:
        """Serve a model folder's contents (or a training result's ``saved_model()``, without saving)."""
        return cls(**_saved_fields(saved), fold_in_l2=fold_in_l2)

    def saved_model(self) -> modelfile.SavedModel:
        """What ``save`` writes."""
        return modelfile.SavedModel(**_saved_fields(self))

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
        check_k(k)
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
        return self._lists().scores(users, list_order(by, self.ranker))

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
        taste, books, index = self._taste, self._unit_books, self.indexes.get("similar")
        return similarity.similar(self._catalog, taste, books, index, book, k, min_ratings, genres)

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
        check_k(k)
        allowed = self._catalog.book_filter(min_ratings, genres)
        user = self.user_position(user_id)
        seen, ratings = self.rated.of(user)
        return self._lists().for_reader(user, seen, ratings, list_order(by, self.ranker), k, allowed)

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
        check_k(k)
        order = list_order(by, self.ranker)
        genres = list(genres)
        if genres and not (liked.items() if isinstance(liked, Mapping) else list(liked)):
            return self.starter_books(genres, k, min_ratings=min_ratings, exclude=exclude)
        allowed = self._catalog.book_filter(min_ratings, genres)
        strength = fold_in_strength(self.fold_in_l2, self.manifest)
        return self._lists().for_new_reader(liked, exclude, order, k, allowed, strength)

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
        return explore.starter_books(
            self._catalog, self.head, self.rating_scale, genres, k, min_ratings=min_ratings, exclude=exclude
        )

    def biases(self, which: str = "highest", k: int = 10, *, min_ratings: int = 0) -> list[BookResult]:
        """The books liked (``highest``) or disliked (``lowest``) beyond what readers' taste explains.

        A book's bias is what the model adds to every reader's score for it: the blog's "generally good"
        and "generally bad" books.
        """
        return explore.biases(self._catalog, self.head.book_bias, which, k, min_ratings=min_ratings)

    def book_map(self, n_books: int = 500, *, min_ratings: int = 0) -> pd.DataFrame:
        """PCA (3 components) of the vectors of the most-rated books, as a table to plot.

        Returns:
            Columns book_id, title, authors, year, n_ratings, pc1, pc2, pc3; the share of variance each
            component explains is in ``frame.attrs["explained_variance"]``.
        """
        return explore.book_map(self._catalog, self._taste, n_books, min_ratings=min_ratings)

    @property
    def taste(self) -> str:
        """Which vectors similar books, the map and "near the books you liked" come from: "rating" (the rating
        model's book vectors), "ranking" (the ranking model's, where the rating model is biases alone) or
        "none" (see :mod:`bookrec.taste`)."""
        return self._taste.source

    # --- helpers -------------------------------------------------------------------------------------

    def _lists(self) -> ReaderLists:
        """The list maker over the model's parts as they are now (made per question: microseconds)."""
        return ReaderLists(
            self.head, self.ranker, self._catalog, self.indexes, self.rating_scale, self._unit_books
        )


def _saved_fields(model: object) -> dict[str, Any]:
    """What a model folder holds (``SavedModel``'s fields) by name, from a folder's contents or a recommender:
    a recommender has the folder's fields, and two of serving's own (fold_in_l2, unknown_users_predicted)."""
    return {f.name: getattr(model, f.name) for f in fields(modelfile.SavedModel)}
