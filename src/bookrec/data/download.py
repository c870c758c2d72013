"""Fetch the goodbooks-10k release zip, verify its SHA-256 and unpack it into the cache.

pooch does the transfer: it streams into a temporary file and moves it into place only when the hash
matches. Around it this module adds what pooch leaves to the caller: retries only for failures that may pass
(time-outs, dropped connections, 5xx answers), one-line errors, and an atomic unpack. Whatever fails, the
cache keeps its last good state: the unpacked folder and the kept zip are replaced only by complete, verified
ones, and no temporary file or folder is left behind.

It draws no progress bar: ``download_goodbooks`` reports the bytes received to a callback, and the command
line draws the bar. pooch and requests are imported only when a download runs, so that importing this
module (``goodbooks_ready``) stays cheap.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bookrec._files import replace_folder
from bookrec.data._cache_lock import cache_lock
from bookrec.data.paths import bookrec_home, goodbooks_dir
from bookrec.errors import ConfigError, DownloadError

if TYPE_CHECKING:
    import requests

__all__ = [
    "GOODBOOKS_SHA256",
    "GOODBOOKS_URL",
    "REQUIRED_FILES",
    "DownloadProgress",
    "download_goodbooks",
    "goodbooks_ready",
    "unpack_goodbooks_zip",
]

GOODBOOKS_URL = "https://github.com/zygmuntz/goodbooks-10k/releases/download/v1.0/goodbooks-10k.zip"
"""The official release zip of goodbooks-10k (Zygmunt Zając, 2017)."""

GOODBOOKS_SHA256 = "261b97b56db61f3fb2ce5aadbb13704d30179fcc986c17ace665a0af9ed00731"
"""SHA-256 of the release zip as published by the Ludwig dataset registry (not checked from our build)."""

REQUIRED_FILES = ("ratings.csv", "books.csv")
"""The files a goodbooks-10k folder must hold; the release has more (tags, to_read), which are kept too."""

DownloadProgress = Callable[[int, int], None]
"""A progress callback, ``progress(received, total)``, called as bytes arrive.

