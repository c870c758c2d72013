"""The query commands: similar, recommend, explore; tables, JSON, the last model, bad requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.modelfile import remember_last_model

runner = CliRunner()


@pytest.fixture
def model(planted_model, tmp_path: Path) -> str:
    recommender, _ = planted_model
    return str(recommender.save(tmp_path / "model"))


def _json(args: list[str]) -> list[dict]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


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
        (["explore", "{model}", "nonsense"], "expected biases or map"),
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
