"""``bookrec synth``: write a goodbooks-shaped data set with synthetic ratings."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bookrec.cli import app
from bookrec.cli._options import HelpCommand
from bookrec.data._synthetic import N_BOOKS, N_RATINGS, N_USERS
from bookrec.errors import ConfigError

if TYPE_CHECKING:
    from bookrec.data.synth import SynthProgress


@app.command(cls=HelpCommand)
def synth(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Folder to write; created if needed. An earlier `bookrec synth` folder there is replaced.",
        ),
    ],
    users: Annotated[
        int,
        typer.Option("--users", metavar="N", help="Readers (user_id 1..N), each with at least 2 ratings."),
    ] = N_USERS,
    books: Annotated[
        int, typer.Option("--books", metavar="M", help="Books (book_id 1..M), each rated at least once.")
    ] = N_BOOKS,
    ratings: Annotated[
        int,
        typer.Option(
            "--ratings", metavar="R", help="Ratings, exactly: at least 2 per reader, at most readers × books."
        ),
    ] = N_RATINGS,
    books_csv: Annotated[
        Path | None,
        typer.Option(
            "--books-csv",
            metavar="FILE",
            help="A goodbooks books.csv: its first M books (real titles, authors, years) become books.csv.",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", metavar="S", help="Seed; the same options and seed give the same files.")
    ] = 0,
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            metavar="1-5|1-10",
            help="Rating scale. 1-5: stars in goodbooks' shares (2/6/23/36/33%). 1-10: points in "
            "Book-Crossing's shares (few below 5, a spike at 5, most at 7-10); the folder's README.txt "
            "records it, so `--data DIR` reads the folder on its own scale.",
        ),
    ] = "1-5",
    reader_tail: Annotated[
        float,
        typer.Option(
            "--reader-tail",
            metavar="T",
            help="0..1: how many readers rate only a few books. 0: goodbooks' even spread (every reader "
            "between 2 and about twice the mean). 1: a long tail, as on an open book site: at the default "
            "sizes the median reader rates 4 books and the busiest thousands (0.5: median 25). The total "
            "stays --ratings.",
        ),
    ] = 0.0,
    taste_strength: Annotated[
        float,
        typer.Option(
            "--taste-strength",
            metavar="S",
            help="0..1: how much the ratings follow readers' planted taste. 1: goodbooks-like, a factor "
            "model clearly beats biases alone. Lower: ratings and the choice of books carry less taste and "
            "more bias and noise, so every model has less to learn. 0: no taste at all.",
        ),
    ] = 1.0,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            metavar="goodbooks|ucsd",
            help="Files to write. goodbooks: the goodbooks-10k release's. ucsd: the UCSD Goodreads Book "
            "Graph's (goodreads_interactions.csv with rating-0 shelf events, book_id_map.csv, "
            "user_id_map.csv, goodreads_books.json.gz, goodreads_book_authors.json.gz), from the same draws; "
            "`--data DIR` reads either.",
        ),
    ] = "goodbooks",
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Show a progress bar. Default: when stderr is a terminal."
        ),
    ] = None,
) -> None:
    """Write a goodbooks-shaped data set whose ratings are SYNTHETIC (drawn at random, not real readers').

    The folder gets the release's files and columns (ratings.csv, books.csv, to_read.csv, tags.csv,
    book_tags.csv) and a README.txt saying the ratings are synthetic. The defaults are the real sizes:
    53,424 readers, 10,000 books, 5,976,479 ratings (a few seconds). Ratings come from a planted model
    (reader and book biases plus taste vectors, 1-5 stars in the real shares: 2/6/23/36/33%); books by one
    author, series, era or language lie close, so a factor model beats biases alone and similar-book lists
    look sensible. Without --books-csv the books are placeholders ("Synthetic Book 17").

    Shelves (tags.csv, book_tags.csv) are synthetic too: every planted taste cluster gets a genre shelf
    (fantasy, romance, non-fiction, ...) that is its books' strongest genre, so a genre filter picks the
    books of one taste.

    Three knobs make data like a sparse book site instead (defaults: goodbooks-like, and the same files
    as before these knobs existed): --scale 1-10 for points, --reader-tail for many light readers,
    --taste-strength for a weaker signal.

    Examples:

      bookrec synth --out data/synth --books-csv ../shared/data/goodbooks/books.csv

      bookrec synth --out /tmp/small --users 1000 --books 500 --ratings 50000 --seed 1

      bookrec synth --out /tmp/sparse --scale 1-10 --reader-tail 1 --taste-strength 0.5

      bookrec synth --out /tmp/ucsd --layout ucsd --users 214000 --ratings 24000000

    Then use it like the real data: bookrec info --data data/synth
    """
    from bookrec.data.synth import generate_goodbooks  # numba: only when data is made

    rating_max = _scale_top(scale)
    show = sys.stderr.isatty() if progress is None else progress
    with _progress_bar(show) as report_progress:
        report = generate_goodbooks(
            out,
            n_users=users,
            n_books=books,
            n_ratings=ratings,
            books_csv=books_csv,
            seed=seed,
            rating_max=rating_max,
            reader_tail=reader_tail,
            taste_strength=taste_strength,
            progress=report_progress,
            layout=layout.strip(),
        )
    kind = "real goodbooks books" if report.real_books else "placeholder books"
    typer.echo(
        f"Wrote {report.n_ratings:,} SYNTHETIC ratings by {report.n_users:,} readers of {report.n_books:,} "
        f"{kind} (seed {report.seed}) to {report.out_dir}"
    )
    if report.layout == "ucsd":
        typer.echo(f"  plus {report.n_to_read:,} shelf events (rating 0), in the UCSD layout; see README.txt")
    else:
        typer.echo(
            f"  plus {report.n_to_read:,} to-read pairs and {report.n_book_tags:,} book tags; see README.txt"
        )


def _scale_top(scale: str) -> int:
    """The top of a --scale value: "1-5" -> 5, "1-10" -> 10."""
    tops = {"1-5": 5, "1-10": 10}
    if scale.strip() not in tops:
        raise ConfigError(f"--scale must be 1-5 or 1-10; got {scale!r}.")
    return tops[scale.strip()]


@contextmanager
def _progress_bar(shown: bool) -> Iterator[SynthProgress | None]:
    """A transient bar of the drawing stages on stderr, fed by the callback this yields (None: no bar)."""
    if not shown:
        yield None
        return
    from tqdm import tqdm

    bars: list[tqdm] = []

    def report(stage: str, done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc="synth", unit="step", file=sys.stderr, leave=False))
        bar = bars[0]
        bar.update(done - bar.n)
        bar.set_postfix_str(stage)

    try:
        yield report
    finally:
        for bar in bars:
            bar.close()
