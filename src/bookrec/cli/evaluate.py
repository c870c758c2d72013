"""``bookrec evaluate``, ``bookrec lr-find``, ``bookrec tune``: measure a model; find better settings."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bookrec.cli import _options as opt
from bookrec.cli import app
from bookrec.errors import DataError

if TYPE_CHECKING:
    from bookrec.data import Dataset
    from bookrec.evaluation import ModelEvaluation
    from bookrec.recommender import Recommender
    from bookrec.tune import TrialResult

_PANEL = "Training options"

ModelKind = Annotated[
    str,
    typer.Option(
        "--model", help="dot (matrix factorization) or nn (embeddings + MLP).", rich_help_panel=_PANEL
    ),
]
Factors = Annotated[
    int | None,
    typer.Option(
        "--factors",
        metavar="K",
        help="Factors per reader and book (default: the model's measured default).",
        rich_help_panel=_PANEL,
    ),
]
WeightDecay = Annotated[
    float | None, typer.Option("--wd", metavar="WD", help="Weight decay.", rich_help_panel=_PANEL)
]
BatchSize = Annotated[
    int | None,
    typer.Option(
        "--bs", metavar="B", help="Batch size (default ~128 steps per epoch).", rich_help_panel=_PANEL
    ),
]
ValidPct = Annotated[
    float,
    typer.Option(
        "--valid-pct", metavar="P", help="Share of ratings held out for validation.", rich_help_panel=_PANEL
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed", metavar="S", help="Seed of the split, weights and shuffles.", rich_help_panel=_PANEL
    ),
]
Device = Annotated[
    str,
    typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps (torch engine).", rich_help_panel=_PANEL),
]


def _load(
    data: Path | None,
    ratings: Path | None,
    user_col: str,
    item_col: str,
    rating_col: str,
    sep: str,
    encoding: str,
    books: Path | None,
    limit: int | None,
) -> Dataset:
    from bookrec.data import load_dataset

    source = opt.data_source(data, ratings, user_col, item_col, rating_col, sep, encoding, books, limit)
    dataset = load_dataset(source)
    for note in dataset.report.notes():
        typer.echo(f"note: {note}", err=True)
    return dataset


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


# --- bookrec evaluate ---------------------------------------------------------------------------------------


def _evaluation_data(recommender: Recommender, given: bool, load: Callable[[], Dataset]) -> Dataset:
    """The data options' ratings; without any, the downloaded goodbooks copy if the model learnt from it."""
    from bookrec.evaluation import is_training_data

    trained_on = (recommender.manifest.get("data") or {}).get("name", "unknown data")
    hint = (
        f"pass the data this model was trained on ({trained_on}) with the same data options "
        "(--data DIR, or --ratings FILE with its --user-col/--item-col/--rating-col/--sep), "
        "or any ratings file with --ratings"
    )
    if given:
        return load()
    try:
        dataset = load()
    except DataError:
        raise DataError(f"no data to evaluate on: {hint}") from None
    if not is_training_data(recommender, dataset):
        raise DataError(f"the downloaded goodbooks-10k is not what this model was trained on: {hint}")
    return dataset


def _print_evaluation(result: ModelEvaluation, model: str) -> None:
    console = Console(highlight=False, soft_wrap=True)  # long paths stay on one line
    where = (
        f"the model's validation split of {result.data}"
        if result.on == "validation split"
        else f"all ratings of {result.data}"
    )
    console.print(f"model {model} on {where}: {result.ratings.n:,} ratings")
    table = Table(show_header=True)
    for column in ("RMSE", "MSE", "MAE", "ratings"):
        table.add_column(column, justify="right")
    metrics = result.ratings
    table.add_row(_number(metrics.rmse), _number(metrics.mse), _number(metrics.mae), f"{metrics.n:,}")
    console.print(table)
    if result.unknown_users or result.unknown_books:
        console.print(
            f"unknown to the model: {_count(result.unknown_users, 'rating')} by "
            f"{_count(result.unknown_user_ids, 'reader')} (predicted from the book's bias), "
            f"{_count(result.unknown_books, 'rating')} of {_count(result.unknown_book_ids, 'book')} "
            "(predicted as the global mean)"
        )
    if result.top_n is not None and result.popular is not None:
        k = result.top_n.k
        ranking = Table(
            title=f"Top-{k} lists vs held-out ratings >= {result.like_threshold:g} "
            f"({result.top_n.n_readers:,} readers)"
        )
        ranking.add_column("method")
        for column in (f"precision@{k}", f"recall@{k}", f"NDCG@{k}", "coverage"):
            ranking.add_column(column, justify="right")
        for name, row in (("this model", result.top_n), ("most popular", result.popular)):
            ranking.add_row(
                name, _number(row.precision), _number(row.recall), _number(row.ndcg), f"{row.coverage:.1%}"
            )
        console.print(ranking)


