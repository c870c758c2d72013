"""Serving that does not grow with the catalogue: memory-mapped model folders, checked as strictly as before.

A loaded model's tensors are views of its mapped weights file, loading reads no tensor into memory and makes
no table as large as the book vectors, and the answers are exactly those of a model read into memory. The
folder is still refused when truncated, tampered or malformed, whether written now (xxh3-128) or by bookrec
0.1.0 (SHA-256).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from bookrec import _tensorfile, ann
from bookrec.data.ids import IdMap
from bookrec.data.rated import RatedBooks
from bookrec.errors import ModelFileError
from bookrec.modelfile import MANIFEST, WEIGHTS, SavedModel, load_model, read_model_folder, save_model
from bookrec.models.als import AlsHead
from bookrec.models.dot import DotHead
from bookrec.recommender import Recommender
from conftest import FIXTURES, planted_recommender, sample_books


@pytest.fixture(scope="module")
def ranked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Recommender, Path]:
    """The planted model with a ranking model beside it, saved."""
    recommender = planted_recommender(sample_books(120))
    rng = np.random.default_rng(3)
    ranker = AlsHead(
        rng.normal(size=(recommender.n_users, 6)).astype(np.float32),
        rng.normal(size=(recommender.n_books, 6)).astype(np.float32),
        5.0,
        5.0,
    )
    recommender = dataclasses.replace(recommender, ranker=ranker)
    return recommender, recommender.save(tmp_path_factory.mktemp("ranked") / "model")


def _eager(folder: Path) -> Recommender:
    """The folder read into memory with safetensors' own reader (every tensor copied), served alike."""
    saved = load_model(folder)
    tensors = load_file(str(folder / WEIGHTS))
    assert not any(_tensorfile.mapped(array) for array in tensors.values())
    head = type(saved.head).from_tensors(tensors, saved.head.y_range)
    ranker = type(saved.ranker).from_tensors(tensors, saved.manifest["ranker"]["settings"])
    rated = RatedBooks(tensors["rated_indptr"], tensors["rated_book_idx"], tensors["rated_rating"])
    return Recommender.from_saved(dataclasses.replace(saved, head=head, ranker=ranker, rated=rated))


def test_a_mapped_model_answers_exactly_as_one_read_into_memory(ranked) -> None:
    _, folder = ranked
    mapped, eager = Recommender.load(folder), _eager(folder)
    assert _tensorfile.mapped(mapped.head.book_vectors) and _tensorfile.mapped(mapped.ranker.book_factors)
    for ask in (
        lambda r: r.similar(1, k=8),
        lambda r: r.similar("The Hunger Games", k=8, min_ratings=12),
        lambda r: r.recommend(3, k=8),
        lambda r: r.recommend(5, k=8, by="rating"),
        lambda r: r.recommend_for({"The Hunger Games": 5, 2: None}, k=8),
        lambda r: r.recommend_for([1, 4], k=8, by="rating"),
        lambda r: r.biases("lowest", k=5),
    ):
        assert ask(mapped) == ask(eager)
    assert mapped.predict(3, 7) == eager.predict(3, 7)


def test_the_tensors_are_read_only_views_of_the_mapped_file(ranked) -> None:
    _, folder = ranked
    content = read_model_folder(folder)
    assert content.tensors and all(_tensorfile.mapped(array) for array in content.tensors.values())
    assert not any(array.flags.writeable for array in content.tensors.values())
    # The file stays a safetensors file: the package's own reader reads the same arrays.
    for name, array in load_file(str(folder / WEIGHTS)).items():
        np.testing.assert_array_equal(array, content.tensors[name])


