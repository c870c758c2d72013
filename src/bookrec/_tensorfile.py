"""The tensors of a model folder as one safetensors file: written as a stream, read by memory-mapping.

The format is safetensors' own (an 8-byte little-endian header length, a JSON header naming each tensor's
dtype, shape and byte range, then the bytes), so the file stays readable by ``safetensors.numpy.load_file``
and by every other safetensors reader; no pickle, nothing in it can run code.

Why not the safetensors package here: its numpy ``save_file`` copies every array to ``bytes`` before
writing (three copies of a 2.4 GB model in memory), and its ``load_file`` reads every tensor into memory
(seconds on a 2.36-million-book model, and the whole model resident in each process). Here arrays are
written straight from their buffers, with their checksum computed on the way, and read back as read-only
views of one ``mmap`` of the file: loading touches no tensor's bytes, the operating system pages in what a
query reads, and processes serving one model share its pages. The header is checked as strictly as
safetensors checks it (known dtypes, sizes that match the shapes, byte ranges that tile the data exactly),
so a truncated or padded file is refused before any array is made.

A mapped file must not be rewritten in place while it is served: bookrec never does (a model is replaced by
renaming a complete new folder over it, and the mapping keeps the old file's bytes alive).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
from typing import Any

import numpy as np
import xxhash

__all__ = [
    "CHECKSUM",
    "TensorFileError",
    "checksum_of",
    "map_tensors",
    "mapped",
    "open_mapping",
    "write_tensors",
]

CHECKSUM = "xxh3_128"
"""The content checksum of new model folders' files, written ``xxh3_128:<hex>``: ~10 GB/s against SHA-256's
0.8 GB/s here, so that checking a 3 GB model on load costs tenths of a second, not seconds. It guards
against truncation, corruption and edits, as SHA-256 did; neither guards against a forger, who could
rewrite the manifest too. Folders written before it carry bare SHA-256 hex digests, still checked as such."""

_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U64": np.uint64,
    "U32": np.uint32,
    "U16": np.uint16,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_CODES = {np.dtype(value): code for code, value in _DTYPES.items()}
_MAX_HEADER = 100_000_000  # safetensors' own limit
_CHUNK = 1 << 20  # bytes hashed at a time when reading a file that is not mapped (one buffer, reused)


class TensorFileError(ValueError):
    """A tensor file that cannot be read: what is wrong with it, in one line."""


def write_tensors(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` as a safetensors file, from their own buffers; return its checksum.

    Tensors are laid out by name, each starting on an 8-byte boundary (the header is padded with spaces, as
    safetensors pads it), so that every mapped array is aligned.
    """
    header: dict[str, Any] = {}
    offset = 0
    contiguous = {}
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        if array.dtype not in _CODES:
            raise TypeError(f"tensor {name!r}: dtype {array.dtype} cannot be stored")
        contiguous[name] = array
        header[name] = {
            "dtype": _CODES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    digest = xxhash.xxh3_128()
    with open(path, "wb") as handle:
        for chunk in (struct.pack("<Q", len(text)), text, *(_bytes(a) for a in contiguous.values())):
            digest.update(chunk)
            handle.write(chunk)
    return f"{CHECKSUM}:{digest.hexdigest()}"


def _bytes(array: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous array, without a copy."""
    return memoryview(array.reshape(-1).view(np.uint8)) if array.size else memoryview(b"")


def checksum_of(path: str | os.PathLike[str], recorded: str, mapping: mmap.mmap | None = None) -> str:
    """The checksum of a file in the form ``recorded`` has: ``xxh3_128:<hex>``, or bare SHA-256 hex (old
    folders). ``mapping``: the file already mapped, hashed in place instead of read again."""
    if recorded.startswith(f"{CHECKSUM}:"):
        digest: Any = xxhash.xxh3_128()
        prefix = f"{CHECKSUM}:"
    else:
        digest, prefix = hashlib.sha256(), ""
    if mapping is not None:
        digest.update(mapping)
    else:
        buffer = bytearray(_CHUNK)
        view = memoryview(buffer)
        with open(path, "rb", buffering=0) as handle:
            while size := handle.readinto(buffer):
                digest.update(view[:size])
    return prefix + digest.hexdigest()


def open_mapping(path: str | os.PathLike[str]) -> mmap.mmap | None:
    """A read-only mapping of the file (None for an empty file, which cannot be mapped)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else None


def map_tensors(mapping: mmap.mmap | None) -> dict[str, np.ndarray]:
    """The tensors of a mapped safetensors file, as read-only arrays over the mapping (no bytes read).

    Raises:
        TensorFileError: Too short, a header that is not safetensors', or byte ranges that do not tile the
            data exactly (a truncated or padded file).
    """
    size = 0 if mapping is None else len(mapping)
    if mapping is None or size < 8:
        raise TensorFileError(f"{size} bytes: too short for a safetensors file")
    (length,) = struct.unpack("<Q", mapping[:8])
    if length > min(_MAX_HEADER, size - 8):
        raise TensorFileError(f"header of {length} bytes in a file of {size}: truncated or not safetensors")
    try:
        header = json.loads(mapping[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TensorFileError(f"unreadable header ({error})") from None
    if not isinstance(header, dict):
        raise TensorFileError("the header is not a JSON object")
    header.pop("__metadata__", None)
    start, data_size = 8 + length, size - 8 - length
    ranges, arrays = [], {}
    for name, spec in header.items():
        dtype, shape, begin, end = _spec(name, spec)
        if not 0 <= begin <= end <= data_size:
            raise TensorFileError(f"tensor {name!r} lies outside the file: truncated")
        if end - begin != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise TensorFileError(f"tensor {name!r}: {end - begin} bytes do not hold shape {shape}")
        ranges.append((begin, end))
        count = (end - begin) // dtype.itemsize
        arrays[name] = np.frombuffer(mapping, dtype=dtype, count=count, offset=start + begin).reshape(shape)
    covered = 0
    for begin, end in sorted(ranges):
        if begin != covered:
            raise TensorFileError("tensors overlap or leave gaps: the file is corrupt")
        covered = end
    if covered != data_size:
        raise TensorFileError(f"{data_size - covered} bytes beyond the last tensor: the file is corrupt")
    return arrays


def _spec(name: str, spec: object) -> tuple[np.dtype, list[int], int, int]:
    if not isinstance(spec, dict) or spec.get("dtype") not in _DTYPES:
        raise TensorFileError(f"tensor {name!r}: unknown or missing dtype")
    shape, offsets = spec.get("shape"), spec.get("data_offsets")
    valid_shape = isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)
    valid_offsets = isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)
    if not (valid_shape and valid_offsets):
        raise TensorFileError(f"tensor {name!r}: malformed shape or byte range")
    return np.dtype(_DTYPES[spec["dtype"]]), shape, offsets[0], offsets[1]


def mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is a view of a memory-mapped file (not a copy in memory)."""
    base: Any = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return True
        base = getattr(base, "base", None) if isinstance(base, np.ndarray) else getattr(base, "obj", None)
    return False
