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
from collections.abc import Callable, Iterator
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
from bookrec.data._synth_model import PlantedModel, _choose, _cut, _plant, _scores
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
    n_to_read: int | None = None,
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
        n_to_read: To-read pairs to draw (at most the pairs left unrated); None: 0.153 per rating, as in
            goodbooks (912,705 for 5,976,479 ratings).

    Returns:
        The data set and the planted model it was drawn from.

    Raises:
        ConfigError: A size, the seed or a knob is out of range.
        DataError: ``books_csv`` is missing or is not a goodbooks books.csv.
    """
    _check_sizes(n_users, n_books, n_ratings, seed)
    _check_knobs(rating_max, reader_tail, taste_strength)
    _check_to_read(n_to_read)
    draws = _draw(
        n_users,
        n_books,
        n_ratings,
        books_csv=books_csv,
        seed=seed,
        rating_max=rating_max,
        reader_tail=reader_tail,
        taste_strength=taste_strength,
        progress=progress,
        n_to_read=n_to_read,
    )
    return SynthData(
        ratings=pd.concat(list(_rating_rows(draws, _ALL)), ignore_index=True),
        books=draws.books,
        to_read=pd.concat(list(_to_read_rows(draws, _ALL)), ignore_index=True),
        tags=draws.tags,
        book_tags=draws.book_tags,
        model=draws.model,
        cuts=draws.cuts,
        seed=seed,
        real_books=books_csv is not None,
        rating_max=rating_max,
        book_cluster=draws.clusters,
    )


def _no_progress(stage: str, done: int, total: int) -> None:
    """The progress callback when the caller gave none."""


@dataclass(frozen=True, eq=False)
class _Draws:
    """A drawn data set, compact: a few bytes a rating, so ``generate_goodbooks`` can write any size.

    Ratings are kept grouped by reader (reader ``u`` has ``rated[u]`` of them, in reader order): their
    books (int32) and stars (int8); to-read pairs likewise. ``order`` and ``to_read_order`` are the shuffled
    row orders of ratings.csv and to_read.csv (None where the layout does not shuffle them).
    """

    books: pd.DataFrame
    model: PlantedModel
    clusters: np.ndarray
    rated: np.ndarray
    book_idx: np.ndarray
    stars: np.ndarray
    to_read: np.ndarray
    to_read_book: np.ndarray
    cuts: tuple[float, ...]
    order: np.ndarray | None
    to_read_order: np.ndarray | None
    per_book: np.ndarray
    tags: pd.DataFrame
    book_tags: pd.DataFrame


def _draw(
    n_users: int,
    n_books: int,
    n_ratings: int,
    *,
    books_csv: Path | None,
    seed: int,
    rating_max: int,
    reader_tail: float,
    taste_strength: float,
    progress: SynthProgress | None,
    n_to_read: int | None,
    layout: str = "goodbooks",
) -> _Draws:
    """Every draw of a data set, in the order that keeps the goodbooks layout's files what they were.

    The UCSD layout does not shuffle the rows into a time-like order (it groups them by reader itself) and
    writes no shelves, so those draws (a permutation per file, the tags) are skipped for it.
    """
    report = progress if progress is not None else _no_progress
    streams = _streams(seed)
    report("books", 0, _STAGES)
    real = books_csv is not None
    books = _load_books(books_csv, n_books) if real else _placeholder_books(n_books, streams[0])
    report("model", 1, _STAGES)
    model, clusters = _plant(books, n_users, streams[1], taste_strength)
    report("choosing books", 2, _STAGES)
    choice = _choose(model, n_ratings, streams[2], reader_tail, n_to_read)
    rng = streams[3]  # the stars, the shuffles, the placeholder books' review counts and the tags, in order
    book_idx, score, to_read_book = _scores(model, choice, rng)
    report("stars", 3, _STAGES)
    stars, cuts = _cut(score, rating_max)
    del score
    shuffled = layout == "goodbooks"
    order = rng.permutation(n_ratings) if shuffled else None  # interleave readers, as in a time-sorted file
    to_read_order = rng.permutation(to_read_book.size) if shuffled else None
    report("books.csv", 4, _STAGES)
    per_book = np.zeros(n_books * rating_max, dtype=np.int64)
    for start in range(0, n_ratings, _CHUNK):
        key = book_idx[start : start + _CHUNK].astype(np.int64) * rating_max
        per_book += np.bincount(key + stars[start : start + _CHUNK] - 1, minlength=n_books * rating_max)
    per_book = per_book.reshape(n_books, rating_max)
    if not real:
        books = _fill_placeholder_stats(books, per_book, rng)
    report("tags", 5, _STAGES)
    if shuffled:
        tags, book_tags = _tags(books, clusters, per_book.sum(axis=1), rng)
    else:
        tags = book_tags = pd.DataFrame()
    report("done", _STAGES, _STAGES)
    return _Draws(
        books=books[list(BOOK_COLUMNS)],
        model=model,
        clusters=clusters,
        rated=choice.rated,
        book_idx=book_idx,
        stars=stars,
        to_read=choice.to_read,
        to_read_book=to_read_book,
        cuts=tuple(float(c) for c in cuts),
        order=order,
        to_read_order=to_read_order,
        per_book=per_book,
        tags=tags,
        book_tags=book_tags,
    )


_CHUNK = 1 << 22  # rows written (or counted) at a time: a chunk's columns take about 100 MB
_ALL = 1 << 62  # one chunk: synthesize's frames in memory


def _rating_rows(draws: _Draws, chunk: int = _CHUNK) -> Iterator[pd.DataFrame]:
    """ratings.csv's rows (ids from 1) in the shuffled order, ``chunk`` rows at a time."""
    assert draws.order is not None
    ends = np.cumsum(draws.rated)
    for start in range(0, max(draws.order.size, 1), chunk):
        rows = draws.order[start : start + chunk]
        yield pd.DataFrame(
            {
                "user_id": (np.searchsorted(ends, rows, side="right") + 1).astype(np.int32),
                "book_id": (draws.book_idx[rows] + 1).astype(np.int32),
                "rating": draws.stars[rows],
            }
        )


