"""Recommender: the one serving object over a trained model, keyed by the ids in the files.

It answers the blog's questions and the reader's: books similar to a book (cosine similarity of book
vectors), what a known reader should read next, what a *new* reader who names a few books should read next
(fold-in: fit their vector against the fixed book vectors, no retraining), which books are loved or disliked
beyond taste (book biases), and a map of books (PCA of book vectors).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bookrec import modelfile
from bookrec.data.ids import IdMap
from bookrec.errors import BookrecError, ModelFileError, UnknownBookError, UnknownUserError
from bookrec.evaluate import default_like_threshold
from bookrec.titles import TitleIndex

BookRef = int | str
"""A book as a person names it: its id (int, or "id:123"), or its title."""


@dataclass(frozen=True)
class BookResult:
    """One book in an answer, with what a person needs to recognise it.

    Attributes:
        book_id: The book's id in the data.
        title: Display title.
        authors: Authors.
        year: Original publication year, when known.
        score: The answer's score: predicted rating (recommendations), cosine similarity (similar books)
            or bias (biases).
        average_rating: Goodreads' average rating, when known.
        n_ratings: Ratings of the book in the training data.
        image_url: Cover image ("" when unknown).
        goodreads_url: The book's Goodreads page ("" when unknown).
        because: Titles of the reader's books that contributed most to this recommendation.
    """

    book_id: int | str
    title: str
    authors: str
    year: int | None
    score: float
    average_rating: float | None = None
    n_ratings: int = 0
    image_url: str = ""
    goodreads_url: str = ""
    because: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        return {
            "book_id": self.book_id,
            "title": self.title,
            "authors": self.authors,
            "year": self.year,
            "score": self.score,
            "average_rating": self.average_rating,
            "n_ratings": self.n_ratings,
            "image_url": self.image_url,
            "goodreads_url": self.goodreads_url,
            "because": list(self.because),
        }


@dataclass(frozen=True)
class Prediction:
    """A predicted rating.

    Attributes:
        user_id: The reader.
        book_id: The book.
        rating: Predicted rating on the data's scale.
        known_user: False when the reader was not in the training data (the rating comes from biases).
        known_book: False when the book was not in the training data (the global mean is used).
    """

    user_id: int | str
    book_id: int | str
    rating: float
    known_user: bool
    known_book: bool


@dataclass(frozen=True)
class MlpHead:
    """The neural model's network, as arrays: ``w2 . ReLU(W_u e_u + W_b e_b + c1) + c2``.

    Attributes:
        user_weight: W_u, (n_hidden, user embedding size).
        book_weight: W_b, (n_hidden, book embedding size).
        hidden_bias: c1, (n_hidden,).
        output_weight: w2, (n_hidden,).
        output_bias: c2.
    """

    user_weight: np.ndarray
    book_weight: np.ndarray
    hidden_bias: np.ndarray
    output_weight: np.ndarray
    output_bias: float


@dataclass(frozen=True)
class FactorTables:
    """A trained model as plain arrays: what serving needs, whatever engine trained it.

    Dot model: the predicted rating of reader u for book b is
    ``lo + (hi - lo) * sigmoid(user_vectors[u] . book_vectors[b] + user_bias[u] + book_bias[b])``.
    Neural model (``mlp`` set): the linear score is the network's output instead; ``user_bias`` is zero and
    ``book_bias`` holds each book's effective bias (its mean score over readers, centred), for ``biases``.
    """

    user_vectors: np.ndarray
    user_bias: np.ndarray
    book_vectors: np.ndarray
    book_bias: np.ndarray
    y_range: tuple[float, float]
    mlp: MlpHead | None = None

    @property
    def kind(self) -> str:
        """ "dot" or "nn"."""
        return "dot" if self.mlp is None else "nn"


@dataclass(frozen=True)
class RatedBooks:
    """Each reader's training ratings, as compressed rows (reader position -> book positions, ratings)."""

    indptr: np.ndarray
    book_idx: np.ndarray
    rating: np.ndarray

    @classmethod
    def from_arrays(
        cls, user_idx: np.ndarray, book_idx: np.ndarray, rating: np.ndarray, n_users: int
    ) -> RatedBooks:
        """Group ratings by reader."""
        order = np.argsort(user_idx, kind="stable")
        counts = np.bincount(user_idx, minlength=n_users)
        indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(indptr, book_idx[order].astype(np.int32), rating[order].astype(np.float32))

    def of(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """Book positions and ratings of one reader."""
        lo, hi = self.indptr[user], self.indptr[user + 1]
        return self.book_idx[lo:hi], self.rating[lo:hi]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


@dataclass
class Recommender:
    """Answers questions about books and readers from a trained model.

    Build one with ``Recommender.load(folder)`` for a saved model, or from a training result. Every method
    takes and returns ids as they appear in the data files, never row positions.

    Attributes:
        tables: The model's learned factors and biases.
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
    """

    tables: FactorTables
    users: IdMap
    books: IdMap
    books_table: pd.DataFrame
    rating_scale: tuple[float, float]
    rated: RatedBooks
    fold_in_l2: float | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    unknown_users_predicted: int = 0

    def __post_init__(self) -> None:
        vectors = self.tables.book_vectors.astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self._unit_books = vectors / np.maximum(norms, 1e-12)
        mlp = self.tables.mlp
        # The network's book half (W_b e_b + c1) does not depend on the reader: computed once.
        self._book_part = (
            None if mlp is None else self.tables.book_vectors @ mlp.book_weight.T + mlp.hidden_bias
        )
        self._mean_user = self.tables.user_vectors.mean(axis=0) if self.n_users else None
        self._titles = TitleIndex(self.books_table)
        self._n_ratings = self.books_table["n_ratings"].to_numpy(dtype=np.int64)
        self._global_rating = (
            float(np.mean(self.rated.rating)) if self.rated.rating.size else float(np.mean(self.rating_scale))
        )

    # --- files ---------------------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write this recommender as a model folder (atomic; a model already there is replaced only whole)."""
        t = self.tables
        tensors = {
            "user_vectors": t.user_vectors.astype(np.float32),
            "user_bias": t.user_bias.astype(np.float32),
            "book_vectors": t.book_vectors.astype(np.float32),
            "book_bias": t.book_bias.astype(np.float32),
            "rated_indptr": self.rated.indptr.astype(np.int64),
            "rated_book_idx": self.rated.book_idx.astype(np.int32),
            "rated_rating": self.rated.rating.astype(np.float32),
        }
        if t.mlp is not None:
            tensors |= {
                "mlp_user_weight": t.mlp.user_weight.astype(np.float32),
                "mlp_book_weight": t.mlp.book_weight.astype(np.float32),
                "mlp_hidden_bias": t.mlp.hidden_bias.astype(np.float32),
                "mlp_output_weight": t.mlp.output_weight.astype(np.float32),
                "mlp_output_bias": np.array([t.mlp.output_bias], dtype=np.float32),
            }
        manifest = dict(self.manifest)
        manifest["model"] = dict(manifest.get("model") or {}) | {"kind": t.kind}
        manifest["y_range"] = list(t.y_range)
        manifest["rating_scale"] = list(self.rating_scale)
        manifest["n_users"], manifest["n_books"] = self.n_users, self.n_books
        manifest["n_factors"] = int(t.book_vectors.shape[1])
        from bookrec import __version__

        manifest["bookrec_version"] = __version__
        tables = {"books": self.books_table, "users": pd.DataFrame({"user_id": self.users.ids})}
        return modelfile.write_model_folder(folder, tensors, manifest, tables)

    @classmethod
    def load(cls, folder: str | os.PathLike[str] | None = None) -> Recommender:
        """Load a model folder (None: the last trained model), checking every file.

        Raises:
            ModelFileError: Missing, corrupt, truncated, tampered or from a newer bookrec; one line.
        """
        path = modelfile.resolve_model_path(folder)
        content = modelfile.read_model_folder(path)
        manifest, tensors = content.manifest, content.tensors
        try:
            books_table = content.tables["books"]
            users = IdMap(content.tables["users"]["user_id"].to_numpy())
            books = IdMap(books_table["book_id"].to_numpy())
            mlp = None
            if manifest["model"]["kind"] == "nn":
                mlp = MlpHead(
                    tensors["mlp_user_weight"],
                    tensors["mlp_book_weight"],
                    tensors["mlp_hidden_bias"],
                    tensors["mlp_output_weight"],
                    float(tensors["mlp_output_bias"][0]),
                )
            tables = FactorTables(
                tensors["user_vectors"],
                tensors["user_bias"],
                tensors["book_vectors"],
                tensors["book_bias"],
                (float(manifest["y_range"][0]), float(manifest["y_range"][1])),
                mlp,
            )
            rated = RatedBooks(tensors["rated_indptr"], tensors["rated_book_idx"], tensors["rated_rating"])
            scale = (float(manifest["rating_scale"][0]), float(manifest["rating_scale"][1]))
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise ModelFileError(f"{path}: incomplete model ({type(error).__name__}: {error})") from None
        n_users, n_books = len(users), len(books)
        shapes_ok = (
            tables.user_vectors.shape[0] == n_users == tables.user_bias.shape[0] == rated.indptr.shape[0] - 1
            and tables.book_vectors.shape[0] == n_books == tables.book_bias.shape[0] == len(books_table)
            and (mlp is not None or tables.user_vectors.shape[1] == tables.book_vectors.shape[1])
            and int(rated.indptr[-1]) == rated.book_idx.shape[0] == rated.rating.shape[0]
        )
        if not shapes_ok:
            raise ModelFileError(f"{path}: inconsistent model (table sizes do not match the id maps)")
        return cls(tables, users, books, books_table, scale, rated, manifest=manifest)

    # --- looking things up ---------------------------------------------------------------------------

    @property
    def n_users(self) -> int:
        """Readers the model knows."""
        return len(self.users)

    @property
    def n_books(self) -> int:
        """Books the model knows."""
        return len(self.books)

    def book_position(self, book: BookRef) -> int:
        """Resolve a book given by id or title to its position.

        An int is an id; a string is a title ("id:123" forces an id); a string of digits is an id unless a
        book has exactly that title ("1984").

        Raises:
            UnknownBookError: No such id, or no title close enough (with suggestions).
        """
        if isinstance(book, int | np.integer):
            return self._id_position(book)
        text = str(book).strip()
        if text.lower().startswith("id:"):
            return self._id_position(text[3:].strip())
        if text.isdigit() and self.books.is_numeric:
            try:
                exact = self._titles.find(text)
                if self.books_table["title"].iat[exact].strip() == text:
                    return exact
            except UnknownBookError:
                pass
            return self._id_position(text)
        return self._titles.find(text)

    def _id_position(self, book_id: object) -> int:
        position = self.books.get(book_id)
        if position is None:
            raise UnknownBookError(f"no book with id {book_id} in this model")
        return position

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
        return [self._result(hit.book_idx, hit.score) for hit in self._titles.search(query, limit=limit)]

    def book(self, book: BookRef) -> BookResult:
        """The metadata of one book (score: its bias)."""
        position = self.book_position(book)
        return self._result(position, float(self.tables.book_bias[position]))

    def _result(self, position: int, score: float, because: Sequence[str] = ()) -> BookResult:
        row = self.books_table.iloc[position]
        year = row["year"]
        average = row["average_rating"]
        return BookResult(
            book_id=self.books.id_of(position),
            title=str(row["title"]),
            authors=str(row["authors"]),
            year=None if pd.isna(year) else int(year),
            score=float(score),
            average_rating=None if pd.isna(average) else float(average),
            n_ratings=int(row["n_ratings"]),
            image_url=str(row["image_url"]),
            goodreads_url=str(row["goodreads_url"]),
            because=tuple(because),
        )

    # --- scores --------------------------------------------------------------------------------------

    def _to_rating(self, linear: np.ndarray) -> np.ndarray:
        lo, hi = self.tables.y_range
        return lo + (hi - lo) * _sigmoid(linear)

    def _linear_scores(self, user_vector: np.ndarray, user_bias: float) -> np.ndarray:
        """The model's score before the output squashing, for one reader and every book."""
        t = self.tables
        if t.mlp is None:
            return _matvec(t.book_vectors, user_vector) + t.book_bias + user_bias
        hidden = np.maximum(self._book_part + t.mlp.user_weight @ user_vector, 0.0)
        return _matvec(hidden, t.mlp.output_weight) + t.mlp.output_bias

    def _linear_pairs(
        self, user_vectors: np.ndarray, user_bias: np.ndarray, book_idx: np.ndarray
    ) -> np.ndarray:
        """Scores before squashing for pairs (row i: reader vector i with book book_idx[i])."""
        t = self.tables
        if t.mlp is None:
            return (
                np.einsum("ij,ij->i", user_vectors, t.book_vectors[book_idx])
                + user_bias
                + t.book_bias[book_idx]
            )
        hidden = np.maximum(self._book_part[book_idx] + user_vectors @ t.mlp.user_weight.T, 0.0)
        return hidden @ t.mlp.output_weight + t.mlp.output_bias

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
        u = np.where(known_user, user_idx, 0)
        b = np.where(known_book, book_idx, 0)
        t = self.tables
        # An unknown reader is the average reader: no taste of their own (dot) or the mean embedding (nn).
        average = np.zeros_like(t.user_vectors[0]) if t.mlp is None else self._mean_user
        vectors = np.where(known_user[:, None], t.user_vectors[u], average)
        bias = np.where(known_user, t.user_bias[u], np.mean(t.user_bias))
        rating = self._to_rating(self._linear_pairs(vectors, bias, b))
        return np.where(known_book, rating, self._global_rating)

    def scores_for(self, user_idx: np.ndarray) -> np.ndarray:
        """Predicted ratings of every book for reader positions (m, n_books); for top-N evaluation."""
        t = self.tables
        if t.mlp is None:
            linear = t.user_vectors[user_idx] @ t.book_vectors.T + t.book_bias + t.user_bias[user_idx, None]
        else:
            linear = np.stack([self._linear_scores(t.user_vectors[u], 0.0) for u in np.asarray(user_idx)])
        return self._to_rating(linear)

    # --- questions -----------------------------------------------------------------------------------

    def similar(self, book: BookRef, k: int = 10, *, min_ratings: int = 0) -> list[BookResult]:
        """The k books whose vectors point most nearly the same way as this book's (cosine similarity).

        Args:
            book: Id or title (fuzzy).
            k: How many.
            min_ratings: Leave out books with fewer training ratings than this (too few to trust).
        """
        _check_k(k)
        position = self.book_position(book)
        similarity = _matvec(self._unit_books, self._unit_books[position])
        similarity[position] = -np.inf
        if min_ratings > 0:
            similarity[self._n_ratings < min_ratings] = -np.inf
        top = _top(similarity, k)
        return [self._result(i, float(similarity[i])) for i in top]

    def recommend(self, user_id: object, k: int = 10, *, min_ratings: int = 0) -> list[BookResult]:
        """The k books with the highest predicted rating among those a known reader has not rated.

        Each result is explained by the reader's highly rated books whose vectors lie closest to it.
        """
        _check_k(k)
        user = self.user_position(user_id)
        seen, ratings = self.rated.of(user)
        scores = self._linear_scores(self.tables.user_vectors[user], float(self.tables.user_bias[user]))
        liked = seen[ratings >= np.quantile(ratings, 0.5)] if ratings.size else seen
        return self._answer(scores, seen, k, min_ratings, self._explain_by_similarity(liked))

    def recommend_for(
        self,
        liked: Iterable[BookRef] | Mapping[BookRef, float | None],
        k: int = 10,
        *,
        min_ratings: int = 0,
        exclude: Iterable[BookRef] = (),
    ) -> list[BookResult]:
        """Recommendations for a new reader who names books they liked, with or without stars.

        The reader's vector and bias are fitted to those ratings against the fixed book vectors and biases
        (regularised Gauss-Newton on the model's own squared error through its output range; no retraining).
        A book without stars counts as liked: the top quarter of the scale. The named books and ``exclude``
        are left out, and each result is explained by the named books that contributed most to its score.

        Args:
            liked: Books (ids or titles), or a mapping of book to stars (None for "liked").
            k: How many.
            min_ratings: Leave out books with fewer training ratings than this.
            exclude: Books the reader has already read and wants left out.

        Raises:
            BookrecError: The list is empty.
            UnknownBookError: A title matches nothing (with suggestions).
        """
        _check_k(k)
        positions, stars = self._resolve_liked(liked)
        user_vector, user_bias, explain = self._fold_in(positions, stars)
        scores = self._linear_scores(user_vector, user_bias)
        leave_out = np.concatenate((positions, [self.book_position(b) for b in exclude])).astype(np.int64)
        return self._answer(scores, leave_out, k, min_ratings, explain)

    def biases(self, which: str = "highest", k: int = 10, *, min_ratings: int = 0) -> list[BookResult]:
        """The books liked (``highest``) or disliked (``lowest``) beyond what readers' taste explains.

        A book's bias is what the model adds to every reader's score for it: the blog's "generally good"
        and "generally bad" books.
        """
        _check_k(k)
        if which not in ("highest", "lowest"):
            raise BookrecError(f"which must be 'highest' or 'lowest', got {which!r}")
        bias = self.tables.book_bias.astype(np.float64)
        keyed = bias if which == "highest" else -bias
        keyed = np.where(self._n_ratings >= min_ratings, keyed, -np.inf)
        return [self._result(i, float(bias[i])) for i in _top(keyed, k)]

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
        vectors = self.tables.book_vectors[chosen].astype(np.float64)
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
        return table

    # --- helpers -------------------------------------------------------------------------------------

    def _answer(
        self,
        scores: np.ndarray,
        leave_out: np.ndarray,
        k: int,
        min_ratings: int,
        explain: Any,
    ) -> list[BookResult]:
        keyed = scores.astype(np.float64, copy=True)
        keyed[leave_out] = -np.inf
        if min_ratings > 0:
            keyed[self._n_ratings < min_ratings] = -np.inf
        top = _top(keyed, k)
        # The output range reaches past the scale (0-5.5 for 1-5 stars); a person reads stars on the scale.
        ratings = np.clip(self._to_rating(scores[top]), *self.rating_scale)
        return [self._result(i, float(r), explain(i)) for i, r in zip(top, ratings, strict=True)]

    def _title(self, position: int) -> str:
        return str(self.books_table["title"].iat[position])

    def _explain_by_similarity(self, liked: np.ndarray) -> Any:
        def because(position: int) -> tuple[str, ...]:
            if liked.size == 0:
                return ()
            closeness = _matvec(self._unit_books[liked], self._unit_books[position])
            best = liked[np.argsort(-closeness)[:2]]
            return tuple(self._title(int(i)) for i in best)

        return because

    def _resolve_liked(
        self, liked: Iterable[BookRef] | Mapping[BookRef, float | None]
    ) -> tuple[np.ndarray, np.ndarray]:
        items = list(liked.items()) if isinstance(liked, Mapping) else [(book, None) for book in liked]
        if not items:
            raise BookrecError("name at least one book the reader liked")
        lo, hi = self.rating_scale
        # A book named without stars was liked: it counts as the top of the scale. (4.5 of 5 left new readers'
        # lists almost all high-bias books: too weak a signal to move the fitted taste off the average.)
        default = hi
        positions, stars = [], []
        for book, rating in items:
            if rating is not None and not lo <= float(rating) <= hi:
                raise BookrecError(
                    f'the rating of "{book}" must be between {lo:g} and {hi:g}, got {rating:g}'
                )
            positions.append(self.book_position(book))
            stars.append(default if rating is None else float(rating))
        return np.asarray(positions, dtype=np.int64), np.asarray(stars, dtype=np.float64)

    def _fold_in_strength(self) -> float:
        if self.fold_in_l2 is not None:
            return float(self.fold_in_l2)
        wd = (self.manifest.get("config") or {}).get("wd")
        return 2.0 * float(wd) if isinstance(wd, int | float) and wd > 0 else 0.1

    def _score_and_jacobian(
        self, weights: np.ndarray, positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """A new reader's linear scores for some books, and their derivatives by the reader's parameters.

        Dot model: parameters are (vector, bias) and the score is linear in them. Neural model: parameters
        are the embedding; the score is piecewise linear (ReLU), so the Jacobian holds for the current
        activation pattern.
        """
        t = self.tables
        if t.mlp is None:
            design = np.hstack((t.book_vectors[positions].astype(np.float64), np.ones((len(positions), 1))))
            return design @ weights + t.book_bias[positions], design
        pre = self._book_part[positions] + t.mlp.user_weight @ weights
        active = (pre > 0).astype(np.float64)
        linear = np.maximum(pre, 0.0) @ t.mlp.output_weight + t.mlp.output_bias
        return linear, (active * t.mlp.output_weight) @ t.mlp.user_weight

    def _fold_in(self, positions: np.ndarray, stars: np.ndarray) -> tuple[np.ndarray, float, Any]:
        """Fit a new reader's parameters to their ratings; return them and a per-result explainer."""
        t = self.tables
        lo, hi = t.y_range
        if t.mlp is None:
            # The bias starts at, and is pulled towards, the average reader's: with a few (often all high)
            # ratings a free bias would explain them as "rates everything well" rather than as taste.
            prior = np.append(np.zeros(t.user_vectors.shape[1]), float(np.mean(t.user_bias)))
        else:
            prior = self._mean_user.astype(np.float64)
        strength = self._fold_in_strength() * len(positions)  # P = strength * I
        weights = prior.copy()
        # Gauss-Newton on sum (stars - sigmoid_range(score(w)))^2 + (w - prior)' P (w - prior). P is a
        # multiple of I, so (J'J + P)^-1 v = (v - J' (sI + JJ')^-1 J v) / s (Woodbury): an n x n solve for
        # n named books instead of a d x d one, cheap and too small for threaded BLAS.
        for _ in range(25):
            linear, design = self._score_and_jacobian(weights, positions)
            squashed = _sigmoid(linear)
            residual = stars - (lo + (hi - lo) * squashed)
            jacobian = design * ((hi - lo) * squashed * (1 - squashed))[:, None]
            gradient = jacobian.T @ residual - strength * (weights - prior)
            step = _solve_normal(jacobian, strength, gradient)
            weights += step
            if np.abs(step).max() < 1e-6:
                break
        linear, design = self._score_and_jacobian(weights, positions)
        squashed = _sigmoid(linear)
        slope = (hi - lo) * squashed * (1 - squashed)
        jacobian = design * slope[:, None]
        # Contribution of named book j to a result's score in the linearised fit (as implicit's explain):
        # g(result) . A^-1 . J_j' * target_j, with A = J'J + P and g the result's score gradient.
        solved = _solve_normal(jacobian, strength, jacobian.T)
        target = (stars - (lo + (hi - lo) * squashed)) + slope * (design @ (weights - prior))
        titles = [self._title(int(i)) for i in positions]
        # Only books the reader liked can be a "because you liked": a 1-star book that pushed a result up
        # (by pushing its opposite down) is no reason a person would accept.
        liked = stars >= default_like_threshold(*self.rating_scale)

        def because(position: int) -> tuple[str, ...]:
            _, gradient_row = self._score_and_jacobian(weights, np.array([position]))
            contribution = np.where(liked, (gradient_row[0] @ solved) * target, -np.inf)
            order = np.argsort(-contribution)
            return tuple(titles[j] for j in order[:2] if contribution[j] > 0)

        if t.mlp is None:
            return weights[:-1], float(weights[-1]), because
        return weights, 0.0, because


def _matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` in one thread. OpenBLAS splits a 10,000 x 128 product over every core; on a
    machine busy with other work (a shared server, concurrent app sessions) waiting for the other threads
    costs milliseconds to hundreds of milliseconds a query, the product itself ~0.1 ms. einsum does not
    call BLAS."""
    return np.einsum("ij,j->i", matrix, vector.astype(matrix.dtype, copy=False))


def _solve_normal(jacobian: np.ndarray, strength: float, rhs: np.ndarray) -> np.ndarray:
    """``(J'J + strength * I)^-1 rhs`` through the n x n system of the n rows of J (Woodbury)."""
    small = jacobian @ jacobian.T + strength * np.eye(jacobian.shape[0])
    return (rhs - jacobian.T @ np.linalg.solve(small, jacobian @ rhs)) / strength


def _check_k(k: int) -> None:
    if k < 1:
        raise BookrecError(f"k must be at least 1, got {k}")


def _top(keyed: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest finite values, largest first."""
    finite = np.isfinite(keyed)
    k = min(k, int(finite.sum()))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-np.where(finite, keyed, -np.inf), k - 1)[:k]
    return part[np.argsort(-keyed[part], kind="stable")]


def tables_from_module(module: Any, y_range: tuple[float, float]) -> FactorTables:
    """Read serving arrays out of a trained ``DotBias`` or ``NeuralCF`` module."""
    getter = getattr(module, "factor_tables", None)
    if getter is not None:
        user_vectors, user_bias, book_vectors, book_bias = (t.detach().cpu().numpy() for t in getter())
        return FactorTables(user_vectors, user_bias.reshape(-1), book_vectors, book_bias.reshape(-1), y_range)
    if not all(hasattr(module, name) for name in ("user_factors", "book_factors", "hidden", "output")):
        raise BookrecError(f"{type(module).__name__} is neither a DotBias nor a NeuralCF model")

    def array(tensor: Any) -> np.ndarray:
        return tensor.detach().cpu().numpy().astype(np.float32)

    user_vectors = array(module.user_factors.weight)
    book_vectors = array(module.book_factors.weight)
    hidden_weight = array(module.hidden.weight)
    split = user_vectors.shape[1]
    mlp = MlpHead(
        user_weight=hidden_weight[:, :split],
        book_weight=hidden_weight[:, split:],
        hidden_bias=array(module.hidden.bias),
        output_weight=array(module.output.weight).reshape(-1),
        output_bias=float(array(module.output.bias).reshape(-1)[0]),
    )
    return FactorTables(
        user_vectors,
        np.zeros(user_vectors.shape[0], dtype=np.float32),
        book_vectors,
        effective_book_bias(user_vectors, book_vectors, mlp),
        y_range,
        mlp,
    )


def effective_book_bias(
    user_vectors: np.ndarray, book_vectors: np.ndarray, mlp: MlpHead, sample: int = 2000
) -> np.ndarray:
    """A neural model's book bias: each book's mean score over (a fixed sample of) readers, centred.

    The network has no bias term to read off; this is what a bias means, the part of a book's score that
    does not depend on who reads it.
    """
    step = max(1, user_vectors.shape[0] // sample)
    readers = user_vectors[::step][:sample]
    book_part = book_vectors @ mlp.book_weight.T + mlp.hidden_bias
    user_part = readers @ mlp.user_weight.T
    total = np.zeros(book_vectors.shape[0], dtype=np.float64)
    for row in user_part:
        total += np.maximum(book_part + row, 0.0) @ mlp.output_weight
    mean = total / max(1, readers.shape[0]) + mlp.output_bias
    return (mean - mean.mean()).astype(np.float32)
