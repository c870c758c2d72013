"""Training: settings, the planted answer, reproducibility, checkpoints and resume, NaN, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numba
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bookrec.cli import app
from bookrec.data import Dataset, DataSource, load_dataset
from bookrec.engines.sgd import SgdEngine
from bookrec.errors import ConfigError
from bookrec.recommender import Recommender
from bookrec.train import (
    DEFAULTS,
    CheckpointError,
    EpochStats,
    TrainConfig,
    TrainingDivergedError,
    TrainingInterrupted,
    auto_batch_size,
    train,
)
from conftest import NOISE, planted_dataset


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), y in zip(_weights(a).items(), _weights(b).values(), strict=True):
        assert torch.equal(x, y), name


# --- settings ---------------------------------------------------------------------------------------------


def test_defaults_are_filled_in_per_model_and_engine() -> None:
    dot = TrainConfig()
    assert (dot.engine, dot.optimizer) == ("sgd", "rmsprop")
    assert dot.n_factors == DEFAULTS[("dot", "rmsprop")]["n_factors"]
    assert dot.lr == DEFAULTS[("dot", "rmsprop")]["lr"]
    nn = TrainConfig(model="nn")
    assert (nn.engine, nn.optimizer, nn.bs) == ("torch", "adamw", None)
    assert nn.n_factors == DEFAULTS[("nn", "adamw")]["n_factors"]
    blog = TrainConfig(engine="torch", lr=1e-3)
    assert (blog.optimizer, blog.lr, blog.wd) == ("adamw", 1e-3, DEFAULTS[("dot", "adamw")]["wd"])


def test_config_round_trips_through_a_dict() -> None:
    config = TrainConfig(model="nn", n_factors=7, epochs=3, lr=0.01, y_range=(0, 6), dropout=0.2, bs=128)
    values = json.loads(json.dumps(config.to_dict()))
    assert TrainConfig.from_dict(values) == config
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"lr": -0.1}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"n_factors": 0}, "n_factors"),
        ({"n_factors": 2.5}, "n_factors"),
        ({"valid_pct": 1.5}, "valid_pct"),
        ({"valid_pct": -0.1}, "valid_pct"),
        ({"epochs": 0}, "epochs"),
        ({"wd": -1.0}, "wd"),
        ({"seed": -1}, "seed"),
        ({"bs": 64}, "bs"),
        ({"engine": "torch", "bs": 0}, "bs"),
        ({"model": "svd"}, "model"),
        ({"engine": "gpu"}, "engine"),
        ({"model": "nn", "engine": "sgd"}, "engine"),
        ({"optimizer": "adamw"}, "optimizer"),
        ({"y_range": (5.0, 1.0)}, "y_range"),
        ({"dropout": 1.0}, "dropout"),
        ({"pct_start": 0.0}, "pct_start"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field) as caught:
        TrainConfig(**settings)
    assert "\n" not in str(caught.value)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_auto_batch_size_scales_with_the_data() -> None:
    assert auto_batch_size(100) == 64
    assert auto_batch_size(80_670) == 512
    assert auto_batch_size(4_781_183) == 32_768


# --- the planted answer -----------------------------------------------------------------------------------


def test_default_training_finds_the_planted_factors(planted: Dataset) -> None:
    rows: list[EpochStats] = []
    result = train(planted, TrainConfig(), callbacks=[rows.append], progress=False)
    biases_only = train(planted, TrainConfig(n_factors=1, init_std=0.0), progress=False)
    rmse = result.metrics["valid_rmse"]
    assert rmse < 1.3 * NOISE
    assert rmse < 0.5 * biases_only.metrics["valid_rmse"]
    assert [r.epoch for r in rows] == list(range(1, 11))
    assert rows[-1].valid_rmse == pytest.approx(rmse)
    assert rows[-1].train_loss < rows[0].train_loss
    assert result.metrics["n_train"] + result.metrics["n_valid"] == planted.n_ratings
    assert result.valid_data.n_ratings == round(0.2 * planted.n_ratings)


def test_the_trained_module_predicts_what_training_measured(planted: Dataset) -> None:
    result = train(planted, TrainConfig(epochs=3), progress=False)
    valid = result.valid_data
    with torch.no_grad():
        predicted = result.model(
            torch.as_tensor(valid.user_idx.astype(np.int64)), torch.as_tensor(valid.book_idx)
        )
    rmse = float(torch.sqrt(torch.mean((predicted.double() - torch.as_tensor(valid.rating).double()) ** 2)))
    assert rmse == pytest.approx(result.metrics["valid_rmse"], rel=1e-4)
    assert result.model.y_range == result.y_range == (0.0, 5.5)


def test_valid_pct_zero_trains_on_everything(small: Dataset) -> None:
    result = train(small, TrainConfig(valid_pct=0.0, epochs=2), progress=False)
    assert result.train_data.n_ratings == small.n_ratings
    assert result.metrics["valid_rmse"] is None and result.history[-1].valid_loss is None


# --- reproducibility --------------------------------------------------------------------------------------


def test_the_sgd_engine_gives_the_same_result_on_any_number_of_threads(small: Dataset) -> None:
    config = TrainConfig(epochs=3)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = train(small, config, progress=False)
    finally:
        numba.set_num_threads(threads)
    _assert_same_weights(one.model, train(small, config, progress=False).model)


# --- checkpoints, resume, interruption, divergence --------------------------------------------------------


def _interrupt_after(epoch: int):
    def callback(stats: EpochStats) -> None:
        if stats.epoch == epoch and not stats.restored:
            raise KeyboardInterrupt

    return callback


@pytest.mark.parametrize(
    "settings", [{}, {"engine": "torch"}, {"model": "nn", "n_factors": 4, "dropout": 0.2}]
)
def test_resume_ends_where_an_uninterrupted_run_ends(
    small: Dataset, tmp_path: Path, settings: dict[str, object]
) -> None:
    config = TrainConfig(epochs=4, **settings)
    whole = train(small, config, progress=False)
    with pytest.raises(TrainingInterrupted, match="after epoch 2") as caught:
        train(small, config, callbacks=[_interrupt_after(2)], progress=False, checkpoint_dir=tmp_path)
    assert caught.value.epochs_done == 2
    rows: list[EpochStats] = []
    resumed = train(
        small, config, callbacks=[rows.append], progress=False, checkpoint_dir=tmp_path, resume=True
    )
    _assert_same_weights(whole.model, resumed.model)
    assert [(r.epoch, r.restored) for r in rows] == [(1, True), (2, True), (3, False), (4, False)]
    assert resumed.metrics["valid_rmse"] == whole.metrics["valid_rmse"]


def test_resume_refuses_other_settings_and_missing_checkpoints(small: Dataset, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(small, TrainConfig(epochs=2), progress=False, checkpoint_dir=tmp_path, resume=True)
    train(small, TrainConfig(epochs=2), progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="lr"):
        train(small, TrainConfig(epochs=2, lr=0.001), progress=False, checkpoint_dir=tmp_path, resume=True)
    other = planted_dataset(np.random.default_rng(5), n_users=60, n_books=40, per_user=15)
    with pytest.raises(CheckpointError, match="other data"):
        train(other, TrainConfig(epochs=2), progress=False, checkpoint_dir=tmp_path, resume=True)


def test_divergence_keeps_the_last_good_checkpoint(
    small: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_epoch = SgdEngine.run_epoch

    def diverging(self: SgdEngine, epoch: int) -> float:
        loss = run_epoch(self, epoch)
        return math.inf if epoch == 2 else loss

    monkeypatch.setattr(SgdEngine, "run_epoch", diverging)
    config = TrainConfig(epochs=4)
    with pytest.raises(TrainingDivergedError, match=r"inf in epoch 3 of 4.*epoch 2\) is kept"):
        train(small, config, progress=False, checkpoint_dir=tmp_path)
    monkeypatch.setattr(SgdEngine, "run_epoch", run_epoch)
    rows: list[EpochStats] = []
    train(small, config, callbacks=[rows.append], progress=False, checkpoint_dir=tmp_path, resume=True)
    assert [r.restored for r in rows] == [True, True, False, False]


def test_the_sgd_engine_refuses_a_gpu(small: Dataset) -> None:
    with pytest.raises(ConfigError, match="CPU"):
        train(small, TrainConfig(epochs=1), progress=False, device="cuda")


# --- saving -----------------------------------------------------------------------------------------------


def test_a_saved_model_records_its_training(planted: Dataset, tmp_path: Path) -> None:
    result = train(planted, TrainConfig(epochs=3), progress=False)
    folder = result.save(tmp_path / "model")
    served = Recommender.load(folder)
    valid = result.valid_data
    expected = result.model(torch.as_tensor(valid.user_idx.astype(np.int64)), torch.as_tensor(valid.book_idx))
    got = served.predict_positions(valid.user_idx, valid.book_idx)
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert served.manifest["config"] == result.config.to_dict()
    assert served.manifest["metrics"]["valid_rmse"] == result.metrics["valid_rmse"]
    assert len(served.manifest["history"]) == 3


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture
def ratings_csv(tmp_path: Path, small: Dataset) -> Path:
    path = tmp_path / "ratings.csv"
    users, books = small.users.id_of(small.user_idx), small.books.id_of(small.book_idx)
    lines = ["user,item,stars"] + [
        f"{u},{b},{r:.3f}" for u, b, r in zip(users, books, small.rating, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cli(*args: str) -> list[str]:
    return ["train", "--user-col", "user", "--item-col", "item", "--rating-col", "stars", *args]


def test_cli_trains_prints_a_table_and_saves(ratings_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = CliRunner().invoke(app, _cli("--ratings", str(ratings_csv), "--epochs", "3", "--out", str(out)))
    assert result.exit_code == 0, result.output
    assert "train_loss" in result.output and "valid_rmse" in result.output
    assert (out / "manifest.json").is_file() and not (out / "checkpoint").exists()
    assert Recommender.load(out).n_users == 60


def test_cli_json_prints_one_line_of_metrics(ratings_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = CliRunner().invoke(
        app,
        _cli(
            "--ratings", str(ratings_csv), "--epochs", "2", "--out", str(out), "--json", "--valid-pct", "0.3"
        ),
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    metrics = json.loads(lines[0])
    assert metrics["epochs"] == 2 and metrics["model"] == "dot" and metrics["out"] == str(out)
    assert metrics["valid_rmse"] == pytest.approx(math.sqrt(metrics["valid_mse"]))
    assert {"train_loss", "seconds", "n_train", "n_valid"} <= set(metrics)


@pytest.mark.parametrize(
    ("args", "field"),
    [(("--lr", "-0.5"), "--lr"), (("--factors", "0"), "--factors"), (("--valid-pct", "1.5"), "--valid-pct")],
)
def test_cli_bad_settings_give_one_line_and_status_2(
    ratings_csv: Path, args: tuple[str, ...], field: str
) -> None:
    result = CliRunner().invoke(app, _cli("--ratings", str(ratings_csv), *args))
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ") and field in result.stderr


def test_cli_refuses_to_replace_a_folder_that_is_not_a_model(ratings_csv: Path, tmp_path: Path) -> None:
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me", encoding="utf-8")
    result = CliRunner().invoke(app, _cli("--ratings", str(ratings_csv), "--out", str(precious)))
    assert result.exit_code == 2 and "not a bookrec model folder" in result.stderr
    assert (precious / "thesis.txt").read_text(encoding="utf-8") == "keep me"


def test_cli_resumes_after_an_interruption(ratings_csv: Path, tmp_path: Path) -> None:
    def args(out: Path) -> list[str]:
        return _cli("--ratings", str(ratings_csv), "--epochs", "3", "--out", str(out), "--json")

    missing = CliRunner().invoke(app, [*args(tmp_path / "a"), "--resume"])
    assert missing.exit_code == 2 and "no checkpoint" in missing.stderr
    whole = json.loads(CliRunner().invoke(app, args(tmp_path / "a")).stdout)
    source = DataSource(ratings=ratings_csv, user_col="user", item_col="item", rating_col="stars")
    with pytest.raises(TrainingInterrupted):  # Ctrl-C after epoch 1, with the progress bar on
        train(
            load_dataset(source),
            TrainConfig(epochs=3),
            callbacks=[_interrupt_after(1)],
            progress=True,
            checkpoint_dir=tmp_path / "b" / "checkpoint",
        )
    resumed = CliRunner().invoke(app, [*args(tmp_path / "b"), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["valid_rmse"] == whole["valid_rmse"]


def test_cli_help() -> None:
    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--model",
        "--factors",
        "--epochs",
        "--lr",
        "--wd",
        "--bs",
        "--valid-pct",
        "--seed",
        "--out",
    ):
        assert flag in result.output
