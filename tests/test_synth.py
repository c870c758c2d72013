"""The synthetic goodbooks generator: shape, planted structure, determinism, atomic writes, the CLI."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.data import load_dataset, synth
from bookrec.data._synthetic import GENRE_SHELVES
from bookrec.data.synth import POINT_SHARES, STAR_SHARES, generate_goodbooks, plant_model, synthesize
from bookrec.errors import ConfigError, DataError
from conftest import BOOKS_SAMPLE

runner = CliRunner()

# The headers of the real release's files, copied from its samples/ (independent of the module's constants).
RELEASE_HEADERS = {
    "ratings.csv": "user_id,book_id,rating",
    "to_read.csv": "user_id,book_id",
    "tags.csv": "tag_id,tag_name",
    "book_tags.csv": "goodreads_book_id,tag_id,count",
    "books.csv": "book_id,goodreads_book_id,best_book_id,work_id,books_count,isbn,isbn13,authors,"
    "original_publication_year,original_title,title,language_code,average_rating,ratings_count,"
    "work_ratings_count,work_text_reviews_count,ratings_1,ratings_2,ratings_3,ratings_4,ratings_5,"
    "image_url,small_image_url",
}


@pytest.fixture(scope="module")
def real() -> synth.SynthData:
    """A moderate data set on the 300 real fixture books (with 40 ratings per reader)."""
    return synthesize(1500, 300, 60_000, books_csv=BOOKS_SAMPLE, seed=3)


@pytest.mark.parametrize(
    ("n_users", "n_books", "n_ratings", "books_csv"),
    [
        (300, 120, 6_000, None),
        (50, 332, 400, BOOKS_SAMPLE),  # fewer ratings than 2 per book: coverage does the work
        (20, 10, 200, None),  # every pair rated
        (7, 30, 30, None),  # the fewest ratings that cover every book
    ],
)
def test_shape_ids_and_pairs(n_users: int, n_books: int, n_ratings: int, books_csv: Path | None) -> None:
    data = synthesize(n_users, n_books, n_ratings, books_csv=books_csv, seed=1)
    ratings = data.ratings
    assert list(ratings.columns) == ["user_id", "book_id", "rating"] and len(ratings) == n_ratings
    assert sorted(ratings["user_id"].unique()) == list(range(1, n_users + 1))
    assert sorted(ratings["book_id"].unique()) == list(range(1, n_books + 1))
    assert not ratings.duplicated(["user_id", "book_id"]).any()
    assert ratings.groupby("user_id").size().min() >= 2
    assert ratings["rating"].between(1, 5).all()
    assert len(data.books) == n_books and list(data.books["book_id"]) == [
        str(i) for i in range(1, n_books + 1)
    ]
    to_read = data.to_read
    assert not to_read.duplicated().any() and to_read["book_id"].between(1, n_books).all()
    assert to_read.merge(ratings, on=["user_id", "book_id"]).empty
    assert list(data.tags["tag_id"]) == list(range(len(data.tags)))
    assert list(data.tags["tag_name"]) == sorted(data.tags["tag_name"])
    assert data.book_tags["tag_id"].isin(data.tags["tag_id"]).all()
    goodreads = pd.to_numeric(data.books["goodreads_book_id"])
    assert data.book_tags["goodreads_book_id"].isin(goodreads).all()


def test_star_shares_and_popularity_follow_the_real_release(real: synth.SynthData) -> None:
    shares = np.bincount(real.ratings["rating"], minlength=6)[1:] / len(real.ratings)
    assert np.allclose(shares, STAR_SHARES, atol=0.01)
    per_book = real.ratings.groupby("book_id").size()
    real_counts = pd.to_numeric(real.books["work_ratings_count"]).to_numpy()
    # Spearman as the Pearson correlation of ranks (pandas' method="spearman" needs scipy).
    spearman = pd.Series(per_book.to_numpy()).rank().corr(pd.Series(real_counts).rank())
    assert spearman > 0.6
    assert per_book.max() > 3 * per_book.median()  # skewed even among the 300 most popular books


def _bias_only_rmse(user: np.ndarray, book: np.ndarray, y: np.ndarray) -> float:
    """In-sample RMSE of the least-squares fit y ~ mu + b_user + b_book (alternating, unregularized)."""
    mu = y.mean()
    n_user, n_book = np.maximum(np.bincount(user), 1), np.maximum(np.bincount(book), 1)
    b_user, b_book = np.zeros(n_user.size), np.zeros(n_book.size)
    for _ in range(30):
        b_user = np.bincount(user, y - mu - b_book[book]) / n_user
        b_book = np.bincount(book, y - mu - b_user[user]) / n_book
    return float(np.sqrt(np.mean((y - mu - b_user[user] - b_book[book]) ** 2)))


def test_planted_factors_beat_biases(real: synth.SynthData) -> None:
    r = real.ratings
    y = r["rating"].to_numpy(np.float64)
    clean = real.model.score(r["user_id"].to_numpy(), r["book_id"].to_numpy())
    design = np.column_stack([np.ones_like(clean), clean])
    fit = design @ np.linalg.lstsq(design, y, rcond=None)[0]
    planted = float(np.sqrt(np.mean((y - fit) ** 2)))
    biases = _bias_only_rmse(r["user_id"].to_numpy(), r["book_id"].to_numpy(), y)
    # The bias fit is in-sample with ~1,800 free parameters and still loses clearly to the planted score.
    assert planted < 0.85 * biases


def test_readers_prefer_books_they_like(real: synth.SynthData) -> None:
    model, r = real.model, real.ratings
    rng = np.random.default_rng(0)
    rated = model.score(r["user_id"].to_numpy(), r["book_id"].to_numpy())
    rated -= model.user_bias[r["user_id"].to_numpy() - 1] + model.book_bias[r["book_id"].to_numpy() - 1]
    users = rng.integers(1, model.n_users + 1, size=20_000)
    books = rng.choice(model.n_books, size=20_000, p=model.popularity) + 1
    other = model.score(users, books) - model.user_bias[users - 1] - model.book_bias[books - 1]
    assert rated.mean() > other.mean() + 0.2 * other.std()


def test_books_by_one_author_or_series_lie_close() -> None:
    model = plant_model(10, 332, books_csv=BOOKS_SAMPLE, seed=0)
    books = pd.read_csv(BOOKS_SAMPLE).sort_values("book_id").reset_index(drop=True)
    unit = model.book_factors / np.linalg.norm(model.book_factors, axis=1, keepdims=True)
    author = books["authors"].str.split(",").str[0].to_numpy()
    same = author[:, None] == author[None, :]
    np.fill_diagonal(same, False)
    cosine = unit @ unit.T
    off_diagonal = ~np.eye(len(books), dtype=bool)
    assert cosine[same].mean() > cosine[off_diagonal & ~same].mean() + 0.4
    potter = books.index[books["title"].str.contains(r"\(Harry Potter, #\d\)")].to_numpy()
    assert len(potter) >= 5
    nearest = np.argsort(-cosine[potter[0]])[1:5]
    assert set(nearest) <= set(books.index[author == "J.K. Rowling"])


def test_plant_model_is_the_model_the_ratings_come_from(real: synth.SynthData) -> None:
    model = plant_model(1500, 300, books_csv=BOOKS_SAMPLE, seed=3)
    for name in ("user_factors", "book_factors", "user_bias", "book_bias", "popularity"):
        assert np.array_equal(getattr(model, name), getattr(real.model, name)), name


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_files_headers_readme_and_determinism(tmp_path: Path) -> None:
    sizes = {"n_users": 200, "n_books": 150, "n_ratings": 5_000, "books_csv": BOOKS_SAMPLE}
    report = generate_goodbooks(tmp_path / "a", seed=5, **sizes)
    assert report.n_ratings == 5_000 and report.real_books
    folder = tmp_path / "a"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*RELEASE_HEADERS, "README.txt"])
    for name, header in RELEASE_HEADERS.items():
        with open(folder / name, encoding="utf-8") as handle:
            assert handle.readline().rstrip("\n") == header, name
    assert len(pd.read_csv(folder / "ratings.csv")) == 5_000
    readme = (folder / "README.txt").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "seed 5" in readme and "5,000 ratings" in readme
    assert "Zygmunt Zając" in readme and "CC BY-SA 4.0" in readme
    written = pd.read_csv(folder / "books.csv", dtype=str, keep_default_na=False)
    source = pd.read_csv(BOOKS_SAMPLE, dtype=str, keep_default_na=False)
    source = source.iloc[np.argsort(source["book_id"].astype(int).to_numpy())[:150]].reset_index(drop=True)
    assert list(written["book_id"]) == [str(i) for i in range(1, 151)]
    pd.testing.assert_frame_equal(written.drop(columns="book_id"), source.drop(columns="book_id"))

    generate_goodbooks(tmp_path / "b", seed=5, **sizes)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    generate_goodbooks(tmp_path / "b", seed=6, **sizes)  # replaces its own earlier output
    other = _digests(tmp_path / "b")
    assert other["ratings.csv"] != _digests(tmp_path / "a")["ratings.csv"]


def test_placeholder_books_and_their_rating_columns(tmp_path: Path) -> None:
    generate_goodbooks(tmp_path / "p", n_users=60, n_books=40, n_ratings=900, seed=0)
    books = pd.read_csv(tmp_path / "p" / "books.csv")
    ratings = pd.read_csv(tmp_path / "p" / "ratings.csv")
    assert books["title"].iloc[16] == "Synthetic Book 17"
    assert books["authors"].str.startswith("Synthetic Author ").all()
    counts = ratings.groupby("book_id").size().reindex(books["book_id"]).to_numpy()
    assert np.array_equal(books["work_ratings_count"].to_numpy(), counts)
    stars = books[[f"ratings_{s}" for s in range(1, 6)]].to_numpy()
    assert np.array_equal(stars.sum(axis=1), counts)
    assert "placeholder" in (tmp_path / "p" / "README.txt").read_text(encoding="utf-8")
    assert load_dataset(tmp_path / "p").synthetic  # the loader knows the README's marker


def test_refuses_a_folder_it_did_not_write(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "ratings.csv").write_text("user_id,book_id,rating\n1,1,5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did not write"):
        generate_goodbooks(folder, n_users=10, n_books=10, n_ratings=40)
    assert (folder / "ratings.csv").read_text(encoding="utf-8") == "user_id,book_id,rating\n1,1,5\n"


def test_an_interrupted_run_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_goodbooks(tmp_path / "old", n_users=10, n_books=10, n_ratings=40, seed=1)
    before = _digests(tmp_path / "old")
    calls = []

    def fail_on_second(path: Path, frame: pd.DataFrame) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_write(path, frame)

    real_write = synth._write_ints
    monkeypatch.setattr(synth, "_write_ints", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        generate_goodbooks(tmp_path / "new", n_users=10, n_books=10, n_ratings=40)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        generate_goodbooks(tmp_path / "old", n_users=10, n_books=10, n_ratings=40, seed=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]  # no new folder, no temporary left
    assert _digests(tmp_path / "old") == before


def test_progress_reports_each_stage_and_draws_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[str, int, int]] = []
    data = synthesize(20, 10, 200, seed=1, progress=lambda *call: calls.append(call))
    stages = ["books", "model", "choosing books", "stars", "books.csv", "tags", "done"]
    assert calls == [(stage, done, 6) for done, stage in enumerate(stages)]
    assert capsys.readouterr() == ("", "")  # the bar is the command line's to draw
    pd.testing.assert_frame_equal(data.ratings, synthesize(20, 10, 200, seed=1).ratings)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_users": 100, "n_books": 50, "n_ratings": 150}, ConfigError, "at least 200"),
        ({"n_users": 10, "n_books": 50, "n_ratings": 40}, ConfigError, "at least 50"),
        ({"n_users": 10, "n_books": 5, "n_ratings": 51}, ConfigError, "50 distinct pairs"),
        ({"n_users": 10, "n_books": 1, "n_ratings": 20}, ConfigError, "at least 2"),
        ({"n_users": 10, "n_books": 10, "n_ratings": 40, "seed": -1}, ConfigError, "seed"),
        ({"n_users": 10, "n_books": 10, "n_ratings": 40, "rating_max": 7}, ConfigError, "1-5 or 1-10"),
        ({"n_users": 10, "n_books": 10, "n_ratings": 40, "reader_tail": 1.5}, ConfigError, "reader tail"),
        ({"n_users": 10, "n_books": 10, "n_ratings": 40, "taste_strength": -0.1}, ConfigError, "taste"),
        ({"n_users": 10, "n_books": 10, "n_ratings": 40, "taste_strength": np.nan}, ConfigError, "taste"),
        ({"n_users": 10, "n_books": 400, "n_ratings": 400, "books_csv": BOOKS_SAMPLE}, ConfigError, "332"),
        (
            {"n_users": 10, "n_books": 10, "n_ratings": 40, "books_csv": Path("nowhere.csv")},
            DataError,
            "exist",
        ),
    ],
)
def test_bad_arguments(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        synthesize(**kwargs)
    assert "\n" not in str(info.value)


def test_a_books_file_without_the_release_columns(tmp_path: Path) -> None:
    bad = tmp_path / "books.csv"
    bad.write_text("book_id,title\n1,Dune\n2,Emma\n", encoding="utf-8")
    with pytest.raises(DataError, match="lacks the column"):
        synthesize(10, 2, 20, books_csv=bad)


def test_cli_writes_a_synthetic_data_set(tmp_path: Path) -> None:
    out = tmp_path / "synth"
    args = ["synth", "--out", str(out), "--users", "30", "--books", "40", "--ratings", "400"]
    result = runner.invoke(app, [*args, "--books-csv", str(BOOKS_SAMPLE), "--seed", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.stdout and "400" in result.stdout
    assert len(pd.read_csv(out / "ratings.csv")) == 400
    assert pd.read_csv(out / "books.csv")["title"].iloc[0].startswith("The Hunger Games")


def test_cli_progress_bar_goes_to_stderr(tmp_path: Path) -> None:
    args = ["synth", "--out", str(tmp_path / "s"), "--users", "20", "--books", "10", "--ratings", "200"]
    result = runner.invoke(app, [*args, "--progress"])
    assert result.exit_code == 0, result.output
    assert "synth" in result.stderr and "6/6" in result.stderr
    assert result.stdout.startswith("Wrote 200 SYNTHETIC ratings")


def test_cli_help_says_the_ratings_are_synthetic() -> None:
    result = runner.invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    assert "SYNTHETIC" in result.stdout and "--books-csv" in result.stdout


@pytest.mark.parametrize(
    "extra",
    [
        ["--users", "100", "--books", "50", "--ratings", "150"],
        ["--users", "10", "--books", "5", "--ratings", "51"],
        ["--users", "10", "--books", "400", "--ratings", "400", "--books-csv", str(BOOKS_SAMPLE)],
        ["--users", "10", "--books", "10", "--ratings", "40", "--books-csv", "no/such/books.csv"],
        ["--users", "10", "--books", "10", "--ratings", "40", "--scale", "0-100"],
        ["--users", "10", "--books", "10", "--ratings", "40", "--reader-tail", "2"],
        ["--users", "10", "--books", "10", "--ratings", "40", "--taste-strength", "1.5"],
    ],
)
def test_cli_bad_arguments_are_one_line(tmp_path: Path, extra: list[str]) -> None:
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "x"), *extra])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


# --- the knobs for data like a sparse book site, and shelves that follow the planted taste ------------------

# SHA-256 of files written before the knobs existed (bookrec at commit 3c02263): the defaults must keep them.
BEFORE_THE_KNOBS = {
    "placeholder": {
        "ratings.csv": "5d512006de6c67ad0a1ae12d4315aed5a2024d7fd82c78520bcdf4d663701471",
        "books.csv": "20c494e27ddbf26e44ba3eebc836be390257d0bcf56318680574a60749c8ca75",
        "to_read.csv": "4e6a7fe6da83e7d8927f5884ce25e6e715886faf781d7e44b2eeaeb9eeb7501e",
    },
    "real": {
        "ratings.csv": "f189908b17c592921e27af736cfcbc4234d6675772dca565e1eec24e7dd14585",
        "books.csv": "79d26e11fa0c8b83ec07aa9b79cc81361fe2f6e761185c13e65d5ce1f3136f43",
        "to_read.csv": "51267737105ef0ac2c537efda1bdb65f2142f0ec728fd508e2f9f566fc11de67",
    },
}


def test_default_knobs_leave_the_files_as_they_were(tmp_path: Path) -> None:
    generate_goodbooks(tmp_path / "placeholder", n_users=60, n_books=40, n_ratings=900, seed=0)
    generate_goodbooks(
        tmp_path / "real",
        n_users=50,
        n_books=120,
        n_ratings=2_000,
        books_csv=BOOKS_SAMPLE,
        seed=4,
        rating_max=5,
        reader_tail=0.0,
        taste_strength=1.0,
    )
    for name, expected in BEFORE_THE_KNOBS.items():
        digests = _digests(tmp_path / name)
        assert {file: digests[file] for file in expected} == expected, name
    readme = (tmp_path / "real" / "README.txt").read_text(encoding="utf-8")
    assert "Rating scale: 1-5" in readme and "Reader tail: 0 " in readme and "Taste strength: 1 " in readme


def test_ten_point_scale_stays_within_1_to_10_in_book_crossing_shares(tmp_path: Path) -> None:
    report = generate_goodbooks(tmp_path / "ten", n_users=400, n_books=200, n_ratings=20_000, rating_max=10)
    ratings = pd.read_csv(tmp_path / "ten" / "ratings.csv")
    assert ratings["rating"].between(1, 10).all() and sorted(ratings["rating"].unique()) == list(range(1, 11))
    shares = np.bincount(ratings["rating"], minlength=11)[1:] / len(ratings)
    assert np.allclose(shares, POINT_SHARES, atol=0.005) and len(report.star_shares) == 10
    books = pd.read_csv(tmp_path / "ten" / "books.csv")  # Goodreads' 1-5 columns: points counted in pairs
    stars = books[[f"ratings_{s}" for s in range(1, 6)]].to_numpy()
    assert np.array_equal(stars.sum(axis=1), books["work_ratings_count"].to_numpy())
    assert books["average_rating"].between(1, 5).all()
    data = load_dataset(tmp_path / "ten")  # the README records the scale; goodbooks' 1-5 would refuse 10s
    assert data.rating_scale == (1.0, 10.0) and data.synthetic
    archive = tmp_path / "ten.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        for path in sorted((tmp_path / "ten").iterdir()):
            writer.write(path, f"ten/{path.name}")
    assert load_dataset(archive).rating_scale == (1.0, 10.0)


def test_a_heavier_reader_tail_lowers_the_median_reader(real: synth.SynthData) -> None:
    medians = []
    for tail in (0.0, 0.5, 1.0):
        data = (
            real
            if tail == 0
            else synthesize(1500, 300, 60_000, books_csv=BOOKS_SAMPLE, seed=3, reader_tail=tail)
        )
        per_reader = data.ratings.groupby("user_id").size()
        assert len(data.ratings) == 60_000 and per_reader.min() >= 2 and len(per_reader) == 1500
        assert data.ratings["book_id"].nunique() == 300  # still every book rated
        medians.append(per_reader.median())
    assert medians[0] > 1.5 * medians[1] > 1.5 * 1.5 * medians[2], medians
    assert medians[2] <= 10  # most readers rate a handful (40 a reader on average)


def _taste_r2(data: synth.SynthData) -> float:
    """Share of the ratings' variance explained by the planted taste term (reader taste · book vector)."""
    r, model = data.ratings, data.model
    users, books = r["user_id"].to_numpy(), r["book_id"].to_numpy()
    taste = model.score(users, books) - model.user_bias[users - 1] - model.book_bias[books - 1]
    if taste.std() == 0:
        return 0.0
    return float(np.corrcoef(taste, r["rating"].to_numpy(np.float64))[0, 1] ** 2)


