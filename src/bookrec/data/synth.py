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
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from tqdm import tqdm

from bookrec._files import replace_folder
from bookrec.errors import ConfigError, DataError

__all__ = [
    "BOOK_COLUMNS",
    "FILE_COLUMNS",
    "N_BOOKS",
    "N_RATINGS",
    "N_USERS",
    "STAR_SHARES",
    "PlantedModel",
    "SynthData",
    "SynthReport",
    "generate_goodbooks",
    "plant_model",
    "synthesize",
]

N_USERS = 53_424
"""Readers in the real goodbooks-10k ratings.csv (user_id 1-53424)."""
N_BOOKS = 10_000
"""Books in the real goodbooks-10k (book_id 1-10000)."""
N_RATINGS = 5_976_479
"""Rows of the real ratings.csv in the v1.0 release zip."""
STAR_SHARES = (0.02, 0.06, 0.23, 0.36, 0.33)
"""Shares of 1..5 stars, about those of the real ratings.csv."""

BOOK_COLUMNS = (
    "book_id",
    "goodreads_book_id",
    "best_book_id",
    "work_id",
    "books_count",
    "isbn",
    "isbn13",
    "authors",
    "original_publication_year",
    "original_title",
    "title",
    "language_code",
    "average_rating",
    "ratings_count",
    "work_ratings_count",
    "work_text_reviews_count",
    "ratings_1",
    "ratings_2",
    "ratings_3",
    "ratings_4",
    "ratings_5",
    "image_url",
    "small_image_url",
)
"""The 23 columns of the release's books.csv, in its order."""

FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "ratings.csv": ("user_id", "book_id", "rating"),
    "books.csv": BOOK_COLUMNS,
    "to_read.csv": ("user_id", "book_id"),
    "tags.csv": ("tag_id", "tag_name"),
    "book_tags.csv": ("goodreads_book_id", "tag_id", "count"),
}
"""Every file of the release and its header, as the generator writes them."""

_README = "README.txt"
_MARKER = "SYNTHETIC DATA"  # first words of README.txt: a folder bookrec synth may replace

_N_FACTORS = 32
# Shares of a book vector's variance. A taste-cluster part (each author in one of up to 24 clusters) is
# low-rank, so a factor model learns it; author and series parts make one author's books nearest
# neighbours; era and language parts make books of one era and language closer than random ones.
_PART_SHARE = {"cluster": 0.35, "author": 0.25, "series": 0.12, "era": 0.10, "language": 0.05, "own": 0.13}
_USER_CLUSTER_SHARE = 0.75  # of a reader's taste variance: the rest is the reader's own
# Scales of the score (latent units, before the cut into stars), chosen by measurement on the default sizes
# with the real books: held-out RMSE of biases alone 0.86 (real goodbooks: about 0.85), of the planted
# noise-free score 0.69, of a 32-factor ALS fitted to the stars 0.78; planted and learned nearest
# neighbours of famous titles are mostly books by the same author or in the same series.
_USER_BIAS_SD = 0.45
_BOOK_BIAS_SD = 0.35
_TASTE_SD = 0.8
_NOISE_SD = 0.65
_SELECTION = 1.0  # Gumbel-top-k weight of taste (per taste SD) when a reader picks among candidate books
# Candidate draws in proportion to work_ratings_count (placeholder books: to (rank + 50)**-1, the fit of
# that curve); after the taste selection the top book gets ~21k of 6M ratings (real: 22.8k), the median ~265.
_POPULARITY_EXPONENT = 1.0
_TO_READ_PER_RATING = 0.153  # real: 912,705 to-read pairs for 5,976,479 ratings
_TO_READ_READERS = 0.915  # real: 48,871 of 53,424 readers marked some book to read
_NOPHOTO = "https://s.gr-assets.com/assets/nophoto/book/111x148-bcc042a9c91a29c1d680899eff700a03.png"
_NOPHOTO_SMALL = "https://s.gr-assets.com/assets/nophoto/book/50x75-a91bf249278a81aabab721ef782c4a74.png"
_SHELVES = (
    "to-read",
    "currently-reading",
    "favorites",
    "owned",
    "books-i-own",
    "library",
    "kindle",
    "re-read",
    "wish-list",
    "default",
)
_SERIES = r"\(([^()#;]+?),?\s*#[^()]*\)"  # "(Hush, Hush, #1)" -> "Hush, Hush"


