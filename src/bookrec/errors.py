"""The errors bookrec raises on purpose.

Each carries one sentence for a person: what is wrong and where (file, row, field, expected form). The CLI
prints that sentence and exits with status 2; it never shows a traceback for a ``BookrecError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class BookrecError(Exception):
    """Base class: an error whose message is meant for the user, on one line."""


class ConfigError(BookrecError, ValueError):
    """A setting is outside its allowed range (names the field and the range)."""


class DataError(BookrecError):
    """A data file is missing, malformed or inconsistent (names the file, row and field)."""


class DownloadError(DataError):
    """The data set could not be fetched, verified or unpacked."""


class ModelFileError(BookrecError):
    """A model folder is missing, corrupt, truncated or from an incompatible version."""


class UnknownUserError(BookrecError, KeyError):
    """A reader id that the model or data set does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownBookError(BookrecError, KeyError):
    """A book id or title that matches nothing; ``suggestions`` holds close titles ("did you mean")."""

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.suggestions: tuple[str, ...] = tuple(suggestions)

    def __str__(self) -> str:
        message = str(self.args[0]) if self.args else ""
        if self.suggestions:
            quoted = "; ".join(f'"{s}"' for s in self.suggestions)
            return f"{message} Did you mean: {quoted}?"
        return message


class UnknownGenreError(BookrecError, KeyError):
    """A genre the model's books do not carry; ``suggestions`` holds close genre names ("did you mean")."""

    def __init__(self, message: str, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.suggestions: tuple[str, ...] = tuple(suggestions)

    def __str__(self) -> str:
        message = str(self.args[0]) if self.args else ""
        return f"{message} Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else message


class NoTasteError(BookrecError):
    """A question about which books are alike, put to a model of reader and book biases alone without a
    ranking model: it has no vectors that tell books apart."""


class TrainingDivergedError(BookrecError):
    """The loss became NaN or infinite; the last good checkpoint (if any) is kept."""


class CheckpointError(BookrecError):
    """A checkpoint is missing, unreadable, or was made by other settings or data."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: carries the epochs completed and where the checkpoint lies.

    A ``KeyboardInterrupt`` (not a ``BookrecError``), so code that does not expect it still stops.

    Attributes:
        epochs_done: Epochs completed; with a checkpoint folder, epochs saved in its checkpoint.
        checkpoint_dir: The checkpoint folder, or None.
    """

    def __init__(self, message: str, epochs_done: int, checkpoint_dir: Path | None) -> None:
        super().__init__(message)
        self.epochs_done = epochs_done
        self.checkpoint_dir = checkpoint_dir

    def __str__(self) -> str:
        return str(self.args[0])
