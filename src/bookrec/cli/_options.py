"""Options shared by every command that reads ratings (the "data options")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bookrec.data import DataSource

_PANEL = "Data options"

DataPath = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="goodbooks-10k as the release zip or its folder. Default: the copy `bookrec download` made.",
        rich_help_panel=_PANEL,
    ),
]
RatingsFile = Annotated[
    Path | None,
    typer.Option(
        "--ratings",
        help="Any ratings CSV instead of goodbooks (MovieLens, Book-Crossing, ...), on its own rating scale.",
        rich_help_panel=_PANEL,
    ),
]
UserCol = Annotated[
    str, typer.Option("--user-col", help="Reader id column of --ratings.", rich_help_panel=_PANEL)
]
ItemCol = Annotated[
    str, typer.Option("--item-col", help="Book (item) id column of --ratings.", rich_help_panel=_PANEL)
]
RatingCol = Annotated[
    str, typer.Option("--rating-col", help="Rating column of --ratings.", rich_help_panel=_PANEL)
]
Sep = Annotated[
    str,
    typer.Option("--sep", help="Field separator of --ratings, e.g. ';' or '\\t'.", rich_help_panel=_PANEL),
]
Encoding = Annotated[
    str, typer.Option("--encoding", help="Text encoding of --ratings and --books.", rich_help_panel=_PANEL)
]
BooksFile = Annotated[
    Path | None,
    typer.Option(
        "--books",
        help="Titles for --ratings: a CSV with the item id column and a title column.",
        rich_help_panel=_PANEL,
    ),
]
Limit = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=1,
        help="Use only the first N ratings (the blog's prototype used 100000).",
        rich_help_panel=_PANEL,
    ),
]


def data_source(
    data: Path | None,
    ratings: Path | None,
    user_col: str,
    item_col: str,
    rating_col: str,
    sep: str,
    encoding: str,
    books: Path | None,
    limit: int | None,
) -> DataSource:
    """Build the DataSource that the data options describe."""
    return DataSource.from_options(
        data=data,
        ratings=ratings,
        user_col=user_col,
        item_col=item_col,
        rating_col=rating_col,
        sep=sep,
        encoding=encoding,
        books=books,
        limit=limit,
    )
