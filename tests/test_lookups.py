"""Lookups stored with a model (bookrec.lookups): the title index and the editions' groups made at save time.

Stored, they answer exactly as the ones made on first use (which folders saved before them still make), a
loaded model uses them without touching every title, and a tampered or inconsistent file is refused.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bookrec import _tensorfile, lookups, titles
from bookrec._title_index import ExactTitles, Names
from bookrec.errors import ModelFileError, UnknownBookError
from bookrec.lookups import Editions
from bookrec.modelfile import MANIFEST
from bookrec.recommender import Recommender
from bookrec.titles import TitleIndex
from conftest import planted_recommender, sample_books

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def books() -> pd.DataFrame:
    """goodbooks' 10,000 titles, with a few more editions of some works, box sets and an accented title."""
    table = pd.read_csv(FIXTURES / "books_titles.csv", dtype={"work_id": str}, keep_default_na=False)
    extra = table.iloc[[0, 1, 1, 5]].copy()
    extra["title"] = ["The Hunger Games (tie-in)", "Harry Potter Box Set (Harry Potter, #1-7)", "Ha", "Émile"]
    extra.loc[extra.index[2:], "work_id"] = ""
    return pd.concat([table, extra], ignore_index=True)


@pytest.fixture(scope="module")
def stored(books: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """``lookups.build`` of the books, written and mapped back as a model folder holds it."""
    path = tmp_path_factory.mktemp("lookups") / lookups.FILE
    lookups.write(path, lookups.build(books))
    return lookups.read(path, len(books))


def _answer(index: TitleIndex, query: str) -> object:
    try:
        return index.match(query)
    except UnknownBookError as error:
        return str(error), tuple(error.suggestions)


def test_stored_lookups_answer_exactly_as_made_on_first_use(books, stored) -> None:
    with open(FIXTURES / "title_queries.csv", encoding="utf-8", newline="") as handle:
        queries = [row["query"] for row in csv.DictReader(handle)]
    queries += ["emile", "ha", "the hunger games tie in", "harry potter box set", "1984", "zzzz qqqq"]
    made, mapped = TitleIndex(books), TitleIndex(books, stored=stored)
    assert _tensorfile.mapped(stored["exact_hash"]) and _tensorfile.mapped(stored["names_owner"])
    for query in queries:
        assert _answer(mapped, query) == _answer(made, query), query
        assert mapped.search(query, limit=8) == made.search(query, limit=8), query
    positions = [[0], [1], [1, 5], [2, 3, 4], [len(books) - 1], list(range(0, len(books), 37))]
    editions_made, editions_stored = Editions.of_table(books, {}), Editions.of_table(books, stored)
    for chosen in positions:
        chosen = np.array(chosen)
        assert np.array_equal(editions_stored.of(chosen), editions_made.of(chosen))
    harry = editions_stored.of(np.array([1]))
    assert len(books) - 3 in harry  # the box set of the first book's series
    assert np.array_equal(np.asarray(editions_stored.work), np.asarray(editions_made.work))


def test_a_stored_index_is_used_without_reading_every_title(books, stored, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("made again from every title")

    monkeypatch.setattr(titles, "normalize_titles", refuse)
    monkeypatch.setattr(Names, "build", refuse)
    monkeypatch.setattr(lookups, "editions_arrays", refuse)
    index = TitleIndex(books, stored=stored)
    assert books["title"].iat[index.find("The Hobbit")].startswith("The Hobbit")
    assert books["title"].iat[index.find("the hobit")].startswith("The Hobbit")
    assert index.search("tolkien", limit=3)
    assert Editions.of_table(books, stored).of(np.array([0])).size > 0
    with pytest.raises(AssertionError, match="made again"):
        TitleIndex(books).find("The Hobbit")  # without them, it is made (and refused here)


def test_a_different_hash_function_makes_the_exact_index_again(books, stored, monkeypatch) -> None:
    changed = dict(stored, exact_probe=stored["exact_probe"] + np.uint64(1))
    calls = []
    original = ExactTitles.build
    monkeypatch.setattr(ExactTitles, "build", lambda *a: calls.append(1) or original(*a))
    assert books["title"].iat[TitleIndex(books, stored=changed).find("Dune")] == "Dune (Dune Chronicles #1)"
    assert calls == [1]
    assert TitleIndex(books, stored=stored).find("Dune") == TitleIndex(books, stored=changed).find("Dune")
    assert calls == [1, 1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    recommender = planted_recommender(sample_books(120))
    return recommender.save(tmp_path_factory.mktemp("saved") / "model")


def _as_older(folder: Path, tmp_path: Path) -> Path:
    """A copy of the folder as bookrec saved it before lookups were stored."""
    older = Path(shutil.copytree(folder, tmp_path / "older"))
    (older / lookups.FILE).unlink()
    manifest = json.loads((older / MANIFEST).read_text())
    del manifest["files"][lookups.FILE]
    (older / MANIFEST).write_text(json.dumps(manifest))
    return older


def test_a_saved_model_maps_its_lookups_and_older_folders_make_them(saved, tmp_path) -> None:
    loaded = Recommender.load(saved)
    assert lookups.FILE in json.loads((saved / MANIFEST).read_text())["files"]
    assert _tensorfile.mapped(loaded.lookups["exact_hash"]) and _tensorfile.mapped(loaded.lookups["work"])
    older = Recommender.load(_as_older(saved, tmp_path))
    assert older.lookups == {}
    for ask in (
        lambda r: r.similar("The Hunger Games", k=6),
        lambda r: r.find_book("hunger gmes"),
        lambda r: r.search_titles("rowling", k=5),
        lambda r: r.recommend(3, k=6),
        lambda r: r.recommend_for(["Harry Potter and the Sorcerer's Stone", 4], k=6),
        lambda r: r.recommend_for([1, 4], k=6, by="rating"),
    ):
        assert ask(loaded) == ask(older)
    # Saved again, an older folder gets its lookups.
    again = Recommender.load(older.save(tmp_path / "again"))
    assert set(again.lookups) == set(loaded.lookups)


def test_a_tampered_lookups_file_is_refused(saved, tmp_path) -> None:
    folder = Path(shutil.copytree(saved, tmp_path / "model"))
    data = bytearray((folder / lookups.FILE).read_bytes())
    data[-3] ^= 0x01
    (folder / lookups.FILE).write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        Recommender.load(folder)


def test_lookups_that_do_not_fit_the_books_are_refused_even_with_their_checksum(saved, tmp_path) -> None:
    folder = Path(shutil.copytree(saved, tmp_path / "model"))
    arrays = {name: np.array(array) for name, array in lookups.read(folder / lookups.FILE, 120).items()}
    arrays["exact_book"][0] = 5000
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][lookups.FILE] = lookups.write(folder / lookups.FILE, arrays)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="outside") as caught:
        Recommender.load(folder)
    assert "\n" not in str(caught.value)
