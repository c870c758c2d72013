"""Find books by what people type: exact ids, titles with any case and punctuation, small typos.

"the da vinci code", "The Da Vinci Code (Robert Langdon, #2)" and "Da Vinci Code" all find the same book.
Where several books share a title, the most rated one wins (the others are one ``search`` away). A query
that matches nothing raises ``UnknownBookError`` with "did you mean" suggestions. Fuzzy scoring is
rapidfuzz's WRatio: well kept, fast on 10,000 titles, and tolerant of word order and partial titles.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from bookrec.errors import UnknownBookError

# A fuzzy match below this WRatio score is a suggestion, not an answer.
_ACCEPT_SCORE = 90.0
_SUGGEST_SCORE = 50.0
_SERIES = re.compile(r"\s*\([^)]*#\s*[\d.]+[^)]*\)\s*$")  # "(The Hunger Games, #1)"
_NON_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_ARTICLE = re.compile(r"^(the|a|an) ")


def normalize_title(text: str) -> str:
    """Casefold, drop accents, punctuation and a trailing series note: the key for exact matching."""
    text = _SERIES.sub("", str(text))
    if not text.isascii():  # ASCII has nothing to decompose: skipping it halves loading a model's titles
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _NON_WORD.sub(" ", text.casefold().replace("'", ""))
    return _SPACES.sub(" ", text).strip()


def _without_subtitle(title: str) -> str:
    return normalize_title(re.split(r"[:(]", _SERIES.sub("", str(title)), maxsplit=1)[0])


def _without_article(key: str) -> str:
    return _ARTICLE.sub("", key)


@dataclass(frozen=True)
class BookMatch:
    """One search hit.

    Attributes:
        book_idx: Position of the book in the model.
        title: Display title.
        authors: Authors.
        score: Match quality, 0-100 (100: exact).
    """

    book_idx: int
    title: str
    authors: str
    score: float


class TitleIndex:
    """Lookup of books by id or title over a books table (one row per book position)."""

    def __init__(self, books_table: pd.DataFrame, popularity: np.ndarray | None = None) -> None:
        """Index the titles.

        Args:
            books_table: Columns ``book_id``, ``title``, ``authors``; row i is book position i.
            popularity: Tie-breaker among equal titles (default the table's ``n_ratings``).
        """
        self._titles = books_table["title"].astype(str).tolist()
        self._authors = books_table["authors"].fillna("").astype(str).tolist()
        if popularity is None:
            popularity = books_table["n_ratings"].to_numpy() if "n_ratings" in books_table else None
        self._popularity = (
            np.asarray(popularity, dtype=np.float64)
            if popularity is not None
            else np.zeros(len(self._titles))
        )
        self._normalized = [normalize_title(t) for t in self._titles]
        self._exact: dict[str, int] = {}
        # Most popular first, so that setdefault keeps the most rated book for a shared key.
        by_popularity = [int(i) for i in np.argsort(-self._popularity, kind="stable")]
        for idx in by_popularity:
            self._exact.setdefault(self._normalized[idx], idx)
        short = {idx: _without_subtitle(self._titles[idx]) for idx in by_popularity}
        for idx in by_popularity:
            self._exact.setdefault(short[idx], idx)
        for idx in by_popularity:
            self._exact.setdefault(_without_article(short[idx]), idx)
        self._labels = [f"{t} {a}" for t, a in zip(self._normalized, self._authors, strict=True)]

    def __len__(self) -> int:
        return len(self._titles)

    def find(self, query: str) -> int:
        """The position of the book a person means by ``query``.

        Raises:
            UnknownBookError: Nothing matches well; carries up to five suggestions.
        """
        key = normalize_title(query)
        if not key:
            raise UnknownBookError("an empty title matches no book")
        for candidate in (key, _without_article(key)):
            if candidate in self._exact:
                return self._exact[candidate]
        hits = process.extract(
            key, self._normalized, scorer=fuzz.WRatio, limit=10, score_cutoff=_SUGGEST_SCORE
        )
        if hits:
            best = max(hits, key=lambda hit: (round(hit[1], 6), self._popularity[hit[2]]))
            if best[1] >= _ACCEPT_SCORE and len(key) >= 4:
                return int(best[2])
        raise UnknownBookError(f'no book matches "{query}".', suggestions=self.suggest(query))

    def suggest(self, query: str, limit: int = 5) -> list[str]:
        """Titles close to ``query``, best first, for "did you mean"."""
        return [hit.title for hit in self.search(query, limit=limit, min_score=_SUGGEST_SCORE)]

    def search(self, query: str, limit: int = 10, min_score: float = 60.0) -> list[BookMatch]:
        """Type-ahead: books whose title or authors match ``query``, best first (popular books on ties)."""
        key = normalize_title(query)
        if not key:
            return []
        hits = process.extract(
            key, self._labels, scorer=fuzz.WRatio, limit=max(limit * 4, 20), score_cutoff=min_score
        )
        hits.sort(key=lambda hit: (-round(hit[1]), -self._popularity[hit[2]]))
        seen: set[int] = set()
        matches = []
        for _, score, idx in hits:
            if idx in seen:
                continue
            seen.add(idx)
            matches.append(BookMatch(int(idx), self._titles[idx], self._authors[idx], float(score)))
        return matches[:limit]