``received`` counts the bytes so far (again from 0 when a failed attempt is retried); ``total`` is the file's
size in bytes, 0 when the server does not say.
"""

_ZIP_NAME = "goodbooks-10k.zip"
# 408 Request Timeout, 425 Too Early, 429 Too Many Requests and the 5xx answers may pass on a second try;
# any other HTTP error (404, 403, ...) will not, so it is reported at once.
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_WAIT_S = 10
_HEX64 = re.compile(r"[0-9a-f]{64}")


def goodbooks_ready(folder: str | os.PathLike[str] | None = None) -> bool:
    """Whether a folder already holds an unpacked goodbooks-10k (``ratings.csv`` and ``books.csv``).

    Args:
        folder: The folder to look in. Default: ``goodbooks_dir()``, where ``download_goodbooks`` unpacks.

    Returns:
        True when every file of ``REQUIRED_FILES`` is there.
    """
    folder = goodbooks_dir() if folder is None else Path(folder)
    return all((folder / name).is_file() for name in REQUIRED_FILES)


def download_goodbooks(
    url: str = GOODBOOKS_URL,
    sha256: str = GOODBOOKS_SHA256,
    *,
    dest: str | os.PathLike[str] | None = None,
    progress: DownloadProgress | bool | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    force: bool = False,
) -> Path:
    """Download goodbooks-10k, verify it and unpack it, unless it is already there.

    The zip is fetched with pooch into a temporary file, checked against ``sha256``, unpacked into a
    temporary folder beside ``dest`` and only then swapped into place; the verified zip is kept as
    ``bookrec_home()/downloads/goodbooks-10k.zip``, so a later call unpacks it again without the network.

    Args:
        url: Where to fetch the release zip; any http(s) mirror of it will do.
        sha256: The zip's expected SHA-256, 64 hexadecimal digits (a ``sha256:`` prefix is allowed).
        dest: The folder to unpack into. Default: ``goodbooks_dir()``, where loading looks.
        progress: Called as bytes arrive (see ``DownloadProgress``); None (or a bool, as older callers
            passed) reports nothing.
        timeout: Seconds to wait for the server to connect or send more bytes, per attempt.
        retries: Further attempts after a time-out, a dropped connection or a 5xx answer, waiting 1 s,
            2 s, ... between them. A 404 or a checksum mismatch is not retried.
        force: Download and unpack again even when ``dest`` already holds the data.

    Returns:
        The folder that now holds ``ratings.csv``, ``books.csv`` and the release's other files.

    Raises:
        ConfigError: ``url``, ``sha256``, ``timeout`` or ``retries`` is malformed.
        DownloadError: The server failed (HTTP status, time-out, no connection), the file does not match
            ``sha256``, or it is not a valid goodbooks-10k zip. ``dest`` and the kept zip are unchanged.
    """
    sha256 = _check_arguments(url, sha256, timeout, retries)
    dest = goodbooks_dir() if dest is None else Path(dest)
    if goodbooks_ready(dest) and not force:
        return dest
    import pooch

    kept_zip = bookrec_home() / "downloads" / _ZIP_NAME
    with _disk_errors(kept_zip.parent), cache_lock(dest, kept_zip.parent):
        if not force and kept_zip.is_file() and pooch.file_hash(str(kept_zip)) == sha256:
            return _unpack(kept_zip, dest, source=str(kept_zip))
        kept_zip.parent.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix=".download-", dir=kept_zip.parent))
        try:
            fetched = _fetch(url, sha256, workdir, progress=progress, timeout=timeout, retries=retries)
            _unpack(fetched, dest, source=f"the file from {url}")
            # Kept only once it has unpacked, so a bad file never replaces the last good zip.
            os.replace(fetched, kept_zip)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return dest


def unpack_goodbooks_zip(
    zip_path: str | os.PathLike[str], dest: str | os.PathLike[str] | None = None
) -> Path:
    """Unpack a goodbooks-10k zip atomically, replacing what ``dest`` held only when all went well.

    The CSVs may lie at the zip's root or inside one folder: the folder of the shallowest ``ratings.csv``
    is unpacked, with everything under it, and must also hold ``books.csv``. Every member is read in full,
    so a truncated or corrupt zip is caught by its CRCs before anything replaces ``dest``.

    Args:
        zip_path: The zip, e.g. the release zip downloaded by hand.
        dest: The folder to unpack into. Default: ``goodbooks_dir()``.

    Returns:
        ``dest``, now holding the zip's goodbooks files.

    Raises:
        DownloadError: The zip is missing, not a valid zip (truncated or corrupt), lacks ``ratings.csv``
            or ``books.csv``, or cannot be written; ``dest`` is then unchanged and no temporary file remains.
    """
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise DownloadError(f"{zip_path} does not exist; expected the goodbooks-10k release zip")
    return _unpack(zip_path, goodbooks_dir() if dest is None else Path(dest), source=str(zip_path))


def _check_arguments(url: str, sha256: str, timeout: float, retries: int) -> str:
    """Validate the arguments of ``download_goodbooks``; return the bare, lower-case hash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"url must be an http:// or https:// address, got {url!r}")
    digest = sha256.strip().lower().removeprefix("sha256:")
    if not _HEX64.fullmatch(digest):
        raise ConfigError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    if not timeout > 0:
        raise ConfigError(f"timeout must be a number of seconds above 0, got {timeout}")
    if retries < 0:
        raise ConfigError(f"retries must be 0 or more, got {retries}")
    return digest


def _fetch(
    url: str,
    sha256: str,
    folder: Path,
    *,
    progress: DownloadProgress | bool | None,
    timeout: float,
    retries: int,
) -> Path:
    """Download ``url`` into ``folder`` with pooch, verified against ``sha256``, retrying what may pass."""
    import pooch
    import requests

    # True/False (what older callers passed for pooch's own bar) report nothing: the CLI draws bars.
    bar = _ProgressReporter(progress) if callable(progress) else False
    downloader = pooch.HTTPDownloader(progressbar=bar, timeout=timeout)
    for attempt in range(1, retries + 2):
        try:
            with _quiet_pooch():
                path = pooch.retrieve(
                    url, known_hash=f"sha256:{sha256}", fname=_ZIP_NAME, path=folder, downloader=downloader
                )
            return Path(path)
        except requests.RequestException as error:
            # pooch streams and leaves the response of an HTTP error open; close its socket now, not at some
            # later garbage collection.
            if error.response is not None:
                error.response.close()
            if attempt > retries or not _is_transient(error):
                raise _request_error(url, error, timeout=timeout, attempts=attempt) from error
        except ValueError as error:
            if "does not match the known hash" not in str(error):
                raise
            raise _mismatch_error(url, sha256, error) from error
        # The same back-off as pooch's own retry_if_failed: 1 s, 2 s, ... at most 10 s.
        time.sleep(min(attempt, _MAX_WAIT_S))
    raise AssertionError("unreachable")  # pragma: no cover