@dataclass(frozen=True, eq=False)
class PlantedModel:
    """The model the synthetic ratings are drawn from; row ``i`` of each array is id ``i + 1``.

    ``score(u, b) = user_bias[u] + book_bias[b] + user_factors[u] · book_factors[b]``; a drawn rating adds
    ``Normal(0, noise_sd²)`` noise to it and cuts the sum into 1-5 stars.

    Attributes:
        user_factors: Reader taste vectors, float32 of shape (n_users, n_factors).
        book_factors: Book vectors, float32 of shape (n_books, n_factors).
        user_bias: Reader biases, float32 of shape (n_users,).
        book_bias: Book biases, float32 of shape (n_books,).
        popularity: How often each book is drawn as a candidate, float64 summing to 1.
        noise_sd: Standard deviation of the noise added to each drawn rating's score.
    """

    user_factors: np.ndarray
    book_factors: np.ndarray
    user_bias: np.ndarray
    book_bias: np.ndarray
    popularity: np.ndarray
    noise_sd: float

    @property
    def n_users(self) -> int:
        """Number of readers (user_id 1..n_users)."""
        return int(self.user_factors.shape[0])

    @property
    def n_books(self) -> int:
        """Number of books (book_id 1..n_books)."""
        return int(self.book_factors.shape[0])

    def score(self, user_ids: np.ndarray, book_ids: np.ndarray) -> np.ndarray:
        """The noise-free planted score of (user_id, book_id) pairs, float64.

        Args:
            user_ids: Reader ids, 1..n_users.
            book_ids: Book ids, 1..n_books, of the same length.

        Returns:
            ``user_bias + book_bias + user_factors · book_factors`` for each pair.
        """
        u = np.asarray(user_ids, dtype=np.int64) - 1
        b = np.asarray(book_ids, dtype=np.int64) - 1
        taste = np.einsum("ij,ij->i", self.user_factors[u], self.book_factors[b], dtype=np.float64)
        return self.user_bias[u].astype(np.float64) + self.book_bias[b] + taste


