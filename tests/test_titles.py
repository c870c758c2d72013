"""Finding books by typed titles: case, punctuation, series notes, subtitles, typos, suggestions."""

from __future__ import annotations

import pandas as pd
import pytest

from bookrec.errors import UnknownBookError
from bookrec.titles import TitleIndex, normalize_title
from conftest import BOOKS_SAMPLE


@pytest.fixture(scope="module")
def index() -> tuple[TitleIndex, pd.DataFrame]:
    books = pd.read_csv(BOOKS_SAMPLE)
    table = books.assign(n_ratings=books.ratings_count)[["book_id", "title", "authors", "n_ratings"]]
    return TitleIndex(table), table


@pytest.mark.parametrize(
    ("query", "book_id"),
    [
        ("The Da Vinci Code", 26),
        ("the da vinci code", 26),
        ("Da Vinci Code", 26),
        ("THE DA VINCI CODE (Robert Langdon, #2)", 26),
        ("The Hobit", 7),
        ("Harry Potter and the Sorcerers Stone", 2),
        ("harry potter & the sorcerer's stone", 2),
        ("The Hunger Games", 1),
        ("Inferno", 240),
        ("Harry Pottr and the Goblet", 24),
    ],
)
def test_find(index: tuple[TitleIndex, pd.DataFrame], query: str, book_id: int) -> None:
    titles, table = index
    assert int(table.book_id.iloc[titles.find(query)]) == book_id


def test_unknown_title_suggests(index: tuple[TitleIndex, pd.DataFrame]) -> None:
    titles, _ = index
    with pytest.raises(UnknownBookError) as caught:
        titles.find("Harry Potter and the Methods of Rationality")
    assert any("Harry Potter" in s for s in caught.value.suggestions)
    assert "Did you mean" in str(caught.value)
    with pytest.raises(UnknownBookError):
        titles.find("qqqq zzzz xxxx")
    with pytest.raises(UnknownBookError):
        titles.find("  ")


def test_search_covers_authors(index: tuple[TitleIndex, pd.DataFrame]) -> None:
    titles, _ = index
    hits = titles.search("Tolkien", limit=5)
    assert hits and all("Tolkien" in hit.authors for hit in hits)
    assert titles.search("") == []


def test_normalize() -> None:
    assert normalize_title("The Hunger Games (The Hunger Games, #1)") == "the hunger games"
    assert normalize_title("Les Misérables") == "les miserables"
