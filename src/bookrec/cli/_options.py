"""What several commands share: the nine data options, declared once, and library names turned into flags.

``@with_data_options`` gives a command the data options (``--data``, ``--ratings`` and the seven that describe
a ratings file) under the "Data options" panel of its ``--help``, and hands it one ``DataOptions``; the
command builds the ``DataSource`` or loads the data from it when it is ready to (after checking its own
settings).

``flag_names()`` turns the library's field names in a ``ConfigError`` ("n_factors must be ...") into the
flags the user typed ("--factors must be ...").

``HelpCommand`` (``@app.command(cls=HelpCommand)``) makes a command's ``--help`` read well in 80 columns.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args, get_origin

import typer
from typer.core import TyperArgument, TyperCommand, TyperOption

from bookrec.errors import ConfigError, TrainingDivergedError

if TYPE_CHECKING:
    from bookrec.data import Dataset, DataSource

_PANEL = "Data options"

DataPath = Annotated[
    Path | None,
    typer.Option(
        "--data",
        metavar="PATH",
        help="goodbooks-10k as the release zip or its folder. Default: the copy `bookrec download` made.",
        rich_help_panel=_PANEL,
    ),
]
RatingsFile = Annotated[
    Path | None,
    typer.Option(
        "--ratings",
        metavar="FILE",
        help="Any ratings CSV instead of goodbooks (MovieLens, Book-Crossing, ...), on its own rating scale.",
        rich_help_panel=_PANEL,
    ),
]
UserCol = Annotated[
    str,
    typer.Option(
        "--user-col", metavar="COLUMN", help="Reader id column of --ratings.", rich_help_panel=_PANEL
    ),
]
ItemCol = Annotated[
    str,
    typer.Option(
        "--item-col", metavar="COLUMN", help="Book (item) id column of --ratings.", rich_help_panel=_PANEL
    ),
]
RatingCol = Annotated[
    str,
    typer.Option(
        "--rating-col", metavar="COLUMN", help="Rating column of --ratings.", rich_help_panel=_PANEL
    ),
]
Sep = Annotated[
    str,
    typer.Option(
        "--sep",
        metavar="TEXT",
        help="Field separator of --ratings, e.g. ';' or '\\t'.",
        rich_help_panel=_PANEL,
    ),
]
Encoding = Annotated[
    str,
    typer.Option(
        "--encoding", metavar="NAME", help="Text encoding of --ratings and --books.", rich_help_panel=_PANEL
    ),
]
BooksFile = Annotated[
    Path | None,
    typer.Option(
        "--books",
        metavar="FILE",
        help="Titles for --ratings: a CSV with the item id column and a title column.",
        rich_help_panel=_PANEL,
    ),
]
Limit = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=1,
        metavar="N",
        help="Use only the first N ratings (the blog's prototype used 100000).",
        rich_help_panel=_PANEL,
    ),
]


SYNTHETIC_NOTE = (
    "note: SYNTHETIC: this model learned from synthetic ratings (`bookrec synth`), not real readers'; "
    "its answers show the method, not what readers like"
)
"""What every command that answers from a model says on stderr when its ratings were synthetic."""


@dataclass(frozen=True)
class DataOptions:
    """The data options as the user typed them (each field's type is its option, its default the option's)."""

    data: DataPath = None
    ratings: RatingsFile = None
    user_col: UserCol = "user_id"
    item_col: ItemCol = "book_id"
    rating_col: RatingCol = "rating"
    sep: Sep = ","
    encoding: Encoding = "utf-8"
    books: BooksFile = None
    limit: Limit = None

    @property
    def given(self) -> bool:
        """Whether the user named the data (--data or --ratings), rather than leaving the default."""
        return self.data is not None or self.ratings is not None

    def source(self) -> DataSource:
        """The ``DataSource`` these options describe.

        Raises:
            DataError: Options that contradict each other (--data with --ratings, --books without --ratings).
        """
        from bookrec.data import DataSource

        return DataSource.from_options(**{f.name: getattr(self, f.name) for f in fields(self)})

    def load(self) -> Dataset:
        """Load the data set, telling stderr what the loader noted (rows dropped, scale guessed, ...)."""
        from bookrec.cli._load_bar import load_bar
        from bookrec.data import load_dataset

        with load_bar() as progress:  # a bar on a terminal while a large file is parsed
            dataset = load_dataset(self.source(), progress=progress)
        for note in dataset.report.notes():
            typer.echo(f"note: {note}", err=True)
        return dataset


# The options as keyword parameters of a command, in the order --help lists them.
_KEYWORD = inspect.Parameter.KEYWORD_ONLY
_ANNOTATIONS = inspect.get_annotations(DataOptions, eval_str=True)
_PARAMETERS = tuple(
    inspect.Parameter(f.name, _KEYWORD, default=f.default, annotation=_ANNOTATIONS[f.name])
    for f in fields(DataOptions)
)

Command = TypeVar("Command", bound=Callable[..., Any])


def with_data_options(command: Command) -> Command:
    """Give ``command`` the nine data options; it receives them as its ``data_options`` parameter.

    The command declares ``data_options: DataOptions`` (no default); Typer sees, in its place, the nine
    options at the end of the command's own, as if each command declared them itself.
    """
    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "data_options"]
    if len(own) == len(signature.parameters):
        raise TypeError(f"{command.__name__} has no data_options parameter")

    @functools.wraps(command)
    def with_data(**values: Any) -> Any:
        options = DataOptions(**{p.name: values.pop(p.name) for p in _PARAMETERS})
        return command(**values, data_options=options)

    parameters = [p.replace(kind=_KEYWORD) for p in own] + list(_PARAMETERS)
    with_data.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_data.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_data  # type: ignore[return-value]


# --- library names -> flags ---------------------------------------------------------------------------------

_FLAGS = {
    # TrainConfig
    "model": "--model",
    "engine": "--engine",
    "optimizer": "--optimizer",
    "n_factors": "--factors",
    "epochs": "--epochs",
    "lr": "--lr",
    "wd": "--wd",
    "bs": "--bs",
    "valid_pct": "--valid-pct",
    "seed": "--seed",
    "n_hidden": "--hidden",
    "dropout": "--dropout",
    "device": "--device",
    "ranker": "--ranker",
    "rank_factors": "--rank-factors",
    "rank_reg": "--rank-reg",
    "rank_to_read": "--rank-to-read",
    "adapt": "--adapt",
    "shrink": "--shrink",
    # lr_find and tune
    "start_lr": "--start-lr",
    "end_lr": "--end-lr",
    "n_steps": "--steps",
    "minutes": "--minutes",
    "trials": "--trials",
}
# A name is a field where a sentence starts with it ("n_factors must be ...") or advises it ("use engine
# 'torch'", "try a lower lr"); names with an underscore cannot be ordinary words, so they count anywhere.
# Elsewhere a plain word stays a word: "with the sgd engine".
_PLAIN = "|".join(name for name in _FLAGS if "_" not in name)
_SNAKE = "|".join(name for name in _FLAGS if "_" in name)
_FIELD = re.compile(rf"(?:^|(?<=; )|(?<=use )|(?<=lower ))({_PLAIN})\b|\b({_SNAKE})\b")


def flag_message(message: str) -> str:
    """The message with the CLI's flags for field names: "n_factors must ..." -> "--factors must ..."."""
    return _FIELD.sub(lambda match: _FLAGS[match.group()], message)


