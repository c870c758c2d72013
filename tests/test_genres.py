"""Browse by kind: genres from goodbooks' shelves, genre filters, a start from genres, the CLI's --genre.

Shelves come from tiny hand-written files (the share rule, spellings, negative counts) and from a small
`bookrec synth` folder (whose genre shelves follow the planted taste); the model is the planted one, its
books given the genre of their taste cluster.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.data import load_dataset
from bookrec.data._synthetic import GENRE_SHELVES
from bookrec.data.genres import GENRES, genre_names, read_genres
from bookrec.data.synth import generate_goodbooks
from bookrec.errors import BookrecError, UnknownGenreError
from bookrec.recommender import Recommender
from conftest import N_CLUSTERS, planted_recommender, sample_books

runner = CliRunner()
CLUSTER_GENRES = ("fantasy", "romance", "mystery", "non-fiction")
"""The planted model's book i is of genre CLUSTER_GENRES[i % 4] (its taste cluster's)."""


def with_genres(recommender: Recommender) -> Recommender:
    """The planted recommender with each book's genre its taste cluster's (and every 8th also horror)."""
    table = recommender.books_table.copy()
    table["genres"] = [
        CLUSTER_GENRES[i % N_CLUSTERS] + (";horror" if i % 8 == 0 else "") for i in range(len(table))
    ]
    return dataclasses.replace(recommender, books_table=table)


@pytest.fixture(scope="module")
def genred() -> Recommender:
    return with_genres(planted_recommender(sample_books(120)))


def genre_of(recommender: Recommender, book_id: object) -> tuple[str, ...]:
    return recommender.book(f"id:{book_id}").genres


# --- data ------------------------------------------------------------------------------------------------


def test_every_synth_genre_shelf_is_a_curated_genre() -> None:
    assert set(GENRE_SHELVES) <= set(GENRES)


def test_genres_from_shelves_follow_the_share_rule_and_spellings(tmp_path: Path) -> None:
    names = ["to-read", "fantasy", "Young Adult", "romance", "nonfiction", "non-fiction"]
    tags = "tag_id,tag_name\r\n" + "".join(
        f"{i},{name}\r\n" for i, name in enumerate(names)
    )  # CRLF as released
    shelved = "\n".join(
        [
            "goodreads_book_id,tag_id,count",
            "501,0,90000",  # to-read: not a genre
            "501,1,40000",
            "501,2,12000",  # 30% of fantasy's count: a genre of the book
            "501,3,2000",  # 5%: a stray shelving, not a genre
            "502,4,300",
            "502,5,500",  # two spellings of one genre: the larger count
            "502,1,-1",  # a negative count is no shelving
            "999,1,100",  # a book not in books.csv
        ]
    )
    goodreads = pd.Series(["501", "502", "503"])
    found = read_genres(tags.encode(), "tags.csv", shelved.encode(), "book_tags.csv", goodreads)
    assert found == ["fantasy;young-adult", "non-fiction", ""]


def test_a_broken_shelf_file_is_one_line() -> None:
    with pytest.raises(BookrecError, match=r"^book_tags\.csv: expected the columns") as caught:
        read_genres(
            b"tag_id,tag_name\n1,fantasy\n", "tags.csv", b"a,b\n1,2\n", "book_tags.csv", pd.Series([1])
        )
    assert "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def synth_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "goodbooks"
    generate_goodbooks(out, n_users=300, n_books=200, n_ratings=12_000, seed=3)
    return out


def test_a_synth_folder_loads_its_genres_and_the_cache_keeps_them(synth_folder: Path) -> None:
    data = load_dataset(synth_folder)
    genres = data.books_table["genres"]
    assert (genres != "").all()
    assert {g for value in genres for g in genre_names(value)} <= set(GENRE_SHELVES)
    again = load_dataset(synth_folder)  # from the cache
    assert again.books_table["genres"].tolist() == genres.tolist()
    shelves = pd.read_csv(synth_folder / "book_tags.csv").merge(pd.read_csv(synth_folder / "tags.csv"))
    books = pd.read_csv(synth_folder / "books.csv")
    # A book's first genre is its most-shelved genre shelf (book_tags is keyed by goodreads_book_id).
    top = (
        shelves[shelves.tag_name.isin(GENRE_SHELVES)]
        .sort_values("count", ascending=False)
        .drop_duplicates("goodreads_book_id")
        .merge(books[["book_id", "goodreads_book_id"]])
        .set_index("book_id")["tag_name"]
    )
    first = data.books_table.set_index("book_id")["genres"].str.split(";").str[0]
    assert (first.loc[top.index] == top).all()


def test_a_zip_gives_the_same_genres_and_no_shelves_none(synth_folder: Path, tmp_path: Path) -> None:
    archive = tmp_path / "goodbooks.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in synth_folder.iterdir():
            handle.write(path, f"goodbooks/{path.name}")
    folder = load_dataset(synth_folder).books_table["genres"].tolist()
    assert load_dataset(archive).books_table["genres"].tolist() == folder
    bare = tmp_path / "bare"
    shutil.copytree(synth_folder, bare)
    (bare / "book_tags.csv").unlink()
    assert (load_dataset(bare).books_table["genres"] == "").all()


# --- library ---------------------------------------------------------------------------------------------


def test_genres_lists_every_genre_with_its_books(genred: Recommender) -> None:
    listed = genred.genres()
    assert set(listed) == {*CLUSTER_GENRES, "horror"}
    assert listed["fantasy"] == 30 and listed["horror"] == 15
    assert list(listed)[:4] == sorted(CLUSTER_GENRES)  # most books first, then by name


@pytest.mark.parametrize("genre", ["romance", "Non Fiction", "nonfiction"])
def test_a_genre_filter_keeps_only_books_of_that_genre(genred: Recommender, genre: str) -> None:
    wanted = "romance" if genre == "romance" else "non-fiction"
    similar = genred.similar(1, k=10, genres=[genre])
    known = genred.recommend(3, k=10, genres=[genre])
    new = genred.recommend_for([1, 2], k=10, genres=[genre])
    for results in (similar, known, new):
        assert len(results) == 10
        assert all(wanted in r.genres for r in results)


def test_several_genres_keep_books_of_any(genred: Recommender) -> None:
    results = genred.similar(1, k=40, genres=["romance", "horror"])
    assert all({"romance", "horror"} & set(r.genres) for r in results)
    assert {"romance", "horror"} <= {g for r in results for g in r.genres}


def test_the_starter_list_of_one_genre_is_all_that_genre(genred: Recommender) -> None:
    starters = genred.starter_books(["mystery"], k=8)
    assert len(starters) == 8 and all("mystery" in r.genres for r in starters)
    assert genred.recommend_for([], k=8, genres=["mystery"]) == starters


def test_the_starter_list_takes_turns_and_prefers_loved_much_read_books(genred: Recommender) -> None:
    starters = genred.starter_books(["fantasy", "romance"], k=6)
    assert [r.genres[0] for r in starters] == ["fantasy", "romance"] * 3
    romance = genred.starter_books(["romance"], k=30)
    everyone = {r.book_id: r.score for r in romance}
    assert romance[0].score >= np.median(list(everyone.values()))
    read = genred.starter_books(["romance"], k=5, exclude=[romance[0].book_id])
    assert romance[0].book_id not in {r.book_id for r in read}


def test_an_unknown_genre_is_an_error_with_suggestions(genred: Recommender) -> None:
    with pytest.raises(UnknownGenreError, match="no genre 'fantasi'") as caught:
        genred.similar(1, genres=["fantasi"])
    assert caught.value.suggestions[0] == "fantasy" and "\n" not in str(caught.value)
    with pytest.raises(UnknownGenreError):
        genred.starter_books(["space opera"])
    with pytest.raises(BookrecError, match="at least one genre"):
        genred.starter_books([])


def test_a_model_without_genres_loads_and_says_the_filter_is_unavailable(tmp_path: Path) -> None:
    old = Recommender.load(planted_recommender(sample_books(40)).save(tmp_path / "old"))  # no genres column
    assert "genres" not in old.books_table and old.genres() == {}
    assert old.similar(1, k=3)[0].genres == ()
    with pytest.raises(BookrecError, match="have no genres") as caught:
        old.similar(1, genres=["fantasy"])
    assert "\n" not in str(caught.value)


def test_genres_survive_a_model_folder(genred: Recommender, tmp_path: Path) -> None:
    loaded = Recommender.load(genred.save(tmp_path / "model"))
    assert loaded.genres() == genred.genres()


# --- command line ----------------------------------------------------------------------------------------


@pytest.fixture
def model(genred: Recommender, tmp_path: Path) -> str:
    return str(genred.save(tmp_path / "model"))


def _json(args: list[str]) -> list[dict]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_genre_filters_similar_and_recommend(model: str) -> None:
    for args in (
        ["similar", model, "1"],
        ["recommend", model, "--user", "3"],
        ["recommend", model, "--liked", "1"],
    ):
        rows = _json([*args, "--genre", "romance", "-k", "5"])
        assert len(rows) == 5 and all("romance" in row["genres"] for row in rows)


def test_cli_recommend_from_genres_alone_is_a_starter_list(model: str) -> None:
    rows = _json(["recommend", model, "--genre", "fantasy", "--genre", "romance", "-k", "4"])
    assert [row["genres"][0] for row in rows] == ["fantasy", "romance"] * 2
    assert rows[0]["from_genres"] == ["fantasy", "romance"]
    table = runner.invoke(app, ["recommend", model, "--genre", "mystery"])
    assert table.exit_code == 0 and "A start in mystery" in table.stdout


def test_cli_unknown_genre_is_one_line_exit_2(model: str) -> None:
    result = runner.invoke(app, ["recommend", model, "--genre", "fantasi"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no genre 'fantasi'") and "fantasy" in result.stderr
    assert result.stderr.count("\n") == 1


def test_cli_explore_genres(model: str, tmp_path: Path) -> None:
    rows = _json(["explore", model, "genres"])
    assert rows[0] == {"genre": "fantasy", "books": 30} and len(rows) == 5
    table = runner.invoke(app, ["explore", model, "genres"])
    assert table.exit_code == 0 and "non-fiction" in table.stdout
    bare = str(planted_recommender(sample_books(40)).save(tmp_path / "bare"))
    empty = runner.invoke(app, ["explore", bare, "genres"])
    assert empty.exit_code == 2 and "no genres" in empty.stderr


def test_cli_recommend_needs_a_reader_books_or_genres(model: str) -> None:
    result = runner.invoke(app, ["recommend", model])
    assert result.exit_code == 2 and "--genre" in result.stderr