class _ProgressReporter:
    """A stand-in for pooch's tqdm bar that passes the bytes received on to a ``DownloadProgress`` callback.

    pooch sets ``total`` as each attempt starts and calls ``update`` per chunk; once the file is complete,
    ``reset``, ``update(total)`` and ``close``.
    """

    def __init__(self, progress: DownloadProgress) -> None:
        self._progress = progress
        self._total = 0
        self._received = 0

    def __bool__(self) -> bool:
        return True  # pooch feeds the object only when it is true

    @property
    def total(self) -> int:
        return self._total

    @total.setter
    def total(self, total: int) -> None:
        self._total = int(total)
        self._received = 0

    def update(self, n: int) -> None:
        # pooch counts whole chunks, so the count may pass the size before its final reset().
        self._received += int(n)
        received = min(self._received, self._total) if self._total else self._received
        self._progress(received, self._total)

    def reset(self) -> None:
        self._received = 0

    def close(self) -> None:
        pass


@contextlib.contextmanager
def _disk_errors(folder: Path | None = None) -> Iterator[None]:
    """Turn a failure to write the cache (permissions, full disk) into one line naming the file.

    A full disk names ``folder``, the folder being written, rather than a temporary file that is gone.
    """
    try:
        yield
    except OSError as error:
        import requests

        if isinstance(error, requests.RequestException):  # requests' errors are OSErrors too
            raise
        if error.errno == errno.ENOSPC:
            where = folder if folder is not None else error.filename
            raise DownloadError(
                f"could not write {where or 'the download'}: no space left on the device; "
                "free some space and run again (the last good copy is kept)"
            ) from error
        where = f" {error.filename}" if error.filename else ""
        raise DownloadError(f"could not write{where}: {error.strerror or error}") from error


@contextlib.contextmanager
def _quiet_pooch() -> Iterator[None]:
    """Mute pooch's "Downloading data from ... to file <temporary path>" line for one call, then restore."""
    import pooch

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _is_transient(error: requests.RequestException) -> bool:
    """Whether another attempt may succeed: time-outs, lost connections and 408/429/5xx answers."""
    import requests

    if isinstance(error, requests.HTTPError):
        return error.response is not None and error.response.status_code in _TRANSIENT_STATUS
    return isinstance(
        error, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
    )


def _is_timeout(error: BaseException) -> bool:
    """Whether a time-out caused ``error``; requests wraps one in the body as a ConnectionError."""
    import requests
    import urllib3.exceptions

    seen: BaseException | None = error
    for _ in range(10):  # the chain is short; the bound guards against cycles
        if seen is None:
            return False
        # Not urllib3's TimeoutError: its NewConnectionError (connection refused) derives from it.
        if isinstance(seen, requests.Timeout | urllib3.exceptions.ReadTimeoutError | TimeoutError):
            return True
        nested = [arg for arg in seen.args if isinstance(arg, BaseException)]
        seen = nested[0] if nested else (seen.__cause__ or seen.__context__)
    return False


def _request_error(
    url: str, error: requests.RequestException, *, timeout: float, attempts: int
) -> DownloadError:
    """One line for a failed request: the HTTP status, the time-out or the connection problem, and the URL."""
    tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
    return DownloadError(f"{_request_problem(url, error, timeout=timeout, tries=tries)}; {OFFLINE_HINT}")


OFFLINE_HINT = (
    "without network, copy goodbooks-10k.zip here and run `bookrec download --from FILE` "
    "(or pass --data FILE to each command, or `make run DATA=FILE`)"
)
"""How to go on without network: said by every failed download."""