def _to_read_rows(draws: _Draws, chunk: int = _CHUNK) -> Iterator[pd.DataFrame]:
    """to_read.csv's rows (ids from 1) in the shuffled order, ``chunk`` rows at a time."""
    assert draws.to_read_order is not None
    ends = np.cumsum(draws.to_read)
    for start in range(0, max(draws.to_read_order.size, 1), chunk):
        rows = draws.to_read_order[start : start + chunk]
        yield pd.DataFrame(
            {
                "user_id": (np.searchsorted(ends, rows, side="right") + 1).astype(np.int32),
                "book_id": (draws.to_read_book[rows] + 1).astype(np.int32),
            }
        )


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
    n_to_read: int | None = None,
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
        n_to_read: To-read pairs (the UCSD layout's rating-0 shelf events) to draw, at most the pairs left
            unrated; None: 0.153 per rating, as in goodbooks. The UCSD Goodreads shape has 125 million
            shelf events for 104 million ratings.

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
    _check_to_read(n_to_read)
    draws = _draw(
        n_users,
        n_books,
        n_ratings,
        books_csv=books_csv,
        seed=seed,
        rating_max=rating_max,
        reader_tail=reader_tail,
        taste_strength=taste_strength,
        progress=progress,
        n_to_read=n_to_read,
        layout=layout,
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.synth-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        if layout == "ucsd":
            n_interactions = write_ucsd(tmp, draws, seed)
        else:
            _write_ints(tmp / "ratings.csv", _rating_rows(draws))
            _write_ints(tmp / "to_read.csv", _to_read_rows(draws))
            _write_ints(tmp / "book_tags.csv", draws.book_tags)
            draws.books.to_csv(tmp / "books.csv", index=False, lineterminator="\n", encoding="utf-8")
            draws.tags.to_csv(tmp / "tags.csv", index=False, lineterminator="\n", encoding="utf-8")
        counts = draws.per_book.sum(axis=0)
        report = SynthReport(
            out_dir=out_dir,
            n_users=n_users,
            n_books=n_books,
            n_ratings=n_ratings,
            n_to_read=int(draws.to_read_book.size),
            n_tags=len(draws.tags),
            n_book_tags=len(draws.book_tags),
            seed=seed,
            real_books=books_csv is not None,
            star_shares=tuple(float(c) / n_ratings for c in counts),
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


def _check_to_read(n_to_read: int | None) -> None:
    if n_to_read is not None and n_to_read < 0:
        raise ConfigError(f"The to-read pairs must be 0 or more; got {n_to_read}.")


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
