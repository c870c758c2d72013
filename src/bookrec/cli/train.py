"""``bookrec train``: train a model on a data set and save it as a model folder."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from bookrec.cli import _training as training
from bookrec.cli import app
from bookrec.cli._options import DataOptions, HelpCommand, flag_names, with_data_options

if TYPE_CHECKING:
    from bookrec.config import TrainConfig
    from bookrec.data import Dataset
    from bookrec.train import EpochStats, TrainResult

_PANEL = training.PANEL
_COLUMNS = ("epoch", "train_loss", "valid_loss", "valid_rmse", "time")


def _default_out() -> Path:
    from bookrec.data.paths import models_dir

    return models_dir() / "default"


MIN_RATINGS, MIN_READERS, MIN_BOOKS = 10, 2, 2
"""Below these a model learns nothing (one reader has no neighbours; a handful of ratings fits noise)."""


def _check_out(folder: Path) -> None:
    """Refuse an --out that holds something other than a model or a checkpoint, or cannot be written.

    Saving replaces it whole. ``train_and_save`` checks too, but only once the data are loaded: this fails
    before, in a second rather than after the training.
    """
    from bookrec.modelfile import ensure_replaceable

    ensure_replaceable(folder)


def _check_enough(dataset: Dataset) -> None:
    """Refuse data too small to train on, with the minimums, instead of training on it without a word."""
    from bookrec.errors import DataError

    if dataset.n_ratings < MIN_RATINGS or dataset.n_users < MIN_READERS or dataset.n_books < MIN_BOOKS:
        found = ", ".join(
            (
                _count(dataset.n_ratings, "rating"),
                _count(dataset.n_users, "reader"),
                _count(dataset.n_books, "book"),
            )
        )
        raise DataError(
            f"{dataset.name}: too little to train on ({found}); a model needs at least {MIN_RATINGS} "
            f"ratings, {MIN_READERS} readers and {MIN_BOOKS} books (thousands of ratings to recommend well)"
        )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _given(**options: Any) -> dict[str, Any]:
    """The options the user gave (None: leave the setting at its default)."""
    return {name: value for name, value in options.items() if value is not None}


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def _row(stats: EpochStats) -> str:
    """One line of fastai's training table, fixed widths."""
    cells = (
        str(stats.epoch),
        _number(stats.train_loss),
        _number(stats.valid_loss),
        _number(stats.valid_rmse),
        _clock(stats.seconds),
    )
    widths = [len(name) if i == 0 else max(len(name), 10) for i, name in enumerate(_COLUMNS)]
    return "  ".join(
        [cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))]
    )


def _header() -> str:
    return "  ".join(name if i == 0 else name.rjust(max(len(name), 10)) for i, name in enumerate(_COLUMNS))


# The options of `bookrec train` (the data options come from `with_data_options`).
_Factors = Annotated[
    int | None,
    typer.Option(
        "--factors",
        metavar="K",
        help="Factors per reader and book (dot: 128; nn: 48).",
        rich_help_panel=_PANEL,
    ),
]
_Epochs = Annotated[
    int | None, typer.Option("--epochs", metavar="E", help="Passes over the data.", rich_help_panel=_PANEL)
]
_Lr = Annotated[
    float | None,
    typer.Option("--lr", metavar="LR", help="Peak one-cycle learning rate.", rich_help_panel=_PANEL),
]
_BatchSize = Annotated[
    int | None,
    typer.Option(
        "--bs",
        metavar="B",
        help="Batch size (torch engine; default ~128 steps per epoch).",
        rich_help_panel=_PANEL,
    ),
]
_ValidPct = Annotated[
    float,
    typer.Option(
        "--valid-pct",
        metavar="P",
        help="Share of ratings held out for validation; 0 trains on everything.",
        rich_help_panel=_PANEL,
    ),
]
_Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="sgd (compiled, CPU, dot only), torch (AdamW mini-batches, the blog's recipe), spark (Spark "
        "MLlib ALS, dot only; pip install 'bookrec\\[spark]'), or auto.",
        rich_help_panel=_PANEL,
    ),
]
_SparkMaster = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        metavar="URL",
        help="Spark master for --engine spark (local[4], spark://host:7077, yarn; default: spark-submit's or "
        "every local core).",
        rich_help_panel=_PANEL,
    ),
]
_SparkRatings = Annotated[
    str | None,
    typer.Option(
        "--spark-ratings",
        metavar="URI",
        help="Ratings that Spark reads itself (--engine spark): CSV with a header or .parquet, on any path "
        "Spark reads (hdfs://, s3a://, ...); --user-col, --item-col, --rating-col and --sep apply.",
        rich_help_panel=_PANEL,
    ),
]
_Optimizer = Annotated[
    str,
    typer.Option(
        "--optimizer", help="rmsprop or sgd (sgd engine), adamw (torch), or auto.", rich_help_panel=_PANEL
    ),
]
_Hidden = Annotated[
    int, typer.Option("--hidden", metavar="N", help="Hidden units of the nn model.", rich_help_panel=_PANEL)
]
_Dropout = Annotated[
    float, typer.Option("--dropout", metavar="P", help="Dropout of the nn model.", rich_help_panel=_PANEL)
]
_RANK_PANEL = "Ranking model (orders recommendation lists)"
_Ranker = Annotated[
    str,
    typer.Option(
        "--ranker",
        help="als (implicit ALS on who read what, the default) or none (lists by predicted rating).",
        rich_help_panel=_RANK_PANEL,
    ),
]
_RankFactors = Annotated[
    int | None,
    typer.Option(
        "--rank-factors", metavar="K", help="Factors of the ranking model (128).", rich_help_panel=_RANK_PANEL
    ),
]
_RankReg = Annotated[
    float | None,
    typer.Option(
        "--rank-reg",
        metavar="L",
        help="L2 strength of the ranking model (default: 0.72 x sqrt(readers)).",
        rich_help_panel=_RANK_PANEL,
    ),
]
_RankToRead = Annotated[
    float | None,
    typer.Option(
        "--rank-to-read",
        metavar="C",
        help="Confidence of a book a reader wants to read (to_read.csv; 1), 0 to leave them out.",
        rich_help_panel=_RANK_PANEL,
    ),
]
_Adapt = Annotated[
    bool | None,
    typer.Option(
        "--adapt/--no-adapt",
        help="Let a quick probe on the training part choose the factors' strength, or keep biases alone "
        "when factors do not help (default: on for the dot model's sgd engine).",
        show_default=False,
        rich_help_panel=_PANEL,
    ),
]
_Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        help="Model folder to write (default: default/ in bookrec's models folder).",
        rich_help_panel=_PANEL,
    ),
]
_Resume = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Go on from the checkpoint in DIR/checkpoint (same settings and data).",
        rich_help_panel=_PANEL,
    ),
]
_Json = Annotated[
    bool,
    typer.Option("--json", help="Print only the final metrics, as one JSON line.", rich_help_panel=_PANEL),
]