@dataclass(frozen=True, eq=False)
class SynthData:
    """A synthetic goodbooks-shaped data set in memory: one DataFrame per file of the release.

    Attributes:
        ratings: user_id, book_id, rating (int32, int32, int8), in a shuffled (time-like) order.
        books: The 23 books.csv columns as strings, exactly as written; book_id is "1".."n_books".
        to_read: user_id, book_id (int32) pairs, none of them also rated.
        tags: tag_id (int32), tag_name (str), sorted by name as in the release.
        book_tags: goodreads_book_id, tag_id, count (int64), sorted by book and descending count.
        model: The planted model the ratings were drawn from.
        cuts: The four score cut points between 1|2, 2|3, 3|4 and 4|5 stars.
        seed: The seed everything was drawn from.
        real_books: Whether books.csv holds real goodbooks metadata (``books_csv`` was given).
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
        star_shares: Shares of 1..5 stars in ratings.csv.
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


def plant_model(
    n_users: int = N_USERS, n_books: int = N_BOOKS, *, books_csv: Path | None = None, seed: int = 0
) -> PlantedModel:
    """The planted model that ``synthesize`` and ``generate_goodbooks`` draw from, without drawing ratings.

    Same arguments, same seed, same model: tests and demos can compare learned vectors with it.

    Args:
        n_users: Number of readers.
        n_books: Number of books.
        books_csv: A goodbooks books.csv whose first ``n_books`` rows (by book_id) shape the book vectors.
        seed: Seed of every random draw (a non-negative integer).

    Returns:
        The planted model.

    Raises:
        ConfigError: A size or the seed is out of range.
        DataError: ``books_csv`` is missing or is not a goodbooks books.csv.
    """
    _check_counts(n_users, n_books, seed)
    streams = _streams(seed)
    books = (
        _load_books(books_csv, n_books) if books_csv is not None else _placeholder_books(n_books, streams[0])
    )
    return _plant(books, n_users, streams[1])[0]


def synthesize(
    n_users: int = N_USERS,
    n_books: int = N_BOOKS,
    n_ratings: int = N_RATINGS,
    *,
    books_csv: Path | None = None,
    seed: int = 0,
    progress: bool = False,
) -> SynthData:
    """Draw a goodbooks-shaped data set with synthetic ratings, in memory.

    Args:
        n_users: Number of readers; each rates at least 2 books.
        n_books: Number of books; each is rated at least once.
        n_ratings: Exact number of ratings, from max(2 * n_users, n_books) to n_users * n_books.
        books_csv: A goodbooks books.csv (real metadata); its first ``n_books`` rows by book_id become the
            books, renumbered 1..n_books. Without it, placeholder books are generated.
        seed: Seed of every random draw; the same arguments and seed give the same data.
        progress: Show a progress bar on stderr.

    Returns:
        The data set and the planted model it was drawn from.

    Raises:
        ConfigError: A size or the seed is out of range.
        DataError: ``books_csv`` is missing or is not a goodbooks books.csv.
    """
    _check_sizes(n_users, n_books, n_ratings, seed)
    streams = _streams(seed)
    with tqdm(total=6, desc="synth", unit="step", disable=not progress, file=sys.stderr, leave=False) as bar:
        bar.set_postfix_str("books")
        real = books_csv is not None
        books = _load_books(books_csv, n_books) if real else _placeholder_books(n_books, streams[0])
        bar.update()
        bar.set_postfix_str("model")
        model, clusters = _plant(books, n_users, streams[1])
        bar.update()
        bar.set_postfix_str("choosing books")
        user_idx, book_idx, taste, to_read_user, to_read_book = _draw_pairs(model, n_ratings, streams[2])
        bar.update()
        bar.set_postfix_str("stars")
        rng = streams[3]
        score = model.user_bias[user_idx].astype(np.float64) + model.book_bias[book_idx] + taste
        score += rng.normal(scale=model.noise_sd, size=score.size)
        cuts = np.quantile(score, np.cumsum(STAR_SHARES)[:-1])
        stars = (np.searchsorted(cuts, score, side="right") + 1).astype(np.int8)
        del score, taste
        order = rng.permutation(n_ratings)  # interleave readers, as in a time-sorted file
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
        bar.update()
        bar.set_postfix_str("books.csv")
        per_book = np.bincount(book_idx.astype(np.int64) * 5 + stars - 1, minlength=n_books * 5)
        per_book = per_book.reshape(n_books, 5)
        if not real:
            books = _fill_placeholder_stats(books, per_book, rng)
        bar.update()
        bar.set_postfix_str("tags")
        tags, book_tags = _tags(books, clusters, per_book.sum(axis=1), rng)
        bar.update()
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
    )


def generate_goodbooks(
    out_dir: Path,
    *,
    n_users: int = N_USERS,
    n_books: int = N_BOOKS,
    n_ratings: int = N_RATINGS,
    books_csv: Path | None = None,
    seed: int = 0,
    progress: bool = False,
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
        progress: Show a progress bar on stderr.

    Returns:
        The sizes written.

    Raises:
        ConfigError: A size or the seed is out of range, or ``out_dir`` holds other files.
        DataError: ``books_csv`` is missing or is not a goodbooks books.csv.
    """
    out_dir = Path(os.path.abspath(out_dir))  # a name to put the temporary folder beside, even for '.'
    _check_sizes(n_users, n_books, n_ratings, seed)
    _check_out_dir(out_dir)
    if books_csv is not None:
        _read_books_csv(Path(books_csv), n_books)  # fail on a bad file before the long part
    data = synthesize(n_users, n_books, n_ratings, books_csv=books_csv, seed=seed, progress=progress)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.synth-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
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
                float(s) for s in np.bincount(data.ratings["rating"], minlength=6)[1:] / n_ratings
            ),
        )
        books_name = Path(books_csv).name if books_csv is not None else None
        (tmp / _README).write_text(_readme(report, books_name), encoding="utf-8")
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


