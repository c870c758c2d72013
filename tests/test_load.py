"""Loading goodbooks folders, zips and other ratings files; the columnar cache; bad input."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.data import DataSource, load_dataset
from bookrec.data.paths import dataset_cache_dir
from bookrec.errors import DataError
from conftest import BOOKS_SAMPLE, write_ratings

runner = CliRunner()


def test_goodbooks_folder_loads_contiguous_indices(goodbooks_folder) -> None:
    folder = goodbooks_folder(n_users=30, per_user=10)
    data = load_dataset(folder)
    raw = pd.read_csv(folder / "ratings.csv")
    assert data.n_ratings == len(raw)
    assert data.n_users == raw.user_id.nunique() == 30
    assert data.n_books == raw.book_id.nunique()
    assert data.user_idx.dtype == np.int32 and data.book_idx.dtype == np.int32
    assert data.rating.dtype == np.float32
    assert data.user_idx.max() == data.n_users - 1 and data.book_idx.max() == data.n_books - 1
    assert (data.rating_min, data.rating_max) == (1.0, 5.0)
    # Ids map back to exactly the file's pairs, in file order.
    assert np.array_equal(data.users.ids[data.user_idx], raw.user_id.to_numpy())
    assert np.array_equal(data.books.ids[data.book_idx], raw.book_id.to_numpy())
    assert np.allclose(data.rating, raw.rating.to_numpy())


def test_books_table_is_keyed_by_book_id(tmp_path: Path) -> None:
    # Different goodbooks books can share a title: the blog's title key merged them; bookrec keeps them apart.
    books = pd.read_csv(BOOKS_SAMPLE)
    shared = books[books.title.duplicated(keep=False)].sort_values("title")
    first, second = (int(x) for x in shared.book_id.iloc[:2])
    assert shared.title.iloc[0] == shared.title.iloc[1]
    folder = tmp_path / "gb"
    folder.mkdir()
    write_ratings(folder / "ratings.csv", [(1, first, 5), (2, second, 2), (2, 1, 4)])
    shutil.copy(BOOKS_SAMPLE, folder / "books.csv")
    data = load_dataset(folder)
    assert data.n_books == 3
    table = data.books_table.set_index("book_id")
    assert table.loc[first, "title"] == table.loc[second, "title"]
    hunger = table.loc[1]
    assert hunger["title"] == "The Hunger Games (The Hunger Games, #1)"
    assert hunger["authors"] == "Suzanne Collins"
    assert hunger["year"] == 2008
    assert hunger["goodreads_url"] == "https://www.goodreads.com/book/show/2767052"
    assert hunger["image_url"].startswith("https://")
    assert hunger["average_rating"] == pytest.approx(4.34)
    assert list(data.books_table.n_ratings) == [1, 1, 1]


def test_display_title_falls_back_to_original_title(tmp_path: Path) -> None:
    books = pd.read_csv(BOOKS_SAMPLE, dtype=str, keep_default_na=False)
    books.loc[books.book_id == "1", "title"] = ""
    folder = tmp_path / "gb"
    folder.mkdir()
    books.to_csv(folder / "books.csv", index=False)
    write_ratings(folder / "ratings.csv", [(1, 1, 5), (2, 1, 3)])
    data = load_dataset(folder)
    assert data.books_table.title.iloc[0] == "The Hunger Games"


def test_zip_and_nested_folder_load_the_same(goodbooks_folder, tmp_path: Path) -> None:
    folder = goodbooks_folder()
    archive = tmp_path / "goodbooks-10k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("ratings.csv", "books.csv"):
            zf.write(folder / name, f"goodbooks-10k/{name}")
    from_folder = load_dataset(folder)
    from_zip = load_dataset(archive)
    assert np.array_equal(from_folder.user_idx, from_zip.user_idx)
    assert np.array_equal(from_folder.rating, from_zip.rating)
    assert from_folder.books_table.equals(from_zip.books_table)
    nested = tmp_path / "outer"
    nested.mkdir()
    shutil.copytree(folder, nested / "goodbooks-10k")
    assert load_dataset(nested).n_ratings == from_folder.n_ratings


def test_second_load_reads_the_cache(goodbooks_folder, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = goodbooks_folder()
    first = load_dataset(folder)
    assert len(list(dataset_cache_dir().iterdir())) == 1

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the CSV was parsed again")

    monkeypatch.setattr("bookrec.data.load._parse", no_parsing)
    second = load_dataset(folder)
    assert np.array_equal(first.book_idx, second.book_idx)
    assert first.books_table.equals(second.books_table)
    assert second.source_hash == first.source_hash


def test_cache_is_keyed_by_content_and_options(goodbooks_folder) -> None:
    folder = goodbooks_folder()
    full = load_dataset(folder)
    limited = load_dataset(DataSource(path=folder, limit=100))
    assert limited.n_ratings == 100 and full.n_ratings > 100
    rows = (folder / "ratings.csv").read_text().splitlines()
    (folder / "ratings.csv").write_text("\n".join(rows[:51]) + "\n")
    changed = load_dataset(folder)
    assert changed.n_ratings == 50
    assert changed.source_hash != full.source_hash


def test_a_cached_load_hashes_no_file(goodbooks_folder, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = goodbooks_folder()
    first = load_dataset(folder)

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the files were hashed again")

    monkeypatch.setattr("bookrec.data._cache._cache_key", no_hashing)
    assert load_dataset(folder).source_hash == first.source_hash  # the stamp index knew the key


def test_a_file_rewritten_with_its_old_size_and_times_is_not_served_stale(goodbooks_folder) -> None:
    folder = goodbooks_folder()
    ratings = folder / "ratings.csv"
    first = load_dataset(folder)
    before = ratings.stat()
    text = ratings.read_text()
    swapped = text.replace(",5\n", ",4\n", 1)  # one rating changed, the same number of bytes
    assert swapped != text and len(swapped) == len(text)
    ratings.write_text(swapped)
    os.utime(ratings, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `touch -r` or `cp -p` would
    again = load_dataset(folder)
    assert again.source_hash != first.source_hash
    assert again.rating.sum() == first.rating.sum() - 1


def test_broken_cache_is_rebuilt_not_trusted(goodbooks_folder) -> None:
    folder = goodbooks_folder()
    good = load_dataset(folder)
    (cache,) = list(dataset_cache_dir().iterdir())
    (cache / "rating.npy").write_bytes(b"\x93NUMPY garbage")
    again = load_dataset(folder)
    assert np.array_equal(again.rating, good.rating)
    assert load_dataset(folder).n_ratings == good.n_ratings


def test_limit_takes_the_first_ratings(goodbooks_folder) -> None:
    folder = goodbooks_folder()
    data = load_dataset(DataSource(path=folder, limit=25))
    raw = pd.read_csv(folder / "ratings.csv").head(25)
    assert data.n_ratings == 25
    assert data.n_users == raw.user_id.nunique()
    assert np.array_equal(data.books.ids[data.book_idx], raw.book_id.to_numpy())


def test_other_ratings_files_load_on_their_own_scale(tmp_path: Path) -> None:
    ratings = tmp_path / "BX-Book-Ratings.csv"
    text = (
        '"User-ID";"ISBN";"Book-Rating"\n"7";"034545104X";"10"\n"8";"0155061224";"0"\n"7";"0155061224";"6"\n'
    )
    ratings.write_bytes(text.encode("latin-1"))
    books = tmp_path / "BX-Books.csv"
    books.write_bytes(
        '"ISBN";"Book-Title";"Book-Author"\n"034545104X";"Flesh Tones: A Novel";"M. J. Rose"\n'.encode(
            "latin-1"
        )
    )
    source = DataSource(
        ratings=ratings,
        user_col="User-ID",
        item_col="ISBN",
        rating_col="Book-Rating",
        sep=";",
        encoding="latin-1",
        books=books,
    )
    data = load_dataset(source)
    assert (data.n_users, data.n_books, data.n_ratings) == (2, 2, 3)
    assert (data.rating_min, data.rating_max) == (0.0, 10.0)
    assert not data.books.is_numeric
    table = data.books_table.set_index("book_id")
    assert table.loc["034545104X", "title"] == "Flesh Tones: A Novel"
    assert table.loc["0155061224", "title"] == "Book 0155061224"
    assert data.report.unknown_books == 1


def test_movielens_layout(tmp_path: Path) -> None:
    ratings = write_ratings(
        tmp_path / "ratings.csv",
        [(1, 1, 4.0, 964982703), (1, 3, 3.5, 964981247), (2, 1, 0.5, 964982224)],
        header="userId,movieId,rating,timestamp",
    )
    movies = tmp_path / "movies.csv"
    movies.write_text(
        'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n3,"Heat, The (1995)",Action\n'
    )
    data = load_dataset(DataSource(ratings=ratings, user_col="userId", item_col="movieId", books=movies))
    assert data.rating_scale == (0.5, 4.0)
    assert list(data.books_table.title) == ["Toy Story (1995)", "Heat, The (1995)"]


# --- bad input: one clear line each --------------------------------------------------------------------


def _error(source: DataSource | Path) -> str:
    with pytest.raises(DataError) as caught:
        load_dataset(source)
    message = str(caught.value)
    assert "\n" not in message
    return message


def _ratings_folder(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    folder = tmp_path / "gb"
    folder.mkdir(exist_ok=True)
    (folder / "ratings.csv").write_bytes(text.encode(encoding))
    shutil.copy(BOOKS_SAMPLE, folder / "books.csv")
    return folder


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "nowhere.zip")
    assert "no such ratings file" in _error(DataSource(ratings=tmp_path / "r.csv"))


def test_no_downloaded_data_says_how_to_get_it() -> None:
    message = _error(DataSource())
    assert "bookrec download" in message and "--data" in message


def test_missing_column(tmp_path: Path) -> None:
    folder = _ratings_folder(tmp_path, "user_id,book_id,stars\n1,1,5\n")
    message = _error(folder)
    assert "ratings.csv" in message and "'rating'" in message and "user_id, book_id, stars" in message


def test_misnamed_columns_in_other_files(tmp_path: Path) -> None:
    ratings = write_ratings(tmp_path / "r.csv", [(1, 1, 4)], header="userId,movieId,rating")
    message = _error(DataSource(ratings=ratings))
    assert "'user_id'" in message and "--user-col" in message


def test_wrong_separator_is_hinted(tmp_path: Path) -> None:
    ratings = tmp_path / "r.csv"
    ratings.write_text("user_id;book_id;rating\n1;1;4\n")
    assert "--sep" in _error(DataSource(ratings=ratings))


def test_non_numeric_rating_names_the_line(tmp_path: Path) -> None:
    folder = _ratings_folder(tmp_path, "user_id,book_id,rating\n1,1,5\n2,1,five\n")
    message = _error(folder)
    assert "line 3" in message and "'rating'" in message and "'five'" in message


def test_empty_rating_names_the_line(tmp_path: Path) -> None:
    folder = _ratings_folder(tmp_path, "user_id,book_id,rating\n1,1,5\n2,1,\n3,2,4\n")
    message = _error(folder)
    assert "line 3" in message and "empty" in message


def test_out_of_scale_rating(tmp_path: Path) -> None:
    folder = _ratings_folder(tmp_path, "user_id,book_id,rating\n1,1,5\n2,1,7\n")
    message = _error(folder)
    assert "line 3" in message and "7" in message and "1-5" in message


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    assert "empty" in _error(_ratings_folder(tmp_path, ""))
    assert "no ratings" in _error(_ratings_folder(tmp_path, "user_id,book_id,rating\n"))


def test_duplicate_pairs_keep_the_last(tmp_path: Path) -> None:
    folder = _ratings_folder(tmp_path, "user_id,book_id,rating\n1,1,5\n1,2,3\n1,1,2\n2,1,4\n1,1,1\n")
    data = load_dataset(folder)
    assert data.n_ratings == 3
    assert data.report.duplicates_dropped == 2
    first_book = data.books.get(1)
    mask = (data.user_idx == data.users.get(1)) & (data.book_idx == first_book)
    assert data.rating[mask].tolist() == [1.0]


def test_unknown_book_ids_are_kept_and_counted(tmp_path: Path) -> None:
    folder = _ratings_folder(tmp_path, "user_id,book_id,rating\n1,1,5\n1,99999,3\n2,99998,4\n")
    data = load_dataset(folder)
    assert data.n_books == 3 and data.report.unknown_books == 2
    assert "Book 99999" in set(data.books_table.title)


def test_wrong_encoding(tmp_path: Path) -> None:
    ratings = tmp_path / "r.csv"
    ratings.write_bytes("user_id,book_id,rating\nzoë,1,5\n".encode("latin-1"))
    message = _error(DataSource(ratings=ratings))
    assert "utf-8" in message and "--encoding" in message
    assert load_dataset(DataSource(ratings=ratings, encoding="latin-1")).users.ids.tolist() == ["zoë"]


def test_truncated_zip(goodbooks_folder, tmp_path: Path) -> None:
    folder = goodbooks_folder()
    archive = tmp_path / "goodbooks-10k.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in ("ratings.csv", "books.csv"):
            zf.write(folder / name, name)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    assert "not a valid zip" in _error(archive)


def test_corrupt_zip_member(goodbooks_folder, tmp_path: Path) -> None:
    folder = goodbooks_folder()
    archive = tmp_path / "goodbooks-10k.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in ("ratings.csv", "books.csv"):
            zf.write(folder / name, name)
    data = bytearray(archive.read_bytes())
    start = data.find(b"user_id,book_id,rating") + 40
    data[start : start + 5] = b"XXXXX"  # the CRC no longer matches
    archive.write_bytes(bytes(data))
    assert "corrupt" in _error(archive)


def test_cli_bad_input_is_one_line_and_status_2(tmp_path: Path) -> None:
    folder = _ratings_folder(tmp_path, "user_id,book_id,rating\n1,1,5\n2,1,five\n")
    result = runner.invoke(app, ["info", "--data", str(folder)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "line 3" in lines[0]


def test_cli_info_json(goodbooks_folder) -> None:
    folder = goodbooks_folder(n_users=20, per_user=5)
    result = runner.invoke(app, ["info", "--data", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["users"] == 20 and summary["ratings"] == 100
    assert summary["rating_min"] == 1 and summary["rating_max"] == 5
    assert summary["books"] == len(set(pd.read_csv(folder / "ratings.csv").book_id))
    assert sum(summary["histogram"].values()) == 100


def test_cli_info_table(goodbooks_folder) -> None:
    result = runner.invoke(app, ["info", "--data", str(goodbooks_folder())])
    assert result.exit_code == 0
    assert "readers" in result.stdout and "Ratings by value" in result.stdout


def test_data_and_ratings_together_are_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", "--data", str(tmp_path), "--ratings", str(tmp_path / "r.csv")])
    assert result.exit_code == 2 and "not both" in result.stderr


def test_synthetic_folders_are_flagged(goodbooks_folder) -> None:
    folder = goodbooks_folder()
    assert not load_dataset(folder).synthetic
    (folder / "README.txt").write_text("SYNTHETIC DATA: the ratings in this folder are SYNTHETIC.\n")
    data = load_dataset(folder)
    assert data.synthetic and data.summary()["synthetic"] is True
    result = runner.invoke(app, ["info", "--data", str(folder)])
    assert "SYNTHETIC" in result.stdout


@pytest.mark.parametrize("bad_id", ["", "abc", "12x"], ids=["blank", "word", "mixed"])
def test_one_bad_book_id_costs_only_its_row(tmp_path: Path, bad_id: str) -> None:
    """A blank or non-numeric book_id once made every id a float that matched nothing: all titles lost."""
    ratings = write_ratings(tmp_path / "r.csv", [(1, 1, 5), (2, 2, 3), (2, 3, 4)])
    books = tmp_path / "books.csv"
    books.write_text(f"book_id,title\n1,One\n{bad_id},Broken\n2.0,Two\n3,Three\n", encoding="utf-8")
    data = load_dataset(DataSource(ratings=ratings, books=books))
    assert list(data.books_table.title) == ["One", "Two", "Three"]
    assert data.report.unknown_books == 0


def test_a_books_file_without_id_or_title_is_refused_by_name(tmp_path: Path) -> None:
    ratings = write_ratings(tmp_path / "r.csv", [(1, 1, 5), (2, 2, 3)])
    books = tmp_path / "meta.csv"
    books.write_text("isbn,label\n1,One\n", encoding="utf-8")
    result = runner.invoke(app, ["info", "--ratings", str(ratings), "--books", str(books)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        "error: meta.csv: the books file needs a book id column ('book_id') and a title"
    )
    assert "the header has isbn, label" in result.stderr


def test_the_same_ratings_in_a_folder_a_zip_or_another_file_are_one_data_set(
    goodbooks_folder, tmp_path: Path
) -> None:
    folder = goodbooks_folder()
    archive = tmp_path / "gb.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        for name in ("ratings.csv", "books.csv"):
            writer.write(folder / name, f"goodbooks-10k/{name}")
    copy = tmp_path / "copy.csv"
    copy.write_text((folder / "ratings.csv").read_text().replace("\n", "\r\n"))  # other bytes, same ratings
    hashes = {
        load_dataset(folder).source_hash,
        load_dataset(archive).source_hash,
        load_dataset(DataSource(ratings=copy, rating_scale=(1.0, 5.0))).source_hash,
    }
    assert len(hashes) == 1
