"""The arrays behind the title search (:mod:`bookrec.titles`): exact keys and the fuzzy name index.

Both are made from a books table alone, so a model folder stores them (``lookups.safetensors``, see
:mod:`bookrec.lookups`) and a loaded model maps them instead of making them again: made on first use, the
exact keys took 7 s at 2.36 million books, and the name index 17.5 s and 4 GB at a million. A folder without
them (saved before they were stored) makes them on first use, as before; both ways give the same answers.

The exact keys are 64-bit hashes of normalized titles (pandas' SipHash with its fixed key), sorted; the file
keeps the hash of a fixed probe beside them, so that a pandas whose hash differed would make them again
rather than miss every title.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["ExactTitles", "Names", "Strings", "key_hashes", "trigrams", "without_article", "without_articles"]

_ARTICLES = frozenset({"the", "a", "an"})
_PROBE = "the lord of the rings"


def without_article(key: str) -> str:
    """A normalized key without its leading article ("the hobbit" -> "hobbit")."""
    first, _, rest = key.partition(" ")
    return rest if rest and first in _ARTICLES else key


def without_articles(keys: np.ndarray) -> np.ndarray:
    """``without_article`` of every key (object array), as one Arrow string kernel."""
    array = pa.array(keys, type=pa.large_string())
    stripped = pc.replace_substring_regex(
        array, pattern=r"^(?:the|a|an) (.)", replacement=r"\1", max_replacements=1
    )
    return stripped.to_numpy(zero_copy_only=False)


def key_hashes(keys: np.ndarray) -> np.ndarray:
    """64-bit hashes of keys (object array of str), as stored: pandas' SipHash with its default key."""
    return pd.util.hash_array(np.asarray(keys, dtype=object), categorize=False)


class Strings(Sequence[str]):
    """Texts stored as one UTF-8 byte array and its offsets (Arrow's layout): storable, mappable, and
    read one at a time without making a Python string of every text."""

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        self.data = data
        self.offsets = offsets

    @classmethod
    def pack(cls, texts: Iterable[str]) -> Strings:
        """The texts in this layout."""
        array = pa.array(list(texts), type=pa.large_string())
        _, offsets, data = array.buffers()
        count = len(array)
        data_array = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
        return cls(data_array.copy(), np.frombuffer(offsets, dtype=np.int64)[: count + 1].copy())

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        return bytes(self.data[int(self.offsets[i]) : int(self.offsets[i + 1])]).decode("utf-8")

    def arrow(self) -> pa.LargeStringArray:
        """The texts as an Arrow array over the same bytes (no copy), for Arrow's string kernels."""
        return pa.LargeStringArray.from_buffers(
            len(self), pa.py_buffer(self.offsets), pa.py_buffer(self.data)
        )