@app.command()
def evaluate(
    model: Annotated[
        str | None,
        typer.Argument(help="A model folder (default: the last trained).", show_default=False),
    ] = None,
    top_n: Annotated[
        bool,
        typer.Option(
            "--top-n",
            help="Also rank: precision, recall, NDCG@k and coverage, beside the most-popular baseline.",
        ),
    ] = False,
    k: Annotated[int, typer.Option("-k", "--k", help="List length for --top-n.")] = 10,
    whole: Annotated[
        bool,
        typer.Option(
            "--all", help="Evaluate on every rating, even of the model's own training data (training error)."
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: rmse, mse, mae, n, unknown_users, unknown_books (ratings by "
            "readers / of books the model lacks), unknown_user_ids, unknown_book_ids, in_model_data, on, "
            "data, model; "
            "top_n with --top-n.",
        ),
    ] = False,
    data: opt.DataPath = None,
    ratings: opt.RatingsFile = None,
    user_col: opt.UserCol = "user_id",
    item_col: opt.ItemCol = "book_id",
    rating_col: opt.RatingCol = "rating",
    sep: opt.Sep = ",",
    encoding: opt.Encoding = "utf-8",
    books: opt.BooksFile = None,
    limit: opt.Limit = None,
) -> None:
    """Measure a model's rating error (RMSE, MSE, MAE), and with --top-n its top-N lists.

    Given the data the model was trained on (the same data options), it evaluates on the
    model's own validation split, split again as training split it. Given any other
    ratings file, it evaluates on all of it: ids are matched to the model's, and ratings
    of readers or books the model does not know are predicted from the biases or the
    global mean, and counted.

    Examples:

      bookrec evaluate models/default --top-n

      bookrec evaluate --ratings ml/ratings.csv --user-col userId --item-col movieId --json

      bookrec evaluate models/ml --ratings new_ratings.csv --user-col userId --item-col movieId
    """
    from bookrec.errors import ConfigError
    from bookrec.evaluation import evaluate_model
    from bookrec.modelfile import resolve_model_path
    from bookrec.recommender import Recommender

    if k < 1:
        raise ConfigError(f"-k must be at least 1, got {k}")
    path = resolve_model_path(model)
    recommender = Recommender.load(path)

    def load() -> Dataset:
        return _load(data, ratings, user_col, item_col, rating_col, sep, encoding, books, limit)

    dataset = _evaluation_data(recommender, data is not None or ratings is not None, load)
    result = evaluate_model(recommender, dataset, split="all" if whole else "auto", top_n=top_n, k=k)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "model": str(path)}))
        return
    _print_evaluation(result, str(path))


# --- bookrec lr-find ----------------------------------------------------------------------------------------