def test_a_weaker_taste_explains_less_of_the_ratings(real: synth.SynthData) -> None:
    weaker = [
        synthesize(1500, 300, 60_000, books_csv=BOOKS_SAMPLE, seed=3, taste_strength=s) for s in (0.5, 0.0)
    ]
    r2 = [_taste_r2(real), _taste_r2(weaker[0])]
    assert r2[0] > 0.3 and r2[1] < 0.6 * r2[0], r2
    assert not weaker[1].model.user_factors.any() and _taste_r2(weaker[1]) == 0.0
    for name in ("user_bias", "book_bias", "popularity"):  # the same draws: only the taste is scaled
        assert np.array_equal(getattr(weaker[0].model, name), getattr(real.model, name)), name
    model = plant_model(1500, 300, books_csv=BOOKS_SAMPLE, seed=3, taste_strength=0.5)
    assert np.array_equal(model.book_factors, weaker[0].model.book_factors)


def test_genre_shelves_follow_the_planted_taste(real: synth.SynthData) -> None:
    shelves = real.book_tags.merge(real.tags, on="tag_id")
    genres = shelves[shelves["tag_name"].isin(GENRE_SHELVES)]
    top = genres.sort_values("count", ascending=False).drop_duplicates("goodreads_book_id")
    goodreads = pd.to_numeric(real.books["goodreads_book_id"])
    top_genre = goodreads.map(top.set_index("goodreads_book_id")["tag_name"]).to_numpy()
    assert not pd.isna(top_genre).any()  # every book has a genre shelf
    cluster = real.book_cluster
    same = cluster[:, None] == cluster[None, :]
    shared = top_genre[:, None] == top_genre[None, :]
    off = ~np.eye(len(cluster), dtype=bool)
    chance = shared[off].mean()
    assert shared[same & off].mean() > 0.95 and shared[~same].mean() < 0.05
    assert shared[same & off].mean() > 3 * chance
    # A genre names one taste: a filter on it returns the books of one planted cluster.
    for genre in np.unique(top_genre):
        assert len(set(cluster[top_genre == genre])) == 1, genre
    assert genres.groupby("goodreads_book_id").size().max() >= 2  # books sit on more than one genre shelf


