"""A goodbooks-shaped data set with SYNTHETIC ratings, drawn from a planted model.

The real goodbooks-10k ratings come only from the release zip. This module writes a folder with the
release's five files and columns (``ratings.csv``, ``books.csv``, ``to_read.csv``, ``tags.csv``,
``book_tags.csv``) and a ``README.txt`` that says the ratings are synthetic. At the default sizes it has
the real release's shape: 53,424 readers, 10,000 books, 5,976,479 ratings, contiguous ids, every reader
with at least 2 ratings.

The planted model, for reader ``u`` and book ``b``::

    score(u, b) = user_bias[u] + book_bias[b] + user_factors[u] · book_factors[b] + noise,
    noise ~ Normal(0, noise_sd²)
    stars = 1 + (number of cut points below score)

The four cut points are the 2/8/31/67% quantiles of the drawn scores, so stars 1-5 come in the real release's
shares (2% / 6% / 23% / 36% / 33%). A book's vector is a sum of shared parts: one per taste cluster (each
author belongs to one), per first author, per series (parsed from the title, "(Discworld, #3)"), per era
(decade from 1800, century before) and per language, plus the book's own part; so books by one author, in one
series, or of one era and language lie close. With real books (``books_csv``) those come from their
metadata and the book bias follows the real average rating; otherwise placeholder books ("Synthetic Book 17"
by "Synthetic Author 3") get synthetic metadata of the same kinds.

Which books a reader rates: each book is rated at least once; beyond that a reader draws books by popularity
(the real ``work_ratings_count`` to the power 0.8 with real books, a Zipf-like curve fitted to it otherwise),
and among the drawn candidates keeps those with the best taste match plus Gumbel noise, so readers rate
books they like more often than chance (a selection bias, as in real ratings).

Three knobs make data like a sparse book site instead; at their defaults the data is goodbooks-shaped and
byte for byte what it was before they existed:

- ``rating_max=10``: 1-10 points cut at the shares of Book-Crossing's explicit ratings (``POINT_SHARES``);
- ``reader_tail`` (0..1): readers' activity weights are raised to a power (up to 10), so most readers rate
  a few books and a few rate thousands (the median count per reader falls; the total stays);
- ``taste_strength`` (0..1): scales the taste term, so ratings and the choice of books carry less taste
  and more bias and noise (0: none at all).

Shelves (``tags.csv``, ``book_tags.csv``) are synthetic too: besides to-read, common shelves, era and
language, each taste cluster gets a genre (fantasy, romance, non-fiction, ...) and a second, shared one,
and a book's strongest genre shelf is its cluster's genre; a ``taste-cluster-NN`` shelf names the cluster.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bookrec.data._synth_books import (
    _fill_placeholder_stats,
    _load_books,
    _placeholder_books,
    _read_books_csv,
    _tags,
)
from bookrec.data._synth_files import _check_out_dir, _publish, _readme, _write_ints
from bookrec.data._synth_model import PlantedModel, _draw_pairs, _plant, _stars
from bookrec.data._synth_ucsd import ucsd_readme, write_ucsd
from bookrec.data._synthetic import (
    BOOK_COLUMNS,
    FILE_COLUMNS,
    N_BOOKS,
    N_RATINGS,
    N_USERS,
    POINT_SHARES,
    RATING_SHARES,
    STAR_SHARES,
    SYNTHETIC_README,
)
from bookrec.errors import ConfigError

__all__ = [
    "BOOK_COLUMNS",
    "FILE_COLUMNS",
    "N_BOOKS",
    "N_RATINGS",
    "N_USERS",
    "POINT_SHARES",
    "STAR_SHARES",
    "PlantedModel",
    "SynthData",
    "SynthProgress",
    "SynthReport",
    "generate_goodbooks",
    "plant_model",
    "synthesize",
]

SynthProgress = Callable[[str, int, int], None]
"""A progress callback, ``progress(stage, done, total)``.

