"""Find books by what people type: titles with typos, parts of titles, original titles, series and authors.

One search serves the CLI, the Python API and the app's search boxes. Each book is known by several names:
its title (without the series note), its original title ("Le Petit Prince"), the series in its note
("(Harry Potter, #1)") and its authors. A query that equals a title or an original title, ignoring case,
accents, punctuation and a leading article, names that book at once (the most read one, where books share a
title). Otherwise every name is scored against the query in two steps, so that 10,000 books answer in a few
milliseconds:

1. retrieval: the names sharing most of the query's character trigrams (an inverted index in numpy arrays);
2. scoring: edit-distance similarity (rapidfuzz's ``ratio``) of the query with the whole name, or with the
   run of *whole words* of the name it aligns with best. Aligning to whole words is what keeps "it" inside
   "petit" from matching Stephen King's *It*: the run there is "petit", a poor match. A part of a name counts
   less than all of it, a prefix more than a middle; series and authors count less than titles.

Books are then ranked by match quality plus ``_POPULARITY`` points per tenfold ratings, so that "harry potter"
finds the first book of the series rather than a companion book that starts with the same words. ``find``
accepts the top book only when it matches well (``_ACCEPT``) and clearly beats every other work
(``_CLEAR``); otherwise it raises ``UnknownBookError`` with "did you mean" suggestions.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz

from bookrec._title_index import ExactTitles, Names, without_article
from bookrec.errors import UnknownBookError

__all__ = ["BookMatch", "TitleIndex", "normalize_title"]

# Measured on tests/fixtures/title_queries.csv (benchmarks/bench_search.py): a best match below _ACCEPT is a
# suggestion, not an answer (typos of real titles score 85-95, unrelated titles 55-75); _CLEAR rank points
# over the next work are about 2.5 times the ratings at equal match quality.
_ACCEPT = 80.0
_SUGGEST = 55.0
_CLEAR = 1.5
_POPULARITY = 5.0  # rank points per tenfold ratings
_CANDIDATES = 200  # names scored exactly after trigram retrieval
_NAMES = "names_"  # the prefix of the fuzzy index's stored arrays

# What a name is worth as evidence for its book (multiplies the match quality).
_TITLE, _ORIGINAL, _SERIES, _AUTHOR = range(4)
_KINDS = ("title", "original title", "series", "author")
_WEIGHT = {_TITLE: 1.0, _ORIGINAL: 1.0, _SERIES: 0.93, _AUTHOR: 0.9}
_FIRST_IN_SERIES = 0.02  # "#1" of a series is what a series name most likely means
_LATER_AUTHOR = 0.05  # a second author is often an illustrator or a translator

# "(The Hunger Games, #1)", "(Discworld, #1; Rincewind #1)", "(The Lord of the Rings, #1-3)"
_SERIES_NOTE = re.compile(r"\s*\(([^()]*#[^()]*)\)\s*$")
_SERIES_PART = re.compile(r"^(.*?)[,\s]*#\s*([\d.]+)\s*(-\s*[\d.]+)?")
_NON_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_ARTICLES = frozenset({"the", "a", "an"})


def normalize_title(text: str) -> str:
    """Casefold, drop accents, punctuation and a trailing series note: the key for exact matching."""
    text = _SERIES_NOTE.sub("", str(text)).replace("&", " and ")
    if not text.isascii():  # ASCII has nothing to decompose: skipping it halves loading a model's titles
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _NON_WORD.sub(" ", text.casefold().replace("'", "").replace("\u2019", ""))
    return _SPACES.sub(" ", text).strip()


# normalize_title's steps as Arrow string kernels, for ASCII texts (where they give the same keys): RE2's \s
# lacks Python's \v and \x1c-\x1f, so the spaces are spelled out.
_ASCII_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f "
_ASCII_STEPS = (
    (pc.replace_substring_regex, r"[" + _ASCII_SPACE + r"]*\(([^()]*#[^()]*)\)[" + _ASCII_SPACE + r"]*$", ""),
    (pc.replace_substring, "&", " and "),
    (pc.replace_substring, "'", ""),
    (pc.replace_substring_regex, r"[^A-Za-z0-9_" + _ASCII_SPACE + r"]", " "),
    (pc.replace_substring_regex, r"[" + _ASCII_SPACE + r"]+", " "),
)


def normalize_titles(texts: pd.Series) -> np.ndarray:
    """``normalize_title`` of every text (an object array), with Arrow's string kernels for ASCII texts:
    2.36 million titles in about a second, where a Python call per title took 7 s."""
    array = pa.array(texts.astype(str).to_numpy(dtype=object, na_value="nan"), type=pa.large_string())
    ascii_ = pc.string_is_ascii(array).to_numpy(zero_copy_only=False)
    keys = pc.ascii_lower(array)
    for kernel, pattern, replacement in _ASCII_STEPS:
        keys = kernel(keys, pattern=pattern, replacement=replacement)
    out = pc.utf8_trim(keys, characters=" ").to_numpy(zero_copy_only=False)
    for position in np.flatnonzero(~ascii_).tolist():
        out[position] = normalize_title(array[position].as_py())
    return out


def _series(title: str) -> list[tuple[str, bool]]:
    """The series in a title's note, each with whether this is its first book: [("harry potter", True)]."""
    note = _SERIES_NOTE.search(title)
    if note is None:
        return []
    found = []
    for part in note.group(1).split(";"):
        parsed = _SERIES_PART.match(part.strip())
        if parsed and (name := normalize_title(parsed.group(1))):
            found.append((name, parsed.group(2) in ("1", "1.0") and not parsed.group(3)))
    return found