@contextmanager
def flag_names() -> Iterator[None]:
    """Re-raise a ``ConfigError`` or ``TrainingDivergedError`` of the library with flags for field names."""
    try:
        yield
    except (ConfigError, TrainingDivergedError) as error:
        if error.args and isinstance(error.args[0], str):
            raise type(error)(flag_message(error.args[0])) from None
        raise


# --- help that reads well in 80 columns ---------------------------------------------------------------------

_METAVARS: dict[object, str] = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}


class HelpCommand(TyperCommand):
    """A command whose ``--help`` fits the terminal: plain metavars and docstrings re-flowed.

    Typer shows an option without a metavar by its Python type (``<bool>``, ``<list[str]>``, ``<int range>``);
    this names the value instead (INTEGER, NUMBER, TEXT, PATH; nothing for a flag), and shows an argument
    with a metavar as written ("[MODEL] BOOK", not "{[MODEL] BOOK}..."). A docstring's single line breaks
    are where its source wrapped (at ~110 columns), which a narrower terminal wraps again into ragged
    lines; paragraphs are joined so the terminal wraps them once. Indented lines (examples) are kept.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:
            self.help = reflow(self.help)

    def get_params(self, ctx: typer.Context) -> list[Any]:
        params = super().get_params(ctx)
        for param in params:
            if isinstance(param, TyperOption) and param.metavar is None:
                param.metavar = _metavar(param)
            elif type(param) is TyperArgument:
                param.__class__ = _Argument  # Typer builds its own arguments; only their display changes
        return params


class _Argument(TyperArgument):
    """An argument shown as its metavar in the usage line, its type plain (PATH) or left to the metavar."""

    def _usage_display_name(self) -> str:
        return self.metavar or super()._usage_display_name()

    def display_type_rich(self, ctx: typer.Context) -> str | None:
        return None if self.metavar else _metavar(self)


def _metavar(param: TyperOption | TyperArgument) -> str:
    """INTEGER, NUMBER, TEXT or PATH for a parameter's value; nothing for a flag."""
    if isinstance(param, TyperOption) and param.is_flag:
        return ""
    annotation = param.type_descriptor.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return _METAVARS.get(annotation, "VALUE")


def reflow(text: str) -> str:
    """Join the lines of each paragraph of a docstring, keeping indented (example) lines as they are."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        paragraph if re.search(r"^\s", paragraph, flags=re.MULTILINE) else " ".join(paragraph.split())
        for paragraph in paragraphs
    )
