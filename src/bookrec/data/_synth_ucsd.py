"""``bookrec synth --layout ucsd``: a drawn data set written in the UCSD Goodreads Book Graph's files.

The same planted model and draws as the goodbooks layout (``synthesize``), written as ``ucsd`` reads them:
every rating is an interaction with ``is_read`` 1 and its stars; every to-read pair an interaction with
``rating`` 0 (a fifth of them marked read, as books read but not rated; ``n_to_read`` sets how many: the
real files have 1.2 per rating); rows grouped by reader in a random order within each, as in the real file,
written a block of readers at a time; book ids are a shuffled 0..n-1 that ``book_id_map.csv`` maps to the
books' Goodreads ids, and the books and their authors go into gzipped JSON lines with the real files' fields
(every value text, as there). The extra draws (read flags, reviews, the shuffles, reader hashes) come from
their own generator, so the goodbooks layout's files stay byte for byte what they were. (The layout skips
the goodbooks shuffles and shelves, so its books' review counts differ from the goodbooks layout's.)
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bookrec.data._synth_files import _write_ints
from bookrec.data._synth_model import _reader_blocks
from bookrec.data._synthetic import SCALE_LINE, SYNTHETIC_MARKER
from bookrec.data.ucsd import AUTHORS_JSON, BOOK_ID_MAP, BOOKS_JSON, INTERACTIONS, USER_ID_MAP

if TYPE_CHECKING:
    from bookrec.data.synth import SynthReport, _Draws

READ_SHARE = 0.2
"""Share of the rating-0 interactions marked ``is_read`` (read, not rated); the rest are only shelved."""
REVIEW_SHARE = 0.07
"""Share of the rated interactions marked ``is_reviewed``."""
_BLOCK_ROWS = 1 << 22  # interactions written at a time (readers whole): ~100 MB of temporaries


def write_ucsd(folder: Path, draws: _Draws, seed: int) -> int:
    """Write the drawn data set into ``folder`` in the UCSD layout; returns the number of interactions.

    The interactions are written a block of readers at a time (about 4 million rows), so the memory they
    take does not grow with the file; the blocks depend only on the draws, so the files only on the seed.
    """
    rng = np.random.default_rng([seed, 0x0C5D])
    n_books = len(draws.books)
    csv_of_book = rng.permutation(n_books)  # book_id 1..n -> its id in the interactions
    _write_ints(folder / INTERACTIONS, _interaction_rows(draws, csv_of_book, rng))
    goodreads = draws.books["goodreads_book_id"].astype(np.int64).to_numpy()
    by_csv = np.argsort(csv_of_book)
    _write_ints(
        folder / BOOK_ID_MAP, pd.DataFrame({"book_id_csv": np.arange(n_books), "book_id": goodreads[by_csv]})
    )
    n_users = draws.rated.size
    hashes = rng.integers(0, 2**63, size=(n_users, 2))
    with open(folder / USER_ID_MAP, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("user_id_csv,user_id\n")
        handle.writelines(f"{i},{a:016x}{b:016x}\n" for i, (a, b) in enumerate(hashes.tolist()))
    _write_books_json(folder, draws.books)
    return int(draws.stars.size + draws.to_read_book.size)


def _interaction_rows(
    draws: _Draws, csv_of_book: np.ndarray, rng: np.random.Generator
) -> Iterator[pd.DataFrame]:
    """The interactions a block of readers at a time: each reader's rows together, in a random order."""
    rated_end, wants_end = np.cumsum(draws.rated), np.cumsum(draws.to_read)
    for start, stop in _reader_blocks(draws.rated + draws.to_read, _BLOCK_ROWS):
        r0, r1 = (int(rated_end[start - 1]) if start else 0), int(rated_end[stop - 1])
        w0, w1 = (int(wants_end[start - 1]) if start else 0), int(wants_end[stop - 1])
        readers = np.arange(start, stop, dtype=np.int32)
        user = np.concatenate(
            [np.repeat(readers, draws.rated[start:stop]), np.repeat(readers, draws.to_read[start:stop])]
        )
        book = np.concatenate([draws.book_idx[r0:r1], draws.to_read_book[w0:w1]])
        rating = np.concatenate([draws.stars[r0:r1], np.zeros(w1 - w0, dtype=np.int8)])
        is_read = np.concatenate([np.ones(r1 - r0, dtype=bool), rng.random(w1 - w0) < READ_SHARE])
        is_reviewed = np.concatenate([rng.random(r1 - r0) < REVIEW_SHARE, np.zeros(w1 - w0, dtype=bool)])
        order = np.lexsort((rng.random(user.size), user))  # grouped by reader, shuffled within
        yield pd.DataFrame(
            {
                "user_id": user[order],
                "book_id": csv_of_book[book[order]].astype(np.int32),
                "is_read": is_read[order].astype(np.int8),
                "rating": rating[order],
                "is_reviewed": is_reviewed[order].astype(np.int8),
            }
        )


