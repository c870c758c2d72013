"""``bookrec app``: serve the web app (Streamlit) on a model."""

from __future__ import annotations

import errno
import importlib.util
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from bookrec.cli import app
from bookrec.cli._options import HelpCommand
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


@app.command("app", cls=HelpCommand)
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
    _check_port_free(host, port)
    typer.echo(f"bookrec app: http://{host}:{port} (Ctrl-C stops it)", err=True)
    code = _serve(streamlit_command(port, host), env)
    if code != 0:
        raise typer.Exit(128 - code if code < 0 else code)  # killed by signal N: the shell's 128 + N


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line when ``host:port`` cannot be listened on (in use), before Streamlit says so.

    Binds as Streamlit's server does (``SO_REUSEADDR``, so a port in TIME_WAIT counts as free) and lets go
    at once; a program that takes the port in between still makes Streamlit fail, which is rare.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as error:
        raise BookrecError(f"cannot serve on --host {host!r}: {error}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            reason = "in use (another app?)" if error.errno == errno.EADDRINUSE else error.strerror
            raise BookrecError(
                f"cannot serve on {host}:{port}: {reason}; choose another with --port"
            ) from None


def _serve(command: list[str], env: dict[str, str]) -> int:
    """Run Streamlit until it stops, forwarding SIGTERM so that stopping bookrec stops it too.

    Without this, ``kill PID`` (a service manager, a container stop) ended bookrec and left Streamlit
    running, orphaned, still holding the port.
    """
    process = subprocess.Popen(command, env=env)

    def forward(signum: int, _frame: object) -> None:
        process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        return process.wait()  # retried after the handler runs; returns once Streamlit has stopped
    except KeyboardInterrupt:
        # Ctrl-C at a terminal reached Streamlit too (same process group); SIGINT sent to bookrec alone
        # did not: give it a moment, then ask it to stop, then make it.
        _stop(process)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Let a child that was told to stop finish; terminate it after 2 s, kill it after 10 more."""
    for action, wait_s in ((None, 2.0), (process.terminate, 10.0), (process.kill, None)):
        if action is not None:
            action()
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
