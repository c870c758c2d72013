"""Install a local copy of goodbooks-10k into the cache, exactly where and as a download would.

``bookrec download --from FILE`` (and ``make run DATA=FILE``) for machines without network: afterwards every
command finds the data without ``--data``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from bookrec._files import replace_folder
from bookrec.data._cache_lock import cache_lock
from bookrec.data.download import (
    _ZIP_NAME,
    GOODBOOKS_SHA256,
    GOODBOOKS_URL,
    REQUIRED_FILES,
    _check_arguments,
    _disk_errors,
    _unpack,
    goodbooks_ready,
)
from bookrec.data.paths import bookrec_home, goodbooks_dir
from bookrec.errors import DownloadError

__all__ = ["install_goodbooks"]


def install_goodbooks(
    source: str | os.PathLike[str],
    sha256: str | None = GOODBOOKS_SHA256,
    *,
    dest: str | os.PathLike[str] | None = None,
) -> Path:
    """Install a local copy of goodbooks-10k (the release zip or its unpacked folder) as a download would.

    For machines without network: the copy goes where ``download_goodbooks`` puts the data, so later
    commands need no ``--data``. A zip is checked against ``sha256`` (None: not checked, as for a folder,
    which has no published hash), unpacked atomically, and kept as the verified zip; a folder's files are
    copied into a temporary folder and swapped into place. The cache keeps its last good state on failure.

    Args:
        source: The release zip, or a folder holding ratings.csv and books.csv (or one level down).
        sha256: The zip's expected SHA-256; the published hash by default.
        dest: The folder to install into. Default: ``goodbooks_dir()``.

    Returns:
        The folder that now holds the data.

    Raises:
        DownloadError: The source is missing, not goodbooks-10k, does not match ``sha256``, or the cache
            cannot be written.
    """
    source = Path(source)
    dest = goodbooks_dir() if dest is None else Path(dest)
    if not source.exists():
        raise DownloadError(f"{source}: no such file or folder (expected the goodbooks-10k zip or folder)")
    kept_zip = bookrec_home() / "downloads" / _ZIP_NAME
    with _disk_errors(), cache_lock(dest, kept_zip.parent):
        if source.is_dir():
            return _install_folder(source, dest)
        if sha256 is not None:
            import pooch

            expected = _check_arguments(GOODBOOKS_URL, sha256, 1.0, 0)
            actual = pooch.file_hash(str(source))
            if actual != expected:
                raise DownloadError(
                    f"checksum mismatch for {source}: expected sha256 {expected}, got {actual}; "
                    f"if you trust this file, rerun with --sha256 {actual}"
                )
        _unpack(source, dest, source=str(source))
        if sha256 is not None and source.resolve() != kept_zip.resolve():
            kept_zip.parent.mkdir(parents=True, exist_ok=True)
            handle, staging = tempfile.mkstemp(prefix=".download-", suffix=".zip", dir=kept_zip.parent)
            os.close(handle)
            try:
                shutil.copyfile(source, staging)
                os.replace(staging, kept_zip)
            finally:
                Path(staging).unlink(missing_ok=True)
    return dest


def _install_folder(source: Path, dest: Path) -> Path:
    """Copy an unpacked goodbooks folder's files into a temporary folder beside ``dest``, then swap."""
    root = (
        source
        if goodbooks_ready(source)
        else next(
            (child for child in sorted(source.iterdir()) if child.is_dir() and goodbooks_ready(child)), None
        )
    )
    if root is None:
        raise DownloadError(
            f"{source}: no {' and '.join(REQUIRED_FILES)} in this folder or one level down "
            "(expected goodbooks-10k)"
        )
    if root.resolve() == dest.resolve():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.unpack-", dir=dest.parent))
    try:
        fresh = workdir / "new"
        shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".*"))
        replace_folder(fresh, dest, workdir / "old")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return dest
