"""``bookrec info``: what a data set holds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bookrec.cli import app
from bookrec.cli._options import DataOptions, HelpCommand, with_data_options
from bookrec.errors import DataError


@app.command(cls=HelpCommand)
@with_data_options
def info(
    data_options: DataOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    ucsd: Annotated[
        Path | None,
        typer.Option(
            "--ucsd",
            metavar="DIR",
            help="A folder of the UCSD Goodreads Book Graph (goodreads_interactions.csv, book_id_map.csv, "
            "goodreads_books.json.gz, ...); --data DIR detects the layout too.",
        ),
    ] = None,
) -> None:
    """Show readers, books, ratings, the rating scale and the rating histogram of a data set.

    Examples:

      bookrec info                                   # the copy `bookrec download` made

      bookrec info --data goodbooks-10k.zip --limit 100000

      bookrec info --ratings ml/ratings.csv --user-col userId --item-col movieId

      bookrec info --ucsd goodreads/                 # ratings, and rating-0 rows as shelf events
    """
    if ucsd is not None:
        from bookrec.data.ucsd import is_ucsd_folder

        if data_options.given:
            raise DataError("give either --ucsd or --data/--ratings, not both")
        if not is_ucsd_folder(ucsd):
            raise DataError(f"{ucsd}: no goodreads_interactions.csv here (expected the UCSD Goodreads files)")
        data_options = replace(data_options, data=ucsd)
    dataset = data_options.load()
    summary = dataset.summary()
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console = Console()
    overview = Table(title=f"Data set: {Path(dataset.name).name or dataset.name}", show_header=False)
    overview.add_row("readers", f"{summary['users']:,}")
    overview.add_row("books", f"{summary['books']:,}")
    overview.add_row("ratings", f"{summary['ratings']:,}")
    if summary["to_read"]:
        overview.add_row(
            "wants to read", f"{summary['to_read']:,} pairs ({dataset.wants_from}; the ranking model's)"
        )
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