def _wide_model(n_books: int, n_factors: int) -> SavedModel:
    rng = np.random.default_rng(0)
    n_users = 1000
    ids = np.arange(1, n_books + 1)
    table = pd.DataFrame(
        {
            "book_id": ids,
            "title": [f"Synthetic book {i}" for i in ids],
            "authors": "Someone",
            "year": pd.array([2000] * n_books, dtype="Int64"),
            "average_rating": 4.0,
            "ratings_count": 10,
            "n_ratings": 1,
            "image_url": "",
            "small_image_url": "",
            "goodreads_url": "",
        }
    )
    table.loc[0, "title"] = "The Hobbit"

    def factors(n: int) -> np.ndarray:
        return rng.standard_normal((n, n_factors), dtype=np.float32)

    head = DotHead(
        factors(n_users), np.zeros(n_users, np.float32), factors(n_books), np.zeros(n_books), (0, 5.5)
    )
    rated = RatedBooks.from_arrays(
        np.arange(n_users) % n_users, np.arange(n_users), np.full(n_users, 4.0), n_users
    )
    return SavedModel(
        head,
        IdMap(np.arange(1, n_users + 1)),
        IdMap(ids),
        table,
        rated,
        (1.0, 5.0),
        {},
        ranker=AlsHead(factors(n_users), factors(n_books), 10.0, 5.0),
    )


def test_loading_reads_no_tensor_into_memory(tmp_path: Path) -> None:
    """50,000 books x 64 factors twice (26 MB of book tables): loading allocates a small part of that."""
    folder = save_model(tmp_path / "wide", _wide_model(50_000, 64))
    weights = (folder / WEIGHTS).stat().st_size
    tracemalloc.start()
    try:
        recommender = Recommender.load(folder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < weights / 10, f"loading allocated {peak:,} bytes for {weights:,} bytes of weights"
    # What is derived from the vectors is made on the first question that needs it, and answers the same.
    hits = recommender.similar("The Hobbit", k=3)
    assert len(hits) == 3 and hits.matched[0].book_id == 1
    assert recommender.recommend(1, k=3)[0].match is not None


def _rewrite_header(folder: Path, edit) -> None:
    """Edit the weights file's JSON header in place (same length), and record the edited file's checksum,
    as someone who also rewrote the manifest would: only the structural checks can refuse it then."""
    path = folder / WEIGHTS
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    edit(header, data, length)
    text = json.dumps(header, separators=(",", ":")).encode()
    data[8 : 8 + length] = text.ljust(length)
    path.write_bytes(bytes(data))
    _reseal(folder)


def _reseal(folder: Path) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"][WEIGHTS] = _tensorfile.checksum_of(folder / WEIGHTS, "xxh3_128:")
    (folder / MANIFEST).write_text(json.dumps(manifest))


def _shift_one(header: dict, data: bytearray, length: int) -> None:
    begin, end = header["user_bias"]["data_offsets"]
    header["user_bias"]["data_offsets"] = [0, end - begin]  # over the first tensor's bytes


def _bad_dtype(header: dict, data: bytearray, length: int) -> None:
    header["book_bias"]["dtype"] = "Q99"


def _wrong_shape(header: dict, data: bytearray, length: int) -> None:
    header["book_bias"]["shape"] = [header["book_bias"]["shape"][0] + 1]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_shift_one, "overlap or leave gaps"),
        (_bad_dtype, "unknown or missing dtype"),
        (_wrong_shape, "do not hold"),
    ],
)
def test_a_malformed_header_is_refused_even_with_its_checksum_recorded(
    ranked, tmp_path, edit, message
) -> None:
    folder = Path(shutil.copytree(ranked[1], tmp_path / "model"))
    _rewrite_header(folder, edit)
    with pytest.raises(ModelFileError, match=message) as caught:
        Recommender.load(folder)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("cut", [4, 9, 1000, -4])
def test_a_truncated_or_padded_weights_file_is_refused_even_with_its_checksum_recorded(
    ranked, tmp_path: Path, cut: int
) -> None:
    folder = Path(shutil.copytree(ranked[1], tmp_path / "model"))
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[:cut] if cut > 0 else data + b"\0" * -cut)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        Recommender.load(folder)
    _reseal(folder)
    with pytest.raises(ModelFileError, match="cannot be read") as caught:
        Recommender.load(folder)
    assert "\n" not in str(caught.value)


def test_an_empty_weights_file_is_refused(ranked, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(ranked[1], tmp_path / "model"))
    (folder / WEIGHTS).write_bytes(b"")
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        Recommender.load(folder)


def test_a_missing_table_is_refused(ranked, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(ranked[1], tmp_path / "model"))
    (folder / "books.arrow").unlink()
    with pytest.raises(ModelFileError, match=r"books\.arrow is missing"):
        Recommender.load(folder)


