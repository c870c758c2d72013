"""Similar books from the vectors that carry taste (bookrec.taste): where the probe kept biases alone, the
ranking model's book factors answer; without one, a clear line instead of books in storage order."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.config import TrainConfig
from bookrec.data import Dataset
from bookrec.errors import NoTasteError
from bookrec.models.dot import DotHead
from bookrec.recommender import Recommender
from bookrec.taste import biases_alone
from bookrec.train import train
from test_adapt import _biases_and_noise

runner = CliRunner()


@pytest.fixture(scope="module")
def no_taste() -> Dataset:
    return _biases_and_noise()


def _cosine_top(vectors: np.ndarray, position: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit[position]
    similarity[position] = -np.inf
    top = np.argsort(-similarity, kind="stable")[:k]
    return top, similarity[top]


def test_a_biases_alone_model_finds_similar_books_with_its_ranking_model(
    no_taste: Dataset, tmp_path: Path
) -> None:
    result = train(no_taste, TrainConfig(), progress=False)  # the default: the ranking model beside
    assert result.metrics["regularization"]["factors"] is False and biases_alone(result.head.book_vectors)
    folder = result.save(tmp_path / "model")
    assert json.loads((folder / "manifest.json").read_text())["similar_from"] == "ranking"
    served = Recommender.load(folder)
    assert served.taste == "ranking"
    found = served.similar(served.books.id_of(4), k=5)
    top, similarity = _cosine_top(np.asarray(served.ranker.book_factors, dtype=np.float64), 4, 5)
    assert [r.book_id for r in found] == [served.books.id_of(int(i)) for i in top]
    assert [r.score for r in found] == pytest.approx(similarity.tolist(), abs=1e-5)
    assert served.book_map(n_books=20).attrs["vectors"] == "ranking"
    user = served.users.id_of(0)
    reasons = [r.because for r in served.recommend(user, k=5, by="rating")]
    assert any(reasons)  # "near the books you liked" by the ranking model's factors


def test_the_rating_models_vectors_answer_where_they_carry_taste(planted: Dataset) -> None:
    served = Recommender.from_saved(train(planted, TrainConfig(epochs=3), progress=False).saved_model())
    assert served.taste == "rating"
    found = served.similar(served.books.id_of(0), k=3)
    top, _ = _cosine_top(np.asarray(served.head.book_vectors, dtype=np.float64), 0, 3)
    assert [r.book_id for r in found] == [served.books.id_of(int(i)) for i in top]


def test_without_a_ranking_model_similar_books_say_why_in_one_line(no_taste: Dataset, tmp_path: Path) -> None:
    folder = train(no_taste, TrainConfig(ranker="none"), progress=False).save(tmp_path / "model")
    served = Recommender.load(folder)
    assert served.taste == "none"
    with pytest.raises(NoTasteError, match="no ranking model"):
        served.similar(served.books.id_of(0))
    with pytest.raises(NoTasteError):
        served.book_map(n_books=20)
    listed = served.recommend(served.users.id_of(0), k=3, by="rating")
    assert len(listed) == 3 and not any(r.because for r in listed)
    answer = runner.invoke(app, ["similar", str(folder), str(served.books.id_of(0))])
    assert answer.exit_code != 0
    lines = answer.output.strip().splitlines()
    assert len(lines) == 1 and "biases alone" in lines[0] and "Traceback" not in answer.output


def test_a_similar_index_made_from_other_vectors_is_not_used(no_taste: Dataset) -> None:
    """A biases-alone folder saved before bookrec.taste carries a "similar" index of its zero vectors."""
    saved = train(no_taste, TrainConfig(), progress=False).saved_model()
    stale = dataclasses.replace(saved, indexes={"similar": object()}, manifest={})
    assert "similar" not in Recommender.from_saved(stale).indexes
    head = saved.head
    factored = DotHead(
        np.ones((head.user_vectors.shape[0], 2), np.float32), head.user_bias,
        np.ones((head.book_vectors.shape[0], 2), np.float32), head.book_bias, head.y_range,
    )  # fmt: skip
    kept = dataclasses.replace(saved, head=factored, indexes={"similar": object()}, manifest={})
    assert "similar" in Recommender.from_saved(kept).indexes