@app.command(cls=HelpCommand)
@with_data_options
def train(
    data_options: DataOptions,
    model: training.ModelKind = "dot",
    factors: _Factors = None,
    epochs: _Epochs = None,
    lr: _Lr = None,
    wd: training.WeightDecay = None,
    bs: _BatchSize = None,
    valid_pct: _ValidPct = 0.2,
    seed: training.Seed = 42,
    engine: _Engine = "auto",
    optimizer: _Optimizer = "auto",
    hidden: _Hidden = 100,
    dropout: _Dropout = 0.0,
    device: training.Device = "auto",
    out: _Out = None,
    resume: _Resume = False,
    as_json: _Json = False,
    spark_master: _SparkMaster = None,
    spark_ratings: _SparkRatings = None,
    ranker: _Ranker = "als",
    rank_factors: _RankFactors = None,
    rank_reg: _RankReg = None,
    rank_to_read: _RankToRead = None,
    adapt: _Adapt = None,
) -> None:
    """Train a model and save it; prints a table per epoch (losses, validation RMSE, time).

    The defaults were chosen by measurement: a dot model with 128 factors,
    10 epochs of a compiled SGD kernel; seconds on goodbooks-10k.
    A checkpoint is written after every epoch: after Ctrl-C (exit status 130)
    or SIGTERM (143), run the same command with --resume to go on.

    Examples:

      bookrec train

      bookrec train --model nn --epochs 3 --out models/nn

      bookrec train --engine torch --factors 50 --epochs 5 --lr 5e-3 --wd 0.1 --bs 64

      bookrec train --ratings ml/ratings.csv --user-col userId --item-col movieId --json

      bookrec train --engine spark --spark-master local[4]

      bookrec train --engine spark --spark-ratings hdfs:///data/ratings.csv
    """
    from bookrec.config import TrainConfig

    with flag_names():
        config = TrainConfig(
            model=model,
            engine=engine,
            optimizer=optimizer,
            n_factors=factors,
            epochs=epochs,
            lr=lr,
            wd=wd,
            bs=bs,
            valid_pct=valid_pct,
            seed=seed,
            n_hidden=hidden,
            dropout=dropout,
            ranker=ranker,
            rank_reg=rank_reg,
            **_given(rank_factors=rank_factors, rank_to_read=rank_to_read, adapt=adapt),
        )
    from bookrec.modelfile import model_lock, remember_last_model

    spark = _check_spark(config, data_options, spark_master, spark_ratings)
    folder = out if out is not None else _default_out()
    _check_out(folder)
    console = Console(highlight=False)
    # A second `train` on the same --out is refused at once, not raced.
    with _sigterm_as_interrupt() as stopped, model_lock(folder):
        try:
            dataset = data_options.load() if spark_ratings is None else spark.read(spark_ratings)
            _check_enough(dataset)
            result = _train_with_table(
                dataset,
                config,
                folder,
                console,
                device=device,
                resume=resume,
                quiet=as_json,
                stopped=stopped,
                spark_master=spark_master,
            )
        except KeyboardInterrupt:  # while loading or saving (the epochs' own message is printed inside)
            typer.echo(
                f"{_stop_word(stopped)}; --out holds a whole model or none, never half of one", err=True
            )
            raise typer.Exit(_stop_status(stopped)) from None
    problem = remember_last_model(folder)
    if problem is not None:
        typer.echo(f"warning: saved the model to {folder}, but {problem}; name it in commands", err=True)
    metrics = _metrics(result, folder)
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    rmse = "" if metrics["valid_rmse"] is None else f" valid RMSE {metrics['valid_rmse']:.4f},"
    if result.adaptation is not None:
        console.print(result.adaptation.summary())
    console.print(
        f"saved the model to {folder} ({rmse.strip(' ,') or 'no validation'}; {metrics['seconds']:.1f} s)"
    )