@app.command("lr-find")
def lr_find_command(
    model: ModelKind = "dot",
    factors: Factors = None,
    wd: WeightDecay = None,
    bs: BatchSize = None,
    valid_pct: ValidPct = 0.2,
    seed: Seed = 42,
    start_lr: Annotated[
        float, typer.Option("--start-lr", metavar="LR", help="First learning rate.", rich_help_panel=_PANEL)
    ] = 1e-7,
    end_lr: Annotated[
        float, typer.Option("--end-lr", metavar="LR", help="Last learning rate.", rich_help_panel=_PANEL)
    ] = 10.0,
    steps: Annotated[
        int,
        typer.Option("--steps", metavar="N", help="Mini-batch steps between them.", rich_help_panel=_PANEL),
    ] = 200,
    device: Device = "auto",
    out: Annotated[
        Path, typer.Option("--out", metavar="PLOT.png", help="Where to write the loss-vs-rate plot.")
    ] = Path("lr_find.png"),
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: suggested_lr, method, lr_steep, lr_valley, n_steps, stopped_early, "
            "bs, model, n_factors, wd, plot, and the curve (lrs, losses).",
        ),
    ] = False,
    data: opt.DataPath = None,
    ratings: opt.RatingsFile = None,
    user_col: opt.UserCol = "user_id",
    item_col: opt.ItemCol = "book_id",
    rating_col: opt.RatingCol = "rating",
    sep: opt.Sep = ",",
    encoding: opt.Encoding = "utf-8",
    books: opt.BooksFile = None,
    limit: opt.Limit = None,
) -> None:
    """Find a learning rate: train with a rate growing from --start-lr to --end-lr and plot the loss.

    The test runs the torch engine (AdamW mini-batches: the nn model's engine, and
    `--engine torch` for the dot model) on the training part of the split. The
    suggested rate is the rate at the lowest smoothed loss divided by 10; use it as
    --lr of `bookrec train` with the same model, factors, weight decay and batch size.

    Examples:

      bookrec lr-find --out lr.png

      bookrec lr-find --model nn --ratings ml/ratings.csv --user-col userId --item-col movieId --json
    """
    from bookrec.lr_find import lr_find
    from bookrec.plots import plot_lr_find
    from bookrec.train import TrainConfig

    config = TrainConfig(
        model=model, engine="torch", n_factors=factors, wd=wd, bs=bs, valid_pct=valid_pct, seed=seed
    )
    dataset = _load(data, ratings, user_col, item_col, rating_col, sep, encoding, books, limit)
    result = lr_find(dataset, config, start_lr=start_lr, end_lr=end_lr, n_steps=steps, device=device)
    plot = plot_lr_find(result, out)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "plot": str(plot)}))
        return
    console = Console(highlight=False, soft_wrap=True)  # long paths stay on one line
    factors_text = "fastai's size rule" if config.n_factors is None else f"{config.n_factors} factors"
    ended = (
        f"stopped after {result.lrs.size} steps at lr {result.lrs[-1]:.2g}: the loss exploded"
        if result.stopped_early
        else f"{result.lrs.size} steps"
    )
    console.print(
        f"learning-rate finder: {config.model} model (torch engine, AdamW), {factors_text}, "
        f"wd {config.wd:g}, batch {result.bs}; lr {start_lr:g} to {end_lr:g}, {ended}"
    )
    console.print(
        f"suggested lr: {result.suggested_lr:.2g} (minimum / 10); "
        f"steepest descent {result.lr_steep:.2g}, valley {result.lr_valley:.2g}"
    )
    console.print(f"plot: {plot}")
    train_args = "--model nn" if config.model == "nn" else "--engine torch"
    console.print(
        f"next: bookrec train {train_args} --lr {result.suggested_lr:.2g} (and the same data options)"
    )


# --- bookrec tune -------------------------------------------------------------------------------------------

_TRIAL_COLUMNS = ("trial", "factors", "lr", "wd", "epochs", "bs", "valid RMSE", "time")


def _trial_cells(trial: TrialResult) -> tuple[str, ...]:
    p = trial.params
    return (
        str(trial.number),
        str(p["n_factors"]),
        f"{p['lr']:.3g}",
        f"{p['wd']:.3g}",
        str(p["epochs"]),
        str(p.get("bs", 1)),
        "diverged" if trial.rmse is None else f"{trial.rmse:.4f}",
        f"{trial.seconds:.1f} s",
    )


def _trial_line(cells: tuple[str, ...]) -> str:
    widths = (5, 7, 9, 9, 6, 6, 10, 9)
    return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))