def _check_out_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that holds anything but an earlier synthetic data set."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ConfigError(f"The output {out_dir} is a file, not a folder.")
    entries = {p.name for p in out_dir.iterdir()}
    if not entries:
        return
    ours = entries <= {*FILE_COLUMNS, _README} and _README in entries
    if ours:
        try:
            with open(out_dir / _README, encoding="utf-8") as handle:
                ours = handle.read(len(_MARKER)) == _MARKER
        except (OSError, UnicodeDecodeError):
            ours = False
    if not ours:
        raise ConfigError(
            f"The output folder {out_dir} already holds files that bookrec synth did not write; "
            "choose a new or empty folder."
        )


def _streams(seed: int) -> list[np.random.Generator]:
    """Independent generators for books, model, book choice and stars/tags: one stage never shifts another."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]


# --- books --------------------------------------------------------------------------------------------------


def _read_books_csv(path: Path, n_books: int) -> pd.DataFrame:
    """The whole books.csv as strings, checked for the release's columns, integer ids and enough rows."""
    if not path.is_file():
        raise DataError(f"The books file {path} does not exist or is not a file.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"Cannot read {path} as a goodbooks books.csv: {first}") from None
    missing = [c for c in BOOK_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path} is not a goodbooks books.csv: it lacks the column(s) {', '.join(missing)} "
            f"(expected the release's {len(BOOK_COLUMNS)} columns)."
        )
    for column in ("book_id", "goodreads_book_id"):
        ids = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(ids.isna().to_numpy() | (ids % 1 != 0).to_numpy())
        if bad.size:
            raise DataError(
                f"{path}, row {bad[0] + 2}: {column} {frame[column].iloc[bad[0]]!r} is not an integer."
            )
        dup = ids.duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise DataError(f"{path}, row {i + 2}: {column} {frame[column].iloc[i]} appears twice.")
    if n_books > len(frame):
        raise ConfigError(
            f"Asked for {n_books:,} books but {path} has only {len(frame):,}; ask for at most {len(frame):,}."
        )
    return frame


def _load_books(path: Path, n_books: int) -> pd.DataFrame:
    """The first ``n_books`` real books by book_id, renumbered 1..n_books, all other text unchanged."""
    frame = _read_books_csv(Path(path), n_books)
    order = np.argsort(pd.to_numeric(frame["book_id"]).to_numpy(), kind="stable")[:n_books]
    books = frame.iloc[order][list(BOOK_COLUMNS)].reset_index(drop=True)
    books["book_id"] = [str(i) for i in range(1, n_books + 1)]
    return books


def _placeholder_books(n_books: int, rng: np.random.Generator) -> pd.DataFrame:
    """Placeholder books with synthetic metadata of the real kinds; rating columns are filled in later."""
    ids = np.arange(1, n_books + 1)
    n_authors = max(1, round(0.39 * n_books))  # real: 3,888 first authors for 10,000 books
    weights = 1.0 / np.arange(1, n_authors + 1) ** 1.1
    author_draw = rng.choice(n_authors, size=n_books, p=weights / weights.sum())
    author = pd.factorize(author_draw)[0] + 1  # numbered by first appearance: 1, 2, 3, ...
    year = np.minimum(2017, np.round(2017 - rng.exponential(18.0, size=n_books))).astype(np.int64)
    old = rng.random(n_books) < 0.02
    year[old] = rng.integers(1600, 1900, size=int(old.sum()))
    year_text = np.array([f"{y}.0" for y in year], dtype=object)
    year_text[rng.random(n_books) < 0.002] = ""
    languages = np.array(["eng", "en-US", "", "en-GB", "spa", "fre", "ger", "ara", "jpn"], dtype=object)
    shares = np.array([0.63, 0.21, 0.11, 0.03, 0.006, 0.005, 0.004, 0.004, 0.001])
    language = languages[rng.choice(languages.size, size=n_books, p=shares / shares.sum())]
    titles = [f"Synthetic Book {i}" for i in ids]
    text_ids = [str(i) for i in ids]
    return pd.DataFrame(
        {
            "book_id": text_ids,
            "goodreads_book_id": text_ids,
            "best_book_id": text_ids,
            "work_id": text_ids,
            "books_count": [str(c) for c in rng.integers(1, 60, size=n_books)],
            "isbn": "",
            "isbn13": "",
            "authors": [f"Synthetic Author {a}" for a in author],
            "original_publication_year": year_text,
            "original_title": titles,
            "title": titles,
            "language_code": language,
            "average_rating": "",
            "ratings_count": "",
            "work_ratings_count": "",
            "work_text_reviews_count": "",
            "ratings_1": "",
            "ratings_2": "",
            "ratings_3": "",
            "ratings_4": "",
            "ratings_5": "",
            "image_url": _NOPHOTO,
            "small_image_url": _NOPHOTO_SMALL,
        }
    )


