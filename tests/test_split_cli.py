"""``bookrec split`` and the hold-out rule behind it, on small CSVs written here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.data.holdout import holdout_rows
from conftest import write_ratings

runner = CliRunner()
HEADER = "user_id,book_id,rating,timestamp"


def _rows() -> list[tuple[object, object, object, object]]:
    """Reader 1: 10 ratings, 2 to hold out, times out of file order; reader 2: 5 (1 held); reader 3: 3
    (fewer than 5: all in train); reader 4: 7 (round(1.4) = 1 held), two sharing the latest time."""
    rows: list[tuple[object, object, object, object]] = []
    times_1 = [50, 10, 90, 20, 80, 30, 70, 40, 60, 100]
    rows += [(1, 100 + i, "4.0", t) for i, t in enumerate(times_1)]
    rows += [(2, 200 + i, "3.5", 1000 + i) for i in range(5)]
    rows += [(3, 300 + i, "5", 5) for i in range(3)]
    rows += [(4, 400 + i, "2.0", 7 if i in (2, 4) else i) for i in range(7)]
    order = np.random.default_rng(3).permutation(len(rows))  # readers interleaved, as in real files
    return [rows[i] for i in order]


@pytest.fixture
def ratings_csv(tmp_path: Path) -> Path:
    return write_ratings(tmp_path / "ratings.csv", _rows(), header=HEADER)


def _split(*args: str) -> dict:
    result = runner.invoke(app, ["split", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _read(path: Path) -> tuple[str, list[tuple[str, ...]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0], [tuple(row) for row in csv.reader(lines[1:])]


def _by_reader(rows: list[tuple[str, ...]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[0]] = counts.get(row[0], 0) + 1
    return counts


def _is_subsequence(part: list[tuple[str, ...]], whole: list[tuple[str, ...]]) -> bool:
    remaining = iter(whole)
    return all(row in remaining for row in part)


def test_random_split_holds_out_a_fifth_of_each_reader(ratings_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    report = _split("--ratings", str(ratings_csv), "--holdout", "0.2", "--seed", "7", "--out", str(out))
    header, whole = _read(ratings_csv)
    train_header, train = _read(out / "train.csv")
    held_header, held = _read(out / "heldout.csv")
    assert train_header == held_header == header  # the file's own columns, verbatim
    assert sorted(train + held) == sorted(whole)  # every row once, fields as written ("4.0", "5")
    assert _is_subsequence(train, whole) and _is_subsequence(held, whole)  # in the file's order
    assert _by_reader(held) == {"1": 2, "2": 1, "4": 1}  # reader 3 has fewer than 5 ratings
    assert report == {
        "train": str(out / "train.csv"),
        "heldout": str(out / "heldout.csv"),
        "train_rows": 21,
        "heldout_rows": 4,
        "n_users": 4,
        "heldout_users": 3,
        "train_only_users": 1,
        "holdout": 0.2,
        "by": "random",
        "seed": 7,
        "time_col": None,
        "min_ratings": 5,
    }
    assert sorted(p.name for p in out.iterdir()) == ["heldout.csv", "train.csv"]  # no staging file left


def test_the_seed_reproduces_the_split(ratings_csv: Path, tmp_path: Path) -> None:
    def held_with(seed: int, name: str) -> str:
        _split("--ratings", str(ratings_csv), "--seed", str(seed), "--out", str(tmp_path / name))
        return (tmp_path / name / "heldout.csv").read_text(encoding="utf-8")

    assert held_with(1, "a") == held_with(1, "b")
    assert len({held_with(seed, f"s{seed}") for seed in range(5)}) > 1


def test_time_split_holds_out_each_readers_latest(ratings_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    report = _split("--ratings", str(ratings_csv), "--by", "time", "--out", str(out))
    assert report["time_col"] == "timestamp"  # found by name
    _, held = _read(out / "heldout.csv")
    # Reader 1: the times 100 and 90; reader 2: time 1004; reader 4: of its two ratings at time 7, the one
    # later in the file (book 402 or 404, whichever the shuffle put last).
    _, whole = _read(ratings_csv)
    tied = [row for row in whole if row[0] == "4" and row[3] == "7"]
    expected = {("1", "109"), ("1", "102"), ("2", "204"), ("4", tied[-1][1])}
    assert {(row[0], row[1]) for row in held} == expected


def test_time_split_by_file_order_or_a_named_date_column(tmp_path: Path) -> None:
    rows = [(1, 10 + i, 4, f"2020-01-{28 - i:02d}") for i in range(5)] + [
        (2, 20 + i, 3, "2021-05-01") for i in range(5)
    ]
    path = write_ratings(tmp_path / "dated.csv", rows, header="user_id,book_id,rating,when")
    by_file = _split("--ratings", str(path), "--by", "time", "--out", str(tmp_path / "file"))
    assert by_file["time_col"] is None  # no timestamp column: file order
    _, held = _read(tmp_path / "file" / "heldout.csv")
    assert [(row[0], row[1]) for row in held] == [("1", "14"), ("2", "24")]  # the last rows
    by_date = _split(
        "--ratings", str(path), "--by", "time", "--time-col", "when", "--out", str(tmp_path / "d")
    )
    assert by_date["time_col"] == "when"
    _, held = _read(tmp_path / "d" / "heldout.csv")
    assert [(row[0], row[1]) for row in held] == [("1", "10"), ("2", "24")]  # Jan 28; ties: the last row


def test_min_ratings_and_holdout_share(ratings_csv: Path, tmp_path: Path) -> None:
    report = _split(
        "--ratings", str(ratings_csv), "--min-ratings", "8", "--holdout", "0.5", "--out", str(tmp_path / "a")
    )
    # Only reader 1 (10 ratings) has 8 or more: round(0.5 * 10) = 5 held out.
    assert (report["heldout_rows"], report["heldout_users"], report["train_only_users"]) == (5, 1, 3)
    report = _split("--ratings", str(ratings_csv), "--min-ratings", "11", "--out", str(tmp_path / "b"))
    assert report["heldout_rows"] == 0 and report["train_rows"] == 25
    assert (tmp_path / "b" / "heldout.csv").read_text(encoding="utf-8") == HEADER + "\n"


def test_holdout_rows_rounds_and_keeps_a_training_rating() -> None:
    counts = [5, 7, 8, 2, 4]
    codes = np.repeat(np.arange(len(counts)), counts)
    held = holdout_rows(codes, 0.2, min_ratings=2, seed=0)
    # round(1.0) = 1, round(1.4) = 1, round(1.6) = 2, round(0.4) = 0 -> at least 1, round(0.8) = 1.
    assert np.bincount(codes[held], minlength=len(counts)).tolist() == [1, 1, 2, 1, 1]
    most = holdout_rows(codes, 0.9, min_ratings=2, seed=0)
    assert np.bincount(codes[most], minlength=len(counts)).tolist() == [4, 6, 7, 1, 3]  # never all


def test_split_replaces_an_earlier_split_but_refuses_other_files(ratings_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    _split("--ratings", str(ratings_csv), "--seed", "1", "--out", str(out))
    _split("--ratings", str(ratings_csv), "--seed", "2", "--out", str(out))  # only its own files: replaced
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    before = (out / "train.csv").read_bytes()
    result = runner.invoke(app, ["split", "--ratings", str(ratings_csv), "--seed", "3", "--out", str(out)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ") and "notes.txt" in result.stderr
    assert (out / "train.csv").read_bytes() == before and (out / "notes.txt").exists()


def test_split_prints_what_it_wrote(ratings_csv: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["split", "--ratings", str(ratings_csv), "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "train.csv (21 ratings)" in result.stdout and "heldout.csv (4 ratings)" in result.stdout
    assert "3 of 4 readers hold out 20%" in result.stdout and "1 with fewer than 5" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--holdout", "1.5"], "error: --holdout must be above 0 and below 1"),
        (["--holdout", "0"], "error: --holdout must be above 0 and below 1"),
        (["--by", "date"], "error: --by must be random or time"),
        (["--min-ratings", "1"], "error: --min-ratings must be at least 2"),
        (["--time-col", "timestamp"], "error: --time-col goes with --by time"),
        (["--by", "time", "--time-col", "when"], "error: "),  # no such column
        (["--user-col", "userId"], "error: "),
        (["--sep", ";;"], "error: --sep must be one character"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(
    args: list[str], expected: str, ratings_csv: Path, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["split", "--ratings", str(ratings_csv), "--out", str(tmp_path / "s"), *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(expected)
    assert not (tmp_path / "s").exists()


def test_bad_files_give_one_line_naming_the_line(tmp_path: Path) -> None:
    bad = write_ratings(tmp_path / "bad.csv", [(1, 2, 4), (1, 3, "lots")])
    result = runner.invoke(app, ["split", "--ratings", str(bad), "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "line 3" in result.stderr and "'rating'" in result.stderr
    missing = runner.invoke(
        app, ["split", "--ratings", str(tmp_path / "none.csv"), "--out", str(tmp_path / "s")]
    )
    assert missing.exit_code == 2 and "no such ratings file" in missing.stderr


def test_help() -> None:
    result = runner.invoke(app, ["split", "--help"])
    assert result.exit_code == 0 and "Examples" in result.stdout and "timestamp" in result.stdout
