"""``bookrec similar``, ``bookrec recommend`` and ``bookrec explore``: questions to a trained model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from bookrec.cli import app
from bookrec.errors import BookrecError

if TYPE_CHECKING:
    from bookrec.results import BookResult

K = Annotated[int, typer.Option("-k", "--k", min=1, help="How many books to list.")]
MinRatings = Annotated[
    int, typer.Option("--min-ratings", min=0, help="Leave out books with fewer training ratings than this.")
]
AsJson = Annotated[
    bool,
    typer.Option(
        "--json", help="Print a JSON list of objects (book_id, title, authors, score, because, match, ...)."
    ),
]


def _split_model(args: Sequence[str], wanted: int, usage: str) -> tuple[str | None, list[str]]:
    """Positional arguments are ``[MODEL] REST...``: MODEL is present when there are more than ``wanted``."""
    if len(args) == wanted:
        return None, list(args)
    if len(args) == wanted + 1:
        return args[0], list(args[1:])
    raise BookrecError(f"expected {usage}")


def _short_authors(authors: str, keep: int = 2) -> str:
    """The first authors of a long list (anthologies list dozens), for a table cell."""
    names = [name.strip() for name in authors.split(",") if name.strip()]
    return ", ".join(names[:keep]) + (f" and {len(names) - keep} more" if len(names) > keep else "")


def _print(results: list[BookResult], *, title: str, score_label: str, as_json: bool, because: bool) -> None:
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
        return
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("title")
    table.add_column("authors")
    table.add_column("year", justify="right")
    table.add_column(score_label, justify="right")
    matched = any(r.match is not None for r in results)
    if matched:
        table.add_column("match", justify="right")
    if because:
        table.add_column("because you liked")
    for rank, result in enumerate(results, start=1):
        row = [
            str(rank),
            result.title,
            _short_authors(result.authors),
            "" if result.year is None else str(result.year),
            f"{result.score:.3f}",
        ]
        if matched:
            row.append("" if result.match is None else f"{result.match:.3f}")
        if because:
            row.append("; ".join(result.because))
        table.add_row(*row)
    Console().print(table)


@app.command()
def similar(
    args: Annotated[
        list[str],
        typer.Argument(
            help="[MODEL] BOOK: a model folder (default: the last trained) "
            "and a book title (fuzzy) or id (e.g. 26 or id:26).",
            show_default=False,
        ),
    ],
    k: K = 10,
    min_ratings: MinRatings = 0,
    as_json: AsJson = False,
) -> None:
    """Books most like one you enjoyed: cosine similarity of the learned book vectors.

    Examples:

      bookrec similar "The Da Vinci Code" -k 5

      bookrec similar models/default "the hobit"       # small typos are fine

      bookrec similar 26 --min-ratings 100 --json
    """
    from bookrec.recommender import Recommender

    model, (book,) = _split_model(args, 1, "[MODEL] BOOK")
    recommender = Recommender.load(model)
    anchor = recommender.book(book)
    results = recommender.similar(book, k, min_ratings=min_ratings)
    _print(
        results, title=f"Books like {anchor.title}", score_label="similarity", as_json=as_json, because=False
    )


def _parse_liked(values: Sequence[str]) -> dict[str, float | None]:
    """``"The Hobbit=5"`` is a book with stars; ``"Inferno"`` a book liked without stars."""
    liked: dict[str, float | None] = {}
    for value in values:
        name, sep, stars = value.rpartition("=")
        if sep and name.strip():
            try:
                liked[name.strip()] = float(stars)
                continue
            except ValueError:
                pass
        liked[value.strip()] = None
    return liked


@app.command()
def recommend(
    model: Annotated[
        Path | None,
        typer.Argument(help="Model folder (default: the last trained model).", show_default=False),
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="A reader id from the training data.")] = None,
    liked: Annotated[
        list[str] | None,
        typer.Option(
            "--liked", help='A book a new reader liked, by title or id; "TITLE=STARS" adds stars. Repeat.'
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="A book already read, to leave out. Repeat.")
    ] = None,
    k: K = 10,
    min_ratings: MinRatings = 0,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="match: ordered by the ranking model, from what readers read (the default); rating: the "
            "highest predicted rating first (the blog's order).",
        ),
    ] = "match",
    as_json: AsJson = False,
) -> None:
    """What to read next: for a known reader (--user), or for a new one who names books they liked (--liked).

    A new reader is folded into the model without retraining; each recommendation says which of their books
    it comes from, its predicted stars and (ordered by the ranking model) its match. Books already read,
    and other editions and box sets of them, are left out.

    Examples:

      bookrec recommend --user 42

      bookrec recommend --liked "Inferno" --liked "The Hobbit=5" -k 5

      bookrec recommend models/default --liked "Gone Girl" --exclude "The Girl on the Train" --json
    """
    from bookrec.recommender import Recommender

    if (user is None) == (not liked):
        raise BookrecError(
            "give either --user ID (a known reader) or one or more --liked BOOK (a new reader)"
        )
    recommender = Recommender.load(model)
    if user is not None:
        if exclude:
            raise BookrecError(
                "--exclude goes with --liked; a known reader's read books are left out already"
            )
        results = recommender.recommend(user, k, min_ratings=min_ratings, by=by)
        title = f"Next reads for reader {user}"
    else:
        results = recommender.recommend_for(
            _parse_liked(liked or []), k, min_ratings=min_ratings, exclude=list(exclude or []), by=by
        )
        title = "Next reads for someone who liked " + "; ".join(liked or [])
    _print(results, title=title, score_label="predicted", as_json=as_json, because=True)


@app.command()
def explore(
    args: Annotated[
        list[str],
        typer.Argument(
            help="[MODEL] WHAT: a model folder (default: the last trained) and biases or map.",
            show_default=False,
        ),
    ],
    lowest: Annotated[
        bool,
        typer.Option("--lowest/--highest", help="biases: the most disliked books instead of the most liked."),
    ] = False,
    out: Annotated[Path, typer.Option("--out", help="map: the PNG to write.")] = Path("book-map.png"),
    n_books: Annotated[
        int, typer.Option("--books", min=3, help="map: how many of the most-rated books.")
    ] = 500,
    k: K = 15,
    min_ratings: MinRatings = 0,
    as_json: AsJson = False,
) -> None:
    """Look inside a model: book biases (loved or disliked beyond taste) or a map of books (PCA).

    The map is a PNG drawn with matplotlib (bookrec's plot extra).

    Examples:

      bookrec explore biases                  # books liked more than readers' tastes explain

      bookrec explore biases --lowest --min-ratings 500

      bookrec explore models/default map --out map.png --books 1000
    """
    from bookrec.recommender import Recommender

    model, (what,) = _split_model(args, 1, "[MODEL] biases|map")
    if what not in ("biases", "map"):
        raise BookrecError(f"explore what? expected biases or map, got {what!r}")
    if what == "map":
        from bookrec.plots import require_matplotlib

        require_matplotlib()
    recommender = Recommender.load(model)
    if what == "biases":
        which = "lowest" if lowest else "highest"
        results = recommender.biases(which, k, min_ratings=min_ratings)
        label = "Generally disliked" if lowest else "Generally loved"
        _print(
            results,
            title=f"{label} beyond readers' taste (book bias)",
            score_label="bias",
            as_json=as_json,
            because=False,
        )
        return
    from bookrec.plots import plot_book_map

    frame = recommender.book_map(n_books, min_ratings=min_ratings)
    written = plot_book_map(frame, out)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "out": str(written),
                    "books": len(frame),
                    "explained_variance": frame.attrs["explained_variance"],
                }
            )
        )
    else:
        variance = ", ".join(f"{v:.0%}" for v in frame.attrs["explained_variance"])
        typer.echo(
            f"wrote {written}: {len(frame):,} books; the 3 components explain {variance} of the variance"
        )
