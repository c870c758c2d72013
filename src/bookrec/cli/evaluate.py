"""``bookrec evaluate``: a model's rating error, and its top-N lists beside the most popular books."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bookrec.cli import app
from bookrec.cli._options import SYNTHETIC_NOTE, DataOptions, HelpCommand, with_data_options
from bookrec.errors import DataError

if TYPE_CHECKING:
    from bookrec.data import Dataset
    from bookrec.evaluation import ModelEvaluation
    from bookrec.recommender import Recommender


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _evaluation_data(recommender: Recommender, options: DataOptions) -> Dataset:
    """The data options' ratings; without any, the downloaded goodbooks copy if the model learnt from it."""
    from bookrec.evaluation import is_training_data

    trained_on = (recommender.manifest.get("data") or {}).get("name", "unknown data")
    hint = (
        f"pass the data this model was trained on ({trained_on}) with the same data options "
        "(--data DIR, or --ratings FILE with its --user-col/--item-col/--rating-col/--sep), "
        "or any ratings file with --ratings"
    )
    if options.given:
        return options.load()
    try:
        dataset = options.load()
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
        console.print(_ranking_table(result))


def _ranking_table(result: ModelEvaluation) -> Table:
    """One row per method (the model, most popular), one column per top-N metric."""
    assert result.top_n is not None and result.popular is not None
    k = result.top_n.k
    ranking = Table(
        title=f"Top-{k} lists vs held-out ratings >= {result.like_threshold:g} "
        f"({result.top_n.n_readers:,} readers)"
    )
    ranking.add_column("method")
    # Two-line headers keep the seven columns within an 80-column terminal.
    columns = (f"NDCG\n@{k}", f"recall\n@{k}", f"recall\n@{2 * k}", f"precision\n@{k}", f"hit rate\n@{k}")
    for column in (*columns, "coverage"):
        ranking.add_column(column, justify="right")
    for name, row in (("this model", result.top_n), ("most popular", result.popular)):
        figures = (row.ndcg, row.recall, row.recall_2k, row.precision, row.hit_rate)
        ranking.add_row(name, *(_number(value) for value in figures), f"{row.coverage:.1%}")
    return ranking


@app.command(cls=HelpCommand)
@with_data_options
def evaluate(
    data_options: DataOptions,
    model: Annotated[
        str | None,
        typer.Argument(help="A model folder (default: the last trained).", show_default=False),
    ] = None,
    top_n: Annotated[
        bool,
        typer.Option(
            "--top-n",
            help="Also rank every book each reader has not rated: NDCG@k, recall@k and @2k, precision@k, "
            "hit rate@k and coverage, beside the most popular books of the model's training data.",
        ),
    ] = False,
    k: Annotated[int, typer.Option("-k", "--k", help="List length for --top-n.")] = 10,
    like_threshold: Annotated[
        float | None,
        typer.Option(
            "--like-threshold",
            metavar="T",
            help="For --top-n: held-out ratings >= T are relevant. Default: the top fifth of the model's "
            "scale rounded down (4 on 1-5 and on 0.5-5, 8 on 1-10).",
            show_default=False,
        ),
    ] = None,
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
            "with --top-n, top_n: k, like_threshold, and for model and most_popular: ndcg_at_k, "
            "recall_at_k, recall_at_2k, precision_at_k, hit_rate_at_k, coverage, n_users.",
        ),
    ] = False,
) -> None:
    """Measure a model's rating error (RMSE, MSE, MAE), and with --top-n its top-N lists.

    Given the data the model was trained on (the same data options), it evaluates on the
    model's own validation split, split again as training split it. Given any other
    ratings file, it evaluates on all of it: ids are matched to the model's, and ratings
    of readers or books the model does not know are predicted from the biases or the
    global mean, and counted.

    With --top-n on a held-out file (as `bookrec split` writes), every reader of it that
    the model knows gets a list of every book the model did not see them rate; their
    held-out ratings >= --like-threshold are the relevant books (a relevant book the
    model never saw counts, and no list can hold it). The most-popular lists rank books
    by their number of ratings in the model's training data.

    Examples:

      bookrec evaluate models/default --top-n

      bookrec split --ratings ratings.csv --holdout 0.2 --by random --seed 42 --out split

      bookrec train --ratings split/train.csv --valid-pct 0 --out models/split

      bookrec evaluate models/split --ratings split/heldout.csv --top-n --json

      bookrec evaluate --ratings ml/ratings.csv --user-col userId --item-col movieId --json

      bookrec evaluate models/ml --ratings new_ratings.csv --user-col userId --item-col movieId
    """
    from bookrec.errors import ConfigError
    from bookrec.evaluation import evaluate_model
    from bookrec.modelfile import resolve_model_path
    from bookrec.recommender import Recommender

    if k < 1:
        raise ConfigError(f"-k must be at least 1, got {k}")
    if like_threshold is not None and not top_n:
        raise ConfigError("--like-threshold goes with --top-n")
    if like_threshold is not None and not math.isfinite(like_threshold):
        raise ConfigError(f"--like-threshold must be a number, got {like_threshold}")
    path = resolve_model_path(model)
    recommender = Recommender.load(path)
    if recommender.synthetic:
        typer.echo(SYNTHETIC_NOTE, err=True)
    dataset = _evaluation_data(recommender, data_options)
    result = evaluate_model(
        recommender,
        dataset,
        split="all" if whole else "auto",
        top_n=top_n,
        k=k,
        min_rating=like_threshold,
    )
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "model": str(path)}))
        return
    _print_evaluation(result, str(path))
