"""Small helpers for files bookrec publishes atomically (written under a temporary name, then renamed)."""

from __future__ import annotations

import os
from pathlib import Path


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back (a moment, in this process only).
    current = os.umask(0o022)
    os.umask(current)
    return current


def ordinary_permissions(path: str | os.PathLike[str]) -> None:
    """Give a staged file or folder (and a folder's contents) the permissions a plain write would give.

    ``tempfile.mkstemp``/``mkdtemp`` create private (0600/0700) entries; once renamed into place they would
    stay unreadable to other users and services, unlike any other file the user writes.
    """
    mask = _umask()
    root = Path(path)
    entries = [root, *root.rglob("*")] if root.is_dir() else [root]
    for entry in entries:
        os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~mask)


def replace_folder(fresh: Path, dest: Path, aside: Path) -> None:
    """Put the complete folder ``fresh`` at ``dest`` with two renames, moving any old ``dest`` to ``aside``.

    Renames within one file system are atomic, so ``dest`` is always a whole old or a whole new folder; if
    the second rename fails (or is interrupted) the old folder is put back. The caller removes ``aside``.
    """
    had_old = dest.exists() or dest.is_symlink()
    if had_old:
        os.replace(dest, aside)
    try:
        os.replace(fresh, dest)
    except BaseException:
        if had_old:
            os.replace(aside, dest)
        raise
