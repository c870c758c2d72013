"""One line for every usage error (wrong type, unknown option, missing argument) and for any other failure.

Typer draws a usage error as a framed box of six lines or more; a user reads one sentence naming the flag,
what it must be and what was typed, with at most a second line saying where the help is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from typer._click import exceptions as click_errors

DEBUG_ENV = "BOOKREC_DEBUG"
"""Set to 1 to see the traceback of an unexpected error instead of its one line."""

# Pydantic's error types (Typer converts values with pydantic) as "must be ..." phrases.
_KINDS = {
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
}
_BOUNDS = {"ge": "at least", "gt": "above", "le": "at most", "lt": "below"}


def usage_message(error: click_errors.UsageError, args: Sequence[str]) -> str:
    """The error's one line (without "error: "), naming the flag as the user typed it."""
    if isinstance(error, click_errors.MissingParameter) and error.param is not None:
        kind = "argument" if error.param.param_type_name == "argument" else "option"
        return f"missing {kind} {_name(error.param, args)}"
    if isinstance(error, click_errors.BadParameter) and error.param is not None:
        return f"{_name(error.param, args)} {_bad_value(error)}"
    if isinstance(error, click_errors.NoSuchOption):
        close = f" (did you mean {' or '.join(sorted(error.possibilities))}?)" if error.possibilities else ""
        return f"no such option {error.option_name}{close}"
    if isinstance(error, click_errors.BadOptionUsage):
        return f"{error.option_name} needs a value"
    message = error.format_message().strip().rstrip(".")
    return message[:1].lower() + message[1:]


def usage_hint(error: click_errors.UsageError) -> str:
    """The second line: where the command's help is."""
    ctx = error.ctx
    command = ctx.command_path if ctx is not None else "bookrec"
    return f"see '{command} --help'"


def _name(param: Any, args: Sequence[str]) -> str:
    """The flag the user typed (``-k`` or ``--k``), or an argument's metavar (``MODEL``)."""
    if param.param_type_name == "argument":
        return str(param.metavar or param.name or "argument").upper()
    opts = list(param.opts) + list(param.secondary_opts)
    for arg in args:
        for opt in opts:
            if arg == opt or arg.startswith(f"{opt}="):
                return opt
    return max(opts, key=len) if opts else str(param.name)


def _bad_value(error: click_errors.BadParameter) -> str:
    """What is wrong with the value ("must be a whole number, got 'abc'"), from pydantic's error if any."""
    cause = error.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        details = errors()
        if details:
            detail = details[0]
            kind, given, ctx = detail.get("type", ""), detail.get("input"), detail.get("ctx") or {}
            if kind in _KINDS:
                wanted = _KINDS[kind]
            elif set(ctx) & set(_BOUNDS):
                wanted = " and ".join(f"{_BOUNDS[key]} {ctx[key]}" for key in _BOUNDS if key in ctx)
            elif "expected" in ctx:
                wanted = f"one of {ctx['expected']}"
            else:
                wanted = str(detail.get("msg", "valid")).removeprefix("Input should be ")
            return f"must be {wanted}, got {given!r}"
    message = str(error.message).strip().rstrip(".")
    return f"is not valid: {message[:1].lower() + message[1:]}"


def internal_message(error: BaseException) -> str:
    """One line for a bug: what happened, how to see the traceback, and to report it."""
    first = str(error).splitlines()[0] if str(error) else ""
    what = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return f"internal error ({what[:300]}); please report it, with the traceback that {DEBUG_ENV}=1 shows"


def os_message(error: OSError) -> str:
    """One line for a failed file operation: the file and the system's reason."""
    where = f"{error.filename}: " if error.filename else ""
    if error.filename2:
        where = f"{error.filename} -> {error.filename2}: "
    reason = error.strerror or str(error) or type(error).__name__
    return f"{where}{reason[:1].lower() + reason[1:]}"


def debugging() -> bool:
    """Whether the user asked for tracebacks (``BOOKREC_DEBUG=1``)."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")