@app.command()
def tune(
    minutes: Annotated[
        float,
        typer.Option("--minutes", metavar="M", help="Time budget: no trial starts after M minutes."),
    ] = 10.0,
    trials: Annotated[
        int | None,
        typer.Option("--trials", metavar="N", help="Stop after N trials (default: the time budget)."),
    ] = None,
    model: ModelKind = "dot",
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="sgd (dot only), torch, or auto (sgd for dot, torch for nn).",
            rich_help_panel=_PANEL,
        ),
    ] = "auto",
    valid_pct: ValidPct = 0.2,
    seed: Seed = 42,
    device: Device = "auto",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Train the best settings on all the data and save the model here."
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: best_rmse, best_config, n_trials, seconds, trials, and with --out "
            "valid_rmse (the saved model's, on ratings no trial saw) and out.",
        ),
    ] = False,
    data: opt.DataPath = None,
    ratings: opt.RatingsFile = None,
    user_col: opt.UserCol = "user_id",
    item_col: opt.ItemCol = "book_id",
    rating_col: opt.RatingCol = "rating",
    sep: opt.Sep = ",",
    encoding: opt.Encoding = "utf-8",
    books: opt.BooksFile = None,
    limit: opt.Limit = None,
) -> None:
    """Search factors, lr, wd and epochs (and batch size for the torch engine) with Optuna.

    Trials train on the training part of the split and are scored on a part of it; the
    validation part stays unseen, and with --out the best settings are trained on the
    whole data and scored there (an honest RMSE). The first trial is the defaults.
    Needs Optuna (pip install optuna).

    Examples:

      bookrec tune --minutes 5

      bookrec tune --trials 20 --out models/tuned

      bookrec tune --model nn --ratings ml/ratings.csv --user-col userId --item-col movieId --minutes 10
    """
    from bookrec.modelfile import ensure_replaceable, remember_last_model
    from bookrec.train import TrainConfig
    from bookrec.train import train as run_training
    from bookrec.tune import check_budget
    from bookrec.tune import tune as run_tune

    # Bad settings fail before the data are loaded and any time is spent.
    check_budget(minutes, trials, valid_pct)
    TrainConfig(model=model, engine=engine, valid_pct=valid_pct, seed=seed)
    if out is not None:
        ensure_replaceable(out)
    dataset = _load(data, ratings, user_col, item_col, rating_col, sep, encoding, books, limit)
    console = Console(highlight=False, soft_wrap=True)  # long paths stay on one line
    callbacks = []
    if not as_json:
        budget = f"{minutes:g} minutes" + ("" if trials is None else f" or {trials} trials")
        console.print(f"tuning {model} on {dataset.n_ratings:,} ratings of {dataset.name} for {budget}")
        console.print(_trial_line(_TRIAL_COLUMNS), style="bold")
        callbacks.append(lambda trial: console.print(_trial_line(_trial_cells(trial))))
    result = run_tune(
        dataset,
        model=model,
        engine=engine,
        minutes=minutes,
        n_trials=trials,
        valid_pct=valid_pct,
        seed=seed,
        device=device,
        callbacks=callbacks,
    )
    values: dict[str, Any] = result.to_dict()
    if out is not None:
        trained = run_training(dataset, result.best_config, progress=False, device=device)
        trained.save(out)
        remember_last_model(out)
        values |= {"valid_rmse": trained.metrics["valid_rmse"], "out": str(out)}
    if as_json:
        typer.echo(json.dumps(values))
        return
    best = result.best_config
    console.print(
        f"best of {len(result.trials)} trials ({result.seconds:.0f} s): tuning RMSE {result.best_rmse:.4f} "
        f"with --factors {best.n_factors} --lr {best.lr:.3g} --wd {best.wd:.3g} --epochs {best.epochs}"
        + (f" --bs {best.bs}" if best.engine == "torch" else "")
    )
    console.print(f"best TrainConfig: {json.dumps(best.to_dict())}")
    if out is not None:
        console.print(
            f"saved the best model, trained on all the data, to {out}: "
            f"validation RMSE {_number(values['valid_rmse'])} (on ratings no trial saw)"
        )
