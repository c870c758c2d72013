"""What the commands share: the data options, errors in flags, the progress bar, the plot extra's hint."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bookrec.cli import _training, app
from bookrec.modelfile import resolve_model_path
from bookrec.train import TrainProgress
from conftest import planted_ratings, sample_book_ids, write_ratings

runner = CliRunner()

WORKFLOW = [
    "download",
    "info",
    "synth",
    "split",
    "train",
    "evaluate",
    "lr-find",
    "tune",
    "similar",
    "recommend",
    "explore",
    "app",
]
DATA_OPTIONS = [
    "--data",
    "--ratings",
    "--user-col",
    "--item-col",
    "--rating-col",
    "--sep",
    "--encoding",
    "--books",
    "--limit",
]


@pytest.fixture
def ratings_csv(tmp_path: Path, rng: np.random.Generator) -> Path:
    users, books, stars = planted_ratings(rng, 40, sample_book_ids(), 12)
    rows = [(int(u), int(b), int(s)) for u, b, s in zip(users, books, stars, strict=True)]
    return write_ratings(tmp_path / "ratings.csv", rows)


def _panel(help_text: str, title: str) -> str:
    """The lines of one rich help panel ("╭─ Data options ─...╮" to its "╰...╯")."""
    start = help_text.index(f"╭─ {title} ")
    return help_text[start : help_text.index("╰", start)]


def test_help_lists_the_commands_in_workflow_order() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = _panel(result.stdout, "Commands")
    listed = re.findall(r"^│ ([a-z][a-z-]*) ", commands, flags=re.MULTILINE)
    assert listed == WORKFLOW


@pytest.mark.parametrize("command", ["info", "train", "evaluate", "lr-find", "tune"])
def test_every_command_that_reads_data_has_the_nine_data_options(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    panel = _panel(result.stdout, "Data options")
    assert re.findall(r"^│ (--[a-z-]+) ", panel, flags=re.MULTILINE) == DATA_OPTIONS


def test_data_options_reach_the_loader(ratings_csv: Path) -> None:
    text = ratings_csv.read_text(encoding="utf-8").replace(",", ";").replace("user_id", "reader")
    other = ratings_csv.with_name("other.csv")
    other.write_text(text, encoding="utf-8")
    args = ["info", "--ratings", str(other), "--sep", ";", "--user-col", "reader", "--limit", "100", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ratings"] == 100


def test_contradicting_data_options_are_one_line(ratings_csv: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", "--data", str(tmp_path), "--ratings", str(ratings_csv)])
    assert result.exit_code == 2
    assert (
        result.stderr
        == "error: give either --data (goodbooks-10k) or --ratings (any ratings file), not both\n"
    )


# --- the library's field names become the flags the user typed ------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--factors", "0"], "--factors must be a whole number from 1 to 4096, got 0"),
        (["--epochs", "0"], "--epochs must be a whole number from 1 to 10000, got 0"),
        (["--lr", "-0.5"], "--lr must be a positive number up to 10, got -0.5"),
        (["--wd", "-1"], "--wd must be a number from 0 to 10, got -1.0"),
        (["--valid-pct", "1.5"], "--valid-pct must be at least 0 and below 1, got 1.5"),
        (["--seed", "-1"], "--seed must be a whole number from 0 to 2**63 - 1, got -1"),
        (["--model", "nn", "--hidden", "0"], "--hidden must be a whole number from 1 to 65536, got 0"),
        (["--model", "nn", "--dropout", "1"], "--dropout must be at least 0 and below 1, got 1.0"),
        (["--model", "svd"], "--model must be one of dot, nn, got 'svd'"),
        (["--engine", "warp"], "--engine must be one of auto, sgd, torch, spark, got 'warp'"),
        (["--engine", "torch", "--optimizer", "rmsprop"], "--optimizer must be one of auto, adamw with the"),
        (
            ["--bs", "64"],
            "--bs must be 1 with the sgd engine (it steps per rating), got 64; use --engine 'torch'",
        ),
    ],
)
def test_train_names_bad_settings_by_their_flags(args: list[str], expected: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", *args, "--out", str(tmp_path / "model")])  # fails before loading
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {expected}")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "model").exists()


# --- train, save and remember: one core function; the progress bar is the CLI's -------------------------


def test_train_saves_remembers_and_draws_progress_on_a_terminal(
    ratings_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_training, "_stderr_is_terminal", lambda: True)
    fed: list[TrainProgress] = []
    real_bar = _training.progress_bar

    @contextlib.contextmanager
    def watched_bar(wanted: bool) -> Iterator[Callable[[TrainProgress], None]]:
        with real_bar(wanted) as draw:
            assert draw is not None  # a terminal, no --json: the bar is drawn

            def report(progress: TrainProgress) -> None:
                fed.append(progress)
                draw(progress)

            yield report

    monkeypatch.setattr(_training, "progress_bar", watched_bar)
    out = tmp_path / "model"
    args = ["train", "--ratings", str(ratings_csv), "--engine", "torch", "--epochs", "2", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert [p.epochs_done for p in fed if p.batches == 0] == [0, 1, 2]  # the epochs bar
    assert any(0 < p.batches == p.batches_done for p in fed)  # the torch engine counts batches: a second bar
    assert resolve_model_path(None) == out  # saved and remembered as the last model
    assert not (out / "checkpoint").exists()


def test_no_progress_bar_with_json_or_off_a_terminal(ratings_csv: Path, tmp_path: Path) -> None:
    with _training.progress_bar(True) as report:  # CliRunner's stderr is no terminal
        assert report is None
    args = ["train", "--ratings", str(ratings_csv), "--epochs", "1", "--out", str(tmp_path / "m"), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["epochs"] == 1


# --- plots are an extra: without matplotlib, one line that says how to install it -------------------------


@pytest.fixture
def without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError


def test_lr_find_without_matplotlib_says_how_to_install_it(
    without_matplotlib: None, ratings_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lr.png"
    result = runner.invoke(app, ["lr-find", "--ratings", str(ratings_csv), "--out", str(out)])
    assert result.exit_code == 2
    assert (
        result.stderr == "error: plots need matplotlib, which is not installed: pip install 'bookrec[plot]'\n"
    )
    assert "Traceback" not in result.output and not out.exists()


def test_explore_map_without_matplotlib_says_how_to_install_it(
    without_matplotlib: None, planted_model, tmp_path: Path
) -> None:
    model = planted_model[0].save(tmp_path / "model")
    out = tmp_path / "map.png"
    result = runner.invoke(app, ["explore", str(model), "map", "--out", str(out)])
    assert result.exit_code == 2
    assert (
        result.stderr == "error: plots need matplotlib, which is not installed: pip install 'bookrec[plot]'\n"
    )
    assert not out.exists()
    biases = runner.invoke(app, ["explore", str(model), "biases", "-k", "2", "--json"])
    assert biases.exit_code == 0  # the rest of explore needs no matplotlib


@pytest.mark.parametrize("command", WORKFLOW)
def test_help_fits_80_columns_with_readable_metavars(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line.rstrip()) for line in result.stdout.splitlines()) <= 80
    assert not re.search(r"<(bool|str|int|float|path|list\[[a-z]+\]|int range|float range)>", result.stdout)


def test_config_errors_name_the_flags() -> None:
    from bookrec.cli._options import flag_message

    assert flag_message("n_factors must be a whole number from 1 to 4096, got 0") == (
        "--factors must be a whole number from 1 to 4096, got 0"
    )
    assert (
        flag_message("valid_pct must be below 1; try a lower lr")
        == "--valid-pct must be below 1; try a lower --lr"
    )
    assert flag_message("with the sgd engine") == "with the sgd engine"


def test_train_error_names_the_flag(ratings_csv: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "--ratings", str(ratings_csv), "--out", str(tmp_path / "m"), "--factors", "0"]
    )
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "error: --factors must be a whole number from 1 to 4096, got 0"
    ]


def test_train_takes_the_ranking_model_and_adaptation_settings(ratings_csv: Path, tmp_path: Path) -> None:
    from bookrec.recommender import Recommender

    out = tmp_path / "m"
    args = ["train", "--ratings", str(ratings_csv), "--epochs", "1", "--out", str(out), "--json"]
    result = runner.invoke(app, [*args, "--rank-reg", "7.5", "--rank-factors", "16", "--no-adapt"])
    assert result.exit_code == 0, result.output
    saved = Recommender.load(out)
    assert saved.ranker.regularization == 7.5 and saved.ranker.book_factors.shape[1] == 16
    assert saved.manifest["config"]["adapt"] is False
    plain = runner.invoke(app, [*args, "--ranker", "none"])
    assert plain.exit_code == 0, plain.output
    assert Recommender.load(out).ranker is None
    bad = runner.invoke(app, [*args, "--rank-reg", "-1"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --rank-reg must be a positive number")
