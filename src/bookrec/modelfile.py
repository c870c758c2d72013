"""Model folders: ``weights.safetensors`` + ``manifest.json`` + metadata tables, written atomically.

No pickle anywhere: safetensors holds only arrays, JSON only plain values, Parquet only columns, so loading a
model can never run code (the blog's pickled export could). The manifest records the format version, the
bookrec version, the model's kind and settings, the rating scale, the training data's hash, the metrics, and
the checksum of every other file (xxh3-128 since format 2, SHA-256 before); loading checks all of it and
refuses a corrupt, truncated, tampered or newer-format folder with one line.

Serving does not grow with the catalogue: the tensors are memory-mapped (:mod:`bookrec._tensorfile`), not
read, so loading a 2.36-million-book model costs its checksums (about 10 GB/s) and its tables, and each
query pages in only what it reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from bookrec import _tensorfile, ann, lookups
from bookrec._files import (
    LockHeld,
    acquire_lock,
    ordinary_permissions,
    recover_interrupted_swap,
    release_lock,
    replace_folder,
    unwritable_reason,
)
from bookrec.data.ids import IdMap
from bookrec.data.paths import models_dir
from bookrec.data.rated import RatedBooks
from bookrec.errors import CheckpointError, ModelFileError
from bookrec.models import model_kinds, ranker_kinds
from bookrec.models.base import ServingHead
from bookrec.taste import RATING, book_taste

FORMAT_VERSION = 2
"""2: files checksummed with xxh3-128 (``xxh3_128:<hex>``) and the weights memory-mapped; 1: SHA-256. Both
are read; an older bookrec refuses a format-2 folder as newer, rather than calling it corrupt."""
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
_LAST_POINTER = "LAST"
CHECKPOINT_DIR = "checkpoint"  # where `bookrec train` keeps its per-epoch checkpoint inside --out
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class ModelFolder:
    """The contents of a model folder, checked.

    Attributes:
        tensors: Arrays by name: read-only views of ``weights.safetensors`` mapped into memory.
        manifest: The manifest's values.
        tables: Metadata tables by file stem (e.g. ``books``, ``users``), from Parquet files.
        path: Where it was read from.
    """

    tensors: dict[str, np.ndarray]
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    path: Path


def write_model_folder(
    folder: str | os.PathLike[str],
    tensors: dict[str, np.ndarray],
    manifest: dict[str, Any],
    tables: dict[str, pd.DataFrame] | None = None,
    files: Mapping[str, Callable[[Path], None]] | None = None,
) -> Path:
    """Write a model folder atomically: all into a staging folder beside it, then one swap.

    A model that was there stays untouched until the new one is complete, and is replaced only then.

    Args:
        folder: Destination.
        tensors: Arrays to store in ``weights.safetensors``.
        manifest: Plain JSON values; ``format_version``, ``created``, ``tensors`` and ``files`` are added.
        tables: DataFrames stored as ``<name>.arrow`` (Arrow IPC, uncompressed: read by mapping it).
        files: Other files by name, each written by its function given the path (checksummed like the rest).
    """
    folder = Path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    except OSError as error:
        raise ModelFileError(f"cannot write the model to {folder}: {error.strerror}") from None
    try:
        checksums = {WEIGHTS: _tensorfile.write_tensors(staging / WEIGHTS, tensors)}
        for name, table in (tables or {}).items():
            _write_table(staging / f"{name}{_TABLE}", table)
        for name, write in (files or {}).items():
            write(staging / name)
        for path in staging.iterdir():
            checksums.setdefault(path.name, _tensorfile.checksum_of(path, f"{_tensorfile.CHECKSUM}:"))
        full = dict(manifest)
        full["format_version"] = FORMAT_VERSION
        full.setdefault("created", datetime.now(UTC).isoformat(timespec="seconds"))
        full["tensors"] = {
            name: {"shape": list(array.shape), "dtype": str(array.dtype)} for name, array in tensors.items()
        }
        full["files"] = dict(sorted(checksums.items()))
        full[_ANSWERS_KEY] = _answers_digest(full)
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, default=_json_default))
        ordinary_permissions(staging)
        _swap_into_place(staging, folder)
    except OSError as error:
        raise ModelFileError(f"cannot write the model to {folder}: {error.strerror}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return folder


_ANSWERS_KEY = "answers_sha256"
_ANSWER_FIELDS = ("model", "ranker", "y_range", "rating_scale", "tensors")
"""The manifest's fields that change what a model answers: an edit to one (a rating scale of 1-10 on a 1-5
model) would be served silently, so they are covered by a checksum; the rest (notes, metrics) may be
edited freely."""


def _answers_digest(manifest: dict[str, Any]) -> str:
    fields = {name: manifest.get(name) for name in _ANSWER_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=_json_default).encode()).hexdigest()


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _swap_into_place(staging: Path, folder: Path) -> None:
    """Replace ``folder`` by ``staging`` with renames; on failure the old folder is put back."""
    if not folder.exists():
        os.replace(staging, folder)
        return
    ensure_replaceable(folder)
    aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
    aside.rmdir()
    replace_folder(staging, folder, aside)
    shutil.rmtree(aside, ignore_errors=True)


def ensure_replaceable(folder: str | os.PathLike[str]) -> None:
    """Refuse a destination that holds anything but a model (or only a training checkpoint).

    Saving replaces the destination whole, so ``--out ~/Documents`` must fail before anything is deleted.

    Raises:
        ModelFileError: The destination is a file, or a folder with other content.
    """
    folder = Path(folder)
    if not folder.exists():
        problem = unwritable_reason(folder)
        if problem is not None:
            raise ModelFileError(f"cannot write the model to {folder}: {problem}; choose another --out")
        return
    if not folder.is_dir():
        raise ModelFileError(f"{folder} is a file, not a model folder; choose another --out")
    problem = unwritable_reason(folder.parent)
    if problem is not None:
        raise ModelFileError(f"cannot replace the model in {folder}: {problem}; choose another --out")
    if (folder / MANIFEST).is_file():
        return
    if any(entry.name != CHECKPOINT_DIR for entry in folder.iterdir()):
        raise ModelFileError(
            f"{folder} is not empty and not a bookrec model folder; saving would replace it, "
            "so choose another --out"
        )


def read_model_folder(folder: str | os.PathLike[str], *, kinds: tuple[str, ...] = ()) -> ModelFolder:
    """Read and check a model folder.

    Args:
        folder: The folder ``write_model_folder`` made.
        kinds: Accepted ``manifest["model"]["kind"]`` values (empty: any).

    Raises:
        ModelFileError: Missing, corrupt, truncated, tampered, incompatible or newer-format; one line.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ModelFileError(
            f"{folder}: no such model folder (train one with `bookrec train --out {folder}`)"
        )
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ModelFileError(f"{folder}: not a bookrec model folder (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{manifest_path}: corrupt manifest ({error})") from None
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{manifest_path}: corrupt manifest (not a JSON object)")
    version = manifest.get("format_version")
    if not isinstance(version, int):
        raise ModelFileError(f"{manifest_path}: no format_version; not a bookrec model")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{folder}: made by a newer bookrec (model format {version}; this bookrec reads up to "
            f"{FORMAT_VERSION}); upgrade bookrec to load it"
        )
    recorded = manifest.get(_ANSWERS_KEY)  # absent from folders saved before it was added
    if recorded is not None and recorded != _answers_digest(manifest):
        changed = ", ".join(_ANSWER_FIELDS[:-1])
        raise ModelFileError(
            f"{manifest_path}: a field that changes the model's answers ({changed} or tensors) was edited "
            "after saving; restore the file or retrain"
        )
    kind = (manifest.get("model") or {}).get("kind")
    if kinds and kind not in kinds:
        raise ModelFileError(f"{folder}: model kind {kind!r} is not one of {', '.join(kinds)}")
    files = manifest.get("files")
    if not isinstance(files, dict) or WEIGHTS not in files:
        raise ModelFileError(f"{manifest_path}: corrupt manifest (no file checksums)")
    try:
        mapping = _tensorfile.open_mapping(folder / WEIGHTS)
    except OSError as error:
        missing = isinstance(error, FileNotFoundError)
        raise ModelFileError(
            f"{folder}: {WEIGHTS} is missing" if missing else f"{folder / WEIGHTS}: cannot be read ({error})"
        ) from None
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise ModelFileError(f"{folder}: {name} is missing")
        try:
            # The weights are hashed through their mapping: the pages read stay cached for the queries.
            actual = _tensorfile.checksum_of(path, str(expected), mapping if name == WEIGHTS else None)
        except OSError as error:
            raise ModelFileError(f"{path}: cannot be read ({error})") from None
        if actual != expected:
            raise ModelFileError(f"{path}: checksum mismatch: the file is truncated, corrupt or was changed")
    try:
        tensors = _tensorfile.map_tensors(mapping)
    except _tensorfile.TensorFileError as error:
        raise ModelFileError(f"{folder / WEIGHTS}: cannot be read ({error})") from None
    for name, spec in (manifest.get("tensors") or {}).items():
        if name not in tensors:
            raise ModelFileError(f"{folder / WEIGHTS}: tensor {name!r} is missing")
        if list(tensors[name].shape) != list(spec.get("shape", [])):
            raise ModelFileError(
                f"{folder / WEIGHTS}: tensor {name!r} has shape {list(tensors[name].shape)}, "
                f"the manifest says {spec.get('shape')}"
            )
    tables = {}
    for name in files:
        stem, suffix = os.path.splitext(name)
        if suffix in (_TABLE, ".parquet"):
            try:
                tables[stem] = _read_table(folder / name)
            except (pa.ArrowException, OSError) as error:
                raise ModelFileError(f"{folder / name}: cannot be read ({error})") from None
    return ModelFolder(tensors=tensors, manifest=manifest, tables=tables, path=folder)