class ExactTitles:
    """Keys -> the most read book with that key (as a title or original title, with or without a leading
    article), as sorted 64-bit hashes of the keys, looked up by binary search, each hit checked against the
    book's own keys (``keys_of``)."""

    def __init__(
        self, hashes: np.ndarray, books: np.ndarray, keys_of: Callable[[int], Iterable[str]]
    ) -> None:
        self.hashes = hashes
        self.books = books
        self._keys_of = keys_of

    @staticmethod
    def build(columns: tuple[np.ndarray, ...], popularity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sorted hashes and their books, from key columns (one key per book each, "" for none), with
        column operations: tenths of a second a million books (a dict of the keys took seconds)."""
        n = popularity.size
        rank = np.empty(n, dtype=np.int64)
        rank[np.argsort(-popularity, kind="stable")] = np.arange(n)
        names, books = [], []
        for keys in columns:
            for variant in (keys, without_articles(keys)):
                present = np.flatnonzero(variant != "")
                names.append(variant[present])
                books.append(present)
        book = np.concatenate(books)
        hashes = key_hashes(np.concatenate(names))
        order = np.lexsort((rank[book], hashes))  # by hash, the most read first within one
        return hashes[order], book[order].astype(np.int32)

    @staticmethod
    def probe() -> np.ndarray:
        """The hash of a fixed key, stored beside the hashes: a different one means another hash function."""
        return key_hashes(np.array([_PROBE], dtype=object))

    def get(self, key: str) -> int | None:
        """The most read book with ``key`` among its keys, or None."""
        if not key:
            return None
        target = key_hashes(np.array([key], dtype=object))[0]
        start = int(np.searchsorted(self.hashes, target, side="left"))
        stop = int(np.searchsorted(self.hashes, target, side="right"))
        for book in self.books[start:stop].tolist():  # one, unless two keys share a hash
            if any(key in (k, without_article(k)) for k in self._keys_of(book) if k):
                return int(book)
        return None


class Names:
    """Unique name texts, the books each names (with weight and kind), and a character-trigram index.

    Args:
        texts: The unique names.
        book, weight, kind: One entry per (name, book), grouped by name.
        offsets: Name i's entries are ``offsets[i]:offsets[i + 1]``.
        gram_values, gram_starts, owner: Each distinct trigram (sorted) and the names that hold it:
            ``owner[gram_starts[i]:gram_starts[i + 1]]`` for ``gram_values[i]`` (a trigram's names in one
            slice, and a third of the size of one trigram per (trigram, name) pair).
        n_grams: Distinct trigrams per name.
    """

    _ARRAYS = ("book", "weight", "kind", "offsets", "gram_values", "gram_starts", "owner", "n_grams")

    def __init__(
        self,
        texts: Sequence[str],
        book: np.ndarray,
        weight: np.ndarray,
        kind: np.ndarray,
        offsets: np.ndarray,
        gram_values: np.ndarray,
        gram_starts: np.ndarray,
        owner: np.ndarray,
        n_grams: np.ndarray,
    ) -> None:
        self.texts = texts
        self.book, self.weight, self.kind, self.offsets = book, weight, kind, offsets
        self.gram_values, self.gram_starts = gram_values, gram_starts
        self.owner, self.n_grams = owner, n_grams

    @classmethod
    def build(cls, entries: list[tuple[str, int, float, int]]) -> Names:
        """The index of (name, book, weight, kind) entries."""
        number: dict[str, int] = {}
        text_of = np.array([number.setdefault(e[0], len(number)) for e in entries], dtype=np.int64)
        order = np.argsort(text_of, kind="stable")
        texts = list(number)
        book = np.array([e[1] for e in entries], dtype=np.int32)[order]
        weight = np.array([e[2] for e in entries], dtype=np.float64)[order]
        kind = np.array([e[3] for e in entries], dtype=np.int8)[order]
        offsets = np.searchsorted(text_of[order], np.arange(len(texts) + 1)).astype(np.int64)
        grams, owner = trigrams(texts)
        order = np.lexsort((owner, grams))
        grams, owner = grams[order], owner[order]
        first = np.ones(grams.size, dtype=bool)  # each trigram once per name
        first[1:] = (grams[1:] != grams[:-1]) | (owner[1:] != owner[:-1])
        grams, owner = grams[first], owner[first].astype(np.int32)
        n_grams = np.bincount(owner, minlength=len(texts)).astype(np.int32)
        head = np.ones(grams.size, dtype=bool)  # where each distinct trigram's names start
        head[1:] = grams[1:] != grams[:-1]
        new = np.flatnonzero(head)
        starts = np.append(new, grams.size).astype(np.int64)
        return cls(texts, book, weight, kind, offsets, grams[new], starts, owner, n_grams)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The index as named arrays (texts as UTF-8 bytes and offsets), for a tensor file."""
        texts = self.texts if isinstance(self.texts, Strings) else Strings.pack(self.texts)
        arrays = {f"{prefix}text_data": texts.data, f"{prefix}text_offsets": texts.offsets}
        return arrays | {f"{prefix}{name}": getattr(self, name) for name in self._ARRAYS}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> Names | None:
        """The index ``to_arrays`` stored (mapped, not copied), or None where the arrays lack it."""
        names = ("text_data", "text_offsets", *cls._ARRAYS)
        if not all(f"{prefix}{name}" in arrays for name in names):
            return None
        texts = Strings(arrays[f"{prefix}text_data"], arrays[f"{prefix}text_offsets"])
        return cls(texts, *(arrays[f"{prefix}{name}"] for name in cls._ARRAYS))

    def retrieve(self, key: str, limit: int) -> np.ndarray:
        """The names sharing most of ``key``'s trigrams (as a share of its own), shorter first on ties."""
        query = np.unique(trigrams([key])[0])
        at = np.minimum(np.searchsorted(self.gram_values, query), max(self.gram_values.size - 1, 0))
        known = at[self.gram_values[at] == query] if self.gram_values.size else at[:0]
        if known.size == 0:
            return np.zeros(0, dtype=np.int64)
        starts, stops = self.gram_starts[known].tolist(), self.gram_starts[known + 1].tolist()
        hits = np.concatenate([self.owner[a:b] for a, b in zip(starts, stops, strict=True)])
        shared = np.bincount(hits, minlength=len(self.texts)).astype(np.float64)
        # Dice breaks ties in containment: among names that contain the whole query, the closest in length.
        keyed = shared / len(query) + 0.1 * shared / (len(query) + self.n_grams)
        found = np.flatnonzero(shared >= max(1.0, 0.3 * len(query)))
        if found.size > limit:
            found = found[np.argpartition(-keyed[found], limit - 1)[:limit]]
        return found


def trigrams(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every character trigram of every text (padded with a space each side) as an int64, and its text."""
    padded = "".join(f" {t} \x00" for t in texts)
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    owner = np.repeat(np.arange(len(texts)), [len(t) + 3 for t in texts])
    gram = (codes[:-2] << 42) | (codes[1:-1] << 21) | codes[2:]  # code points fit in 21 bits
    valid = (codes[:-2] != 0) & (codes[1:-1] != 0) & (codes[2:] != 0)
    return gram[valid], owner[:-2][valid]
