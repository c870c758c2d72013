"""What a synthetic goodbooks folder looks like: the real release's shape, and the marker of its README.txt.

``bookrec synth`` writes folders with the release's sizes, files and columns and a README.txt that starts with
``SYNTHETIC_MARKER``; it replaces only folders that start so. Loading reads the same marker to flag the data
as synthetic, and the rating scale its README records. Both take these facts from here, so writer and
reader never disagree.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

N_USERS = 53_424
"""Readers in the real goodbooks-10k ratings.csv (user_id 1-53424)."""
N_BOOKS = 10_000
"""Books in the real goodbooks-10k (book_id 1-10000)."""
N_RATINGS = 5_976_479
"""Rows of the real ratings.csv in the v1.0 release zip."""
STAR_SHARES = (0.02, 0.06, 0.23, 0.36, 0.33)
"""Shares of 1..5 stars, about those of the real ratings.csv."""
# Book-Crossing's 433,671 explicit ratings, the best-known 1-10 book data: 1,770 / 2,759 / 5,996 / 8,904 /
# 50,974 / 36,924 / 76,457 / 103,736 / 67,541 / 78,610 of points 1..10 (few below 5, a spike at 5, mode 8),
# rounded to sum to 1.
POINT_SHARES = (0.0041, 0.0064, 0.0138, 0.0205, 0.1175, 0.0851, 0.1763, 0.2392, 0.1557, 0.1814)
"""Shares of 1..10 points (``bookrec synth --scale 1-10``), about Book-Crossing's explicit ratings'."""
RATING_SHARES: dict[int, tuple[float, ...]] = {5: STAR_SHARES, 10: POINT_SHARES}
"""The shares of each rating 1..top, by the top of the scale (5 stars or 10 points)."""

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

GENRE_SHELVES = (
    "fantasy",
    "romance",
    "non-fiction",
    "science-fiction",
    "mystery",
    "thriller",
    "historical-fiction",
    "young-adult",
    "classics",
    "horror",
    "biography",
    "memoir",
    "history",
    "poetry",
    "humor",
    "graphic-novels",
    "self-help",
    "philosophy",
    "contemporary",
    "dystopian",
    "paranormal",
    "crime",
    "childrens",
    "science",
)
"""Genre shelves of synthetic books, one per planted taste cluster (up to 24); real Goodreads tag names."""

SYNTHETIC_MARKER = "SYNTHETIC DATA"
"""The first words of the README.txt of every folder ``bookrec synth`` writes."""

SYNTHETIC_README = "README.txt"
"""The file of a synthetic folder that starts with ``SYNTHETIC_MARKER``."""

SCALE_LINE = "Rating scale: 1-"
"""The README.txt line recording a synthetic folder's scale ("Rating scale: 1-10"); older folders are 1-5."""


def recorded_scale(ratings: str, archive: Path | None = None) -> tuple[float, float] | None:
    """The rating scale the README.txt beside a ratings.csv records; None unless ``bookrec synth`` wrote it.

    goodbooks folders are read on the 1-5 scale; a synthetic one may hold 1-10 points, and says so in its
    README.txt. ``ratings`` is the ratings.csv path, or its member name inside the zip ``archive``.
    """
    readme = ratings[: -len("ratings.csv")] + SYNTHETIC_README
    try:
        if archive is None:
            raw = Path(readme).read_bytes()
        else:
            with zipfile.ZipFile(archive) as zipped:
                raw = zipped.read(readme)
    except (KeyError, OSError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    text = raw.decode("utf-8", "replace")
    if not text.startswith(SYNTHETIC_MARKER):
        return None
    for line in text.splitlines():
        top = line[len(SCALE_LINE) :].strip()
        if line.startswith(SCALE_LINE) and top.isdigit():
            return (1.0, float(top))
    return None