_TABLE = ".arrow"
"""Tables are Arrow IPC files since format 2 (Parquet before, still read). Parquet took 1.7 s to decode a
million books' table (4 s at 2.36 million); an uncompressed IPC file with 64-bit string offsets is mapped
and becomes a DataFrame without a copy (pandas' Arrow-backed strings): milliseconds at any size."""


def _write_table(path: Path, frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    wide = [pa.large_string() if pa.types.is_string(t) else t for t in table.schema.types]
    fields = [field.with_type(t) for field, t in zip(table.schema, wide, strict=True)]
    # The schema's pandas metadata comes along: it brings back each column's dtype (an all-missing
    # "string" column stays <NA>, not NaN).
    table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all().to_pandas()


def remember_last_model(folder: str | os.PathLike[str]) -> str | None:
    """Record ``folder`` as the last trained model, the default wherever a MODEL is asked for.

    Returns:
        None, or why it could not be recorded (a read-only bookrec folder): the model is saved all the
        same, so this is for a warning, not an error.
    """
    pointer = models_dir() / _LAST_POINTER
    staging = pointer.with_name(f".{_LAST_POINTER}.{os.getpid()}")
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        staging.write_text(str(Path(folder).resolve()), encoding="utf-8")
        os.replace(staging, pointer)
    except OSError as error:
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
        return f"could not record it as the last model in {pointer} ({error.strerror or error})"
    return None


def lock_path(folder: str | os.PathLike[str]) -> Path:
    """The lock file of a model folder: ``<folder>.lock`` beside it (the folder itself is swapped whole)."""
    folder = Path(folder)
    return folder.with_name(f"{folder.name}.lock")


@contextlib.contextmanager
def model_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``<folder>.lock`` while training into ``folder``, so a second run on it is refused.

    Raises:
        ModelFileError: Another live process trains into it (names its process id); a lock left by a
            process that is gone is taken over.
    """
    path = lock_path(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        acquire_lock(path)
    except LockHeld as held:
        who = f"process {held.holder}" if held.holder is not None else "another process"
        raise ModelFileError(
            f"{folder} is being written by {who} (lock file {path}); wait for it, or choose another --out"
        ) from None
    except OSError as error:
        raise ModelFileError(f"cannot write the model to {folder}: {error.strerror or error}") from None
    try:
        # Holding the lock, no other save into this folder runs: what a killed one left can be undone.
        folder = Path(folder)
        recover_interrupted_swap(folder, f".{folder.name}.new-", f".{folder.name}.old-")
        yield
    finally:
        release_lock(path)


def last_model_path() -> Path:
    """The last trained model's folder.

    Raises:
        ModelFileError: No model has been trained yet (says how to train one).
    """
    pointer = models_dir() / _LAST_POINTER
    try:
        folder = Path(pointer.read_text(encoding="utf-8").strip())
    except OSError:
        folder = None
    if folder is None or not (folder / MANIFEST).is_file():
        raise ModelFileError("no trained model yet: train one with `bookrec train` (or name a model folder)")
    return folder


def resolve_model_path(model: str | os.PathLike[str] | None) -> Path:
    """The folder a MODEL argument names, or the last trained model when it is None."""
    return last_model_path() if model is None else Path(model)


# --- a trained model: its head, ids, books and what each reader rated -------------------------------------


@dataclass(frozen=True)
class SavedModel:
    """A model folder's contents as serving uses them.

    Attributes:
        head: The model kind's serving head.
        users: Reader ids by position.
        books: Book ids by position.
        books_table: Metadata, one row per book position.
        rated: Each reader's training ratings.
        rating_scale: (min, max) of the data's ratings.
        manifest: What the folder says about itself (settings, data, metrics, history).
        ranker: The ranking model's head (see :mod:`bookrec.models.als`), or None: folders written before
            the ranking model, or trained with ``ranker="none"``, rank by predicted rating.
        indexes: Approximate-nearest-neighbour indexes by question (:mod:`bookrec.ann`); empty: every query
            scores every book (catalogues under ``ann.THRESHOLD`` books, and folders saved before them).
        lookups: The title index and the editions' groups made from ``books_table`` (:mod:`bookrec.lookups`),
            mapped from the folder; empty (folders saved before them, models not yet saved): made on first
            use. Saving makes them again from the table.
    """

    head: ServingHead
    users: IdMap
    books: IdMap
    books_table: pd.DataFrame
    rated: RatedBooks
    rating_scale: tuple[float, float]
    manifest: dict[str, Any]
    ranker: Any = None
    indexes: Mapping[str, ann.BookIndex] = field(default_factory=dict)
    lookups: Mapping[str, np.ndarray] = field(default_factory=dict)


def _index_file(name: str) -> str:
    return f"ann-{name}.faiss"


def save_model(
    folder: str | os.PathLike[str], model: SavedModel, *, made_lookups: Mapping[str, np.ndarray] | None = None
) -> Path:
    """Write a model folder (atomic; a model already there is replaced only whole).

    A model of ``ann.THRESHOLD`` books or more is saved with its approximate-nearest-neighbour indexes: the
    ones it carries (``model.indexes``, e.g. loaded with it), and those it lacks built now (about a minute
    per million books each). Every model is saved with the lookups made from its books table
    (:mod:`bookrec.lookups`: about 13 s per million books), so that its first title search and first list
    are as fast as the next.

    ``made_lookups``: the lookups already made from ``model.books_table`` (a training run makes them when it
    begins, while memory is free), written as they are.

    Raises:
        ModelFileError: The folder cannot be written.
    """
    from bookrec import __version__

    head, rated = model.head, model.rated
    tensors = head.to_tensors() | {
        # copy=False: the grouped ratings are int32 / float32 already (UCSD shape: two 0.33 GB copies at save)
        "rated_indptr": rated.indptr.astype(np.int64, copy=False),
        "rated_book_idx": rated.book_idx.astype(np.int32, copy=False),
        "rated_rating": rated.rating.astype(np.float32, copy=False),
    }
    manifest = dict(model.manifest)
    manifest["model"] = dict(manifest.get("model") or {}) | {"kind": head.kind}
    manifest["y_range"] = list(head.y_range)
    manifest["rating_scale"] = list(model.rating_scale)
    manifest["n_users"], manifest["n_books"] = len(model.users), len(model.books)
    manifest["n_factors"] = head.n_factors
    manifest["bookrec_version"] = __version__
    manifest.pop("ranker", None)
    if model.ranker is not None:
        tensors |= model.ranker.to_tensors()
        manifest["ranker"] = {"kind": model.ranker.kind, "settings": model.ranker.settings()}
    tables = {"books": model.books_table, "users": pd.DataFrame({"user_id": model.users.ids})}
    indexes = dict(model.indexes)
    taste = book_taste(head.book_vectors, model.ranker)
    if "similar" in indexes and taste.source != manifest.get("similar_from", RATING):
        del indexes["similar"]  # built from other vectors (a folder saved before bookrec.taste): made again
    manifest["similar_from"] = taste.source
    indexes |= ann.build_indexes(
        head.book_vectors if taste.vectors is None else taste.vectors,
        None if model.ranker is None else model.ranker.book_factors,
        head=head,
        have=indexes.keys(),
    )
    manifest.pop("ann", None)
    if indexes:
        manifest["ann"] = {name: index.settings() for name, index in indexes.items()}
    files = {_index_file(name): index.write for name, index in indexes.items()}
    # Made from the table (a training run made them from it when it began), never copied from an older
    # folder: a folder's lookups always match its books.
    files[lookups.FILE] = lambda path: lookups.write(
        path, made_lookups if made_lookups is not None else lookups.build(model.books_table)
    )
    return write_model_folder(folder, tensors, manifest, tables, files)


def load_model(folder: str | os.PathLike[str] | None = None) -> SavedModel:
    """Read a model folder (None: the last trained model), checking every file and every table's size.

    Raises:
        ModelFileError: Missing, corrupt, truncated, tampered, of an unknown kind or from a newer bookrec.
    """
    path = resolve_model_path(folder)
    content = read_model_folder(path)
    manifest, tensors = content.manifest, content.tensors
    kind = (manifest.get("model") or {}).get("kind")
    if kind not in model_kinds():
        raise ModelFileError(
            f"{path}: model kind {kind!r} is not one this bookrec serves ({', '.join(model_kinds())}); "
            "upgrade bookrec, or retrain the model"
        )
    head_class = model_kinds()[kind].head
    try:
        missing = [name for name in head_class.tensor_names() if name not in tensors]
        if missing:
            raise KeyError(missing[0])
        y_range = (float(manifest["y_range"][0]), float(manifest["y_range"][1]))
        head = head_class.from_tensors(tensors, y_range)
        books_table = content.tables["books"]
        users = IdMap(content.tables["users"]["user_id"].to_numpy())
        books = IdMap(books_table["book_id"].to_numpy())
        rated = RatedBooks(tensors["rated_indptr"], tensors["rated_book_idx"], tensors["rated_rating"])
        scale = (float(manifest["rating_scale"][0]), float(manifest["rating_scale"][1]))
        ranker = _ranker(manifest, tensors, path)
        indexes = {
            name: ann.BookIndex.read(path / _index_file(name), settings)
            for name, settings in (manifest.get("ann") or {}).items()
            if name in ann.NAMES
        }
        found = lookups.read(path / lookups.FILE, len(books)) if lookups.FILE in manifest["files"] else {}
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{path}: incomplete model ({type(error).__name__}: {error})") from None
    shapes_ok = (
        head.n_users == len(users) == rated.n_users
        and head.n_books == len(books) == head.book_bias.shape[0] == len(books_table)
        and int(rated.indptr[-1]) == rated.book_idx.shape[0] == rated.rating.shape[0]
        and (ranker is None or (ranker.n_users == len(users) and ranker.n_books == len(books)))
        and all(index.n_books == len(books) for index in indexes.values())
    )
    if not shapes_ok:
        raise ModelFileError(f"{path}: inconsistent model (table sizes do not match the id maps)")
    return SavedModel(
        head, users, books, books_table, rated, scale, manifest, ranker=ranker, indexes=indexes, lookups=found
    )


def _ranker(manifest: dict[str, Any], tensors: dict[str, np.ndarray], path: Path) -> Any:
    """The ranking model's head that the manifest names, or None when it names none."""
    record = manifest.get("ranker")
    if record is None:
        return None
    kind = record.get("kind")
    if kind not in ranker_kinds():
        raise ModelFileError(
            f"{path}: ranking model {kind!r} is not one this bookrec serves; upgrade bookrec, or retrain"
        )
    return ranker_kinds()[kind].head.from_tensors(tensors, record["settings"])


# --- training checkpoints -----------------------------------------------------------------------------


def write_checkpoint(
    folder: str | os.PathLike[str], arrays: dict[str, np.ndarray], values: dict[str, Any]
) -> None:
    """One file, replaced atomically: a crash mid-write leaves the previous checkpoint intact.

    Raises:
        ModelFileError: The folder cannot be written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=folder)
        os.close(handle)
    except OSError as error:
        raise ModelFileError(f"cannot write a checkpoint to {folder}: {error.strerror}") from None
    try:
        contiguous = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
        save_file(contiguous, tmp, metadata={"bookrec": json.dumps(values, default=_json_default)})
        os.replace(tmp, folder / CHECKPOINT)
    except OSError as error:
        raise ModelFileError(f"cannot write a checkpoint to {folder}: {error.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_checkpoint(folder: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and values ``write_checkpoint`` stored.

    Raises:
        CheckpointError: No checkpoint, an unreadable one, or one of another format.
    """
    path = Path(folder) / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"no checkpoint to resume in {folder}; train without --resume to start afresh")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata() or {}
        values = json.loads(metadata["bookrec"])
        arrays = load_file(str(path))
    except (SafetensorError, OSError, KeyError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable checkpoint ({error}); train without --resume") from None
    if values.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {values.get('format')!r} is not one this bookrec reads"
        )
    return arrays, values
