"""Recommender on planted factor tables: similar books, known and new readers, biases, the map."""

from __future__ import annotations

import numpy as np
import pytest

from bookrec.errors import BookrecError, UnknownBookError, UnknownUserError
from bookrec.recommender import Recommender

N_CLUSTERS = 4


@pytest.fixture(scope="module")
def planted(planted_model: tuple[Recommender, np.ndarray]) -> tuple[Recommender, np.ndarray]:
    """Books in 4 taste clusters (orthogonal directions); each reader loves one cluster, rated some of it."""
    return planted_model


def _cluster_of(recommender: Recommender, cluster: np.ndarray, book_id: object) -> int:
    return int(cluster[recommender.books.get(book_id)])


def test_similar_books_are_the_planted_neighbours(planted) -> None:
    recommender, cluster = planted
    results = recommender.similar("The Hunger Games", k=10)
    assert len(results) == 10
    assert all(_cluster_of(recommender, cluster, r.book_id) == cluster[0] for r in results)
    assert all(r.book_id != 1 for r in results)
    assert results == sorted(results, key=lambda r: -r.score)
    assert recommender.similar(1, k=10) == results
    assert recommender.similar("id:1", k=10) == results


def test_min_ratings_hides_rare_books(planted) -> None:
    recommender, _ = planted
    counts = recommender.books_table.set_index("book_id").n_ratings
    floor = int(counts.median()) + 1
    assert all(counts[r.book_id] >= floor for r in recommender.similar(1, k=10, min_ratings=floor))


def test_recommend_for_a_known_reader(planted) -> None:
    recommender, cluster = planted
    user_id = 3  # position 2: cluster 2
    results = recommender.recommend(user_id, k=8)
    seen, _ = recommender.rated.of(2)
    assert not {r.book_id for r in results} & set(recommender.books.ids[seen].tolist())
    in_cluster = [_cluster_of(recommender, cluster, r.book_id) == 2 for r in results]
    assert sum(in_cluster) >= 7
    assert all(1.0 <= r.score <= 5.5 for r in results)
    assert all(r.because for r in results)


def test_recommend_for_a_new_reader(planted) -> None:
    recommender, cluster = planted
    liked_positions = np.flatnonzero(cluster == 1)[:3]
    liked = [int(recommender.books.ids[p]) for p in liked_positions]
    results = recommender.recommend_for(liked, k=8)
    assert not {r.book_id for r in results} & set(liked)
    assert sum(_cluster_of(recommender, cluster, r.book_id) == 1 for r in results) >= 7
    titles = set(recommender.books_table.title.iloc[liked_positions])
    assert all(r.because and set(r.because) <= titles for r in results)


def test_stars_matter(planted) -> None:
    recommender, cluster = planted
    a = np.flatnonzero(cluster == 0)[:2]
    b = np.flatnonzero(cluster == 3)[:2]
    ids = [int(recommender.books.ids[p]) for p in np.concatenate((a, b))]
    loves_a = recommender.recommend_for({ids[0]: 5, ids[1]: 5, ids[2]: 1, ids[3]: 1}, k=5)
    assert sum(_cluster_of(recommender, cluster, r.book_id) == 0 for r in loves_a) >= 4
    disliked = {recommender.book(ids[2]).title, recommender.book(ids[3]).title}
    assert all(r.because and not set(r.because) & disliked for r in loves_a)


def test_folding_in_a_known_reader_agrees_with_their_vector(planted) -> None:
    recommender, _ = planted
    seen, stars = recommender.rated.of(5)
    trained = {r.book_id for r in recommender.recommend(6, k=10)}
    ids = [int(recommender.books.ids[p]) for p in seen]
    folded = {r.book_id for r in recommender.recommend_for(dict(zip(ids, stars.tolist(), strict=True)), k=10)}
    assert len(trained & folded) >= 7


def test_exclude_drops_books_already_read(planted) -> None:
    recommender, _ = planted
    first = recommender.recommend_for(["The Hunger Games"], k=3)
    again = recommender.recommend_for(["The Hunger Games"], k=3, exclude=[first[0].book_id])
    assert first[0].book_id not in {r.book_id for r in again}


def test_biases(planted) -> None:
    recommender, _ = planted
    best = recommender.biases("highest", k=3)
    worst = recommender.biases("lowest", k=3)
    assert best[0].book_id == int(recommender.books.ids[5])
    assert worst[0].book_id == int(recommender.books.ids[6])
    assert best[0].score > best[1].score and worst[0].score < worst[1].score
    with pytest.raises(BookrecError):
        recommender.biases("middle")


def test_book_map(planted) -> None:
    recommender, cluster = planted
    frame = recommender.book_map(n_books=60)
    assert len(frame) == 60 and {"pc1", "pc2", "pc3", "title", "book_id"} <= set(frame.columns)
    variance = frame.attrs["explained_variance"]
    assert variance == sorted(variance, reverse=True) and sum(variance) <= 1.0 + 1e-9
    # The planted clusters separate on the first components.
    points = frame[["pc1", "pc2", "pc3"]].to_numpy()
    labels = np.array([_cluster_of(recommender, cluster, b) for b in frame.book_id])
    centres = np.array([points[labels == c].mean(axis=0) for c in range(N_CLUSTERS)])
    spread = np.mean(
        [np.linalg.norm(points[labels == c] - centres[c], axis=1).mean() for c in range(N_CLUSTERS)]
    )
    gaps = [
        np.linalg.norm(centres[a] - centres[b]) for a in range(N_CLUSTERS) for b in range(a + 1, N_CLUSTERS)
    ]
    assert min(gaps) > spread


def test_predict_and_unknown_readers(planted) -> None:
    recommender, _ = planted
    known = recommender.predict(1, 1)
    assert known.known_user and known.known_book and 0 <= known.rating <= 5.5
    before = recommender.unknown_users_predicted
    stranger = recommender.predict(99999, 1)
    assert not stranger.known_user and recommender.unknown_users_predicted == before + 1
    with pytest.raises(UnknownUserError, match="99999"):
        recommender.recommend(99999)


def test_bad_requests(planted) -> None:
    recommender, _ = planted
    with pytest.raises(UnknownBookError) as caught:
        recommender.similar("The Hunger Gamez Trilogy Part 9")
    assert caught.value.suggestions
    with pytest.raises(UnknownBookError):
        recommender.similar(123456)
    with pytest.raises(BookrecError, match="at least one book"):
        recommender.recommend_for([])
    with pytest.raises(BookrecError, match="between 1 and 5"):
        recommender.recommend_for({"The Hunger Games": 9})
    with pytest.raises(BookrecError, match="k must be"):
        recommender.similar(1, k=0)


@pytest.mark.parametrize("n_books", [3, 41, 200])
def test_the_fold_in_solve_agrees_through_either_system(n_books: int) -> None:
    """A long list (200 books, a shared link) solves the p x p system, a short one the n x n (Woodbury)."""
    from bookrec.fold_in import solve_normal

    rng = np.random.default_rng(n_books)
    jacobian = rng.normal(size=(n_books, 41))
    for rhs in (rng.normal(size=41), jacobian.T):
        direct = np.linalg.solve(jacobian.T @ jacobian + 0.3 * np.eye(41), rhs)
        np.testing.assert_allclose(solve_normal(jacobian, 0.3, rhs), direct, rtol=1e-8, atol=1e-10)
