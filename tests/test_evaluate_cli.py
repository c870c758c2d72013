"""Evaluating a trained model, the learning-rate finder and tuning: library and CLI, with planted data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.data import DataSource, load_dataset
from bookrec.data.holdout import split_ratings_file
from bookrec.errors import ConfigError
from bookrec.evaluation import evaluate_model
from bookrec.lr_find import lr_find, suggest_valley
from bookrec.metrics import relevance_threshold
from bookrec.recommender import Recommender
from bookrec.train import TrainConfig, train
from bookrec.tune import tune
from conftest import planted_dataset, write_ratings

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ratings_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Planted rank-3 ratings (300 readers, 150 books, 50 each) as a CSV; readers 1..300, books 1..150."""
    data = planted_dataset(np.random.default_rng(1234), taste_reads=True)
    rows = [
        (int(data.users.id_of(u)), int(data.books.id_of(b)), f"{r:.3f}")
        for u, b, r in zip(data.user_idx, data.book_idx, data.rating, strict=True)
    ]
    return write_ratings(tmp_path_factory.mktemp("planted") / "ratings.csv", rows)


def _source(path: Path) -> DataSource:
    return DataSource(ratings=path)


@pytest.fixture(scope="module")
def model_dir(ratings_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default dot model trained on the planted CSV, saved (no cache: BOOKREC_HOME is per test)."""
    dataset = load_dataset(_source(ratings_csv), use_cache=False)
    result = train(dataset, TrainConfig(), progress=False)
    return result.save(tmp_path_factory.mktemp("model") / "model")


@pytest.fixture(scope="module")
def heldout_split(ratings_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """The protocol: the planted CSV split as `bookrec split` does (20% of each reader, seeded), and the
    default model trained on its train part with nothing held out. (model, train.csv, heldout.csv)"""
    out = tmp_path_factory.mktemp("split")
    split_ratings_file(ratings_csv, out, holdout=0.2, by="random", seed=3)
    dataset = load_dataset(_source(out / "train.csv"), use_cache=False)
    result = train(dataset, TrainConfig(valid_pct=0.0), progress=False)
    return result.save(tmp_path_factory.mktemp("model") / "split"), out / "train.csv", out / "heldout.csv"


def _invoke(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- evaluate -------------------------------------------------------------------------------------------


def test_evaluate_reproduces_the_models_own_validation_split(model_dir: Path, ratings_csv: Path) -> None:
    manifest = Recommender.load(model_dir).manifest
    values = _invoke("evaluate", str(model_dir), "--ratings", str(ratings_csv))
    assert {"rmse", "mse", "mae", "n", "unknown_users", "unknown_books"} <= set(values)
    assert values["on"] == "validation split"
    assert values["n"] == manifest["data"]["n_valid"] == 3000
    assert values["rmse"] == pytest.approx(manifest["metrics"]["valid_rmse"], rel=1e-5)
    assert values["mse"] == pytest.approx(values["rmse"] ** 2)
    assert values["unknown_users"] == values["unknown_books"] == values["in_model_data"] == 0
    table = runner.invoke(app, ["evaluate", str(model_dir), "--ratings", str(ratings_csv)])
    assert table.exit_code == 0 and "validation split" in table.stdout and "RMSE" in table.stdout
    whole = _invoke("evaluate", str(model_dir), "--ratings", str(ratings_csv), "--all")
    assert whole["on"] == "all ratings" and whole["n"] == 15000 and whole["rmse"] < values["rmse"]


def test_evaluate_counts_unknown_readers_and_books(model_dir: Path, tmp_path: Path) -> None:
    rows = [(1, 5, 4.0), (2, 7, 2.0), (3, 150, 5.0), (9001, 5, 3.0), (9001, 6, 4.0), (9002, 8, 1.0)]
    rows += [(4, 7777, 3.0), (5, 7777, 5.0), (9003, 8888, 2.0)]
    path = write_ratings(tmp_path / "new.csv", rows)
    values = _invoke("evaluate", str(model_dir), "--ratings", str(path))
    assert values["on"] == "all ratings" and values["n"] == len(rows)
    assert (values["unknown_users"], values["unknown_user_ids"]) == (4, 3)
    assert (values["unknown_books"], values["unknown_book_ids"]) == (3, 2)
    recommender = Recommender.load(model_dir)
    expected = np.array([recommender.predict(u, b).rating for u, b, _ in rows])
    actual = np.array([r for _, _, r in rows])
    assert values["rmse"] == pytest.approx(math.sqrt(np.mean((expected - actual) ** 2)), rel=1e-6)
    assert values["mae"] == pytest.approx(np.mean(np.abs(expected - actual)), rel=1e-6)
    table = runner.invoke(app, ["evaluate", str(model_dir), "--ratings", str(path)])
    assert table.exit_code == 0 and "4 ratings by 3 readers" in table.stdout


def test_top_n_beats_the_most_popular_books_on_planted_data(heldout_split: tuple[Path, Path, Path]) -> None:
    model, _, heldout_csv = heldout_split
    values = _invoke("evaluate", str(model), "--ratings", str(heldout_csv), "--top-n", "-k", "5")
    top = values["top_n"]
    assert top["k"] == 5 and 3.5 < top["min_rating"] < 5  # the top quarter of the data's own scale
    ours, popular = top["model"], top["most_popular"]
    assert ours["readers"] == popular["readers"] > 100
    # Lists follow the ranking model, which learns from who read what: the planted readers read the books
    # they like more often, as real readers do.
    assert ours["ndcg@5"] > popular["ndcg@5"] + 0.1
    assert ours["precision@5"] > popular["precision@5"]
    assert ours["coverage"] > popular["coverage"]


def test_lists_are_not_scored_on_the_validation_split_their_ranking_model_saw(
    model_dir: Path, ratings_csv: Path
) -> None:
    result = runner.invoke(app, ["evaluate", str(model_dir), "--ratings", str(ratings_csv), "--top-n"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: this model's ranking model learned from every rating")
    assert result.stderr.count("\n") == 1
    assert _invoke("evaluate", str(model_dir), "--ratings", str(ratings_csv))["on"] == "validation split"


TOP_N_KEYS = {
    "ndcg_at_k",
    "recall_at_k",
    "recall_at_2k",
    "precision_at_k",
    "hit_rate_at_k",
    "coverage",
    "n_users",
}


def _plain_top_n(model: Path, train_csv: Path, heldout_csv: Path, k: int, threshold: float) -> dict:
    """The protocol computed reader by reader, as a user's own script would: rank every book of the model
    but those the reader rated in train.csv; relevant = the reader's held-out ratings >= threshold."""
    recommender = Recommender.load(model)
    seen = pd.read_csv(train_csv).groupby("user_id")["book_id"].apply(set)
    held = pd.read_csv(heldout_csv)
    liked = held[held.rating >= threshold].groupby("user_id")["book_id"].apply(set)
    book_ids = recommender.books.ids
    figures = []
    for user, relevant in liked.items():
        scores = recommender.scores_for(recommender.users.index_of([user]))[0]
        candidates = [i for i in np.argsort(-scores, kind="stable") if book_ids[i] not in seen[user]]
        ranked = [book_ids[i] for i in candidates[: 2 * k]]
        gains = [1.0 if book in relevant else 0.0 for book in ranked]
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
        figures.append(
            {
                "ndcg_at_k": sum(g / math.log2(rank + 2) for rank, g in enumerate(gains[:k])) / ideal,
                "recall_at_k": sum(gains[:k]) / len(relevant),
                "recall_at_2k": sum(gains) / len(relevant),
                "precision_at_k": sum(gains[:k]) / k,
                "hit_rate_at_k": float(any(gains[:k])),
            }
        )
    return {key: np.mean([f[key] for f in figures]) for key in figures[0]} | {"n_users": len(figures)}


def test_top_n_on_a_heldout_file_follows_the_protocol(heldout_split: tuple[Path, Path, Path]) -> None:
    model, train_csv, heldout_csv = heldout_split
    values = _invoke("evaluate", str(model), "--ratings", str(heldout_csv), "--top-n")
    assert values["on"] == "all ratings" and values["in_model_data"] == 0
    top = values["top_n"]
    threshold = relevance_threshold(*Recommender.load(model).rating_scale)
    assert top["k"] == 10 and top["like_threshold"] == top["min_rating"] == threshold
    ours, popular = top["model"], top["most_popular"]
    assert set(ours) >= TOP_N_KEYS and set(popular) >= TOP_N_KEYS
    assert {"precision@10", "recall@10", "ndcg@10", "readers"} <= set(ours)  # the older keys stay
    plain = _plain_top_n(model, train_csv, heldout_csv, k=10, threshold=threshold)
    for key, expected in plain.items():
        assert ours[key] == pytest.approx(expected, rel=1e-9), key
    held = pd.read_csv(heldout_csv)
    assert ours["n_users"] == popular["n_users"] == held[held.rating >= threshold].user_id.nunique()
    assert ours["ndcg_at_k"] > popular["ndcg_at_k"]  # the planted tastes beat popularity
    assert popular["recall_at_2k"] >= popular["recall_at_k"]
    assert 0 < popular["coverage"] < ours["coverage"] <= 1


def test_most_popular_is_counted_on_the_models_training_data(heldout_split: tuple[Path, Path, Path]) -> None:
    model, train_csv, heldout_csv = heldout_split
    values = _invoke("evaluate", str(model), "--ratings", str(heldout_csv), "--top-n", "-k", "3")
    train_part, held = pd.read_csv(train_csv), pd.read_csv(heldout_csv)
    # Most ratings first; equal counts in the model's book order, which is ascending book id.
    counts = train_part.book_id.value_counts().sort_index().sort_values(ascending=False, kind="stable")
    threshold = values["top_n"]["like_threshold"]
    figures = []
    for user, rows in held[held.rating >= threshold].groupby("user_id"):
        rated = set(train_part.book_id[train_part.user_id == user])
        top = [book for book in counts.index if book not in rated][:3]
        figures.append(len(set(top) & set(rows.book_id)) / 3)
    assert values["top_n"]["most_popular"]["precision_at_k"] == pytest.approx(np.mean(figures))


def test_like_threshold_sets_what_is_relevant(heldout_split: tuple[Path, Path, Path]) -> None:
    model, _, heldout_csv = heldout_split
    args = ("evaluate", str(model), "--ratings", str(heldout_csv), "--top-n", "-k", "5")
    default = _invoke(*args)["top_n"]
    strict = _invoke(*args, "--like-threshold", "4.5")["top_n"]
    held = pd.read_csv(heldout_csv)
    assert strict["like_threshold"] == 4.5 and "ndcg@5" in strict["model"]
    assert strict["model"]["n_users"] == held[held.rating >= 4.5].user_id.nunique()
    assert strict["model"]["n_users"] < default["model"]["n_users"]
    table = runner.invoke(app, [*args, "--like-threshold", "4.5"])
    assert table.exit_code == 0 and ">= 4.5" in table.stdout
    assert "most popular" in table.stdout and "hit rate" in table.stdout and "@10" in table.stdout
    alone = runner.invoke(
        app, ["evaluate", str(model), "--ratings", str(heldout_csv), "--like-threshold", "4"]
    )
    assert alone.exit_code == 2 and alone.stderr == "error: --like-threshold goes with --top-n\n"


def test_a_heldout_file_is_evaluated_on_every_reader(heldout_split: tuple[Path, Path, Path]) -> None:
    model, _, heldout_csv = heldout_split
    recommender = Recommender.load(model)
    held = load_dataset(_source(heldout_csv), use_cache=False)
    sampled = evaluate_model(recommender, held, top_n=True, max_readers=10)  # only for the model's own split
    relevant = held.user_idx[held.rating >= relevance_threshold(*recommender.rating_scale)]
    assert sampled.top_n is not None and sampled.top_n.n_readers == np.unique(relevant).size > 10


def test_evaluate_refuses_the_split_of_a_model_that_held_nothing_out(
    ratings_csv: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(_source(ratings_csv))
    folder = train(dataset, TrainConfig(epochs=1, valid_pct=0.0), progress=False).save(tmp_path / "all")
    result = runner.invoke(app, ["evaluate", str(folder), "--ratings", str(ratings_csv)])
    assert result.exit_code == 2 and "valid_pct 0" in result.stderr
    with pytest.raises(ConfigError, match="none is held out"):
        evaluate_model(Recommender.load(folder), dataset)
    assert evaluate_model(Recommender.load(folder), dataset, split="all").ratings.n == 15000


def test_evaluate_without_data_says_which_options_to_pass(model_dir: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(model_dir)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--ratings FILE" in result.stderr
    assert "ratings.csv" in result.stderr  # names the data the model was trained on


# --- lr-find --------------------------------------------------------------------------------------------


def test_suggest_valley_by_hand() -> None:
    losses = np.array([5.0, 4.0, 3.0, 6.0, 2.0, 1.0, 7.0])  # longest falling run: steps 0, 1, 2, 4, 5
    assert suggest_valley(np.logspace(-5, 0, losses.size), losses) == 2


def test_lr_find_suggests_a_sane_rate_and_plots(ratings_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots" / "lr.png"
    out.parent.mkdir()  # a plot's folder must exist: a mistyped path creates no folders
    values = _invoke("lr-find", "--ratings", str(ratings_csv), "--out", str(out))
    assert 1e-4 <= values["suggested_lr"] <= 0.5
    assert values["method"] == "minimum/10" and values["model"] == "dot"
    assert values["n_steps"] == len(values["lrs"]) == len(values["losses"]) <= 200
    assert all(b > a for a, b in zip(values["lrs"], values["lrs"][1:], strict=False))
    assert out.read_bytes()[:8] == PNG and not list(out.parent.glob(".*"))  # no staging file left
    nn_args = ["lr-find", "--ratings", str(ratings_csv), "--out", str(out), "--model", "nn", "--steps", "50"]
    table = runner.invoke(app, nn_args)
    assert table.exit_code == 0 and "suggested lr" in table.stdout


def test_lr_find_is_seeded(ratings_csv: Path) -> None:
    dataset = load_dataset(_source(ratings_csv))
    config = TrainConfig(engine="torch", seed=7)
    a = lr_find(dataset, config, n_steps=40, end_lr=1.0, device="cpu")
    b = lr_find(dataset, config, n_steps=40, end_lr=1.0, device="cpu")
    np.testing.assert_array_equal(a.raw_losses, b.raw_losses)
    assert a.suggested_lr == b.suggested_lr
    with pytest.raises(ConfigError, match="engine='torch'"):
        lr_find(dataset, TrainConfig(), n_steps=40)


# --- tune -----------------------------------------------------------------------------------------------


def test_tune_runs_the_trials_and_saves_a_model_that_trains(ratings_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "tuned"
    values = _invoke("tune", "--ratings", str(ratings_csv), "--trials", "3", "--out", str(out))
    assert values["n_trials"] == len(values["trials"]) == 3
    assert values["trials"][0]["n_factors"] == 128  # the defaults come first
    assert values["best_rmse"] == min(t["rmse"] for t in values["trials"])
    config = TrainConfig.from_dict(values["best_config"])
    assert config.valid_pct == 0.2 and config.seed == 42
    assert 0 < values["valid_rmse"] < 0.6  # planted noise 0.25; on ratings no trial saw
    saved = Recommender.load(out).manifest
    # The manifest keeps the settings the data chose (adapt resolved into factor_scale and epochs):
    # retraining from it gives the same model without probing again.
    resolved = {"adapt", "adapt_epochs", "factor_scale", "epochs"}
    assert {k: v for k, v in saved["config"].items() if k not in resolved} == {
        k: v for k, v in values["best_config"].items() if k not in resolved
    }
    if values["best_config"].get("adapt"):
        assert saved["config"]["adapt"] is False and saved["metrics"]["regularization"] is not None
    table = runner.invoke(app, ["tune", "--ratings", str(ratings_csv), "--trials", "2", "--model", "dot"])
    assert table.exit_code == 0 and "best TrainConfig" in table.stdout and "valid RMSE" in table.stdout


def test_tune_stops_at_the_time_budget_and_tries_batch_sizes_for_torch() -> None:
    small = planted_dataset(np.random.default_rng(99), n_users=60, n_books=40, per_user=15)
    seen = []
    result = tune(small, model="nn", minutes=1e-4, n_trials=None, device="cpu", callbacks=[seen.append])
    assert len(result.trials) == len(seen) == 1  # the first trial finishes; none starts after the budget
    assert "bs" in result.trials[0].params and result.best_config.bs == result.trials[0].params["bs"]
    train(small, result.best_config, progress=False, device="cpu")


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # Named by the flag the user typed, not by the library's field (start_lr, n_factors, ...).
        (["lr-find", "--start-lr", "-1"], "error: --start-lr must be"),
        (["lr-find", "--end-lr", "1e-9"], "error: --end-lr must be above --start-lr"),
        (["lr-find", "--factors", "0"], "error: --factors must be a whole number from 1 to 4096, got 0"),
        (["lr-find", "--valid-pct", "1.5"], "error: --valid-pct must be"),
        (["lr-find", "--model", "svd"], "error: --model must be one of"),
        (["tune", "--valid-pct", "1.5"], "error: --valid-pct must be"),
        (["tune", "--minutes", "0"], "error: --minutes must be"),
        (["tune", "--trials", "0"], "error: --trials must be"),
        (["tune", "--model", "nn", "--engine", "sgd"], "error: --engine 'sgd' trains only"),
        (["evaluate", "-k", "0"], "error: -k must be"),
    ],
)
def test_bad_settings_give_one_line_and_status_2(
    args: list[str], expected: str, ratings_csv: Path, model_dir: Path, tmp_path: Path
) -> None:
    if args[0] == "evaluate":
        args = ["evaluate", str(model_dir), *args[1:]]
    if args[0] == "lr-find":
        args = [*args, "--out", str(tmp_path / "lr.png")]
    result = runner.invoke(app, [*args, "--ratings", str(ratings_csv)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(expected)
    assert not (tmp_path / "lr.png").exists()


def test_an_unknown_model_folder_gives_one_line_and_status_2(tmp_path: Path, ratings_csv: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(tmp_path / "nothing"), "--ratings", str(ratings_csv)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no such model folder" in result.stderr


def test_tune_refuses_an_out_folder_that_is_not_a_model(tmp_path: Path, ratings_csv: Path) -> None:
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me", encoding="utf-8")
    args = ["tune", "--ratings", str(ratings_csv), "--trials", "1", "--out", str(precious)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "not a bookrec model folder" in result.stderr
    assert (precious / "thesis.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("command", ["evaluate", "lr-find", "tune"])
def test_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Examples" in result.stdout
