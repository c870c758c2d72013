"""The ``bookrec`` command line: thin Typer commands over the library.

Every command parses its options, calls one library function and prints. A ``BookrecError`` becomes one
line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._click import exceptions as click_errors
from typer.core import TyperGroup

from bookrec.cli import _errors
from bookrec.errors import BookrecError


class _BookrecGroup(TyperGroup):
    """Every failure of every command becomes one line on stderr, never a traceback or a framed box.

    A ``BookrecError`` or a failed file operation (``OSError``: a read-only folder, a full disk) exits
    with status 2, as does a usage error; an unexpected error (a bug) exits with 1 and says how to see its
    traceback (``BOOKREC_DEBUG=1``).
    """

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click_errors.ClickException, typer.Exit, typer.Abort):
            raise
        except BookrecError as error:
            typer.echo(f"error: {error}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            ctx.exit(130)
        except OSError as error:
            if _errors.debugging():
                raise
            typer.echo(f"error: {_errors.os_message(error)}", err=True)
            ctx.exit(2)
        except Exception as error:
            if _errors.debugging():
                raise
            typer.echo(f"error: {_errors.internal_message(error)}", err=True)
            ctx.exit(1)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run with Typer's own error display off, to print usage errors as one line (two at most)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except click_errors.UsageError as error:
            typer.echo(f"error: {_errors.usage_message(error, argv)}", err=True)
            typer.echo(_errors.usage_hint(error), err=True)
            sys.exit(2)
        except click_errors.ClickException as error:
            typer.echo(f"error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        # Without standalone mode a command's return value comes back; an Exit's code comes back as an int.
        sys.exit(code if isinstance(code, int) else 0)


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