Called as each of the ``total`` stages of drawing starts, with the stage's name ("books", "model", "choosing
books", "stars", "books.csv", "tags") and the number of stages already done; then once more with
``("done", total, total)``. ``synthesize`` draws nothing itself: the command line turns these calls into a
progress bar.
"""

_STAGES = 6


@dataclass(frozen=True, eq=False)
class SynthData:
    """A synthetic goodbooks-shaped data set in memory: one DataFrame per file of the release.

    Attributes:
        ratings: user_id, book_id, rating (int32, int32, int8; rating 1..rating_max), in a shuffled
            (time-like) order.
        books: The 23 books.csv columns as strings, exactly as written; book_id is "1".."n_books".
        to_read: user_id, book_id (int32) pairs, none of them also rated.
        tags: tag_id (int32), tag_name (str), sorted by name as in the release.
        book_tags: goodreads_book_id, tag_id, count (int64), sorted by book and descending count.
        model: The planted model the ratings were drawn from.
        cuts: The ``rating_max - 1`` score cut points between 1|2, 2|3, ... (four for 1-5 stars).
        seed: The seed everything was drawn from.
        real_books: Whether books.csv holds real goodbooks metadata (``books_csv`` was given).
        rating_max: The top of the rating scale: 5 (stars) or 10 (points).
        book_cluster: Each book's planted taste cluster (0, 1, ...; row ``i`` is book_id ``i + 1``), the one
            its genre shelf follows.
    """

    ratings: pd.DataFrame
    books: pd.DataFrame
    to_read: pd.DataFrame
    tags: pd.DataFrame
    book_tags: pd.DataFrame
    model: PlantedModel
    cuts: tuple[float, ...]
    seed: int
    real_books: bool
    rating_max: int
    book_cluster: np.ndarray


@dataclass(frozen=True)
class SynthReport:
    """What ``generate_goodbooks`` wrote.

    Attributes:
        out_dir: The folder holding the data set.
        n_users: Readers (user_id 1..n_users).
        n_books: Books (book_id 1..n_books).
        n_ratings: Rows of ratings.csv.
        n_to_read: Rows of to_read.csv.
        n_tags: Rows of tags.csv.
        n_book_tags: Rows of book_tags.csv.
        seed: The seed the data set was drawn from.
        real_books: Whether books.csv holds real goodbooks metadata.
        star_shares: Shares of each rating 1..rating_max in ratings.csv.
        rating_max: The top of the rating scale: 5 (stars) or 10 (points).
        reader_tail: How long the tail of light readers is (0: goodbooks' spread).
        taste_strength: How much of the planted taste the ratings carry (1: goodbooks-like).
        layout: The files written: "goodbooks" (ratings.csv, ...) or "ucsd" (goodreads_interactions.csv, ...;
            then n_to_read counts the rating-0 shelf events).
    """

    out_dir: Path
    n_users: int
    n_books: int
    n_ratings: int
    n_to_read: int
    n_tags: int
    n_book_tags: int
    seed: int
    real_books: bool
    star_shares: tuple[float, ...]
    rating_max: int = 5
    reader_tail: float = 0.0
    taste_strength: float = 1.0
    layout: str = "goodbooks"


LAYOUTS = ("goodbooks", "ucsd")
"""The file layouts ``generate_goodbooks`` writes: goodbooks-10k's, or the UCSD Goodreads Book Graph's."""


def plant_model(
    n_users: int = N_USERS,
    n_books: int = N_BOOKS,
    *,
    books_csv: Path | None = None,
    seed: int = 0,
    taste_strength: float = 1.0,
) -> PlantedModel:
    """The planted model that ``synthesize`` and ``generate_goodbooks`` draw from, without drawing ratings.

    Same arguments, same seed, same model: tests and demos can compare learned vectors with it.

    Args:
        n_users: Number of readers.
        n_books: Number of books.
        books_csv: A goodbooks books.csv whose first ``n_books`` rows (by book_id) shape the book vectors.
        seed: Seed of every random draw (a non-negative integer).
        taste_strength: Scale of the taste term, 0..1 (see ``synthesize``).

    Returns:
        The planted model.

    Raises:
        ConfigError: A size, the seed or the taste strength is out of range.
        DataError: ``books_csv`` is missing or is not a goodbooks books.csv.
    """
    _check_counts(n_users, n_books, seed)
    _check_knobs(5, 0.0, taste_strength)
    streams = _streams(seed)
    books = (
        _load_books(books_csv, n_books) if books_csv is not None else _placeholder_books(n_books, streams[0])
    )
    return _plant(books, n_users, streams[1], taste_strength)[0]


def synthesize(
    n_users: int = N_USERS,
    n_books: int = N_BOOKS,
    n_ratings: int = N_RATINGS,
    *,
    books_csv: Path | None = None,
    seed: int = 0,
    rating_max: int = 5,
    reader_tail: float = 0.0,
    taste_strength: float = 1.0,
    progress: SynthProgress | None = None,
) -> SynthData:
    """Draw a goodbooks-shaped data set with synthetic ratings, in memory.

    Args:
        n_users: Number of readers; each rates at least 2 books.
        n_books: Number of books; each is rated at least once.
        n_ratings: Exact number of ratings, from max(2 * n_users, n_books) to n_users * n_books.
        books_csv: A goodbooks books.csv (real metadata); its first ``n_books`` rows by book_id become the
            books, renumbered 1..n_books. Without it, placeholder books are generated.
        seed: Seed of every random draw; the same arguments and seed give the same data.
        rating_max: Top of the rating scale: 5 (1-5 stars in goodbooks' shares) or 10 (1-10 points in
            Book-Crossing's shares).
        reader_tail: 0..1; above 0, readers' activity gets a long tail: most rate a few books, a few rate
            thousands (1: at the default sizes the median reader rates 4 books instead of 111).
        taste_strength: 0..1, the scale of the taste term (reader taste · book vector) in the score and
            in readers' choice of books; 0 leaves biases, popularity and noise only.
        progress: Called as each stage starts (see ``SynthProgress``); None reports nothing.

    Returns:
        The data set and the planted model it was drawn from.

    Raises:
        ConfigError: A size, the seed or a knob is out of range.
        DataError: ``books_csv`` is missing or is not a goodbooks books.csv.
    """
    _check_sizes(n_users, n_books, n_ratings, seed)
    _check_knobs(rating_max, reader_tail, taste_strength)
    report = progress if progress is not None else _no_progress
    streams = _streams(seed)
    report("books", 0, _STAGES)
    real = books_csv is not None
    books = _load_books(books_csv, n_books) if real else _placeholder_books(n_books, streams[0])
    report("model", 1, _STAGES)
    model, clusters = _plant(books, n_users, streams[1], taste_strength)
    report("choosing books", 2, _STAGES)
    pairs = _draw_pairs(model, n_ratings, streams[2], reader_tail)
    user_idx, book_idx, taste, to_read_user, to_read_book = pairs
    del pairs
    report("stars", 3, _STAGES)
    rng = streams[3]  # the stars, the shuffles, the placeholder books' review counts and the tags, in order
    stars, cuts = _stars(model, user_idx, book_idx, taste, rng, rating_max)
    del taste
    ratings, to_read = _shuffled_frames(user_idx, book_idx, stars, to_read_user, to_read_book, rng)
    report("books.csv", 4, _STAGES)
    per_book = np.bincount(book_idx.astype(np.int64) * rating_max + stars - 1, minlength=n_books * rating_max)
    per_book = per_book.reshape(n_books, rating_max)
    if not real:
        books = _fill_placeholder_stats(books, per_book, rng)
    report("tags", 5, _STAGES)
    tags, book_tags = _tags(books, clusters, per_book.sum(axis=1), rng)
    report("done", _STAGES, _STAGES)
    return SynthData(
        ratings=ratings,
        books=books[list(BOOK_COLUMNS)],
        to_read=to_read,
        tags=tags,
        book_tags=book_tags,
        model=model,
        cuts=tuple(float(c) for c in cuts),
        seed=seed,
        real_books=real,
        rating_max=rating_max,
        book_cluster=clusters,
    )


def _no_progress(stage: str, done: int, total: int) -> None:
    """The progress callback when the caller gave none."""


def _shuffled_frames(
    user_idx: np.ndarray,
    book_idx: np.ndarray,
    stars: np.ndarray,
    to_read_user: np.ndarray,
    to_read_book: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ratings.csv and to_read.csv (ids from 1), each in a random order."""
    order = rng.permutation(book_idx.size)  # interleave readers, as in a time-sorted file
    ratings = pd.DataFrame(
        {
            "user_id": (user_idx[order] + 1).astype(np.int32),
            "book_id": (book_idx[order] + 1).astype(np.int32),
            "rating": stars[order],
        }
    )
    order = rng.permutation(to_read_user.size)
    to_read = pd.DataFrame(
        {
            "user_id": (to_read_user[order] + 1).astype(np.int32),
            "book_id": (to_read_book[order] + 1).astype(np.int32),
        }
    )
    return ratings, to_read


def generate_goodbooks(
    out_dir: Path,
    *,
    n_users: int = N_USERS,
    n_books: int = N_BOOKS,
    n_ratings: int = N_RATINGS,
    books_csv: Path | None = None,
    seed: int = 0,
    rating_max: int = 5,
    reader_tail: float = 0.0,
    taste_strength: float = 1.0,
    progress: SynthProgress | None = None,
    layout: str = "goodbooks",
) -> SynthReport:
    """Write a goodbooks-shaped folder whose ratings are SYNTHETIC, drawn from a planted model.

    The folder holds ratings.csv, books.csv, to_read.csv, tags.csv and book_tags.csv with the release's
    names and columns, and a README.txt saying the ratings are synthetic (with the seed and sizes, and the
    attribution of the real metadata when ``books_csv`` is given). Everything is written into a temporary
    folder beside ``out_dir`` and renamed into place at the end, so an interrupted run leaves no
    half-written data set. An existing ``out_dir`` is replaced only when it is empty or was written by this
    function.

    Args:
        out_dir: The folder to write.
        n_users: Number of readers; each rates at least 2 books.
        n_books: Number of books; each is rated at least once.
        n_ratings: Exact number of ratings, from max(2 * n_users, n_books) to n_users * n_books.
        books_csv: A goodbooks books.csv (real titles and metadata) for the first ``n_books`` books.
        seed: Seed of every random draw; the same arguments and seed give byte-identical files.
        rating_max: Top of the rating scale, 5 or 10 (see ``synthesize``); README.txt records it, and
            loading the folder takes it from there.
        reader_tail: 0..1, the tail of light readers (see ``synthesize``).
        taste_strength: 0..1, the scale of the planted taste (see ``synthesize``).
        progress: Called as each stage of drawing starts (see ``SynthProgress``); None reports nothing.
        layout: "goodbooks" (the release's files) or "ucsd": the same draws in the UCSD Goodreads Book
            Graph's files (goodreads_interactions.csv with rating-0 shelf events, the id maps, the books and
            authors as gzipped JSON lines; see ``_synth_ucsd``), which ``load_dataset`` reads too.

    Returns:
        The sizes written.

    Raises:
        ConfigError: A size, the seed or a knob is out of range, or ``out_dir`` holds other files.
        DataError: ``books_csv`` is missing or is not a goodbooks books.csv.
    """
    out_dir = Path(os.path.abspath(out_dir))  # a name to put the temporary folder beside, even for '.'
    _check_sizes(n_users, n_books, n_ratings, seed)
    _check_knobs(rating_max, reader_tail, taste_strength)
    if layout not in LAYOUTS:
        raise ConfigError(f"The layout must be one of {', '.join(LAYOUTS)}; got {layout!r}.")
    _check_out_dir(out_dir)
    if books_csv is not None:
        _read_books_csv(Path(books_csv), n_books)  # fail on a bad file before the long part
    data = synthesize(
        n_users,
        n_books,
        n_ratings,
        books_csv=books_csv,
        seed=seed,
        rating_max=rating_max,
        reader_tail=reader_tail,
        taste_strength=taste_strength,
        progress=progress,
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.synth-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        if layout == "ucsd":
            n_interactions = write_ucsd(tmp, data)
        else:
            _write_ints(tmp / "ratings.csv", data.ratings)
            _write_ints(tmp / "to_read.csv", data.to_read)
            _write_ints(tmp / "book_tags.csv", data.book_tags)
            data.books.to_csv(tmp / "books.csv", index=False, lineterminator="\n", encoding="utf-8")
            data.tags.to_csv(tmp / "tags.csv", index=False, lineterminator="\n", encoding="utf-8")
        report = SynthReport(
            out_dir=out_dir,
            n_users=n_users,
            n_books=n_books,
            n_ratings=n_ratings,
            n_to_read=len(data.to_read),
            n_tags=len(data.tags),
            n_book_tags=len(data.book_tags),
            seed=seed,
            real_books=data.real_books,
            star_shares=tuple(
                float(s)
                for s in np.bincount(data.ratings["rating"], minlength=rating_max + 1)[1:] / n_ratings
            ),
            rating_max=rating_max,
            reader_tail=reader_tail,
            taste_strength=taste_strength,
            layout=layout,
        )
        books_name = Path(books_csv).name if books_csv is not None else None
        readme = ucsd_readme(report, n_interactions) if layout == "ucsd" else _readme(report, books_name)
        (tmp / SYNTHETIC_README).write_text(readme, encoding="utf-8")
        _publish(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


# --- checks -----------------------------------------------------------------------------------------------


def _check_counts(n_users: int, n_books: int, seed: int) -> None:
    if n_users < 1:
        raise ConfigError(f"Readers must be at least 1; got {n_users}.")
    if n_books < 2:
        raise ConfigError(f"Books must be at least 2 (every reader rates 2 different books); got {n_books}.")
    if seed < 0:
        raise ConfigError(f"The seed must be a non-negative integer; got {seed}.")


def _check_knobs(rating_max: int, reader_tail: float, taste_strength: float) -> None:
    if rating_max not in RATING_SHARES:
        raise ConfigError(f"The rating scale must be 1-5 or 1-10 (rating_max 5 or 10); got 1-{rating_max}.")
    if not 0.0 <= reader_tail <= 1.0:
        raise ConfigError(f"The reader tail must be from 0 (goodbooks' spread) to 1; got {reader_tail}.")
    if not 0.0 <= taste_strength <= 1.0:
        raise ConfigError(
            f"The taste strength must be from 0 (no taste) to 1 (goodbooks'); got {taste_strength}."
        )


def _check_sizes(n_users: int, n_books: int, n_ratings: int, seed: int) -> None:
    _check_counts(n_users, n_books, seed)
    if n_ratings < 2 * n_users:
        raise ConfigError(
            f"Too few ratings: {n_ratings:,} for {n_users:,} readers; every reader rates at least 2 books, "
            f"so ask for at least {2 * n_users:,}."
        )
    if n_ratings < n_books:
        raise ConfigError(
            f"Too few ratings: {n_ratings:,} for {n_books:,} books; every book is rated at least once, "
            f"so ask for at least {n_books:,}."
        )
    if n_ratings > n_users * n_books:
        raise ConfigError(
            f"Too many ratings: {n_ratings:,} is more than the {n_users * n_books:,} distinct pairs of "
            f"{n_users:,} readers and {n_books:,} books."
        )


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators for books, model, book choice and stars/tags: one stage never shifts another."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