def _write_books_json(folder: Path, books: pd.DataFrame) -> None:
    """goodreads_books.json.gz and goodreads_book_authors.json.gz: every value text, as in the real files."""
    names = books["authors"].fillna("").astype(str).str.split(", ")
    author_ids, unique_names = pd.factorize(pd.Series([n for row in names for n in row if n]))
    author_of = dict(zip(unique_names, (str(i + 1) for i in range(len(unique_names))), strict=True))
    del author_ids
    year = pd.to_numeric(books["original_publication_year"], errors="coerce")
    with _gzip_text(folder / BOOKS_JSON) as handle:
        for row, authors, published in zip(books.itertuples(index=False), names, year, strict=True):
            record = {
                "isbn": row.isbn,
                "language_code": row.language_code,
                "average_rating": row.average_rating,
                "authors": [{"author_id": author_of[name], "role": ""} for name in authors if name],
                "publication_year": "" if pd.isna(published) else str(int(published)),
                "image_url": row.image_url,
                "book_id": row.goodreads_book_id,
                "ratings_count": row.ratings_count,
                "work_id": row.work_id,
                "title": row.title,
                "title_without_series": row.original_title,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    with _gzip_text(folder / AUTHORS_JSON) as handle:
        for name, author_id in author_of.items():
            handle.write(json.dumps({"author_id": author_id, "name": name}, ensure_ascii=False) + "\n")


def ucsd_readme(report: SynthReport, n_interactions: int) -> str:
    """README.txt of a UCSD-layout synthetic folder: the marker first, so loading flags it SYNTHETIC."""
    from bookrec import __version__

    return (
        f"{SYNTHETIC_MARKER}: the interactions in this folder are SYNTHETIC, not real readers'.\n"
        "\n"
        f"Generated by bookrec {__version__} (`bookrec synth --layout ucsd`) with seed {report.seed},\n"
        "in the file layout of the UCSD Goodreads Book Graph (Wan & McAuley). The same version, sizes,\n"
        "knobs and seed give the same files.\n"
        f"{SCALE_LINE}{report.rating_max}\n"
        "\n"
        f"  {INTERACTIONS}  {n_interactions:,} rows (user_id,book_id,is_read,rating,is_reviewed):\n"
        f"      {report.n_ratings:,} ratings (rating 1-{report.rating_max}) and {report.n_to_read:,} "
        f"shelf events\n      (rating 0: not rated; {READ_SHARE:.0%} of them is_read); ids 0..n-1\n"
        f"  {BOOK_ID_MAP}  book_id_csv -> Goodreads book_id ({report.n_books:,} books)\n"
        f"  {USER_ID_MAP}  user_id_csv -> a random hash ({report.n_users:,} readers)\n"
        f"  {BOOKS_JSON}  one JSON object per book (book_id, title, authors, publication_year, ...)\n"
        f"  {AUTHORS_JSON}  author_id, name\n"
        "\n"
        "Drawn from the same planted model as the goodbooks layout (see `bookrec synth --help`);\n"
        "do not draw conclusions about real readers or books from them.\n"
    )


def _gzip_text(path: Path) -> io.TextIOWrapper:
    """A gzip text file whose bytes depend on its text only (no time stamp in the header)."""
    return io.TextIOWrapper(gzip.GzipFile(path, "wb", compresslevel=1, mtime=0), encoding="utf-8")