@dataclass(frozen=True)
class BookMatch:
    """One search hit.

    Attributes:
        book_idx: Position of the book in the model.
        title: Display title.
        authors: Authors.
        score: Match quality, 0-100 (100: the exact title).
        matched_on: Which of the book's names matched: "title", "original title", "series" or "author".
        rank: Match quality plus how much the book is read: the order of a search.
    """

    book_idx: int
    title: str
    authors: str
    score: float
    matched_on: str = "title"
    rank: float = 0.0


class TitleIndex:
    """Lookup of books by title, original title, series or author over a books table (row i: position i)."""

    def __init__(
        self,
        books_table: pd.DataFrame,
        popularity: np.ndarray | None = None,
        stored: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Keep the table; every index is read from ``stored`` or made on the first query that needs it.

        Nothing is read at construction, so a model of millions of books loads in the same time as one of
        thousands. A model folder stores the indexes (``arrays()``); without them the exact-title index is
        made on the first lookup by title (about 3 s per million books), the fuzzy index on the first fuzzy
        query (about 17 s per million).

        Args:
            books_table: Columns ``title`` and ``authors``; optional ``original_title``, ``work_id``,
                ``ratings_count`` (Goodreads') and ``n_ratings`` (in the data). Row i is book position i.
            popularity: How much each book is read (default: ``ratings_count`` where the table has it,
                else ``n_ratings``): ranks matches of equal quality and decides between shared titles.
            stored: What ``arrays()`` made from this table (e.g. mapped from a model folder), and optionally
                ``work``, each book's work (-1: none; see :mod:`bookrec.lookups`). Missing ones are made.
        """
        self._table = books_table
        self._given_popularity = popularity
        self._stored = dict(stored or {})

    def __len__(self) -> int:
        return len(self._table)

    def arrays(self) -> dict[str, np.ndarray]:
        """The exact-title and fuzzy indexes as named arrays, to store beside the table (and pass back as
        ``stored``): 31 s and 4.4 GB of memory at 2.36 million books (measured on a busy machine), once, when
        saving."""
        hashes, books = ExactTitles.build((self._key_array, self._original_key_array), self.popularity)
        exact = {"exact_hash": hashes, "exact_book": books, "exact_probe": ExactTitles.probe()}
        return exact | self._names.to_arrays(_NAMES)

    @cached_property
    def popularity(self) -> np.ndarray:
        """How much each book is read (see the constructor's ``popularity``)."""
        given = self._given_popularity
        return _popularity(self._table) if given is None else np.asarray(given, float)

    @cached_property
    def _log_popularity(self) -> np.ndarray:
        return np.log10(1.0 + np.maximum(self.popularity, 0.0))

    @cached_property
    def _work(self) -> np.ndarray | _OwnWork:
        """Each book's work: editions of one work are one answer; a book without a work id is its own."""
        n, table = len(self), self._table
        stored = self._stored.get("work")
        if stored is not None:
            return _OwnWork(stored)
        if "work_id" not in table:
            return np.arange(n)
        work = table["work_id"].astype(str).str.strip()
        return np.where(work != "", pd.factorize(work)[0] + n, np.arange(n))

    @cached_property
    def _key_array(self) -> np.ndarray:
        return normalize_titles(self._table["title"])

    @cached_property
    def _original_key_array(self) -> np.ndarray:
        if "original_title" not in self._table:
            return np.full(len(self), "", dtype=object)
        original = self._table["original_title"].fillna("")
        keys = np.full(len(self), "", dtype=object)
        given = np.flatnonzero((original.astype(str) != "").to_numpy(dtype=bool))
        keys[given] = normalize_titles(original.iloc[given])
        return keys

    @cached_property
    def _exact(self) -> ExactTitles:
        """Normalized title and original title (with and without a leading article) -> the most read book."""
        stored = self._stored
        if "exact_hash" in stored and np.array_equal(stored.get("exact_probe"), ExactTitles.probe()):
            return ExactTitles(stored["exact_hash"], stored["exact_book"], self._keys_of)
        columns = (self._key_array, self._original_key_array)
        hashes, books = ExactTitles.build(columns, self.popularity)
        return ExactTitles(hashes, books, lambda book: (str(columns[0][book]), str(columns[1][book])))

    def _keys_of(self, idx: int) -> tuple[str, str]:
        """The normalized title and original title of one book, read from the table."""
        original = self._table["original_title"].iat[idx] if "original_title" in self._table else ""
        return normalize_title(str(self._table["title"].iat[idx])), (
            "" if pd.isna(original) or str(original) == "" else normalize_title(str(original))
        )

    def _shown(self, idx: int) -> tuple[str, str]:
        """The title and authors of one book, read from the table (no list of every title is made)."""
        authors = self._table["authors"].iat[idx]
        return str(self._table["title"].iat[idx]), "" if pd.isna(authors) else str(authors)

    def find(self, query: str) -> int:
        """The position of the book a person means by ``query``.

        Raises:
            UnknownBookError: Nothing matches well, or several works match about equally well; carries up
                to five suggestions.
        """
        return self.match(query).book_idx

    def match(self, query: str) -> BookMatch:
        """The book a person means by ``query``, with how well it matched.

        Raises:
            UnknownBookError: Nothing matches well, or several works match about equally well; carries up
                to five suggestions.
        """
        key = normalize_title(query)
        if not key:
            raise UnknownBookError("an empty title matches no book")
        for candidate in (key, without_article(key)):
            idx = self._exact.get(candidate)
            if idx is not None:
                return BookMatch(idx, *self._shown(idx), 100.0, "title", math.inf)
        ranked = self._ranked(key, min_score=_SUGGEST)
        suggestions = [self._shown(hit.book)[0] for hit in ranked[:5]]
        if not ranked or ranked[0].score < _ACCEPT:
            raise UnknownBookError(f'no book matches "{query}" well.', suggestions=suggestions)
        best = ranked[0]
        work = self._work[best.book]
        rival = next((hit for hit in ranked[1:] if self._work[hit.book] != work), None)
        if rival is not None and best.rank - rival.rank < _CLEAR:
            raise UnknownBookError(f'"{query}" matches several books.', suggestions=suggestions)
        return self._match_of(best)

    def suggest(self, query: str, limit: int = 5) -> list[str]:
        """Titles close to ``query``, best first, for "did you mean"."""
        return [hit.title for hit in self.search(query, limit=limit, min_score=_SUGGEST)]

    def search(self, query: str, limit: int = 10, min_score: float = 60.0) -> list[BookMatch]:
        """Type-ahead: the books a query may mean, best first (match quality and how much each is read).

        An exact title comes first; ``min_score`` (0-100) leaves out weaker matches.
        """
        key = normalize_title(query)
        if not key:
            return []
        ranked = self._ranked(key, min_score=min_score)
        exact = self._exact.get(key)
        exact = self._exact.get(without_article(key)) if exact is None else exact
        if exact is not None:
            ranked = [_Hit(exact, 100.0, _TITLE, math.inf), *(hit for hit in ranked if hit.book != exact)]
        return [self._match_of(hit) for hit in ranked[:limit]]

    # --- fuzzy matching ---------------------------------------------------------------------------------

    def _match_of(self, hit: _Hit) -> BookMatch:
        return BookMatch(hit.book, *self._shown(hit.book), hit.score, _KINDS[hit.kind], hit.rank)

    def _ranked(self, key: str, min_score: float) -> list[_Hit]:
        """Books with a name matching ``key`` at least ``min_score``, by rank (best first)."""
        names = self._names
        candidates = names.retrieve(key, _CANDIDATES)
        if candidates.size == 0:
            return []
        quality = np.array([_quality(key, names.texts[i]) for i in candidates.tolist()])
        keep = quality >= min_score * 0.8  # a weight below 1 can only lower a name's score further
        candidates, quality = candidates[keep], quality[keep]
        best: dict[int, tuple[float, int]] = {}
        for text, score in zip(candidates.tolist(), quality.tolist(), strict=True):
            start, stop = names.offsets[text], names.offsets[text + 1]
            for book, weight, kind in zip(
                names.book[start:stop].tolist(),
                names.weight[start:stop].tolist(),
                names.kind[start:stop].tolist(),
                strict=True,
            ):
                weighted = score * weight
                if weighted >= min_score and weighted > best.get(book, (-1.0, 0))[0]:
                    best[book] = (weighted, kind)
        # Titles are read only for the hits shown (a list of every title took seconds on millions of books).
        hits = [
            _Hit(book, round(score, 2), kind, score + _POPULARITY * float(self._log_popularity[book]))
            for book, (score, kind) in best.items()
        ]
        hits.sort(key=lambda hit: -hit.rank)
        return hits

    @cached_property
    def _names(self) -> Names:
        """Every name of every book, with its trigram index (stored, or built on the first fuzzy query)."""
        stored = Names.from_arrays(self._stored, _NAMES)
        if stored is not None:
            return stored
        entries: list[tuple[str, int, float, int]] = []
        authors_seen: dict[str, str] = {}  # the same authors recur on many books: normalize each once
        titles = self._table["title"].astype(str).tolist()
        authors_column = self._table["authors"].fillna("").astype(str).tolist()
        for idx, (title, key, other, authors) in enumerate(
            zip(
                titles,
                self._key_array.tolist(),
                self._original_key_array.tolist(),
                authors_column,
                strict=True,
            )
        ):
            entries.append((key, idx, _WEIGHT[_TITLE], _TITLE))
            if other and other != key:
                entries.append((other, idx, _WEIGHT[_ORIGINAL], _ORIGINAL))
            if "#" in title:
                for name, first in _series(title):
                    weight = _WEIGHT[_SERIES] + (_FIRST_IN_SERIES if first else 0.0)
                    entries.append((name, idx, weight, _SERIES))
            for rank, author in enumerate(authors.split(",")):
                name = authors_seen.get(author)
                if name is None:
                    name = authors_seen[author] = normalize_title(author)
                if name:
                    entries.append((name, idx, _WEIGHT[_AUTHOR] - (_LATER_AUTHOR if rank else 0.0), _AUTHOR))
        return Names.build(entries)


class _Hit(NamedTuple):
    """A fuzzy hit before its title is read: book position, match quality, kind of name, rank."""

    book: int
    score: float
    kind: int
    rank: float


class _OwnWork:
    """Stored works (-1: none) as ``TitleIndex._work`` numbers them: a book without a work is its own."""

    def __init__(self, work: np.ndarray) -> None:
        self._work = work

    def __getitem__(self, idx: int) -> int:
        work = int(self._work[idx])
        return work if work >= 0 else -1 - int(idx)


def _quality(key: str, text: str) -> float:
    """How well ``key`` matches the name ``text``, 0-100: all of it, or its best-aligned run of whole words.

    A run counts less than the whole name, and a run in the middle less than a prefix; a name shorter than
    the key is only ever compared whole.
    """
    whole = max(fuzz.ratio(key, text), fuzz.ratio(without_article(key), without_article(text)))
    if len(key) >= len(text) or whole == 100.0:
        return whole
    aligned = fuzz.partial_ratio_alignment(key, text)
    if aligned is None:
        return whole
    start = text.rfind(" ", 0, aligned.dest_start + 1) + 1
    if text[start : aligned.dest_start].isspace():
        start = aligned.dest_start
    end = text.find(" ", max(aligned.dest_end - 1, start))
    end = len(text) if end < 0 else end
    run = text[start:end].strip()
    if not run:
        return whole
    before = text[:start].split()
    prefix = not before or (len(before) == 1 and before[0] in _ARTICLES)
    coverage = len(run) / len(text)
    factor = (0.90 if prefix else 0.86) + 0.08 * coverage
    return max(whole, fuzz.ratio(key, run) * factor)


def _popularity(books_table: pd.DataFrame) -> np.ndarray:
    """Goodreads' ratings count where the table has one, else the book's ratings in the data."""
    for column in ("ratings_count", "n_ratings"):
        if column in books_table:
            values = pd.to_numeric(books_table[column], errors="coerce").fillna(0).to_numpy(np.float64)
            if (values > 0).any():
                return values
    return np.zeros(len(books_table))
