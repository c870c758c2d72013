"""The books of a synthetic data set: real ones from a goodbooks books.csv, or placeholders; their tags.

Also what the planted model takes from the books: their metadata groups (first author, series, era,
language), whose shared parts make related books lie close, and their popularity.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from bookrec.data._synthetic import BOOK_COLUMNS, GENRE_SHELVES, N_BOOKS
from bookrec.errors import ConfigError, DataError

# Candidate draws in proportion to work_ratings_count (placeholder books: to (rank + 50)**-1, the fit of
# that curve); after the taste selection the top book gets ~21k of 6M ratings (real: 22.8k), the median ~265.
_POPULARITY_EXPONENT = 1.0
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
    """Rating columns of placeholder books, computed from their synthetic ratings.

    ``per_book`` counts each book's ratings 1..5 or 1..10. The columns are Goodreads' 1-5 stars, so 1-10
    points count in pairs there (1-2 as 1 star, ..., 9-10 as 5), and average_rating is of those stars.
    """
    books = books.copy()
    if per_book.shape[1] == 10:
        per_book = per_book[:, 0::2] + per_book[:, 1::2]
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


# --- tags ---------------------------------------------------------------------------------------------------


def _count(values: np.ndarray) -> np.ndarray:
    """Shelf counts: whole numbers, at least 1 (a shelf holds the book at least once)."""
    return np.maximum(1, np.round(values)).astype(np.int64)


def _tags(
    books: pd.DataFrame, clusters: np.ndarray, n_rated: np.ndarray, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic shelves: to-read, three common ones, era, language, and genres that follow the taste cluster.

    Each planted taste cluster gets its own genre (``GENRE_SHELVES``, in a random order per seed) and a
    second genre drawn from the others, so clusters overlap as real genres do; a quarter of the books get a
    stray third genre. A book's own genre always outcounts its other genre shelves, so a genre filter picks
    the books of one planted taste. A ``taste-cluster-NN`` shelf names the cluster itself.
    """
    n_books = len(books)
    year = pd.to_numeric(books["original_publication_year"], errors="coerce").to_numpy(dtype=np.float64)
    era = np.array([_era_label(y) for y in year], dtype=object)
    language = books["language_code"].str.strip().to_numpy(dtype=object)
    language = np.array([f"language-{c}" if c else "" for c in language], dtype=object)
    cluster = np.array([f"taste-cluster-{c + 1:02d}" for c in clusters], dtype=object)
    base = np.maximum(n_rated, 1).astype(np.float64) * rng.lognormal(0.0, 0.3, size=n_books)
    n_common = 3
    common_choice = np.argsort(rng.random((n_books, len(_SHELVES) - 1)), axis=1)[:, :n_common] + 1
    genres = np.array(GENRE_SHELVES, dtype=object)
    n_genres = genres.size  # at least as many as clusters (_plant makes at most 24)
    own = rng.permutation(n_genres)  # cluster c's genre: genres[own[c]]
    # A second genre per cluster, never its own: an offset of 1..n_genres-1 from it.
    second = (own + rng.integers(1, n_genres, size=n_genres)) % n_genres
    stray = rng.integers(n_genres, size=n_books)
    stray_name = genres[stray].copy()
    stray_name[(rng.random(n_books) >= 0.25) | (stray == own[clusters]) | (stray == second[clusters])] = ""
    names = [
        np.full(n_books, _SHELVES[0], dtype=object),
        era,
        language,
        cluster,
        genres[own[clusters]],
        genres[second[clusters]],
        stray_name,
    ]
    counts = [_count(base * 20), _count(base * 2), _count(base * 1.5), _count(base)]
    own_count = _count(base * rng.uniform(2.5, 5.0, size=n_books))
    second_count = _count(base * rng.uniform(0.5, 2.0, size=n_books))
    stray_count = _count(base * rng.uniform(0.2, 1.5, size=n_books))
    own_count = np.maximum(own_count, np.maximum(second_count, stray_count) + 1)  # no tie, even when tiny
    counts += [own_count, second_count, stray_count]
    for j in range(n_common):
        names.append(np.array(_SHELVES, dtype=object)[common_choice[:, j]])
        counts.append(_count(base * rng.uniform(0.3, 3.0, size=n_books)))
    name = np.concatenate(names)
    count = np.concatenate(counts)
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
