"""The spark engine: Spark MLlib ALS in local[2] writes a model folder that loads, answers and scores like the
default engine's on the same split.

One Spark session serves the whole module (its start costs ~10 s); ``make test`` installs Java (Debian's
openjdk-17-jre-headless) and pyspark (the ``spark`` extra), so these tests skip only where Java is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from bookrec import Recommender
from bookrec.cli import app
from bookrec.config import TrainConfig
from bookrec.engines import spark as spark_engine
from bookrec.errors import ConfigError
from bookrec.train import RANK_ON_ALL, train
from conftest import planted_dataset, write_ratings

pytestmark = pytest.mark.skipif(
    spark_engine._java() is None, reason="no Java: `make test` installs openjdk-17-jre-headless for Spark"
)

SPARK_CONFIG = {"engine": "spark", "rank_factors": 8, "rank_iterations": 2}


@pytest.fixture(scope="module")
def session() -> Iterator[object]:
    """One local[2] Spark session for the module; the engine uses the active session and leaves it open."""
    with spark_engine.spark_session("local[2]") as spark:
        yield spark


@pytest.fixture(scope="module")
def data() -> object:
    return planted_dataset(np.random.default_rng(1234))


@pytest.fixture(scope="module")
def trained(session: object, data: object, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*pandas", category=FutureWarning)
        result = train(data, TrainConfig(**SPARK_CONFIG))
    folder = tmp_path_factory.mktemp("spark") / "model"
    result.save(folder)
    return result, folder


def test_folder_loads_answers_and_records_the_engine(trained: tuple[object, Path], data: object) -> None:
    result, folder = trained
    rec = Recommender.load(folder)
    assert rec.kind == "dot"
    assert rec.manifest["config"]["engine"] == "spark"
    assert rec.manifest["metrics"]["spark_master"] == "local[2]"
    assert rec.manifest["metrics"]["rank_on"] == RANK_ON_ALL
    assert rec.ranker is not None and rec.ranker.n_users == data.n_users
    similar = rec.similar(int(data.books.ids[0]), k=5)
    assert len(similar) == 5 and int(data.books.ids[0]) not in {b.book_id for b in similar}
    known = rec.recommend(user_id=int(data.users.ids[0]), k=5)
    assert len(known) == 5 and all(1.0 <= b.score <= 5.0 for b in known)
    liked = {int(b): 5 for b in data.books.ids[:3]}
    new = rec.recommend_for(liked, k=5)
    assert len(new) == 5 and not set(liked) & {b.book_id for b in new}
    # The folder serves what was fitted: its predictions are the run's head's.
    users, books = data.user_idx[:50], data.book_idx[:50]
    np.testing.assert_allclose(
        rec.predict_positions(users, books),
        result.head.to_rating(result.head.pair_scores(result.head.reader_params(users), books)),
        rtol=1e-5,
    )


@pytest.mark.parametrize("taste_reads", [False, True], ids=["random-reads", "taste-reads"])
def test_rmse_within_0_02_of_the_default_engine_on_the_same_split(
    trained: tuple[object, Path], data: object, session: object, taste_reads: bool
) -> None:
    if taste_reads:  # most ratings near the top of the scale: where a fit in the logit's space goes wrong
        data = planted_dataset(np.random.default_rng(1234), taste_reads=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pandas", category=FutureWarning)
            result = train(data, TrainConfig(engine="spark", ranker="none"))
    else:
        result, _ = trained
    default = train(data, TrainConfig(ranker="none"))
    assert result.valid_data.n_ratings == default.valid_data.n_ratings
    np.testing.assert_array_equal(result.valid_data.user_idx, default.valid_data.user_idx)
    spark_rmse, default_rmse = result.metrics["valid_rmse"], default.metrics["valid_rmse"]
    assert spark_rmse <= default_rmse + 0.02, (spark_rmse, default_rmse)
    # ... and the figure is the served model's, in stars.
    head, valid = result.head, result.valid_data
    predicted = head.to_rating(head.pair_scores(head.reader_params(valid.user_idx), valid.book_idx))
    assert np.sqrt(np.mean((predicted - valid.rating) ** 2)) == pytest.approx(spark_rmse, rel=1e-6)


def test_refinement_lowers_the_dot_models_own_loss(data: object) -> None:
    """One Gauss-Newton sweep from a poor head lowers the training error in stars (no Spark needed)."""
    from bookrec.models.dot import DotHead

    rng = np.random.default_rng(3)
    start = DotHead(
        rng.normal(scale=0.1, size=(data.n_users, 4)).astype(np.float32),
        np.zeros(data.n_users, np.float32),
        rng.normal(scale=0.1, size=(data.n_books, 4)).astype(np.float32),
        np.zeros(data.n_books, np.float32),
        (0.0, 5.5),
    )
    config = TrainConfig(engine="spark", n_factors=4)
    before, _ = spark_engine._errors(start, data)
    errors = [before]
    for sweeps in (1, 2):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(spark_engine, "REFINE_SWEEPS", sweeps)
            errors.append(spark_engine._errors(spark_engine._refine(start, data, config), data)[0])
    assert errors[0] > errors[1] > errors[2]
    # Blocks of owners give the same step as one block.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spark_engine, "REFINE_SWEEPS", 1)
        whole = spark_engine._refine(start, data, config)
        patch.setattr(spark_engine, "_REFINE_ROWS", 37)
        blocked = spark_engine._refine(start, data, config)
    np.testing.assert_allclose(blocked.user_vectors, whole.user_vectors, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blocked.book_bias, whole.book_bias, rtol=1e-5, atol=1e-6)

    # A book with no training rating (one only in the validation part) keeps zeros, as MLlib leaves it.
    unrated = DotHead(
        start.user_vectors,
        start.user_bias,
        np.vstack((start.book_vectors, np.zeros((1, 4), np.float32))),
        np.append(start.book_bias, np.float32(0.0)),
        start.y_range,
    )
    wider = SimpleNamespace(
        user_idx=data.user_idx,
        book_idx=data.book_idx,
        rating=data.rating,
        n_users=data.n_users,
        n_books=data.n_books + 1,
    )
    refined = spark_engine._refine(unrated, wider, config)
    assert not refined.book_vectors[-1].any() and refined.book_bias[-1] == 0.0


def test_cli_reads_ratings_through_spark_and_writes_the_folder(session: object, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = [(f"u{u}", 100 + b, int(rng.integers(1, 6))) for u in range(30) for b in rng.choice(40, 12, False)]
    ratings = write_ratings(tmp_path / "ratings.csv", rows, header="reader,item,stars")
    out = tmp_path / "model"
    args = ["train", "--engine", "spark", "--spark-ratings", f"file://{ratings}", "--user-col", "reader"]
    args += ["--item-col", "item", "--rating-col", "stars", "--out", str(out), "--json", "--epochs", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output.strip().splitlines()[-1])
    assert metrics["engine"] == "spark" and metrics["n_train"] + metrics["n_valid"] == len(rows)
    rec = Recommender.load(out)
    assert sorted(map(int, rec.books.ids)) == sorted({r[1] for r in rows})
    assert rec.recommend(user_id="u3", k=3)


def test_cli_names_a_missing_column(session: object, tmp_path: Path) -> None:
    ratings = write_ratings(tmp_path / "r.csv", [(1, 2, 3), (2, 3, 4)])
    result = CliRunner().invoke(
        app, ["train", "--engine", "spark", "--spark-ratings", str(ratings), "--item-col", "x"]
    )
    assert result.exit_code == 2
    assert "no column 'x'" in result.output


def test_spark_options_need_the_spark_engine() -> None:
    result = CliRunner().invoke(app, ["train", "--spark-master", "local[2]"])
    assert result.exit_code == 2 and "--spark-master needs --engine spark" in result.output


def test_spark_trains_only_the_dot_model() -> None:
    with pytest.raises(ConfigError, match="engine 'spark' trains only the dot model"):
        TrainConfig(model="nn", engine="spark")
    config = TrainConfig(engine="spark")
    assert (config.optimizer, config.n_factors, config.bs) == ("als", 8, None)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_missing_java_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    with pytest.raises(ConfigError, match="openjdk-17-jre-headless"):
        spark_engine.check_available()


def test_missing_pyspark_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ConfigError, match=r"pip install 'bookrec\[spark\]'"):
        spark_engine.check_available()


def test_a_local_jvm_starts_with_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with spark_engine._one_blas_thread():
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")  # the user's own setting is kept
    with spark_engine._one_blas_thread():
        assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"


def test_confidences_reach_mllib_as_its_alpha_weighting() -> None:
    from bookrec.models.als import confidence

    c = confidence(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), (1.0, 5.0), 5.0)
    mllib = 1.0 + spark_engine.mllib_implicit_ratings(c)  # MLlib weighs a read 1 + alpha * r, alpha 1
    assert np.all(spark_engine.mllib_implicit_ratings(c) > 0)  # r <= 0 would be an unread book to MLlib
    np.testing.assert_allclose(mllib[c >= 1], c[c >= 1], rtol=1e-6)
    np.testing.assert_allclose(mllib[c < 1], 1.0, atol=1e-5)
