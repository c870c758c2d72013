"""``bookrec split``: hold out a share of each reader's ratings, as train.csv and heldout.csv."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bookrec.cli import app
from bookrec.cli._options import Encoding, HelpCommand, ItemCol, RatingCol, Sep, UserCol

if TYPE_CHECKING:
    from bookrec.data.holdout import HoldoutReport


@app.command(cls=HelpCommand)
def split(
    ratings: Annotated[
        Path,
        typer.Option(
            "--ratings",
            metavar="FILE",
            help="The ratings CSV to split.",
            show_default=False,
            rich_help_panel="Data options",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Folder for train.csv and heldout.csv; created if needed. One holding other files is "
            "refused.",
            show_default=False,
        ),
    ],
    holdout: Annotated[
        float, typer.Option("--holdout", metavar="P", help="Share of each reader's ratings held out.")
    ] = 0.2,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            metavar="random|time",
            help="random: drawn with --seed; time: each reader's latest (by --time-col).",
        ),
    ] = "random",
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Seed of the random draw.")] = 42,
    min_ratings: Annotated[
        int,
        typer.Option("--min-ratings", metavar="N", help="Readers with fewer ratings go wholly to train."),
    ] = 5,
    time_col: Annotated[
        str | None,
        typer.Option(
            "--time-col",
            metavar="C",
            help="With --by time: the column of times (numbers or dates). Default: 'timestamp' if the file "
            "has it, else file order, which is time order in goodbooks' ratings.csv.",
            show_default=False,
        ),
    ] = None,
    user_col: UserCol = "user_id",
    item_col: ItemCol = "book_id",
    rating_col: RatingCol = "rating",
    sep: Sep = ",",
    encoding: Encoding = "utf-8",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: train, heldout (paths), train_rows, heldout_rows, n_users, "
            "heldout_users, train_only_users, holdout, by, seed, time_col, min_ratings.",
        ),
    ] = False,
) -> None:
    """Split a ratings file for top-N evaluation: a share of each reader's ratings held out.

    Writes DIR/train.csv and DIR/heldout.csv with the file's own columns and header, rows in
    the file's order. Readers with fewer than --min-ratings ratings go wholly to train; every
    other reader with n ratings holds out round(P * n) of them (at least 1, at most n - 1),
    drawn at random with --seed, or their latest with --by time. The same file, options and
    seed give the same files. Train a model on train.csv, then rank with
    `bookrec evaluate MODEL --ratings DIR/heldout.csv --top-n`.

    Examples:

      bookrec split --ratings ml/ratings.csv --user-col userId --item-col movieId --out ml/split

      bookrec split --ratings goodbooks/ratings.csv --by time --holdout 0.1 --out gb/split --json
    """
    from bookrec.data import DataSource
    from bookrec.data.holdout import split_ratings_file

    source = DataSource.from_options(ratings=ratings, sep=sep, encoding=encoding)  # checks --sep, --encoding
    report = split_ratings_file(
        ratings,
        out,
        holdout=holdout,
        by=by,
        seed=seed,
        user_col=user_col,
        item_col=item_col,
        rating_col=rating_col,
        time_col=time_col,
        sep=source.sep,
        encoding=source.encoding,
        min_ratings=min_ratings,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    _print_report(report)


def _print_report(report: HoldoutReport) -> None:
    if report.by == "random":
        how = f"at random, seed {report.seed}"
    else:
        how = f"their latest by {report.time_col}" if report.time_col else "their latest by file order"
    typer.echo(f"Wrote {report.train} ({report.train_rows:,} ratings)")
    typer.echo(f"  and {report.heldout} ({report.heldout_rows:,} ratings)")
    typer.echo(
        f"  {report.heldout_users:,} of {report.n_users:,} readers hold out {report.holdout * 100:g}% "
        f"of their ratings ({how}); {report.train_only_users:,} with fewer than {report.min_ratings} "
        "ratings are wholly in train"
    )
