"""A trained model against data: its rating error and top-N quality, beside the most-popular baseline.

``evaluate_model`` applies :mod:`bookrec.metrics` to a trained ``Recommender``: on its own validation split
(reproduced from the training data and the split settings its folder records) or on any ratings file, whose
ids are matched to the model's by value; ratings of readers or books the model does not know are predicted
from the biases or the global mean, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from bookrec.data.dataset import Dataset
from bookrec.data.split import random_split
from bookrec.errors import ConfigError, DataError, ModelFileError
from bookrec.metrics import (
    RankingMetrics,
    RatingMetrics,
    ranking_metrics,
    rating_metrics,
    relevance_threshold,
)
from bookrec.topn import evaluate_top_n, liked_in_holdout, popularity_scores, top_k_unseen

if TYPE_CHECKING:
    from bookrec.recommender import Recommender

__all__ = [
    "ModelEvaluation",
    "RankingMetrics",
    "RatingMetrics",
    "evaluate_model",
    "evaluate_top_n",
    "is_training_data",
    "liked_in_holdout",
    "model_split",
    "popularity_scores",
    "predict_dataset",
    "ranking_metrics",
    "rating_metrics",
    "top_k_unseen",
]


_PREDICT_BATCH = 1 << 16  # ratings predicted at once: bounds the gathered reader vectors to ~32 MB


@dataclass(frozen=True)
class ModelEvaluation:
    """How well a trained model predicts a set of ratings, and optionally how well it ranks.

    Attributes:
        on: "validation split" (the model's own held-out ratings) or "all ratings" (of another file).
        data: The data's name (its path).
        ratings: MSE, RMSE and MAE over every rating, unknown readers and books included.
        unknown_users: Ratings whose reader the model does not know (predicted from the book's bias).
        unknown_books: Ratings whose book the model does not know (predicted as the global mean).
        unknown_user_ids: Distinct readers the model does not know.
        unknown_book_ids: Distinct books the model does not know.
        in_model_data: Ratings of (reader, book) pairs the model's own data holds (training or validation
            part); 0 on the validation split, where none is counted. On another file, a high count means the
            error is not one on new ratings.
        top_n: Top-N metrics of the model's lists, or None when not asked for.
        popular: The same metrics for the most-popular baseline, or None.
        like_threshold: Held-out ratings at or above this counted as relevant (top-N), or None.
        notes: Sentences for the user about the data (e.g. ratings outside the model's scale).
    """

    on: str
    data: str
    ratings: RatingMetrics
    unknown_users: int
    unknown_books: int
    unknown_user_ids: int
    unknown_book_ids: int
    in_model_data: int = 0
    top_n: RankingMetrics | None = None
    popular: RankingMetrics | None = None
    like_threshold: float | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON: rmse, mse, mae, n, the unknown counts, and ``top_n`` when measured."""
        values: dict[str, Any] = {
            **self.ratings.to_dict(),
            "unknown_users": self.unknown_users,
            "unknown_books": self.unknown_books,
            "unknown_user_ids": self.unknown_user_ids,
            "unknown_book_ids": self.unknown_book_ids,
            "in_model_data": self.in_model_data,
            "on": self.on,
            "data": self.data,
        }
        if self.top_n is not None and self.popular is not None:
            values["top_n"] = {
                "k": self.top_n.k,
                "like_threshold": self.like_threshold,
                "min_rating": self.like_threshold,  # the older name, kept for scripts that read it
                "model": self.top_n.to_dict(),
                "most_popular": self.popular.to_dict(),
            }
        return values


def positions_in_model(recommender: Recommender, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The model's reader and book position of every rating of ``dataset``; -1 where the model lacks the id.

    Ids are matched by value through both data sets' ``IdMap``s, so any ratings file can be compared with
    any model, whatever order its ids were numbered in.
    """
    user_map = recommender.users.index_of(dataset.users.ids)
    book_map = recommender.books.index_of(dataset.books.ids)
    return user_map[dataset.user_idx], book_map[dataset.book_idx]


def predict_dataset(recommender: Recommender, dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's prediction for every rating of ``dataset``, with the model positions used (-1: unknown)."""
    users, books = positions_in_model(recommender, dataset)
    predicted = np.empty(dataset.n_ratings, dtype=np.float64)
    for start in range(0, dataset.n_ratings, _PREDICT_BATCH):
        part = slice(start, start + _PREDICT_BATCH)
        predicted[part] = recommender.predict_positions(users[part], books[part])
    return predicted, users, books


def _manifest_value(recommender: Recommender, *keys: str) -> Any:
    value: Any = recommender.manifest
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise ModelFileError(
                f"the model's manifest has no {'.'.join(keys)}; retrain it with this bookrec"
            )
        value = value[key]
    return value


def is_training_data(recommender: Recommender, dataset: Dataset) -> bool:
    """Whether ``dataset`` is exactly the data the model was trained on (same files and parse options)."""
    return bool(dataset.source_hash) and dataset.source_hash == _manifest_value(
        recommender, "data", "source_hash"
    )


def model_split(recommender: Recommender, dataset: Dataset) -> tuple[Dataset, Dataset]:
    """The model's own training and validation parts of ``dataset``, split again as training split it.

    Raises:
        DataError: ``dataset`` is not the data the model was trained on.
        ConfigError: The model was trained on every rating (nothing was held out).
    """
    if not is_training_data(recommender, dataset):
        name = _manifest_value(recommender, "data", "name")
        raise DataError(
            f"{dataset.name} is not the data this model was trained on ({name}, with its parse options); "
            "pass the same data options to evaluate on its validation split"
        )
    valid_pct = float(_manifest_value(recommender, "config", "valid_pct"))
    seed = int(_manifest_value(recommender, "config", "seed"))
    train_part, valid_part = random_split(dataset, valid_pct, seed)
    if valid_part.n_ratings == 0:
        raise ConfigError(
            "the model was trained on every rating (valid_pct 0), so none is held out; "
            "evaluate it on another ratings file"
        )
    return train_part, valid_part


def _count_rated(recommender: Recommender, users: np.ndarray, books: np.ndarray) -> int:
    """How many (reader, book) position pairs the model's folder records as rated."""
    rated = recommender.rated
    n_books = np.int64(max(1, recommender.n_books))
    owners = np.repeat(np.arange(recommender.n_users, dtype=np.int64), np.diff(rated.indptr))
    # A sorted table and a binary search: np.isin took 5 s on goodbooks-sized data, this about 1 s.
    recorded = np.append(np.sort(owners * n_books + rated.book_idx), np.iinfo(np.int64).max)
    pairs = users.astype(np.int64) * n_books + books
    return int(np.count_nonzero(recorded[np.searchsorted(recorded, pairs)] == pairs))


def seen_by_model(recommender: Recommender) -> Dataset:
    """Every rating the model's folder records (its training data), as a Dataset in the model's positions."""
    rated = recommender.rated
    counts = np.diff(rated.indptr)
    return _in_model(
        recommender,
        np.repeat(np.arange(recommender.n_users, dtype=np.int32), counts),
        rated.book_idx.astype(np.int32),
        rated.rating.astype(np.float32),
        "the model's training data",
    )


def _in_model(
    recommender: Recommender, users: np.ndarray, books: np.ndarray, ratings: np.ndarray, name: str
) -> Dataset:
    lo, hi = recommender.rating_scale
    return Dataset(
        user_idx=np.ascontiguousarray(users, dtype=np.int32),
        book_idx=np.ascontiguousarray(books, dtype=np.int32),
        rating=np.ascontiguousarray(ratings, dtype=np.float32),
        users=recommender.users,
        books=recommender.books,
        rating_min=float(lo),
        rating_max=float(hi),
        books_table=recommender.books_table,
        name=name,
    )


def evaluate_model(
    recommender: Recommender,
    dataset: Dataset,
    *,
    split: str = "auto",
    top_n: bool = False,
    k: int = 10,
    min_rating: float | None = None,
    max_readers: int | None = 5000,
) -> ModelEvaluation:
    """Rating error (and optionally top-N quality) of a trained model on its own validation split or a file.

    Args:
        recommender: The trained model.
        dataset: Ratings: the model's own training data, or any other ratings (ids matched by value).
        split: "validation" (the model's own held-out ratings: ``dataset`` must be its training data),
            "all" (every rating of ``dataset``), or "auto": validation when ``dataset`` is the training
            data, else all.
        top_n: Also rank: for each reader the model knows, every book they have not rated, against their
            relevant held-out ratings, beside the most-popular baseline. On the validation split, "not
            rated" and "popular" come from the training part; on another file (a hold-out such as
            ``bookrec split`` writes), from every rating the model was trained on, and every reader of
            the file is evaluated.
        k: List length for top-N (recall also at 2k).
        min_rating: A held-out rating at or above this is relevant; default
            :func:`bookrec.metrics.relevance_threshold` of the model's scale (4 on 1-5 and on 0.5-5).
        max_readers: On the validation split, top-N over a seeded sample of at most this many readers
            (None: all). Ignored on another file.

    Returns:
        The metrics, with the ratings of unknown readers and books counted (and predicted from biases or
        the global mean).

    Raises:
        ConfigError: An unknown ``split``, k below 1, or nothing to evaluate.
        DataError: ``split="validation"`` on data the model was not trained on.
    """
    if split not in ("auto", "validation", "all"):
        raise ConfigError(f"split must be auto, validation or all, got {split!r}")
    if k < 1:
        raise ConfigError(f"k must be at least 1, got {k}")
    own = split == "validation" or (split == "auto" and is_training_data(recommender, dataset))
    if own:
        train_part, test = model_split(recommender, dataset)
        on = "validation split"
        rank_on = (recommender.manifest.get("metrics") or {}).get("rank_on")
        if top_n and recommender.ranker is not None and rank_on:
            raise ConfigError(
                "this model's ranking model learned from every rating, its validation split too, so its "
                "lists cannot be scored on that split; hold ratings out with `bookrec split`, train on the "
                "rest and pass the held-out file: evaluate MODEL --ratings HELDOUT --top-n"
            )
    else:
        train_part, test, on = None, dataset, "all ratings"
    if test.n_ratings == 0:
        raise ConfigError(f"no ratings to evaluate in {dataset.name}")
    predicted, users, books = predict_dataset(recommender, test)
    lo, hi = recommender.rating_scale
    unknown_user, unknown_book = users < 0, books < 0
    known = ~unknown_user & ~unknown_book
    overlap = 0 if own else _count_rated(recommender, users[known], books[known])
    notes = _notes(test, (lo, hi), overlap)
    evaluation = ModelEvaluation(
        on=on,
        data=dataset.name,
        ratings=rating_metrics(predicted, test.rating),
        unknown_users=int(unknown_user.sum()),
        unknown_books=int(unknown_book.sum()),
        unknown_user_ids=int(np.unique(test.user_idx[unknown_user]).size),
        unknown_book_ids=int(np.unique(test.book_idx[unknown_book]).size),
        in_model_data=overlap,
        notes=tuple(notes),
    )
    if not top_n:
        return evaluation
    threshold = relevance_threshold(lo, hi) if min_rating is None else float(min_rating)
    # Books the model lacks stay in as position -1: relevant when rated highly, but in no list.
    reader = ~unknown_user
    held = _in_model(recommender, users[reader], books[reader], test.rating[reader], test.name)
    sampled = max_readers if own else None
    ranked, popular = _top_n_beside_popular(recommender, train_part, held, k, threshold, sampled)
    unlisted = int(np.count_nonzero(reader & unknown_book & (test.rating >= threshold)))
    if unlisted:
        notes.append(
            f"{unlisted:,} relevant held-out ratings are of books the model never saw: they count as "
            "relevant, and no list can hold them"
        )
    return replace(evaluation, top_n=ranked, popular=popular, like_threshold=threshold, notes=tuple(notes))


def _notes(test: Dataset, scale: tuple[float, float], overlap: int) -> list[str]:
    """Sentences for the user about what the figures mean on this data."""
    notes = []
    lo, hi = scale
    outside = int(np.count_nonzero((test.rating < lo) | (test.rating > hi)))
    if outside:
        notes.append(
            f"{outside:,} ratings lie outside the model's scale {lo:g}-{hi:g}: is this the same scale?"
        )
    if overlap:
        notes.append(
            f"{overlap:,} of these ratings are in the model's own data (its training or validation part): "
            "the error on them is not one on new ratings"
        )
    return notes


def _top_n_beside_popular(
    recommender: Recommender,
    train_part: Dataset | None,
    held: Dataset,
    k: int,
    threshold: float,
    max_readers: int | None,
) -> tuple[RankingMetrics, RankingMetrics]:
    """Top-N quality of the model's lists and of most-popular lists, both excluding what readers had seen
    (the training part of the model's own split, or everything the model's folder records)."""
    if train_part is not None:
        train_users, train_books = positions_in_model(recommender, train_part)
        seen = _in_model(recommender, train_users, train_books, train_part.rating, train_part.name)
    else:
        seen = seen_by_model(recommender)
    options = {"k": k, "min_rating": threshold, "max_readers": max_readers}
    ranked = evaluate_top_n(recommender.scores_for, seen, held, **options)
    popular = evaluate_top_n(popularity_scores(seen), seen, held, **options)
    return ranked, popular
