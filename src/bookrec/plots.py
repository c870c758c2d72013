"""Pictures (PNG, SVG or PDF): the map of books (PCA of book vectors), as in the blog; the lr finder's curve.

matplotlib is an optional extra (``pip install 'bookrec[plot]'``), imported by the functions that draw, not by
``import bookrec``; without it they raise a ``BookrecError`` that says how to install it. Figures are made
with the object API (no pyplot global state) and written atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bookrec._files import ordinary_permissions
from bookrec.errors import BookrecError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bookrec.lr_find import LrFindResult

INSTALL = "pip install 'bookrec[plot]'"
"""The command that installs what the plots need."""


def require_matplotlib() -> None:
    """Check that matplotlib can be imported (a command calls this before its work, not after).

    Raises:
        BookrecError: matplotlib is not installed; the message says how to install it.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise BookrecError(f"plots need matplotlib, which is not installed: {INSTALL}") from None


def _figure(width: float, height: float) -> Figure:
    """A figure drawn by the Agg canvas, without pyplot (no global state)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _short(title: str, width: int = 32) -> str:
    title = title.split(" (")[0]
    return title if len(title) <= width else title[: width - 1] + "…"


def plot_book_map(
    frame: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    x: str = "pc1",
    y: str = "pc2",
    n_labels: int = 40,
    title: str = "Map of books (PCA of learned book vectors)",
) -> Path:
    """Scatter the books of ``Recommender.book_map`` on two components, labelling the most-rated.

    Args:
        frame: The book map (columns pc1, pc2, pc3, title, n_ratings).
        out: Where to write it, .png, .svg or .pdf (its folder must exist).
        x: Component on the horizontal axis.
        y: Component on the vertical axis.
        n_labels: How many of the most-rated books get their title written beside their point.
        title: Figure title.

    Raises:
        BookrecError: matplotlib is not installed, or the picture cannot be written there.
    """
    for column in (x, y):
        if column not in frame.columns:
            raise BookrecError(f"the map has no component {column!r}; choose pc1, pc2 or pc3")
    figure = _figure(13, 10)
    axes = figure.add_subplot()
    sizes = 8 + 40 * (frame["n_ratings"] / max(1, frame["n_ratings"].max())) ** 0.5
    axes.scatter(frame[x], frame[y], s=sizes, alpha=0.45, color="#3b6ea8", linewidths=0)
    labelled = frame.nlargest(n_labels, "n_ratings")
    for _, row in labelled.iterrows():
        axes.annotate(
            _short(str(row["title"])),
            (row[x], row[y]),
            fontsize=7,
            alpha=0.9,
            xytext=(3, 2),
            textcoords="offset points",
        )
    variance = frame.attrs.get("explained_variance", [])
    names = {"pc1": 0, "pc2": 1, "pc3": 2}

    def axis_label(component: str) -> str:
        index = names.get(component)
        if index is not None and index < len(variance):
            return f"{component} ({variance[index]:.0%} of variance)"
        return component

    axes.set_xlabel(axis_label(x))
    axes.set_ylabel(axis_label(y))
    source = " (ranking model's factors)" if frame.attrs.get("vectors") == "ranking" else ""
    axes.set_title(f"{title}: {len(frame):,} most-rated books{source}")
    axes.grid(alpha=0.2)
    figure.tight_layout()
    return _save_png(figure, out)


FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
"""The picture formats a plot is written in, chosen by the file name's suffix."""


def check_plot_path(out: str | os.PathLike[str]) -> str:
    """The format ``out`` names by its suffix; a command may call this before its work to fail early.

    The folder must exist already: a mistyped path creates no folders (``/nonexistent_dir/m.png`` once made
    a folder at the root), and ``map.txt`` is not written as a PNG under a misleading name.

    Raises:
        BookrecError: The suffix is not .png, .svg or .pdf, or the folder does not exist.
    """
    target = Path(out)
    kind = FORMATS.get(target.suffix.lower())
    if kind is None:
        raise BookrecError(
            f"{target}: a plot is written as PNG, SVG or PDF; end the name with .png, .svg or .pdf"
        )
    folder = target.parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise BookrecError(f"{target}: the folder {folder} {what}; create it first or choose another --out")
    return kind


def _save_png(figure: Figure, out: str | os.PathLike[str]) -> Path:
    """Write ``figure`` atomically in the format its suffix names: a crash never leaves half a picture."""
    target = Path(out)
    kind = check_plot_path(target)
    try:
        handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".{kind}", dir=target.parent)
        os.close(handle)
        try:
            figure.savefig(staging, format=kind)
            ordinary_permissions(staging)
            os.replace(staging, target)
        finally:
            if os.path.exists(staging):
                os.unlink(staging)
    except OSError as error:
        raise BookrecError(f"cannot write {target}: {error.strerror}") from None
    return target


def plot_lr_find(result: LrFindResult, out: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Plot a learning-rate range test: smoothed loss against the rate (log scale), the suggestion marked.

    Args:
        result: What ``bookrec.lr_find.lr_find`` returned.
        out: Where to write it, .png, .svg or .pdf (written atomically; its folder must exist).
        title: Figure title (default: names the model and the suggested rate).

    Raises:
        BookrecError: matplotlib is not installed, or the picture cannot be written there.
    """
    figure = _figure(8, 5)
    axes = figure.add_subplot()
    lrs, losses = result.lrs, result.losses
    axes.plot(lrs, result.raw_losses, color="#9bb7d4", linewidth=0.8, alpha=0.6, label="mini-batch loss")
    axes.plot(lrs, losses, color="#3b6ea8", linewidth=2, label="smoothed loss")
    marks = (
        (result.suggested_lr, "suggested (minimum / 10)", "#d1495b", "o"),
        (result.lr_steep, "steepest descent", "#edae49", "s"),
        (result.lr_valley, "valley", "#66a182", "^"),
    )
    for rate, label, color, marker in marks:
        at = int(np.argmin(np.abs(np.log(lrs / rate))))  # the curve's point nearest the rate
        style = {"marker": marker, "color": color, "markersize": 8, "linestyle": "none"}
        axes.plot([rate], [losses[at]], label=f"{label}: {rate:.2g}", **style)
    finite = losses[np.isfinite(losses)]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        axes.set_ylim(low - 0.05 * (high - low + 1e-9), min(high, 3.0 * low) + 0.05 * (high - low + 1e-9))
    axes.set_xscale("log")
    axes.set_xlabel("learning rate (log scale)")
    axes.set_ylabel("training loss (MSE)")
    config = result.config
    default = f"Learning-rate finder: {config.model} model, batch {result.bs}"
    axes.set_title(title or f"{default}, suggested lr {result.suggested_lr:.2g}")
    axes.grid(alpha=0.25)
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return _save_png(figure, out)
