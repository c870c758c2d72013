"""The ranking model: lists that follow what readers read, honest scores, reasons that differ, no second
editions; ``by="rating"`` keeps the rating model's order."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.config import TrainConfig
from bookrec.data import Dataset
from bookrec.evaluation import popularity_scores
from bookrec.models.als import confidence
from bookrec.recommender import Recommender
from bookrec.train import train
from conftest import sample_books

N_KIND = 60  # books 0..59 are one kind, 60..119 the other


@pytest.fixture(scope="module")
def two_kinds() -> tuple[Dataset, np.ndarray]:
    """Two groups of readers who read disjoint kinds of books; the first group is twice as large, so that
    the most popular books are all of its kind. Each reader reads 20 books of their kind, popular ones more
    often, and rates them 3-5 stars. Two books of the second kind are editions of one work."""
    rng = np.random.default_rng(11)
    books = sample_books(2 * N_KIND).copy()
    books.loc[N_KIND + 1, "work_id"] = books.loc[N_KIND, "work_id"]  # book 61 is another edition of book 60
    group = np.repeat([0, 1], [160, 80])
    weights = 1.0 / np.arange(1, N_KIND + 1)  # a long tail inside each kind
    users, items, stars = [], [], []
    for user, kind in enumerate(group):
        chosen = rng.choice(N_KIND, size=20, replace=False, p=weights / weights.sum()) + kind * N_KIND
        chosen = chosen[chosen != N_KIND + 1]  # nobody has read the second edition
        users += [user + 1] * len(chosen)
        items += books.book_id.to_numpy()[chosen].tolist()
        stars += rng.integers(3, 6, size=len(chosen)).tolist()
    data = Dataset.from_ratings(users, items, stars, rating_scale=(1.0, 5.0), books=books, name="two kinds")
    positions = data.books.index_of(books.book_id.to_numpy())
    kind_of = np.zeros(data.n_books, dtype=int)
    kind_of[positions[N_KIND:]] = 1
    return data, kind_of


@pytest.fixture(scope="module")
def served(two_kinds: tuple[Dataset, np.ndarray]) -> Recommender:
    data, _ = two_kinds
    return Recommender.from_saved(train(data, TrainConfig(epochs=5, valid_pct=0.0)).saved_model())


def test_lists_come_from_the_readers_own_kind_and_most_popular_does_not(
    served: Recommender, two_kinds: tuple[Dataset, np.ndarray]
) -> None:
    data, kind_of = two_kinds
    popular = popularity_scores(data)(np.array([0]))[0]
    for user_id, kind in ((1, 0), (200, 1), (230, 1)):
        listed = served.recommend(user_id, k=10)
        assert all(kind_of[served.books.get(r.book_id)] == kind for r in listed), user_id
        assert all(r.match is not None for r in listed)
        assert [r.match for r in listed] == sorted((r.match for r in listed), reverse=True)
    top_popular = np.argsort(-popular)[:10]
    assert all(kind_of[i] == 0 for i in top_popular)  # most-popular offers the second group nothing of theirs


def test_a_new_reader_of_both_kinds_gets_reasons_that_differ(
    served: Recommender, two_kinds: tuple[Dataset, np.ndarray]
) -> None:
    data, kind_of = two_kinds
    first = [data.books.id_of(i) for i in range(data.n_books) if kind_of[i] == 0][:3]
    second = [data.books.id_of(i) for i in range(data.n_books) if kind_of[i] == 1][2:5]
    listed = served.recommend_for(first + second, k=10)
    assert {kind_of[served.books.get(r.book_id)] for r in listed} == {0, 1}
    reasons = {r.because[0] for r in listed if r.because}
    assert len(reasons) >= 2
    titles = {served.book(b).title for b in first + second}
    assert reasons <= titles
    stars = [r.score for r in listed]
    assert len(set(np.round(stars, 2))) > 1  # the predicted stars are not a tie
    assert all(1.0 <= s <= 5.0 for s in stars)


def test_another_edition_of_a_liked_book_is_never_recommended(served: Recommender) -> None:
    books = sample_books(2 * N_KIND)
    liked, edition = int(books.book_id[N_KIND]), int(books.book_id[N_KIND + 1])
    assert served.books.get(edition) is None  # nobody read it, so the model does not know it ...
    for user_id in range(161, 241):  # ... and no reader of the first edition is offered it or its work
        seen = {served.books.id_of(int(p)) for p in served.rated.of(served.users.get(user_id))[0]}
        if liked in seen:
            assert edition not in {r.book_id for r in served.recommend(user_id, k=30)}


def test_editions_and_box_sets_of_a_named_book_are_left_out() -> None:
    from bookrec.catalog import Catalog
    from bookrec.data import IdMap

    table = pd.DataFrame(
        {
            "book_id": [1, 2, 3, 4, 5],
            "title": [
                "Harry Potter and the Sorcerer's Stone (Harry Potter, #1)",
                "Harry Potter Boxset (Harry Potter, #1-7)",
                "Harry Potter y la piedra filosofal (Harry Potter, #1)",
                "Harry Potter and the Chamber of Secrets (Harry Potter, #2)",
                "The Hunger Games Trilogy Boxset (The Hunger Games, #1-3)",
            ],
            "authors": ["J.K. Rowling"] * 4 + ["Suzanne Collins"],
            "work_id": ["10", "20", "10", "30", "40"],
            "n_ratings": [5, 5, 5, 5, 5],
        }
    )
    catalog = Catalog(IdMap(np.arange(1, 6)), table)
    assert sorted(catalog.editions_of(np.array([0])).tolist()) == [1, 2]  # box set, translation; not #2


def test_by_rating_keeps_the_rating_models_order(served: Recommender) -> None:
    user = 5
    position = served.users.get(user)
    predicted = served.scores_for(np.array([position]), by="rating")[0]
    seen = served.rated.of(position)[0]
    predicted[seen] = -np.inf
    expected = [served.books.id_of(int(i)) for i in np.argsort(-predicted, kind="stable")[:8]]
    listed = served.recommend(user, k=8, by="rating")
    assert [r.book_id for r in listed] == expected
    assert all(r.match is None for r in listed)
    assert [r.score for r in listed] == sorted((r.score for r in listed), reverse=True)


def test_folding_in_a_readers_reads_gives_their_trained_ranking(served: Recommender) -> None:
    overlaps = []
    for position in range(0, served.n_users, 20):
        seen, stars = served.rated.of(position)
        trained = served.ranker.reader_params(np.array([position]))[0]
        folded = served.ranker.fit_reader(seen, confidence(stars, served.rating_scale, served.ranker.alpha))
        mask = np.ones(served.n_books, dtype=bool)
        mask[seen] = False
        top = {int(i) for i in np.argsort(-np.where(mask, served.ranker.scores(trained), -np.inf))[:10]}
        again = {
            int(i) for i in np.argsort(-np.where(mask, served.ranker.scores(folded.params), -np.inf))[:10]
        }
        overlaps.append(len(top & again) / 10)
    assert np.mean(overlaps) >= 0.8


def test_the_ranking_model_is_saved_and_loaded(served: Recommender, tmp_path) -> None:
    loaded = Recommender.load(served.save(tmp_path / "model"))
    assert loaded.manifest["ranker"]["kind"] == "als"
    assert loaded.recommend(3, k=5) == served.recommend(3, k=5)
    liked = [served.books.id_of(0), served.books.id_of(70)]
    assert loaded.recommend_for(liked, k=5) == served.recommend_for(liked, k=5)


def test_a_model_without_a_ranker_ranks_by_rating(two_kinds: tuple[Dataset, np.ndarray]) -> None:
    data, _ = two_kinds
    plain = Recommender.from_saved(train(data, TrainConfig(epochs=2, ranker="none")).saved_model())
    assert plain.ranker is None
    assert plain.recommend(2, k=5) == plain.recommend(2, k=5, by="rating")
    with pytest.raises(Exception, match="by must be one of"):
        plain.recommend(2, by="stars")


def test_cli_by_rating_and_match(served: Recommender, tmp_path) -> None:
    folder = str(served.save(tmp_path / "model"))
    runner = CliRunner()
    by_match = runner.invoke(app, ["recommend", folder, "--user", "3", "-k", "4", "--json"])
    by_rating = runner.invoke(
        app, ["recommend", folder, "--user", "3", "-k", "4", "--by", "rating", "--json"]
    )
    assert by_match.exit_code == 0 and by_rating.exit_code == 0, by_match.output + by_rating.output
    matched, rated = json.loads(by_match.stdout), json.loads(by_rating.stdout)
    assert all(row["match"] is not None for row in matched) and all(row["match"] is None for row in rated)
    assert [row["book_id"] for row in rated] == [r.book_id for r in served.recommend(3, k=4, by="rating")]
    bad = runner.invoke(app, ["recommend", folder, "--user", "3", "--by", "stars"])
    assert bad.exit_code == 2


def test_the_reads_matrix_is_the_same_filled_a_chunk_at_a_time() -> None:
    from bookrec.models.als import reads_matrix

    rng = np.random.default_rng(4)
    users, books = rng.integers(0, 90, 3_000), rng.integers(0, 70, 3_000)
    data = Dataset.from_ratings(users, books, rng.integers(1, 6, 3_000).astype(float))
    data = dataclasses.replace(
        data,
        want_user_idx=rng.integers(0, data.n_users, 900).astype(np.int32),
        want_book_idx=rng.integers(0, data.n_books, 900).astype(np.int32),
    )
    whole = reads_matrix(data, 5.0, 1.0)
    for chunk in (1, 7, 1_000):
        chunked = reads_matrix(data, 5.0, 1.0, chunk=chunk, gather_up_to=0)
        chunked.sort_indices()
        assert np.array_equal(chunked.indptr, whole.indptr)
        assert np.array_equal(chunked.indices, whole.indices)
        np.testing.assert_allclose(chunked.data, whole.data, rtol=1e-6)
    # A book both rated and wanted is one entry, its confidences summed.
    assert whole.nnz < data.n_ratings + 900