def test_cli_knobs_reach_the_data_and_its_readme(tmp_path: Path) -> None:
    out = tmp_path / "sparse"
    args = [
        "synth",
        "--out",
        str(out),
        "--users",
        "200",
        "--books",
        "80",
        "--ratings",
        "4000",
        "--no-progress",
    ]
    result = runner.invoke(app, [*args, "--scale", "1-10", "--reader-tail", "1", "--taste-strength", "0.3"])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out / "ratings.csv")["rating"].max() == 10
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert "Rating scale: 1-10" in readme and "Reader tail: 1 " in readme and "Taste strength: 0.3 " in readme
    assert "shelves are SYNTHETIC" in readme
    help_text = runner.invoke(app, ["synth", "--help"]).stdout
    for option in ("--scale", "--reader-tail", "--taste-strength"):
        assert option in help_text


def test_blocks_and_chunks_do_not_change_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Readers are drawn a block at a time and rows written a chunk at a time, so that any size fits in
    # memory: the files must not depend on where the blocks fall.
    for layout in ("goodbooks", "ucsd"):
        generate_goodbooks(
            tmp_path / f"{layout}-whole", n_users=80, n_books=50, n_ratings=2_000, layout=layout
        )
    monkeypatch.setattr("bookrec.data._synth_model._BLOCK_RATINGS", 97)
    monkeypatch.setattr("bookrec.data.synth._CHUNK", 61)
    for layout in ("goodbooks", "ucsd"):
        generate_goodbooks(
            tmp_path / f"{layout}-blocks", n_users=80, n_books=50, n_ratings=2_000, layout=layout
        )
        assert _digests(tmp_path / f"{layout}-blocks") == _digests(tmp_path / f"{layout}-whole"), layout


def test_the_number_of_to_read_pairs_can_be_asked_for(tmp_path: Path) -> None:
    report = generate_goodbooks(
        tmp_path / "ucsd", n_users=60, n_books=40, n_ratings=900, n_to_read=1_100, layout="ucsd"
    )
    interactions = pd.read_csv(tmp_path / "ucsd" / "goodreads_interactions.csv")
    assert report.n_to_read == (interactions["rating"] == 0).sum() == 1_100
    assert not interactions.duplicated(["user_id", "book_id"]).any()
    assert len(synthesize(60, 40, 900, n_to_read=0).to_read) == 0
    assert len(synthesize(10, 10, 40, n_to_read=10**6).to_read) == 60  # at most the pairs left unrated
    with pytest.raises(ConfigError, match="to-read"):
        synthesize(10, 10, 40, n_to_read=-1)
