"""``bookrec app``: serve the web app (Streamlit) on a model."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from bookrec.cli import app
from bookrec.errors import BookrecError, ModelFileError

_INSTALL = "pip install 'bookrec[app]'"


def streamlit_command(port: int, host: str) -> list[str]:
    """The ``streamlit run`` command line for the packaged app (an argument list, never a shell string)."""
    from bookrec.app import MAIN_SCRIPT

    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(MAIN_SCRIPT),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        # Served, not developed: no file watcher, no usage statistics, and no tracebacks in the page.
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",
        "--client.toolbarMode",
        "viewer",
    ]


def _check_installed() -> None:
    missing = [name for name in ("streamlit", "plotly") if importlib.util.find_spec(name) is None]
    if missing:
        raise BookrecError(f"the app needs {' and '.join(missing)}, which is not installed: {_INSTALL}")


@app.command("app")
def serve_app(
    model: Annotated[
        Path | None,
        typer.Argument(
            help="A model folder. Default: the last trained model (none: the app says how to train one)."
        ),
    ] = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to serve on.")] = 8501,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; 0.0.0.0 serves the whole network (no login!)."),
    ] = "127.0.0.1",
) -> None:
    """Open the web app: similar books, your next read, a map of books, and what the model knows.

    Serves on http://127.0.0.1:8501 until Ctrl-C. The model is loaded once and shared by every visitor.

    Examples:

      bookrec app                          # the last trained model

      bookrec app models/default --port 8600
    """
    _check_installed()
    from bookrec.app import MODEL_ENV

    env = dict(os.environ)
    if model is not None:
        if not model.is_dir():
            raise ModelFileError(
                f"{model}: no such model folder (train one with `bookrec train --out {model}`)"
            )
        env[MODEL_ENV] = str(model.resolve())
    else:
        env.pop(MODEL_ENV, None)
    typer.echo(f"bookrec app: http://{host}:{port} (Ctrl-C stops it)", err=True)
    process = subprocess.Popen(streamlit_command(port, host), env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached Streamlit too (same process group): let it shut down, then stop.
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if code != 0:
        raise typer.Exit(code)
