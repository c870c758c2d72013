"""The query commands: similar, recommend, explore; tables, JSON, the last model, bad requests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.modelfile import remember_last_model
from conftest import BOOKS_SAMPLE

runner = CliRunner()


@pytest.fixture
def model(planted_model, tmp_path: Path) -> str:
    recommender, _ = planted_model
    return str(recommender.save(tmp_path / "model"))


def _answer(args: list[str]) -> list[dict]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _json(args: list[str]) -> list[dict]:
    answer = _answer(args)
    assert isinstance(answer, list)  # the shape users' scripts rely on: one object per result
    return answer


def test_similar_table_and_json(model: str) -> None:
    result = runner.invoke(app, ["similar", model, "The Hunger Games", "-k", "5"])
    assert result.exit_code == 0, result.output
    assert "Books like The Hunger Games" in result.stdout and "similarity" in result.stdout
    rows = _json(["similar", model, "the hunger games", "-k", "5"])
    assert len(rows) == 5
    assert {"book_id", "title", "authors", "score"} <= set(rows[0])
    assert all(row["book_id"] != 1 for row in rows)


def test_recommend_known_and_new_readers(model: str) -> None:
    rows = _json(["recommend", model, "--user", "3", "-k", "4"])
    assert len(rows) == 4 and all("because" in row for row in rows)
    rows = _json(["recommend", model, "--liked", "The Hunger Games", "--liked", "Twilight=5", "-k", "3"])
    assert len(rows) == 3 and all(row["because"] for row in rows)
    assert not {row["book_id"] for row in rows} & {1, 3}
    table = runner.invoke(app, ["recommend", model, "--liked", "The Hunger Games"])
    assert table.exit_code == 0 and "because" in table.stdout


def test_explore_biases_and_map(model: str, tmp_path: Path) -> None:
    lowest = _json(["explore", model, "biases", "--lowest", "-k", "3"])
    highest = _json(["explore", model, "biases", "-k", "3"])
    assert lowest[0]["score"] < 0 < highest[0]["score"]
    out = tmp_path / "map.png"
    result = runner.invoke(app, ["explore", model, "map", "--out", str(out), "--books", "50"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_defaults_to_the_last_trained(model: str) -> None:
    remember_last_model(model)
    assert len(_json(["similar", "The Hunger Games", "-k", "2"])) == 2
    assert len(_json(["explore", "biases", "-k", "2"])) == 2
    assert len(_json(["recommend", "--user", "1", "-k", "2"])) == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["similar", "{model}", "Hunger Gamez Part Nine Thousand"], "Did you mean"),
        (["similar", "{model}", "id:99999999"], "no book with id"),
        (["recommend", "{model}", "--user", "99999"], "no reader with id 99999"),
        (["recommend", "{model}"], "either --user"),
        (["recommend", "{model}", "--liked", "The Hunger Games=9"], "between 1 and 5"),
        (["recommend", "{model}", "--liked", "The Hobbit=abc"], "STARS a number from 1 to 5"),
        (["recommend", "{model}", "--liked", "The Hobbit=nan"], "between 1 and 5, got nan"),
        (["recommend", "{model}", "--liked", "=5"], "the title is missing"),
        (["recommend", "{model}", "--liked", "The Hobbit", "--exclude", "Qqqq Zzzz Xxxx"], "no book matches"),
        (["recommend", "{model}", "--liked", "Tolkien"], "matches several books"),
        (
            ["similar", "{model}", "The Hobbit", "--min-ratings", "999999"],
            "no book has at least 999,999 ratings",
        ),
        (["recommend", "{model}", "--user", "3", "--min-ratings", "999999"], "the most rated has"),
        (["explore", "{model}", "biases", "--min-ratings", "999999"], "lower --min-ratings"),
        (["explore", "{model}", "nonsense"], "expected biases, map or genres"),
        (["similar", "/nowhere/model", "The Hunger Games"], "no such model folder"),
        (["similar", "The Hunger Games"], "no trained model yet"),
    ],
)
def test_bad_requests_get_one_line_and_status_2(model: str, args: list[str], expected: str) -> None:
    result = runner.invoke(app, [a.format(model=model) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0]
    assert "Traceback" not in result.output


def test_tampered_model_is_refused(model: str) -> None:
    weights = Path(model) / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    result = runner.invoke(app, ["similar", model, "The Hunger Games"])
    assert result.exit_code == 2 and "checksum mismatch" in result.stderr


@pytest.mark.parametrize("command", ["similar", "recommend", "explore", "info", "download"])
def test_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Examples" in result.stdout


def test_answers_say_which_book_each_title_was_taken_to_be(model: str) -> None:
    similar = _answer(["similar", model, "the hunger gmaes", "-k", "3"])[0]
    assert similar["matched"]["book_id"] == 1 and similar["matched"]["query"] == "the hunger gmaes"
    assert {"title", "authors", "score", "matched_on"} <= set(similar["matched"])
    assert 0 < similar["matched"]["score"] < 100
    liked = _answer(
        ["recommend", model, "--liked", "The Hunger Games", "--liked", "twilight=4", "--exclude", "id:2"]
    )
    assert len(liked) == 10 and all(row["matched"] == liked[0]["matched"] for row in liked)
    assert [(m["book_id"], m["stars"]) for m in liked[0]["matched"]] == [(1, None), (3, 4.0)]
    assert [m["book_id"] for m in liked[0]["excluded"]] == [2]
    assert _answer(["recommend", model, "--user", "3", "-k", "2"])[0]["user"] == "3"
    result = runner.invoke(app, ["similar", model, "the hunger gmaes", "-k", "3"])
    assert result.exit_code == 0 and 'note: "the hunger gmaes" taken as "The Hunger Games' in result.stderr


def test_recommender_repr_is_short(planted_model) -> None:
    recommender, _ = planted_model
    text = repr(recommender)
    assert text == "Recommender(model='dot', n_users=80, n_books=120, n_factors=8, ranker=None)"
    assert len(text) < 200


def test_search_titles_for_the_app(planted_model) -> None:
    planted, _ = planted_model
    originals = pd.read_csv(BOOKS_SAMPLE).set_index("book_id")["original_title"].fillna("")
    table = planted.books_table.assign(
        original_title=originals.loc[planted.books_table["book_id"]].to_numpy()
    )
    recommender = dataclasses.replace(planted, books_table=table)
    hits = recommender.search_titles("hary poter", k=3)
    assert hits[0].book_id == 2 and hits[0].ratings_count > 0 and hits[0].year == 1997
    assert recommender.find_book("Le Petit Prince").book_id == 80
    assert recommender.similar("Le Petit Prince", k=2).matched[0].book_id == 80
    assert recommender.search_titles("qqqq zzzz") == []


def test_answers_from_synthetic_ratings_say_so_on_stderr(planted_model, tmp_path: Path) -> None:
    recommender, _ = planted_model
    real = str(recommender.save(tmp_path / "real"))
    manifest = dict(recommender.manifest)
    manifest["data"] = dict(manifest.get("data") or {}) | {"synthetic": True}
    synthetic = str(dataclasses.replace(recommender, manifest=manifest).save(tmp_path / "synthetic"))
    for args in (["similar", "The Hunger Games", "-k", "2"], ["recommend", "--user", "1", "-k", "2"]):
        flagged = runner.invoke(app, [args[0], synthetic, *args[1:], "--json"])
        assert flagged.exit_code == 0 and "SYNTHETIC" in flagged.stderr
        assert len(json.loads(flagged.stdout)) == 2  # stdout stays clean JSON
        plain = runner.invoke(app, [args[0], real, *args[1:], "--json"])
        assert plain.exit_code == 0 and "SYNTHETIC" not in plain.stderr
