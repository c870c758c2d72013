"""``bookrec info``: what a data set holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bookrec.cli import _options as opt
from bookrec.cli import app
from bookrec.data import load_dataset


@app.command()
def info(
    data: opt.DataPath = None,
    ratings: opt.RatingsFile = None,
    user_col: opt.UserCol = "user_id",
    item_col: opt.ItemCol = "book_id",
    rating_col: opt.RatingCol = "rating",
    sep: opt.Sep = ",",
    encoding: opt.Encoding = "utf-8",
    books: opt.BooksFile = None,
    limit: opt.Limit = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Show readers, books, ratings, the rating scale and the rating histogram of a data set.

    Examples:

      bookrec info                                   # the copy `bookrec download` made

      bookrec info --data goodbooks-10k.zip --limit 100000

      bookrec info --ratings ml/ratings.csv --user-col userId --item-col movieId
    """
    source = opt.data_source(data, ratings, user_col, item_col, rating_col, sep, encoding, books, limit)
    dataset = load_dataset(source)
    summary = dataset.summary()
    err = Console(stderr=True)
    for note in dataset.report.notes():
        err.print(f"note: {note}", highlight=False)
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = Console()
    overview = Table(title=f"Data set: {Path(dataset.name).name or dataset.name}", show_header=False)
    overview.add_row("readers", f"{summary['users']:,}")
    overview.add_row("books", f"{summary['books']:,}")
    overview.add_row("ratings", f"{summary['ratings']:,}")
    overview.add_row("rating scale", f"{summary['rating_min']:g} to {summary['rating_max']:g}")
    overview.add_row("mean rating", f"{summary['rating_mean']:.3f}")
    overview.add_row("density", f"{summary['density']:.4%}")
    overview.add_row("source", dataset.name)
    if dataset.synthetic:
        overview.add_row("ratings are", "SYNTHETIC (made by `bookrec synth`), not real readers'")
    console.print(overview)
    histogram = Table(title="Ratings by value")
    histogram.add_column("rating", justify="right")
    histogram.add_column("count", justify="right")
    histogram.add_column("share", justify="right")
    histogram.add_column("")
    total = max(1, summary["ratings"])
    for value, count in summary["histogram"].items():
        share = count / total
        histogram.add_row(value, f"{count:,}", f"{share:.1%}", "█" * round(share * 40))
    console.print(histogram)