@pytest.mark.parametrize("name", [WEIGHTS, "books.parquet"])
def test_folders_of_bookrec_0_1_0_are_mapped_and_their_sha256_still_checked(
    tmp_path: Path, name: str
) -> None:
    folder = Path(shutil.copytree(FIXTURES / "models-0.1.0" / "dot", tmp_path / "dot"))
    served = Recommender.load(folder)
    assert _tensorfile.mapped(served.head.book_vectors)
    data = bytearray((folder / name).read_bytes())
    data[-20] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        Recommender.load(folder)


# --- approximate nearest neighbours (bookrec.ann) -----------------------------------------------------------


def _clustered_model(n_books: int = 4000, n_users: int = 300, d: int = 24, seed: int = 5) -> SavedModel:
    """A catalogue with trained-like structure: book vectors around 60 cluster centres, each reader's vectors
    the mean of the five books of one cluster they read (as ALS puts a reader among what they read)."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(60, size=n_books)

    def books(spread: float) -> np.ndarray:
        centres = rng.standard_normal((60, d)).astype(np.float32)
        return centres[cluster] + spread * rng.standard_normal((n_books, d)).astype(np.float32)

    vectors, factors = books(0.4), books(0.3)
    read = np.stack([rng.choice(np.flatnonzero(cluster == rng.integers(60)), 5) for _ in range(n_users)])
    user_idx = np.repeat(np.arange(n_users), 5)
    ids = np.arange(1, n_books + 1)
    table = pd.DataFrame(
        {
            "book_id": ids,
            "title": [f"Clustered book {i}" for i in ids],
            "authors": "Someone",
            "year": pd.array([2000] * n_books, dtype="Int64"),
            "average_rating": 4.0,
            "ratings_count": 10,
            "n_ratings": rng.integers(0, 50, size=n_books),
            "image_url": "",
            "small_image_url": "",
            "goodreads_url": "",
            "work_id": [str(i) for i in ids],
            "genres": np.where(cluster % 3 == 0, "fantasy;romance", np.where(cluster % 3 == 1, "horror", "")),
        }
    )
    table.loc[:4, "n_ratings"] = 1000
    head = DotHead(
        vectors[read].mean(axis=1),
        np.zeros(n_users, np.float32),
        vectors,
        np.zeros(n_books, np.float32),
        (0, 5.5),
    )
    wanted_books = read[:, 0] + 1
    ranker = AlsHead(
        factors[read].mean(axis=1),
        factors,
        5.0,
        5.0,
        (np.arange(n_users + 1, dtype=np.int64), wanted_books.astype(np.int32)),
    )
    rated = RatedBooks.from_arrays(
        user_idx, read.ravel(), rng.integers(1, 6, size=read.size).astype(float), n_users
    )
    head.book_bias = rng.normal(0.0, 0.5, n_books).astype(np.float32)  # "rating" differs from cosine
    return SavedModel(
        head, IdMap(np.arange(1, n_users + 1)), IdMap(ids), table, rated, (1.0, 5.0), {}, ranker=ranker
    )


@pytest.fixture(scope="module")
def approximate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Recommender, Recommender, Path]:
    """The clustered model served exactly, and with its indexes forced on (saved with them)."""
    saved = _clustered_model()
    indexes = ann.build_indexes(
        saved.head.book_vectors, saved.ranker.book_factors, threshold=0, head=saved.head
    )
    with_index = dataclasses.replace(saved, indexes=indexes)
    folder = save_model(tmp_path_factory.mktemp("ann") / "model", with_index)
    return Recommender.from_saved(saved), Recommender.from_saved(with_index), folder


def _recall(exact: list, approximate: list) -> float:
    return len({b.book_id for b in exact} & {b.book_id for b in approximate}) / max(len(exact), 1)


def test_the_index_finds_what_scoring_every_book_finds(approximate) -> None:
    exact, indexed, _ = approximate
    books = range(1, exact.n_books + 1, 97)
    users = range(1, exact.n_users + 1, 7)
    recall = [_recall(exact.similar(b, k=10), indexed.similar(b, k=10)) for b in books]
    recall += [_recall(exact.recommend(u, k=10), indexed.recommend(u, k=10)) for u in users]
    recall += [
        _recall(exact.recommend_for([b, b + 1], k=10), indexed.recommend_for([b, b + 1], k=10)) for b in books
    ]
    assert np.mean(recall) >= 0.95
    rating = [
        _recall(exact.recommend(u, k=10, by="rating"), indexed.recommend(u, k=10, by="rating")) for u in users
    ]
    rating += [
        _recall(exact.recommend_for([b], k=10, by="rating"), indexed.recommend_for([b], k=10, by="rating"))
        for b in books
    ]
    assert np.mean(rating) >= 0.95
    # The scores shown are exact: a book in both lists shows the same score and match.
    found = {r.book_id: r for r in indexed.recommend(3, k=10)}
    for result in exact.recommend(3, k=10):
        if result.book_id in found:
            assert found[result.book_id].match == pytest.approx(result.match, rel=1e-5)
            assert found[result.book_id].score == pytest.approx(result.score, rel=1e-5)


def test_filters_hold_with_the_index(approximate) -> None:
    _, indexed, _ = approximate
    for user in (1, 2, 3):
        seen, _ = indexed.rated.of(indexed.user_position(user))
        wanted = indexed.ranker.wanted_by(indexed.user_position(user))
        left_out = {indexed.books.id_of(int(p)) for p in np.concatenate((seen, wanted))}
        assert not left_out & {r.book_id for r in indexed.recommend(user, k=20)}
    for results in (
        indexed.similar(5, k=10, genres=["horror"], min_ratings=30),
        indexed.recommend(4, k=10, genres=["horror"], min_ratings=30),
        indexed.recommend_for([5, 6], k=10, genres=["horror"], min_ratings=30),
    ):
        assert len(results) == 10
        assert all("horror" in r.genres and r.n_ratings >= 30 for r in results)
    assert 5 not in {r.book_id for r in indexed.similar(5, k=10)}


def test_a_filter_asked_for_again_is_made_once(approximate) -> None:
    _, indexed, _ = approximate
    catalog = indexed._catalog
    made = catalog.book_filter(30, ["horror"])
    horror = np.array(["horror" in r for r in indexed.books_table["genres"]])
    assert np.array_equal(made.mask, horror & (catalog.n_ratings >= 30)) and not made.mask.flags.writeable
    assert np.array_equal(np.unpackbits(made.bits, bitorder="little")[: indexed.n_books], made.mask)
    assert catalog.book_filter(30, ["horror"]) is made  # an app asks for one filter again and again
    assert catalog.book_filter(0, []) is None and catalog.book_filter(0, [" "]) is None


def test_filters_that_leave_too_few_candidates_fall_back_to_scoring_every_book(approximate) -> None:
    exact, indexed, _ = approximate
    rare = 1000  # only the first five books have as many
    assert indexed.similar(9, k=10, min_ratings=rare) == exact.similar(9, k=10, min_ratings=rare)
    assert indexed.recommend(2, k=10, min_ratings=rare) == exact.recommend(2, k=10, min_ratings=rare)


def test_a_folder_saved_with_its_indexes_loads_and_answers_with_them(approximate) -> None:
    _, indexed, folder = approximate
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["ann"]) == {"similar", "match", "rating"}
    assert {"ann-similar.faiss", "ann-match.faiss", "ann-rating.faiss"} <= set(manifest["files"])
    loaded = Recommender.load(folder)
    assert set(loaded.indexes) == {"similar", "match", "rating"}
    assert loaded.similar(7, k=10) == indexed.similar(7, k=10)
    assert loaded.recommend(7, k=10) == indexed.recommend(7, k=10)
    assert loaded.recommend_for([7, 8], k=10) == indexed.recommend_for([7, 8], k=10)
    # Saved again, it keeps the indexes it carries (not rebuilt, not dropped).
    assert loaded.recommend(7, k=10, by="rating") == indexed.recommend(7, k=10, by="rating")
    again = Recommender.load(loaded.save(folder.with_name("again")))
    assert set(again.indexes) == {"similar", "match", "rating"}
    assert again.similar(7, k=10) == indexed.similar(7, k=10)


def test_the_rating_index_serves_only_models_whose_score_is_an_inner_product(approximate) -> None:
    exact, _, _ = approximate
    rows = ann.rating_rows(exact.head)
    # Each book's vector, a 1 for the reader's bias, and its own bias.
    assert rows is not None and rows.shape == (exact.n_books, exact.head.n_factors + 2)
    picked = np.array([0, 17, exact.n_books - 1])
    ones = np.ones((picked.size, 1))
    expected = np.hstack((exact.head.book_vectors[picked], ones, exact.head.book_bias[picked, None]))
    np.testing.assert_allclose(rows[picked], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(rows[:4][[0, 3]], rows[np.array([0, 3])])
    params = exact.head.reader_params(np.array([4]))[0]
    np.testing.assert_allclose(
        rows[picked] @ ann.rating_query(params), exact.head.scores(params)[picked], rtol=1e-5, atol=1e-5
    )
    nn = Recommender.load(FIXTURES / "models-0.1.0" / "nn")
    assert ann.rating_rows(nn.head) is None  # piecewise linear: no index, every book is scored
    assert "rating" not in ann.build_indexes(nn.head.book_vectors, None, threshold=0, head=nn.head)


def test_a_folder_saved_before_the_rating_index_gets_only_that_one_when_saved_again(
    approximate, tmp_path, monkeypatch
) -> None:
    exact, indexed, _ = approximate
    older = dataclasses.replace(indexed, indexes={k: indexed.indexes[k] for k in ("similar", "match")})
    built = []
    original = ann.build_indexes

    def build_small(*args, **kwargs):  # as a catalogue over ann.THRESHOLD books would
        made = original(*args, **(kwargs | {"threshold": 0}))
        built.extend(made)
        return made

    monkeypatch.setattr(ann, "build_indexes", build_small)
    again = Recommender.load(older.save(tmp_path / "again"))
    assert built == ["rating"] and set(again.indexes) == {"similar", "match", "rating"}
    assert again.similar(7, k=10) == indexed.similar(7, k=10)
    assert _recall(exact.recommend(5, k=10, by="rating"), again.recommend(5, k=10, by="rating")) >= 0.9


def test_a_tampered_index_file_is_refused(approximate, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(approximate[2], tmp_path / "model"))
    data = bytearray((folder / "ann-match.faiss").read_bytes())
    data[-20] ^= 0x01
    (folder / "ann-match.faiss").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        Recommender.load(folder)


def test_small_catalogues_and_older_folders_have_no_index_and_answer_exactly(approximate, ranked) -> None:
    exact, _, _ = approximate
    recommender, folder = ranked
    assert recommender.n_books < ann.THRESHOLD
    loaded = Recommender.load(folder)
    assert loaded.indexes == {} and "ann" not in loaded.manifest
    eager = _eager(folder)
    assert loaded.similar(1, k=8) == eager.similar(1, k=8)
    assert loaded.recommend(3, k=8) == eager.recommend(3, k=8)
    assert exact.indexes == {}


def test_titles_are_normalized_in_columns_exactly_as_one_by_one() -> None:
    from bookrec.titles import normalize_title, normalize_titles

    titles = [
        "The Hobbit",
        "Harry Potter & the Stone (Harry Potter, #1)",
        "Ender's Game",
        "Le Petit Prince, éd. (Série #2)",
        "a\x0bb\x1cc\td",
        "  x -- y_z  ",
        "1984",
        "(#1)",
        "",
        "Don\u2019t Panic",
        "Straße",
    ]
    rng = np.random.default_rng(0)
    alphabet = [*"aZ9_ '&#()-,.;:!?\t\n\x0b\x0c\r\x1c\x1f", "é", "\u2019", "ß"]
    titles += ["".join(rng.choice(alphabet, size=rng.integers(0, 20))) for _ in range(300)]
    assert list(normalize_titles(pd.Series(titles))) == [normalize_title(t) for t in titles]


def test_a_large_catalogue_reads_each_shown_book_when_shown_with_the_same_answers(
    ranked, monkeypatch
) -> None:
    from bookrec import catalog

    _, folder = ranked
    eager = Recommender.load(folder)
    monkeypatch.setattr(catalog, "_EAGER_ROWS", 0)
    lazy = Recommender.load(folder)
    assert lazy.similar("The Hunger Games", k=8) == eager.similar("The Hunger Games", k=8)
    assert lazy.recommend(3, k=8) == eager.recommend(3, k=8)
    assert lazy.search_titles("hunger", k=5) == eager.search_titles("hunger", k=5)