def _train_with_table(
    dataset: Dataset,
    config: TrainConfig,
    folder: Path,
    console: Console,
    *,
    device: str,
    resume: bool,
    quiet: bool,
    stopped: list[int],
    spark_master: str | None = None,
) -> TrainResult:
    """Train and save, printing fastai's table per epoch (unless quiet); Ctrl-C exits 130 with a hint.

    SIGTERM (``stopped`` then holds it) ends the same way, with exit status 143.
    """
    from bookrec.errors import TrainingInterrupted
    from bookrec.train import train_and_save

    callbacks = []
    if not quiet:
        longer = " (3x or 9x where the probe finds it helps)" if config.adapt_epochs else ""
        console.print(
            f"training {config.model} ({config.engine}/{config.optimizer}) on {dataset.n_ratings:,} ratings: "
            f"{config.epochs} epochs{longer}, lr {config.lr:g}, wd {config.wd:g}"
        )
        console.print(_header(), style="bold")

        def print_row(stats: EpochStats) -> None:
            console.print(_row(stats), style="dim" if stats.restored else None)

        callbacks.append(print_row)
    try:
        with flag_names(), training.progress_bar(not quiet) as progress:
            return train_and_save(
                dataset,
                config,
                folder,
                callbacks=callbacks,
                progress=progress,
                device=device,
                resume=resume,
                remember=False,  # remembered by the caller, which warns when it cannot be
                spark_master=spark_master,
            )
    except TrainingInterrupted as interrupted:
        done = interrupted.epochs_done
        hint = (
            f"the checkpoint after epoch {done} is in {interrupted.checkpoint_dir}: "
            "run the same command with --resume to go on"
            if done
            else "no epoch was completed, nothing to resume"
        )
        typer.echo(f"{_stop_word(stopped)} after epoch {done} of {config.epochs}; {hint}", err=True)
        raise typer.Exit(_stop_status(stopped)) from None


@dataclass(frozen=True)
class _Spark:
    """How `train --engine spark` reads --spark-ratings."""

    options: DataOptions
    master: str | None

    def read(self, uri: str) -> Dataset:
        from bookrec.engines.spark import read_ratings

        o = self.options
        return read_ratings(
            uri,
            user_col=o.user_col,
            item_col=o.item_col,
            rating_col=o.rating_col,
            sep=o.sep,
            master=self.master,
        )


def _check_spark(
    config: TrainConfig, options: DataOptions, master: str | None, ratings: str | None
) -> _Spark:
    """Refuse Spark options without --engine spark, and a missing pyspark or Java, before any data load."""
    from bookrec.errors import ConfigError

    if config.engine != "spark":
        if master is not None or ratings is not None:
            flag = "--spark-master" if master is not None else "--spark-ratings"
            raise ConfigError(f"{flag} needs --engine spark")
        return _Spark(options, master)
    if ratings is not None and options.given:
        raise ConfigError("--spark-ratings replaces --data and --ratings; give one of them")
    from bookrec.engines.spark import check_available

    check_available()
    return _Spark(options, master)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[list[int]]:
    """Make SIGTERM (``kill``, a container or service stop) end training as Ctrl-C does.

    Training then stops at the next point Python gets control, keeps the checkpoint of the completed
    epochs, leaves the model at --out untouched and prints one line. The list yielded receives the signal
    number once it arrives; later SIGTERMs are ignored, so that the clean-up is not itself interrupted.
    """
    stopped: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield stopped
        return

    def interrupt(signum: int, _frame: object) -> None:
        if not stopped:
            stopped.append(signum)
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _stop_word(stopped: list[int]) -> str:
    return "terminated (SIGTERM)" if stopped else "interrupted"


def _stop_status(stopped: list[int]) -> int:
    """128 + the signal's number, as a shell reports a process the signal ended: 143 or 130 (Ctrl-C)."""
    return 128 + (stopped[0] if stopped else signal.SIGINT)


def _metrics(result: TrainResult, folder: Path) -> dict[str, Any]:
    """What --json prints (its keys are a contract with users' scripts)."""
    config = result.config
    return {
        **{k: result.metrics[k] for k in ("valid_rmse", "valid_mse", "valid_mae", "train_loss", "seconds")},
        "epochs": config.epochs,
        "model": config.model,
        "engine": config.engine,
        "optimizer": config.optimizer,
        "n_factors": config.n_factors,
        "bs": result.metrics["bs"],
        "n_train": result.metrics["n_train"],
        "n_valid": result.metrics["n_valid"],
        "regularization": result.metrics.get("regularization"),
        "out": str(folder),
    }
