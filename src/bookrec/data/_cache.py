"""The columnar cache of parsed ratings: one folder per cache key, rebuilt (never trusted) when unreadable.

A folder holds ``.npy`` arrays (read with ``allow_pickle=False``), a Parquet books table and ``meta.json``.
Its name is a SHA-256 over the source files' bytes and every option that changes the parse, so a changed
file or option never reads an old cache.

Hashing the bytes on every load cost seconds per GB (the UCSD Goodreads files are about 6 GB), so the
content key is computed once per version of the files and remembered in an index beside the cache
(``cache-index/<stamp>``), keyed by each file's path, size, modification and change times (ns), inode and
device, and the options. Any write to a file changes its change time (which, unlike the modification time,
no tool can set back), so an edited or replaced file misses the index and is hashed again: a stale cache is
never served. The key is only remembered when the files' stamps are the same before and after hashing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bookrec._files import _pid_alive, ordinary_permissions
from bookrec.data.dataset import Dataset, LoadReport
from bookrec.data.ids import IdMap
from bookrec.data.paths import dataset_cache_dir
from bookrec.data.sources import DataSource, _Files, _is_synthetic
from bookrec.errors import DataError

CACHE_FORMAT = 7  # books table: 3 work_id, 6 original_title, 7 genres; 4: to_read.csv's pairs; 5: hash
"""Bump when the cache layout or the parsing rules change, so old caches are never misread."""

# A staging folder is named ``.{key}.{pid}.{random}`` after its writer, so that the next run can tell the
# folder of a writer that was killed mid-write (removed) from one still being written (left alone).
_STAGING = re.compile(r"\.[0-9a-f]+\.(\d{1,9})\.[^.]+")

_INDEX = "cache-index"  # beside the cache folder: stamp -> content key, one small file each
_KEY = re.compile(r"[0-9a-f]{32}")

_ARRAYS = ("user_idx", "book_idx", "rating", "user_ids", "book_ids", "want_user_idx", "want_book_idx")


def _cache_folder(source: DataSource, files: _Files) -> Path:
    """The cache folder of ``source``: its content key, looked up in the stamp index, hashed on a miss."""
    cache = dataset_cache_dir()
    index = cache.with_name(_INDEX)
    stamp = _stamp(source, files)
    try:
        key = (index / stamp).read_text(encoding="ascii").strip()
        if _KEY.fullmatch(key):
            return cache / key
    except (OSError, UnicodeDecodeError):
        pass
    key = _cache_key(source, files)
    if _stamp(source, files) == stamp:  # unchanged while it was hashed: the key is this version's
        _remember(index, stamp, key)
    return cache / key


def _stamp(source: DataSource, files: _Files) -> str:
    """SHA-256 over the files' paths and stat fields and the options: cheap, and changed by any write."""
    stats = []
    for path in files.hashed:
        try:
            st = os.stat(path)
        except OSError as error:
            raise DataError(f"{path}: cannot be read: {error.strerror}") from None
        stats.append(
            [os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        )
    text = json.dumps({"files": stats, "options": _options(source, files)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _remember(index: Path, stamp: str, key: str) -> None:
    """Write ``index/stamp`` holding ``key`` atomically; a read-only home only costs the next load a hash."""
    try:
        index.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{stamp}.", dir=index)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key)
        os.replace(tmp, index / stamp)
    except OSError:
        pass


def _cache_key(source: DataSource, files: _Files) -> str:
    """SHA-256 over the source files' bytes and every option that changes the parse."""
    digest = hashlib.sha256()
    for path in files.hashed:
        try:
            with open(path, "rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
        except OSError as error:
            raise DataError(f"{path}: cannot be read: {error.strerror}") from None
    digest.update(json.dumps(_options(source, files), sort_keys=True).encode())
    return digest.hexdigest()[:32]


def _options(source: DataSource, files: _Files) -> dict[str, object]:
    """Every option that changes the parse, as JSON-ready values."""
    return {
        "format": CACHE_FORMAT,
        "goodbooks": source.is_goodbooks,
        "members": [
            files.ratings if files.archive else "",
            files.books if files.archive else "",
            files.to_read if files.archive else "",
            list(files.shelves or ()) if files.archive else [],
        ],
        "cols": [source.user_col, source.item_col, source.rating_col],
        "sep": source.sep,
        "encoding": source.encoding,
        "limit": source.limit,
        "scale": source.rating_scale,
        "synthetic": _is_synthetic(files),
    }


def _read_cache(folder: Path) -> Dataset | None:
    """The cached dataset, or None when absent or unreadable (then it is rebuilt, never trusted)."""
    _remove_dead_staging(folder.parent)
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != CACHE_FORMAT:
            return None
        arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
        books = pq.read_table(folder / "books.parquet").to_pandas()
        n = arrays["rating"].shape[0]
        if arrays["user_idx"].shape[0] != n or arrays["book_idx"].shape[0] != n or n != meta["ratings"]:
            return None
        if arrays["want_user_idx"].shape != arrays["want_book_idx"].shape:
            return None
    except (OSError, ValueError, KeyError, pa.ArrowException):
        return None
    return Dataset(
        user_idx=arrays["user_idx"],
        book_idx=arrays["book_idx"],
        rating=arrays["rating"],
        users=IdMap(arrays["user_ids"]),
        books=IdMap(arrays["book_ids"]),
        rating_min=meta["rating_min"],
        rating_max=meta["rating_max"],
        books_table=books,
        name=meta["name"],
        source_hash=meta["source_hash"],
        report=LoadReport(**meta["report"]),
        synthetic=bool(meta.get("synthetic", False)),
        want_user_idx=arrays["want_user_idx"],
        want_book_idx=arrays["want_book_idx"],
        wants_from=str(meta.get("wants_from", "to_read.csv")),
    )


def _write_cache(dataset: Dataset, folder: Path) -> None:
    """Write the cache into a temporary folder, then rename it into place: never half-written."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_staging(folder.parent)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}.", dir=folder.parent))
    except OSError:
        return  # a read-only cache folder only costs speed
    try:
        arrays = {
            "user_idx": dataset.user_idx,
            "book_idx": dataset.book_idx,
            "rating": dataset.rating,
            "user_ids": dataset.users.ids,
            "book_ids": dataset.books.ids,
            "want_user_idx": dataset.want_user_idx,
            "want_book_idx": dataset.want_book_idx,
        }
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", array, allow_pickle=False)
        table = dataset.books_table.copy()
        table["year"] = table["year"].astype("Int64")
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), staging / "books.parquet")
        meta = {
            "format": CACHE_FORMAT,
            "ratings": dataset.n_ratings,
            "rating_min": dataset.rating_min,
            "rating_max": dataset.rating_max,
            "name": dataset.name,
            "source_hash": dataset.source_hash,
            "synthetic": dataset.synthetic,
            "wants_from": dataset.wants_from,
            "report": {
                "rows_read": dataset.report.rows_read,
                "duplicates_dropped": dataset.report.duplicates_dropped,
                "unknown_books": dataset.report.unknown_books,
            },
        }
        (staging / "meta.json").write_text(json.dumps(meta))
        ordinary_permissions(staging)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    except OSError:
        pass
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _remove_dead_staging(parent: Path) -> None:
    """Remove the staging folders of writers that are gone (killed mid-write); never a live writer's."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _STAGING.fullmatch(entry.name)
        if match is None or _pid_alive(int(match.group(1))) or not entry.is_dir() or entry.is_symlink():
            continue
        shutil.rmtree(entry, ignore_errors=True)
