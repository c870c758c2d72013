"""``bookrec similar``, ``bookrec recommend`` and ``bookrec explore``: questions to a trained model."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bookrec.cli import app
from bookrec.cli._options import SYNTHETIC_NOTE, HelpCommand
from bookrec.errors import BookrecError, UnknownBookError

if TYPE_CHECKING:
    from bookrec.recommender import Recommender
    from bookrec.results import BookResult, TitleMatch

K = Annotated[int, typer.Option("-k", "--k", min=1, metavar="N", help="How many books to list.")]
MinRatings = Annotated[
    int,
    typer.Option(
        "--min-ratings", min=0, metavar="N", help="Leave out books with fewer training ratings than this."
    ),
]
Genre = Annotated[
    list[str] | None,
    typer.Option(
        "--genre",
        metavar="GENRE",
        help="Keep only books of this genre (fantasy, romance, non-fiction, ...; `bookrec explore genres` "
        "lists them). Repeat for any of several.",
    ),
]
AsJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print a JSON list of objects (book_id, title, authors, score, because, match, ...), each with "
        "the books the titles were taken to be (matched: book_id, title, authors, score).",
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


def _load(model: str | None) -> Recommender:
    """The model folder, with the SYNTHETIC note on stderr when it learned from synthetic ratings (stdout
    stays a clean table or JSON)."""
    from bookrec.recommender import Recommender

    recommender = Recommender.load(model)
    if recommender.synthetic:
        typer.echo(SYNTHETIC_NOTE, err=True)
    return recommender


def _note_guesses(matched: Sequence[TitleMatch]) -> None:
    """Say on stderr which book a title was taken to be when it was not the exact title (a typo, a part)."""
    for found in matched:
        if found.score < 100:
            typer.echo(
                f'note: "{found.query}" taken as "{found.title}" by {_short_authors(found.authors)} '
                f"({found.matched_on} match {found.score:.0f}/100)",
                err=True,
            )


def _check_not_empty(
    results: list[BookResult], recommender: Recommender, min_ratings: int, genres: Sequence[str] | None = None
) -> None:
    """An empty answer is an error that says why, rather than an empty table."""
    if results:
        return
    if genres:
        raise BookrecError(
            f"no book of {', '.join(genres)} with at least {min_ratings:,} ratings is left to list "
            "(lower --min-ratings, or add a --genre)"
        )
    most = int(recommender.books_table["n_ratings"].max()) if recommender.n_books else 0
    if min_ratings > most:
        raise BookrecError(
            f"no book has at least {min_ratings:,} ratings; the most rated has {most:,} (lower --min-ratings)"
        )
    raise BookrecError(f"no book left to list: every book with at least {min_ratings:,} ratings is left out")


def _print(
    results: list[BookResult],
    *,
    title: str,
    score_label: str,
    as_json: bool,
    because: bool,
    head: dict[str, Any] | None = None,
) -> None:
    """A table, or with ``--json`` a list of objects, one per result (the shape scripts rely on), each
    carrying ``head``: what was asked, as understood (the matched books, or the reader)."""
    if as_json:
        rows = [r.to_dict() | (head or {}) for r in results]
        typer.echo(json.dumps(rows, ensure_ascii=False))
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


@app.command(cls=HelpCommand)
def similar(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[MODEL] BOOK",
            help="A model folder (default: the last trained) and a book: its title (typos, part of it, its "
            "original title, its series or author will do) or its id (e.g. 26 or id:26).",
            show_default=False,
        ),
    ],
    k: K = 10,
    min_ratings: MinRatings = 0,
    genre: Genre = None,
    as_json: AsJson = False,
) -> None:
    """Books most like one you enjoyed: cosine similarity of the learned book vectors.

    A title that is not exact is matched by spelling and by how much each book is read; a note on stderr says
    which book it was taken to be, and a title that fits no book, or several alike, is an error that lists
    the closest.

    Examples:

      bookrec similar "The Da Vinci Code" -k 5

      bookrec similar models/default "the hobit"       # small typos are fine

      bookrec similar 26 --min-ratings 100 --json

      bookrec similar "The Hobbit" --genre young-adult
    """

    model, (book,) = _split_model(args, 1, "[MODEL] BOOK")
    recommender = _load(model)
    results = recommender.similar(book, k, min_ratings=min_ratings, genres=genre or ())
    (matched,) = results.matched
    _note_guesses(results.matched)
    _check_not_empty(results, recommender, min_ratings, genre)
    _print(
        results,
        title=f"Books like {matched.title}",
        score_label="similarity",
        as_json=as_json,
        because=False,
        head={"matched": matched.to_dict()},
    )


def _parse_liked(values: Sequence[str], recommender: Recommender) -> dict[str, float | None]:
    """``"The Hobbit=5"`` is a book with stars (on the model's rating scale); ``"Inferno"`` a book liked.

    Raises:
        BookrecError: STARS is not a number on the scale (one line, naming --liked and the value).
    """
    lo, hi = recommender.rating_scale
    liked: dict[str, float | None] = {}
    for value in values:
        name, sep, stars = value.rpartition("=")
        if not sep:
            liked[value.strip()] = None
            continue
        try:
            rating = float(stars)
        except ValueError:
            if _is_exact_title(recommender, value):  # a title with "=" in it ("E=mc²")
                liked[value.strip()] = None
                continue
            raise BookrecError(
                f'--liked "{value}": expected TITLE or TITLE=STARS with STARS a number from {lo:g} to {hi:g}'
            ) from None
        if not name.strip():
            raise BookrecError(f'--liked "{value}": expected TITLE or TITLE=STARS, the title is missing')
        if not (math.isfinite(rating) and lo <= rating <= hi):
            raise BookrecError(
                f'--liked "{value}": STARS must be between {lo:g} and {hi:g}, got {stars.strip()}'
            )
        liked[name.strip()] = rating
    return liked


def _is_exact_title(recommender: Recommender, text: str) -> bool:
    try:
        return recommender.find_book(text).score == 100
    except UnknownBookError:
        return False


@app.command(cls=HelpCommand)
def recommend(
    model: Annotated[
        Path | None,
        typer.Argument(
            metavar="[MODEL]", help="Model folder (default: the last trained model).", show_default=False
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", metavar="ID", help="A reader id from the training data.")
    ] = None,
    liked: Annotated[
        list[str] | None,
        typer.Option(
            "--liked",
            metavar="TITLE[=STARS]",
            help='A book a new reader liked, by title or id; "TITLE=STARS" adds stars on the model\'s '
            "rating scale. Repeat.",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="TITLE", help="A book already read, to leave out. Repeat."),
    ] = None,
    k: K = 10,
    min_ratings: MinRatings = 0,
    genre: Genre = None,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            metavar="match|rating",
            help="match: ordered by the ranking model, from what readers read (the default); rating: the "
            "highest predicted rating first (the blog's order).",
        ),
    ] = "match",
    as_json: AsJson = False,
) -> None:
    """What to read next: for a known reader (--user), or for a new one who names books they liked (--liked).

    A new reader is folded into the model without retraining; each recommendation says which of their books
    it comes from, its predicted stars and (ordered by the ranking model) its match. Books already read,
    and other editions and box sets of them, are left out. Titles are matched as by `bookrec similar`.
    --genre keeps books of those genres; with --genre alone, a reader who names no book yet gets a start:
    well-liked, much-read books of each genre in turn.

    Examples:

      bookrec recommend --user 42

      bookrec recommend --liked "Inferno" --liked "The Hobbit=5" -k 5

      bookrec recommend models/default --liked "Gone Girl" \\
        --exclude "The Girl on the Train" --json

      bookrec recommend --genre fantasy --genre romance     # a start, before naming any book
    """

    if user is not None and liked:
        raise BookrecError("give either --user ID (a known reader) or --liked BOOK (a new reader), not both")
    if user is None and not liked and not genre:
        raise BookrecError(
            "give either --user ID (a known reader), one or more --liked BOOK (a new reader), or one or "
            "more --genre GENRE (a start for a reader who names no book yet)"
        )
    recommender = _load(model)
    genres = list(genre or [])
    if user is None and not liked:
        results = recommender.starter_books(genres, k, min_ratings=min_ratings, exclude=list(exclude or []))
        _note_guesses(results.excluded)
        _check_not_empty(results, recommender, min_ratings, genres)
        _print(
            results,
            title="A start in " + ", ".join(genres) + ": well-liked, much-read books",
            score_label="average reader",
            as_json=as_json,
            because=False,
            head={"from_genres": genres, "excluded": [found.to_dict() for found in results.excluded]},
        )
        return
    if user is not None:
        if exclude:
            raise BookrecError(
                "--exclude goes with --liked; a known reader's read books are left out already"
            )
        results = recommender.recommend(user, k, min_ratings=min_ratings, by=by, genres=genres)
        title = f"Next reads for reader {user}"
        head: dict[str, Any] = {"user": user}
    else:
        stars = _parse_liked(liked or [], recommender)
        answer = recommender.recommend_for(
            stars, k, min_ratings=min_ratings, exclude=list(exclude or []), by=by, genres=genres
        )
        _note_guesses(answer.matched + answer.excluded)
        results = answer
        title = "Next reads for someone who liked " + "; ".join(found.title for found in answer.matched)
        head = {
            "matched": [
                {**found.to_dict(), "stars": rating}
                for found, rating in zip(answer.matched, stars.values(), strict=True)
            ],
            "excluded": [found.to_dict() for found in answer.excluded],
        }
    _check_not_empty(results, recommender, min_ratings, genres)
    _print(results, title=title, score_label="predicted", as_json=as_json, because=True, head=head)


@app.command(cls=HelpCommand)
def explore(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[MODEL] WHAT",
            help="A model folder (default: the last trained) and what to show: biases, map or genres.",
            show_default=False,
        ),
    ],
    lowest: Annotated[
        bool,
        typer.Option("--lowest/--highest", help="biases: the most disliked books instead of the most liked."),
    ] = False,
    out: Annotated[Path, typer.Option("--out", metavar="PNG", help="map: the PNG to write.")] = Path(
        "book-map.png"
    ),
    n_books: Annotated[
        int, typer.Option("--books", min=3, metavar="N", help="map: how many of the most-rated books.")
    ] = 500,
    k: K = 15,
    min_ratings: MinRatings = 0,
    as_json: AsJson = False,
) -> None:
    """Look inside a model: book biases (loved or disliked beyond taste), a map of books (PCA), or the
    genres its books carry (from goodbooks' shelves; what --genre takes).

    The map is a PNG drawn with matplotlib (bookrec's plot extra).

    Examples:

      bookrec explore biases                  # books liked more than readers' tastes explain

      bookrec explore biases --lowest --min-ratings 500

      bookrec explore models/default map --out map.png --books 1000

      bookrec explore genres --json
    """

    model, (what,) = _split_model(args, 1, "[MODEL] biases|map|genres")
    if what not in ("biases", "map", "genres"):
        raise BookrecError(f"explore what? expected biases, map or genres, got {what!r}")
    if what == "map":
        from bookrec.plots import require_matplotlib

        require_matplotlib()
    recommender = _load(model)
    if what == "genres":
        _print_genres(recommender.genres(), as_json)
        return
    if what == "biases":
        which = "lowest" if lowest else "highest"
        results = recommender.biases(which, k, min_ratings=min_ratings)
        _check_not_empty(results, recommender, min_ratings)
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
                    "vectors": frame.attrs["vectors"],
                }
            )
        )
    else:
        variance = ", ".join(f"{v:.0%}" for v in frame.attrs["explained_variance"])
        source = (
            " (the ranking model's book factors: the rating model is biases alone)"
            if frame.attrs["vectors"] == "ranking"
            else ""
        )
        typer.echo(
            f"wrote {written}: {len(frame):,} books{source}; the 3 components explain {variance} of the "
            "variance"
        )


def _print_genres(genres: dict[str, int], as_json: bool) -> None:
    """The genres and their books' counts (a table, or JSON: a list of {genre, books})."""
    if as_json:
        typer.echo(json.dumps([{"genre": name, "books": count} for name, count in genres.items()]))
        return
    if not genres:
        raise BookrecError(
            "this model's books have no genres: its data had no tags.csv and book_tags.csv (goodbooks-10k "
            "and `bookrec synth` have them), or it was trained before bookrec read them; retrain it"
        )
    table = Table(title=f"{len(genres)} genres (for --genre)")
    table.add_column("genre")
    table.add_column("books", justify="right")
    for name, count in genres.items():
        table.add_row(name, f"{count:,}")
    Console().print(table)
