"""The progress bar of a long data load: drawn from ``load_dataset``'s ``progress`` callback, on stderr.

Nothing is drawn until the loader first reports (a load from the cache never does), nor when stderr is not a
terminal, so piped and ``--json`` output stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bookrec.data._chunks import LoadProgress


@contextmanager
def load_bar(label: str = "reading ratings") -> Iterator[LoadProgress | None]:
    """A transient bar of the bytes parsed, fed by the callback this yields (None off a terminal)."""
    if not sys.stderr.isatty():
        yield None
        return
    state: dict[str, Any] = {}

    def report(done: int, total: int) -> None:
        if "bar" not in state:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(
                TextColumn(label),
                BarColumn(),
                DownloadColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(label, total=total)
        state["bar"].update(state["task"], completed=done, total=total)

    try:
        yield report
    finally:
        if "bar" in state:
            state["bar"].stop()
