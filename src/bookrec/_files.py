"""Small helpers for files bookrec publishes atomically (written under a temporary name, then renamed)."""

from __future__ import annotations

import os
import shutil
import time
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


def unwritable_reason(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` (a file or folder to be created, with any missing parents) cannot be written, or None.

    Checked before long work (training) so that it fails in a second, not after it. The nearest existing
    ancestor must be a folder this process may write into; ``os.access`` reports a read-only file system
    even to root.
    """
    target = Path(path).absolute()
    for ancestor in (target, *target.parents):
        if ancestor.exists():
            break
        if ancestor.is_symlink():  # a dangling link: creating through it would fail
            return f"{ancestor} is a broken link"
    else:  # pragma: no cover - the root always exists
        return None
    if ancestor == target:
        ancestor = target.parent if not target.is_dir() else target
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable"
    return None


class LockHeld(Exception):
    """Another live process holds a lock file; ``holder`` is its process id (None when unreadable)."""

    def __init__(self, path: Path, holder: int | None) -> None:
        super().__init__(f"{path} is held by process {holder}")
        self.path = path
        self.holder = holder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    except OSError:
        return False
    return True


def _lock_holder(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def acquire_lock(path: Path) -> None:
    """Create the lock file ``path`` holding this process's id (``O_EXCL``: only one process can).

    A lock left by a process that is gone (killed, crashed) is stale and taken over. Two processes taking
    over one stale lock at the same instant could both succeed: a window of microseconds after a crash.

    Raises:
        LockHeld: A live process holds it.
        OSError: The lock file cannot be created (the folder is read-only, ...).
    """
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(path)
            if holder is None:
                # Being written this very moment by its creator, or left empty by a crash: a creator
                # writes its pid at once, so a second look tells them apart.
                time.sleep(0.05)
                holder = _lock_holder(path)
            if holder is not None and (holder == os.getpid() or _pid_alive(holder)):
                raise LockHeld(path, holder) from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as writer:
            writer.write(f"{os.getpid()}\n")
        return
    raise LockHeld(path, _lock_holder(path))


def release_lock(path: Path) -> None:
    """Remove the lock file ``path`` if this process holds it."""
    if _lock_holder(path) == os.getpid():
        path.unlink(missing_ok=True)


def recover_interrupted_swap(dest: Path, staged: str, aside: str) -> None:
    """Undo what a killed process left of a ``replace_folder`` swap into ``dest``; call holding its lock.

    Killed between the two renames, a save leaves no ``dest`` and the old folder under the ``aside``
    prefix: it is put back, so the last good state returns. Staging folders (prefix ``staged``) and
    leftovers of finished swaps are then removed.
    """
    parent = dest.parent
    if not parent.is_dir():
        return
    leftovers = sorted(parent.glob(f"{aside}*")) + sorted(parent.glob(f"{staged}*"))
    if not (dest.exists() or dest.is_symlink()):
        olds = [path for path in leftovers if path.name.startswith(aside) and path.is_dir()]
        if olds:
            newest = max(olds, key=lambda path: path.stat().st_mtime)
            os.replace(newest, dest)
            leftovers.remove(newest)
    for path in leftovers:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
