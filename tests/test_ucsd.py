"""Goodreads-scale input: the chunked ratings reader (CSV and Parquet) and the UCSD Goodreads layout.

The UCSD folders are written by ``generate_goodbooks(layout="ucsd")`` at a tiny size; peak memory is measured
by benchmarks/bench_load.py, not here.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.data import Dataset, DataSource, _chunks, load_dataset
from bookrec.data.dataset import _assemble
from bookrec.data.synth import generate_goodbooks
from bookrec.data.ucsd import SHELF_EVENTS, is_ucsd_folder, load_ucsd
from bookrec.errors import ConfigError, DataError

runner = CliRunner()


@pytest.fixture(scope="module")
def ucsd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ucsd") / "goodreads"
    generate_goodbooks(folder, n_users=120, n_books=40, n_ratings=1500, seed=5, layout="ucsd")
    return folder


def _eager(path: Path, cols: tuple[str, str, str] = ("user_id", "book_id", "rating")) -> Dataset:
    """The ratings the old one-table reader made: pandas reads, ``_assemble`` factorizes (whole-number
    float ids become ints, as the old reader made them)."""
    frame = pd.read_csv(path)
    for col in cols[:2]:
        if frame[col].dtype.kind == "f":
            frame[col] = frame[col].astype(np.int64)
    values = frame[cols[2]].to_numpy(dtype=np.float64)
    dataset = _assemble(
        frame[cols[0]].to_numpy(), frame[cols[1]].to_numpy(), values, (values.min(), values.max()), None, "x"
    )
    return dataset


def _same(a, b) -> None:
    for name in ("user_idx", "book_idx", "rating"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.users.ids, b.users.ids)
    np.testing.assert_array_equal(a.books.ids, b.books.ids)
    assert a.source_hash == b.source_hash
    assert a.report == b.report


def test_the_layout_loads_with_ratings_shelf_events_and_titles(ucsd_folder: Path) -> None:
    interactions = pd.read_csv(ucsd_folder / "goodreads_interactions.csv")
    assert list(interactions.columns) == ["user_id", "book_id", "is_read", "rating", "is_reviewed"]
    assert is_ucsd_folder(ucsd_folder)
    data = load_dataset(ucsd_folder)
    rated = interactions[interactions["rating"] > 0]
    assert data.n_ratings == len(rated) == 1500
    assert data.rating.min() >= 1  # rating 0 rows are not ratings ...
    shelf = interactions[interactions["rating"] == 0]
    assert data.want_user_idx.shape[0] == len(shelf) > 0  # ... but shelf events
    assert data.wants_from == SHELF_EVENTS and data.summary()["to_read_from"] == SHELF_EVENTS
    assert data.synthetic
    goodreads = pd.read_csv(ucsd_folder / "book_id_map.csv").set_index("book_id_csv")["book_id"]
    first = shelf.iloc[0]
    user = data.users.get(int(first["user_id"]))
    book = data.books.get(int(goodreads[int(first["book_id"])]))
    pairs = set(zip(data.want_user_idx.tolist(), data.want_book_idx.tolist(), strict=True))
    assert (user, book) in pairs
    with gzip.open(ucsd_folder / "goodreads_books.json.gz", "rt", encoding="utf-8") as handle:
        record = json.loads(handle.readline())
    row = data.books_table.iloc[data.books.get(int(record["book_id"]))]
    assert row["title"] == record["title"]  # titles and authors from the streamed JSON
    assert row["authors"].startswith("Synthetic Author")
    assert row["goodreads_url"].endswith(f"/{record['book_id']}")
    assert load_ucsd(ucsd_folder).source_hash == data.source_hash  # from the cache, the same


def test_the_layout_holds_the_same_draws_as_goodbooks(ucsd_folder: Path, tmp_path: Path) -> None:
    goodbooks = tmp_path / "goodbooks"
    generate_goodbooks(goodbooks, n_users=120, n_books=40, n_ratings=1500, seed=5)
    expected = pd.read_csv(goodbooks / "ratings.csv")
    data = load_dataset(ucsd_folder)
    got = pd.DataFrame(
        {
            "user_id": data.users.ids[data.user_idx] + 1,
            "book_id": data.books.ids[data.book_idx],  # placeholder books: Goodreads id = book_id
            "rating": data.rating.astype(int),
        }
    )
    key = ["user_id", "book_id"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True), expected.sort_values(key).reset_index(drop=True)
    )


def test_the_same_seed_writes_the_same_files(ucsd_folder: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_goodbooks(again, n_users=120, n_books=40, n_ratings=1500, seed=5, layout="ucsd")
    for path in sorted(ucsd_folder.iterdir()):
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name


def test_cli_info_ucsd_and_synth_layout(ucsd_folder: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", "--ucsd", str(ucsd_folder), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["ratings"] == 1500 and summary["synthetic"]
    result = runner.invoke(app, ["info", "--ucsd", str(tmp_path)])
    assert result.exit_code == 2 and "goodreads_interactions.csv" in result.output
    out = tmp_path / "s"
    args = [
        "synth",
        "--out",
        str(out),
        "--layout",
        "ucsd",
        "--users",
        "30",
        "--books",
        "10",
        "--ratings",
        "200",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "shelf events" in result.output and (out / "goodreads_books.json.gz").is_file()
    with pytest.raises(ConfigError, match="layout"):
        generate_goodbooks(tmp_path / "x", n_users=30, n_books=10, n_ratings=200, layout="movielens")


def test_a_bad_interaction_names_its_line(ucsd_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for path in ucsd_folder.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    lines = (folder / "goodreads_interactions.csv").read_text().splitlines()
    lines[3] = "0,99999,1,4,0"
    (folder / "goodreads_interactions.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 4: book_id 99999 is not in book_id_map.csv"):
        load_dataset(folder)


@pytest.mark.parametrize("ids", ["int", "text", "sparse", "wide"])
def test_a_chunked_load_equals_an_eager_one(
    ids: str, tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 20_000
    users = rng.integers(1, 900, n)
    books = rng.integers(1, 300, n)
    if ids == "text":
        books = np.array([f"isbn-{b:05d}" for b in books])
    elif ids == "sparse":
        users = users * 10_000_019  # beyond a dense lookup table
    elif ids == "wide":
        books = books + 2**40  # beyond int32: dictionary-encoded block by block
    frame = pd.DataFrame({"user_id": users, "book_id": books, "rating": rng.integers(1, 11, n) / 2})
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    monkeypatch.setattr(_chunks, "BLOCK_SIZE", 1 << 14)  # many blocks
    seen: list[tuple[int, int]] = []
    chunked = load_dataset(
        DataSource(ratings=path), use_cache=False, progress=lambda done, total: seen.append((done, total))
    )
    _same(chunked, _eager(path))
    assert chunked.report.duplicates_dropped > 0  # repeated pairs kept their last rating, as before
    assert len(seen) > 5 and seen[-1][1] == path.stat().st_size


def test_ids_that_turn_to_text_in_a_later_block_load_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [f"{u},{u % 7},4" for u in range(3000)] + ["x1,3,5"]
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,book_id,rating\n" + "\n".join(rows) + "\n")
    monkeypatch.setattr(_chunks, "BLOCK_SIZE", 1 << 12)
    data = load_dataset(DataSource(ratings=path), use_cache=False)
    assert data.n_users == 3001 and "x1" in data.users and data.users.ids.dtype.kind == "U"
    _same(data, _eager(path))
    path.write_text("user_id,book_id,rating\n" + "\n".join(rows[:-1]) + "\n7.0,3,5\n")  # a whole float
    data = load_dataset(DataSource(ratings=path), use_cache=False)
    assert data.users.is_numeric and data.n_users == 3000
    _same(data, _eager(path))


def test_parquet_loads_like_its_csv(tmp_path: Path, rng: np.random.Generator) -> None:
    n = 5000
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(1, 200, n),
            "book_id": rng.integers(1, 80, n),
            "rating": rng.integers(1, 6, n),
        }
    )
    csv, parquet = tmp_path / "r.csv", tmp_path / "r.parquet"
    frame.to_csv(csv, index=False)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet, row_group_size=1000)
    _same(load_dataset(DataSource(ratings=parquet)), load_dataset(DataSource(ratings=csv)))
    frame.loc[1234, "rating"] = np.nan
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet)
    with pytest.raises(DataError, match=r"r.parquet, row 1235: field 'rating' is empty"):
        load_dataset(DataSource(ratings=parquet))
    with pytest.raises(DataError, match=r"no column 'stars'"):
        load_dataset(DataSource(ratings=csv.with_suffix(".parquet"), rating_col="stars"))


def test_limit_and_the_scale_check_span_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [f"{u},{u % 11},3" for u in range(4000)]
    rows[3500] = "3500,1,9"
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,book_id,rating\n" + "\n".join(rows) + "\n")
    monkeypatch.setattr(_chunks, "BLOCK_SIZE", 1 << 12)
    assert load_dataset(DataSource(ratings=path, limit=2500), use_cache=False).n_ratings == 2500
    with pytest.raises(DataError, match=r"line 3502: field 'rating' is 9, outside the rating scale 1-5"):
        load_dataset(DataSource(ratings=path, rating_scale=(1.0, 5.0)), use_cache=False)
