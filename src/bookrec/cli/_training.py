"""What the commands that train share (train, lr-find, tune): training options and the progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from bookrec.train import TrainProgress

PANEL = "Training options"

ModelKind = Annotated[
    str,
    typer.Option(
        "--model", help="dot (matrix factorization) or nn (embeddings + MLP).", rich_help_panel=PANEL
    ),
]
Factors = Annotated[
    int | None,
    typer.Option(
        "--factors",
        metavar="K",
        help="Factors per reader and book (default: the model's measured default).",
        rich_help_panel=PANEL,
    ),
]
WeightDecay = Annotated[
    float | None, typer.Option("--wd", metavar="WD", help="Weight decay.", rich_help_panel=PANEL)
]
BatchSize = Annotated[
    int | None,
    typer.Option(
        "--bs", metavar="B", help="Batch size (default ~128 steps per epoch).", rich_help_panel=PANEL
    ),
]
ValidPct = Annotated[
    float,
    typer.Option(
        "--valid-pct", metavar="P", help="Share of ratings held out for validation.", rich_help_panel=PANEL
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed", metavar="S", help="Seed of the split, weights and shuffles.", rich_help_panel=PANEL
    ),
]
Device = Annotated[
    str,
    typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps (torch engine).", rich_help_panel=PANEL),
]


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@contextmanager
def progress_bar(wanted: bool) -> Iterator[Callable[[TrainProgress], None] | None]:
    """A transient progress bar on stderr, fed by ``train``'s ``progress`` callback that this yields.

    An epochs bar, and a batches bar below it once the engine counts batches (the torch engine does; the
    sgd engine does not). Drawn only when ``wanted`` (not for --json) and stderr is a terminal; otherwise
    this yields None and draws nothing.
    """
    if not (wanted and _stderr_is_terminal()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        epochs = bar.add_task("epochs", total=None)
        batches = bar.add_task("batches", total=None, visible=False)

        def report(progress: TrainProgress) -> None:
            bar.update(epochs, completed=progress.epochs_done, total=progress.epochs)
            if progress.batches > 0:
                name = "ranking" if progress.stage == "ranking" else "batches"
                bar.update(
                    batches,
                    description=name,
                    completed=progress.batches_done,
                    total=progress.batches,
                    visible=True,
                )

        yield report