def _fill_placeholder_stats(
    books: pd.DataFrame, per_book: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """Rating columns of placeholder books, computed from their synthetic ratings."""
    books = books.copy()
    count = per_book.sum(axis=1)
    mean = (per_book * np.arange(1, 6)).sum(axis=1) / np.maximum(count, 1)
    books["average_rating"] = [f"{m:.2f}" for m in mean]
    books["ratings_count"] = [str(c) for c in count]
    books["work_ratings_count"] = [str(c) for c in count]
    books["work_text_reviews_count"] = [str(c) for c in rng.binomial(count, 0.05)]
    for star in range(5):
        books[f"ratings_{star + 1}"] = [str(c) for c in per_book[:, star]]
    return books


def _popularity(books: pd.DataFrame) -> np.ndarray:
    """Candidate-draw weights: real ratings counts when present, else the Zipf-like curve fitted to them."""
    n_books = len(books)
    counts = pd.to_numeric(books["work_ratings_count"], errors="coerce")
    counts = counts.fillna(pd.to_numeric(books["ratings_count"], errors="coerce")).to_numpy(dtype=np.float64)
    usable = np.isfinite(counts) & (counts > 0)
    if usable.mean() >= 0.5:
        counts[~usable] = counts[usable].min()
        weights = counts**_POPULARITY_EXPONENT
    else:  # placeholder books: book_id order is popularity order, as in the release
        rank = np.arange(1, n_books + 1) * (N_BOOKS / n_books)
        weights = (rank + 50.0) ** -1.0  # least-squares fit of log(work_ratings_count) by rank, real books
    return weights / weights.sum()


def _groups(books: pd.DataFrame) -> dict[str, np.ndarray]:
    """Integer group codes per metadata part; a book with the part missing gets a group of its own."""
    author = books["authors"].str.split(",").str[0].str.strip()
    series = books["title"].str.extract(_SERIES, expand=False).str.strip()
    year = pd.to_numeric(books["original_publication_year"], errors="coerce").to_numpy()
    era = np.where(
        year >= 1800, np.floor(year / 10) * 10, np.where(year >= 0, np.floor(year / 100) * 100, -1)
    )
    era = pd.Series(era).where(np.isfinite(year))
    language = books["language_code"].str.strip().str.lower()
    language = language.where(~language.str.startswith("en"), "eng")
    parts = {"author": author, "series": series, "era": era, "language": language}
    groups = {}
    for name, values in parts.items():
        values = pd.Series(values).replace("", np.nan)
        codes = pd.factorize(values)[0].astype(np.int64)
        lonely = codes < 0
        codes[lonely] = codes.max(initial=-1) + 1 + np.arange(int(lonely.sum()))
        groups[name] = codes
    return groups


def _era_label(year: float) -> str:
    if not math.isfinite(year):
        return ""
    if year >= 1800:
        return f"published-{int(year // 10 * 10)}s"
    return "published-before-1800"


# --- model --------------------------------------------------------------------------------------------------


def _plant(books: pd.DataFrame, n_users: int, rng: np.random.Generator) -> tuple[PlantedModel, np.ndarray]:
    """Book vectors from shared metadata parts, reader tastes near a cluster, biases, popularity.

    Returns the model and each book's taste cluster (for the tags).
    """
    n_books = len(books)
    groups = _groups(books)
    n_clusters = int(np.clip(n_books // 40, 4, 24))
    centers = rng.normal(size=(n_clusters, _N_FACTORS))
    author_cluster = rng.integers(n_clusters, size=int(groups["author"].max()) + 1)
    vectors = math.sqrt(_PART_SHARE["cluster"]) * centers[author_cluster[groups["author"]]]
    for part in ("author", "series", "era", "language"):
        table = rng.normal(size=(int(groups[part].max()) + 1, _N_FACTORS))
        vectors += math.sqrt(_PART_SHARE[part]) * table[groups[part]]
    vectors += math.sqrt(_PART_SHARE["own"]) * rng.normal(size=(n_books, _N_FACTORS))
    near = centers[rng.integers(n_clusters, size=n_users)]
    own = rng.normal(size=(n_users, _N_FACTORS))
    users = math.sqrt(_USER_CLUSTER_SHARE) * near + math.sqrt(1 - _USER_CLUSTER_SHARE) * own
    # Scale both sides so that the taste term has _TASTE_SD over random pairs (measured on a subsample).
    sample_u = users[: min(n_users, 500)]
    sample_b = vectors[: min(n_books, 2000)]
    spread = float(np.std(sample_u @ sample_b.T))
    scale = math.sqrt(_TASTE_SD / spread) if spread > 0 else 1.0
    average = pd.to_numeric(books["average_rating"], errors="coerce").to_numpy(dtype=np.float64)
    known = np.isfinite(average)
    quality = rng.normal(size=n_books)
    if known.sum() >= 2 and np.std(average[known]) > 0:
        z = np.zeros(n_books)
        z[known] = (average[known] - average[known].mean()) / average[known].std()
        quality = np.where(known, 0.8 * z + 0.6 * quality, quality)
    model = PlantedModel(
        user_factors=(users * scale).astype(np.float32),
        book_factors=(vectors * scale).astype(np.float32),
        user_bias=(_USER_BIAS_SD * rng.normal(size=n_users)).astype(np.float32),
        book_bias=(_BOOK_BIAS_SD * quality).astype(np.float32),
        popularity=_popularity(books),
        noise_sd=_NOISE_SD,
    )
    return model, author_cluster[groups["author"]]


# --- which books each reader rates --------------------------------------------------------------------------


def _allocate(total: int, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Integers summing to ``total``, proportional to ``weights``, none above its cap (largest remainders)."""
    out = np.zeros(weights.size, dtype=np.int64)
    remaining = int(total)
    while remaining > 0:
        active = np.flatnonzero(out < caps)
        w = weights[active].astype(np.float64)
        if w.sum() <= 0:
            w = np.ones(active.size)
        share = w / w.sum() * remaining
        add = np.floor(share).astype(np.int64)
        left = remaining - int(add.sum())
        if left:
            add[np.argsort(-(share - add), kind="stable")[:left]] += 1
        new = out[active] + add
        out[active] = np.minimum(new, caps[active])
        remaining = int(np.maximum(new - caps[active], 0).sum())
    return out


def _draw_pairs(
    model: PlantedModel, n_ratings: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rated pairs (user_idx, book_idx, taste) grouped by reader, and to-read pairs."""
    n_users, n_books = model.n_users, model.n_books
    # Readers' activity: a Beta-shaped spread from 2 to about twice the mean (real: a few to 200, mean 112).
    rated = 2 + _allocate(
        n_ratings - 2 * n_users, rng.beta(2.0, 2.2, size=n_users), np.full(n_users, n_books - 2)
    )
    # Every book is rated once by a reader drawn in proportion to activity: distinct slots of the rating
    # array, so no reader gets more such books than ratings.
    slots = rng.choice(n_ratings, size=n_books, replace=False)
    cover_user = np.searchsorted(np.cumsum(rated), slots, side="right")
    cover_order = np.argsort(cover_user, kind="stable")
    cover_books = cover_order.astype(np.int64)  # book index = position in slots
    cover_indptr = np.concatenate([[0], np.cumsum(np.bincount(cover_user, minlength=n_users))])
    wants = rng.beta(1.0, 2.0, size=n_users) * (rng.random(n_users) < _TO_READ_READERS)
    room = n_books - rated
    to_read = _allocate(min(round(_TO_READ_PER_RATING * n_ratings), int(room.sum())), wants, room)
    seeds = rng.integers(0, 2**63, size=n_users, dtype=np.int64).view(np.uint64)
    cdf = np.cumsum(model.popularity)
    cdf /= cdf[-1]
    book_idx = np.empty(n_ratings, dtype=np.int32)
    taste = np.empty(n_ratings, dtype=np.float64)
    to_read_book = np.empty(int(to_read.sum()), dtype=np.int32)
    _draw_kernel(
        rated,
        to_read,
        cover_indptr.astype(np.int64),
        cover_books,
        cdf,
        np.log(model.popularity),
        model.user_factors,
        model.book_factors,
        seeds,
        _SELECTION / _TASTE_SD,
        book_idx,
        taste,
        to_read_book,
    )
    user_idx = np.repeat(np.arange(n_users, dtype=np.int32), rated)
    to_read_user = np.repeat(np.arange(n_users, dtype=np.int32), to_read)
    return user_idx, book_idx, taste, to_read_user, to_read_book


@numba.njit(cache=True)
def _next_uniform(state: np.uint64) -> tuple[np.uint64, float]:
    """splitmix64: a tiny counter-based generator, seeded per reader from the caller's numpy Generator."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return state, (np.float64(z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)  # in (0, 1)


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
                    state, x = _next_uniform(state)
                    b = min(np.searchsorted(cdf, x), n_books - 1)
                    if not mark[b]:
                        mark[b] = True
                        pool[m] = b
                        t = _dot(factors, book_factors[b])
                        taste[m] = t
                        state, x = _next_uniform(state)
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
                        state, x = _next_uniform(state)
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


# --- tags ---------------------------------------------------------------------------------------------------


def _tags(
    books: pd.DataFrame, clusters: np.ndarray, n_rated: np.ndarray, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic shelves: to-read, three common ones, the book's era and language, its taste cluster."""
    n_books = len(books)
    year = pd.to_numeric(books["original_publication_year"], errors="coerce").to_numpy(dtype=np.float64)
    era = np.array([_era_label(y) for y in year], dtype=object)
    language = books["language_code"].str.strip().to_numpy(dtype=object)
    language = np.array([f"language-{c}" if c else "" for c in language], dtype=object)
    cluster = np.array([f"taste-cluster-{c + 1:02d}" for c in clusters], dtype=object)
    base = np.maximum(n_rated, 1).astype(np.float64) * rng.lognormal(0.0, 0.3, size=n_books)
    n_common = 3
    common_choice = np.argsort(rng.random((n_books, len(_SHELVES) - 1)), axis=1)[:, :n_common] + 1
    names = [np.full(n_books, _SHELVES[0], dtype=object), era, language, cluster]
    counts = [base * 20, base * 2, base * 1.5, base * 4]
    for j in range(n_common):
        names.append(np.array(_SHELVES, dtype=object)[common_choice[:, j]])
        counts.append(base * rng.uniform(0.3, 3.0, size=n_books))
    name = np.concatenate(names)
    count = np.maximum(1, np.round(np.concatenate(counts))).astype(np.int64)
    book = np.tile(np.arange(n_books), len(names))
    keep = name != ""
    name, count, book = name[keep], count[keep], book[keep]
    tag_names = np.array(sorted(set(name.tolist())), dtype=object)
    tag_id = np.searchsorted(tag_names, name)
    goodreads = pd.to_numeric(books["goodreads_book_id"]).to_numpy(dtype=np.int64)[book]
    order = np.lexsort((tag_id, -count, goodreads))
    tags = pd.DataFrame({"tag_id": np.arange(tag_names.size, dtype=np.int32), "tag_name": tag_names})
    book_tags = pd.DataFrame(
        {
            "goodreads_book_id": goodreads[order],
            "tag_id": tag_id[order].astype(np.int64),
            "count": count[order],
        }
    )
    return tags, book_tags


# --- writing ------------------------------------------------------------------------------------------------


def _write_ints(path: Path, frame: pd.DataFrame) -> None:
    """A CSV of integer columns, fast (pyarrow), with an unquoted header like the release's files."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with open(path, "wb") as handle:
        handle.write((",".join(frame.columns) + "\n").encode())
        pa_csv.write_csv(table, handle, write_options=pa_csv.WriteOptions(include_header=False))


def _readme(report: SynthReport, books_name: str | None) -> str:
    from bookrec import __version__

    shares = " / ".join(f"{s:.1%}" for s in report.star_shares)
    if books_name is not None:
        books_text = (
            f"books.csv holds real goodbooks-10k metadata: the first {report.n_books:,} rows (by book_id)\n"
            f"of {books_name}, renumbered book_id 1-{report.n_books} in that order, every other field\n"
            "unchanged. goodbooks-10k is by Zygmunt Zając, licensed CC BY-SA 4.0 (Creative Commons\n"
            "Attribution-ShareAlike 4.0, https://creativecommons.org/licenses/by-sa/4.0/;\n"
            "https://github.com/zygmuntz/goodbooks-10k); books.csv is shared under the same licence.\n"
            "Its rating columns (average_rating, ratings_count, ratings_1..ratings_5, ...) are the real\n"
            "Goodreads figures, NOT computed from the synthetic ratings.\n"
        )
    else:
        books_text = (
            'books.csv holds placeholder books ("Synthetic Book 17" by "Synthetic Author 3") with\n'
            "synthetic years and languages; their ids are not Goodreads ids, and their rating columns are\n"
            "computed from the synthetic ratings.\n"
        )
    return (
        f"{_MARKER}: the ratings in this folder are SYNTHETIC, not real readers' ratings.\n"
        "\n"
        f"Generated by bookrec {__version__} (`bookrec synth`, bookrec.data.synth.generate_goodbooks)\n"
        f"with seed {report.seed}. The same version, sizes, books file and seed give the same files.\n"
        "\n"
        "The folder has the layout of goodbooks-10k: the same file names and columns. ratings.csv and\n"
        "to_read.csv were drawn at random from a planted model; do not draw conclusions about real readers\n"
        "or books from them.\n"
        "\n"
        f"  ratings.csv    {report.n_ratings:,} ratings, user_id 1-{report.n_users}, "
        f"book_id 1-{report.n_books}, stars 1-5: {shares}\n"
        f"  to_read.csv    {report.n_to_read:,} (user_id, book_id) pairs marked to read\n"
        f"  books.csv      {report.n_books:,} books, the release's 23 columns\n"
        f"  tags.csv       {report.n_tags:,} synthetic shelves (to-read, favorites, era, language, taste)\n"
        f"  book_tags.csv  {report.n_book_tags:,} (goodreads_book_id, tag_id, count) rows\n"
        "\n"
        "How the ratings were drawn: score = reader bias + book bias + reader taste · book vector + noise,\n"
        "cut into 1-5 stars at the quantiles that give the real release's shares (2/6/23/36/33%). Book\n"
        "vectors share parts by first author, series, era and language, so books by one author lie close.\n"
        "Readers rate popular books more often, and prefer books that match their taste. Every reader has\n"
        "at least 2 ratings, every book at least 1, and no (reader, book) pair appears twice.\n"
        "\n" + books_text
    )


def _publish(tmp: Path, out_dir: Path) -> None:
    """Move the finished folder into place; an earlier synthetic folder is swapped out, then deleted."""
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    replace_folder(tmp, out_dir, old)
    shutil.rmtree(old, ignore_errors=True)
