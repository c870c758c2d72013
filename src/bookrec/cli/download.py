"""``bookrec download``: fetch goodbooks-10k into the cache."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from bookrec.cli import app
from bookrec.cli._options import HelpCommand
from bookrec.data.download import (
    GOODBOOKS_SHA256,
    GOODBOOKS_URL,
    DownloadProgress,
    download_goodbooks,
    goodbooks_ready,
)
from bookrec.data.paths import goodbooks_dir


@app.command(cls=HelpCommand)
def download(
    url: Annotated[
        str,
        typer.Option(
            "--url",
            metavar="URL",
            show_default=False,
            help="Fetch the release zip from this http(s) mirror. Default: the official release on GitHub.",
        ),
    ] = GOODBOOKS_URL,
    sha256: Annotated[
        str,
        typer.Option(
            "--sha256",
            metavar="HEX",
            show_default=False,
            help="The zip's expected SHA-256, 64 hex digits. Default: the published hash of the release.",
        ),
    ] = GOODBOOKS_SHA256,
    force: Annotated[
        bool, typer.Option("--force", help="Download and unpack again even when the data is already there.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="S", help="Give up when the server stays silent for S seconds."),
    ] = 60.0,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            metavar="N",
            min=0,
            help="Try N more times after a time-out, a lost connection or a server error (5xx).",
        ),
    ] = 3,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Show a progress bar. Default: when stderr is a terminal."
        ),
    ] = None,
    local: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="FILE",
            show_default=False,
            help="Install a local copy instead (the release zip, checked against --sha256, or its folder); "
            "no network.",
        ),
    ] = None,
) -> None:
    """Download goodbooks-10k (6 million ratings of 10,000 books) and unpack it into the cache.

    The data lands in $BOOKREC_HOME/goodbooks-10k, or in your user cache folder when BOOKREC_HOME is not
    set; every other command reads it from there when no --data is given. The zip is checked against its
    SHA-256 before anything is unpacked, and the previous copy is replaced only by a complete one: a failed
    download never spoils the cache. When the data is already there nothing is fetched, unless --force.

    Examples:

      bookrec download                                  # the official release, from GitHub

      bookrec download --url https://example.org/mirror/goodbooks-10k.zip

      BOOKREC_HOME=/data/bookrec bookrec download       # somewhere else than the user cache

      bookrec download --from ~/Downloads/goodbooks-10k.zip   # no network: a copy fetched elsewhere

    A "checksum mismatch" means the server sent a different file than the one published. If you trust it
    (e.g. your own mirror), rerun with --sha256 and the hash the error names. Without network access,
    download the zip elsewhere and install it with --from FILE (later commands then need no --data), or
    point each command at it: bookrec info --data goodbooks-10k.zip
    """
    dest = goodbooks_dir()
    if local is not None:
        from bookrec.data.install import install_goodbooks

        folder = install_goodbooks(local, sha256, dest=dest)
        typer.echo(f"goodbooks-10k is ready in {folder} (from {local})")
        return
    if goodbooks_ready(dest) and not force:
        typer.echo(f"goodbooks-10k is already in {dest} (--force downloads it again)")
        return
    show = sys.stderr.isatty() if progress is None else progress
    with _progress_bar(show) as report_progress:
        folder = download_goodbooks(
            url, sha256, dest=dest, progress=report_progress, timeout=timeout, retries=retries, force=force
        )
    typer.echo(f"goodbooks-10k is ready in {folder}")


@contextmanager
def _progress_bar(shown: bool) -> Iterator[DownloadProgress | None]:
    """A bytes bar on stderr, fed by the callback this yields (None: no bar); it stays once complete.

    The bar appears with the first bytes, so nothing is drawn when the kept zip is unpacked again.
    """
    if not shown:
        yield None
        return
    from tqdm import tqdm

    bars: list[tqdm] = []

    def report(received: int, total: int) -> None:
        if not bars:
            # As pooch drew it: ASCII on Windows, whose consoles may lack the block characters.
            windows = sys.platform == "win32"
            bars.append(
                tqdm(total=total or None, unit="B", unit_scale=True, ncols=79, ascii=windows, file=sys.stderr)
            )
        bar = bars[0]
        if received < bar.n or bar.total != (total or None):
            bar.reset(total=total or None)  # a new attempt after a failed one
        bar.update(received - bar.n)

    try:
        yield report
    finally:
        for bar in bars:
            bar.close()
