"""What a synthetic goodbooks folder looks like: the real release's shape, and the marker of its README.txt.

``bookrec synth`` writes folders with the release's sizes, files and columns and a README.txt that starts with
``SYNTHETIC_MARKER``; it replaces only folders that start so. Loading reads the same marker to flag the data
as synthetic. Both take these facts from here, so writer and reader never disagree.
"""

from __future__ import annotations

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

SYNTHETIC_MARKER = "SYNTHETIC DATA"
"""The first words of the README.txt of every folder ``bookrec synth`` writes."""

SYNTHETIC_README = "README.txt"
"""The file of a synthetic folder that starts with ``SYNTHETIC_MARKER``."""
