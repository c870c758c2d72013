"""The lock of the data cache: one process fills it at a time, and the next undoes what a killed one left."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from bookrec._files import LockHeld, acquire_lock, release_lock
from bookrec.errors import DownloadError


@contextlib.contextmanager
def cache_lock(dest: Path, downloads: Path) -> Iterator[None]:
    """Hold ``<dest>.lock`` while filling the cache; first undo what a killed run left behind.

    A run killed between the two renames of the swap leaves no ``dest`` and the old copy in its work folder:
    it is put back. Work folders and partial downloads of killed runs are removed. A second run at the same
    time is refused with one line naming the first.
    """
    lock = dest.with_name(f"{dest.name}.lock")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        acquire_lock(lock)
    except LockHeld as held:
        raise DownloadError(
            f"another bookrec (process {held.holder}) is filling {dest}; wait for it to finish"
        ) from None
    try:
        works = sorted(dest.parent.glob(f".{dest.name}.unpack-*"))
        old = [work / "old" for work in works if (work / "old").is_dir()]
        if old and not dest.exists():
            os.replace(old[-1], dest)
        for leftover in [*works, *(downloads.glob(".download-*") if downloads.is_dir() else ())]:
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        yield
    finally:
        release_lock(lock)