def _request_problem(url: str, error: requests.RequestException, *, timeout: float, tries: str) -> str:
    """What went wrong with a request, for a person: the HTTP status, the time-out or the connection."""
    import requests

    if isinstance(error, requests.HTTPError) and error.response is not None:
        status = f"HTTP {error.response.status_code} {error.response.reason or ''}".rstrip()
        hint = "check the address, or give a mirror with --url"
        return f"could not download {url}: {status}; {hint}"
    if _is_timeout(error):
        return (
            f"could not download {url}: timed out after {timeout:g} s ({tries}); "
            "try again later, or allow more with --timeout"
        )
    if isinstance(error, requests.ConnectionError):
        reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(error))
        detail = reason.group(1).strip() if reason else type(error).__name__
        return f"could not download {url}: cannot connect ({detail}; {tries})"
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"could not download {url}: {first_line[:200]} ({tries})"


def _mismatch_error(url: str, expected: str, error: ValueError) -> DownloadError:
    """One line for a checksum mismatch, naming both hashes and the override."""
    got = re.search(r"but got ([0-9a-fA-F]{64})", str(error))
    if got is None:  # pooch changed its wording; still say what is wrong
        return DownloadError(f"checksum mismatch for {url}: expected sha256 {expected}")
    actual = got.group(1).lower()
    return DownloadError(
        f"checksum mismatch for {url}: expected sha256 {expected}, got {actual}; "
        f"if you trust this file, rerun with --sha256 {actual}"
    )


def _unpack(zip_path: Path, dest: Path, *, source: str) -> Path:
    """Unpack into a temporary folder beside ``dest``, check it, then swap it into place."""
    with _disk_errors(dest.parent):
        dest.parent.mkdir(parents=True, exist_ok=True)
        # One hidden work folder beside dest holds the new copy and, during the swap, the old one: renames
        # within a file system are atomic, and removing the work folder leaves nothing behind either way.
        workdir = Path(tempfile.mkdtemp(prefix=f".{dest.name}.unpack-", dir=dest.parent))
        try:
            fresh = workdir / "new"
            try:
                with zipfile.ZipFile(zip_path) as archive:
                    for relative, info in _goodbooks_members(archive, source):
                        target = fresh / relative
                        target.parent.mkdir(parents=True, exist_ok=True)
                        # Reading a member to its end checks its CRC-32 (BadZipFile when it is wrong).
                        with archive.open(info) as reader, open(target, "wb") as writer:
                            shutil.copyfileobj(reader, writer, 1 << 20)
            except (zipfile.BadZipFile, zlib.error, EOFError) as error:
                raise DownloadError(f"{source} is not a valid zip (truncated or corrupt)") from error
            except NotImplementedError as error:
                message = f"{source} uses a zip compression that Python cannot read ({error})"
                raise DownloadError(message) from error
            replace_folder(fresh, dest, workdir / "old")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return dest


def _goodbooks_members(archive: zipfile.ZipFile, source: str) -> list[tuple[PurePosixPath, zipfile.ZipInfo]]:
    """The files under the folder of the shallowest ``ratings.csv``, with their paths relative to it."""
    files = [info for info in archive.infolist() if not info.is_dir()]
    for info in files:
        path = PurePosixPath(info.filename)
        if path.is_absolute() or ".." in path.parts or "\\" in info.filename:
            raise DownloadError(f"{source} holds an unsafe path {info.filename!r}; refusing to unpack it")
    ratings = [
        PurePosixPath(info.filename)
        for info in files
        if PurePosixPath(info.filename).name == REQUIRED_FILES[0] and "__MACOSX" not in info.filename
    ]
    if not ratings:
        raise DownloadError(f"{source} holds no ratings.csv; expected the goodbooks-10k release zip")
    root = min(ratings, key=lambda path: (len(path.parts), str(path))).parent
    members = []
    for info in files:
        path = PurePosixPath(info.filename)
        if path.parts[: len(root.parts)] != root.parts or "__MACOSX" in path.parts:
            continue
        members.append((path.relative_to(root), info))
    names = {str(relative) for relative, _ in members}
    missing = [name for name in REQUIRED_FILES if name not in names]
    if missing:
        raise DownloadError(
            f"{source} has no {', '.join(missing)} beside {root / REQUIRED_FILES[0]}; "
            "expected the goodbooks-10k release zip"
        )
    return members
