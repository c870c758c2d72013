"""The ``bookrec`` command line: thin Typer commands over the library.

Every command parses its options, calls one library function and prints. A ``BookrecError`` becomes one
line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from bookrec.errors import BookrecError


class _BookrecGroup(TyperGroup):
    """Turns a BookrecError raised by any command into one line on stderr and exit status 2."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BookrecError as error:
            typer.echo(f"error: {error}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            ctx.exit(130)


app = typer.Typer(
    cls=_BookrecGroup,
    name="bookrec",
    help="Book recommendations from goodbooks-10k ratings, trained in seconds on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from bookrec import __version__

        typer.echo(f"bookrec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Book recommendations from goodbooks-10k ratings, trained in seconds on a CPU.

    Start with `bookrec download` (or `bookrec synth` for synthetic data), then `bookrec info`.
    """


def _register_commands() -> None:
    """Import the command modules; each adds its commands to ``app``."""
    # Imported in the order of a user's workflow, which is the order `bookrec --help` lists them in.
    workflow = (
        "download",
        "data",
        "synth",
        "split",
        "train",
        "evaluate",
        "lr_find",
        "tune",
        "recommend",
        "app_cmd",
    )
    for module in workflow:
        importlib.import_module(f"bookrec.cli.{module}")


_register_commands()


def main() -> None:
    """Console-script entry point (``bookrec``)."""
    sys.exit(app(prog_name="bookrec"))
