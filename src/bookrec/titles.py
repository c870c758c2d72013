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
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz

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


def _without_article(key: str) -> str:
    first, _, rest = key.partition(" ")
    return rest if rest and first in _ARTICLES else key


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

    def __init__(self, books_table: pd.DataFrame, popularity: np.ndarray | None = None) -> None:
        """Keep the table; every index is made on the first query that needs it.

        Nothing is read at construction, so a model of millions of books loads in the same time as one of
        thousands: the exact-title index is made on the first lookup by title (about 1 s per million books),
        the fuzzy index on the first fuzzy query.

        Args:
            books_table: Columns ``title`` and ``authors``; optional ``original_title``, ``work_id``,
                ``ratings_count`` (Goodreads') and ``n_ratings`` (in the data). Row i is book position i.
            popularity: How much each book is read (default: ``ratings_count`` where the table has it,
                else ``n_ratings``): ranks matches of equal quality and decides between shared titles.
        """
        self._table = books_table
        self._given_popularity = popularity

    def __len__(self) -> int:
        return len(self._table)

    @cached_property
    def popularity(self) -> np.ndarray:
        """How much each book is read (see the constructor's ``popularity``)."""
        given = self._given_popularity
        return _popularity(self._table) if given is None else np.asarray(given, float)

    @cached_property
    def _log_popularity(self) -> np.ndarray:
        return np.log10(1.0 + np.maximum(self.popularity, 0.0))

    @cached_property
    def _titles(self) -> list[str]:
        return self._table["title"].astype(str).tolist()

    @cached_property
    def _authors(self) -> list[str]:
        return self._table["authors"].fillna("").astype(str).tolist()

    @cached_property
    def _original(self) -> list[str]:
        if "original_title" not in self._table:
            return [""] * len(self)
        return self._table["original_title"].fillna("").astype(str).tolist()

    @cached_property
    def _work(self) -> np.ndarray:
        """Each book's work: editions of one work are one answer; a book without a work id is its own."""
        n, table = len(self), self._table
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
    def _keys(self) -> list[str]:
        return self._key_array.tolist()

    @cached_property
    def _original_keys(self) -> list[str]:
        return self._original_key_array.tolist()

    @cached_property
    def _exact(self) -> _ExactTitles:
        """Normalized title and original title (with and without a leading article) -> the most read book."""
        return _ExactTitles((self._key_array, self._original_key_array), self.popularity)

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
        for candidate in (key, _without_article(key)):
            idx = self._exact.get(candidate)
            if idx is not None:
                return BookMatch(idx, *self._shown(idx), 100.0, "title", math.inf)
        ranked = self._ranked(key, min_score=_SUGGEST)
        suggestions = [self._titles[hit.book_idx] for hit in ranked[:5]]
        if not ranked or ranked[0].score < _ACCEPT:
            raise UnknownBookError(f'no book matches "{query}" well.', suggestions=suggestions)
        best = ranked[0]
        work = self._work[best.book_idx]
        rival = next((hit for hit in ranked[1:] if self._work[hit.book_idx] != work), None)
        if rival is not None and best.rank - rival.rank < _CLEAR:
            raise UnknownBookError(f'"{query}" matches several books.', suggestions=suggestions)
        return best

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
        exact = self._exact.get(_without_article(key)) if exact is None else exact
        if exact is not None:
            ranked = [
                BookMatch(exact, *self._shown(exact), 100.0, "title", math.inf),
                *(hit for hit in ranked if hit.book_idx != exact),
            ]
        return ranked[:limit]

    # --- fuzzy matching ---------------------------------------------------------------------------------

    def _ranked(self, key: str, min_score: float) -> list[BookMatch]:
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
        hits = [
            BookMatch(
                book,
                self._titles[book],
                self._authors[book],
                round(score, 2),
                _KINDS[kind],
                score + _POPULARITY * float(self._log_popularity[book]),
            )
            for book, (score, kind) in best.items()
        ]
        hits.sort(key=lambda hit: -hit.rank)
        return hits

    @cached_property
    def _names(self) -> _Names:
        """Every name of every book, with its trigram index (built once, on the first fuzzy query)."""
        entries: list[tuple[str, int, float, int]] = []
        authors_seen: dict[str, str] = {}  # the same authors recur on many books: normalize each once
        for idx, (title, key, other, authors) in enumerate(
            zip(self._titles, self._keys, self._original_keys, self._authors, strict=True)
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
        return _Names(entries)


class _ExactTitles:
    """Keys -> the most read book with that key (as a title or original title, with or without a leading
    article), as sorted 64-bit hashes of the keys: made with column operations (tenths of a second on 2.36
    million books; a dict of them took seconds), looked up by binary search, each hit checked against the
    keys themselves."""

    def __init__(self, columns: tuple[np.ndarray, ...], popularity: np.ndarray) -> None:
        n = popularity.size
        rank = np.empty(n, dtype=np.int64)
        rank[np.argsort(-popularity, kind="stable")] = np.arange(n)
        names, books = [], []
        for keys in columns:
            for variant in (keys, _without_articles(keys)):
                present = np.flatnonzero(variant != "")
                names.append(variant[present])
                books.append(present)
        self._columns = columns
        book = np.concatenate(books)
        hashes = pd.util.hash_array(np.concatenate(names).astype(object), categorize=False)
        order = np.lexsort((rank[book], hashes))  # by hash, the most read first within one
        self._hashes, self._books = hashes[order], book[order]

    def get(self, key: str) -> int | None:
        """The most read book with ``key`` among its keys, or None."""
        if not key:
            return None
        target = pd.util.hash_array(np.array([key], dtype=object), categorize=False)[0]
        start = int(np.searchsorted(self._hashes, target, side="left"))
        stop = int(np.searchsorted(self._hashes, target, side="right"))
        for book in self._books[start:stop].tolist():  # one, unless two keys share a hash
            if any(key in (k, _without_article(k)) for k in (str(c[book]) for c in self._columns) if k):
                return book
        return None


def _without_articles(keys: np.ndarray) -> np.ndarray:
    """``_without_article`` of every key (object array)."""
    array = pa.array(keys, type=pa.large_string())
    stripped = pc.replace_substring_regex(
        array, pattern=r"^(?:the|a|an) (.)", replacement=r"\1", max_replacements=1
    )
    return stripped.to_numpy(zero_copy_only=False)


class _Names:
    """Unique name texts, the books each names (with weight and kind), and a character-trigram index."""

    def __init__(self, entries: list[tuple[str, int, float, int]]) -> None:
        number: dict[str, int] = {}
        text_of = np.array([number.setdefault(e[0], len(number)) for e in entries], dtype=np.int64)
        order = np.argsort(text_of, kind="stable")
        self.texts: list[str] = list(number)
        self.book = np.array([e[1] for e in entries], dtype=np.int64)[order]
        self.weight = np.array([e[2] for e in entries], dtype=np.float64)[order]
        self.kind = np.array([e[3] for e in entries], dtype=np.int8)[order]
        self.offsets = np.searchsorted(text_of[order], np.arange(len(self.texts) + 1))
        grams, owner = _trigrams(self.texts)
        order = np.lexsort((owner, grams))
        grams, owner = grams[order], owner[order]
        first = np.ones(grams.size, dtype=bool)  # each trigram once per name
        first[1:] = (grams[1:] != grams[:-1]) | (owner[1:] != owner[:-1])
        self._grams, self._owner = grams[first], owner[first]
        self._n_grams = np.bincount(self._owner, minlength=len(self.texts))

    def retrieve(self, key: str, limit: int) -> np.ndarray:
        """The names sharing most of ``key``'s trigrams (as a share of its own), shorter first on ties."""
        query = np.unique(_trigrams([key])[0])
        lo = np.searchsorted(self._grams, query, side="left")
        hi = np.searchsorted(self._grams, query, side="right")
        if not (hi > lo).any():
            return np.zeros(0, dtype=np.int64)
        hits = np.concatenate([self._owner[a:b] for a, b in zip(lo.tolist(), hi.tolist(), strict=True)])
        shared = np.bincount(hits, minlength=len(self.texts)).astype(np.float64)
        # Dice breaks ties in containment: among names that contain the whole query, the closest in length.
        keyed = shared / len(query) + 0.1 * shared / (len(query) + self._n_grams)
        found = np.flatnonzero(shared >= max(1.0, 0.3 * len(query)))
        if found.size > limit:
            found = found[np.argpartition(-keyed[found], limit - 1)[:limit]]
        return found


def _trigrams(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every character trigram of every text (padded with a space each side) as an int64, and its text."""
    padded = "".join(f" {t} \x00" for t in texts)
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    owner = np.repeat(np.arange(len(texts)), [len(t) + 3 for t in texts])
    gram = (codes[:-2] << 42) | (codes[1:-1] << 21) | codes[2:]  # code points fit in 21 bits
    valid = (codes[:-2] != 0) & (codes[1:-1] != 0) & (codes[2:] != 0)
    return gram[valid], owner[:-2][valid]


def _quality(key: str, text: str) -> float:
    """How well ``key`` matches the name ``text``, 0-100: all of it, or its best-aligned run of whole words.

    A run counts less than the whole name, and a run in the middle less than a prefix; a name shorter than
    the key is only ever compared whole.
    """
    whole = max(fuzz.ratio(key, text), fuzz.ratio(_without_article(key), _without_article(text)))
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
