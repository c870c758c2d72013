"""What finding books needs, made from the books table when a model is saved: ``lookups.safetensors``.

Serving does not grow with the catalogue: made on first use, the exact-title index took 7 s on the first
lookup by title at 2.36 million books (normalizing and hashing every title), the fuzzy index 17.5 s and 4 GB
on the first fuzzy search at a million (the trigrams of every title and author), and the editions' groups
1.2 s on the first recommendation at 2.36 million. All three depend on the books table only, so
``save_model`` makes them once (31 s at 2.36 million books) and the folder stores them as arrays in a
safetensors file (:mod:`bookrec._tensorfile`: memory-mapped on load, checksummed like every file, no
pickle): the first lookup by title then takes 28 ms, the first fuzzy search 71 ms and the first
recommendation 21 ms (benchmarks/bench_serving.py). A folder saved before this file existed makes them on
first use, as it always did, with the same answers.

The arrays:

- ``exact_*`` and ``names_*``: the title search's indexes (:class:`bookrec.titles.TitleIndex.arrays`);
- ``work``: each book's work (-1: none), numbered in order of first appearance; ``by_work``: the positions
  sorted by work, work w's at ``by_work[work_starts[w]:work_starts[w + 1]]`` (a work's editions without
  reading every book's);
- ``omnibus``: positions of box sets, collections and titles spanning several volumes, and
  ``omnibus_text_*``: their titles' words, space-padded, for finding the omnibuses of a series.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bookrec._tensorfile import map_tensors, open_mapping, write_tensors
from bookrec._title_index import Strings
from bookrec.titles import TitleIndex

__all__ = ["FILE", "SERIES_NOTE", "Editions", "build", "read", "words", "write"]

FILE = "lookups.safetensors"
SERIES_NOTE = re.compile(r"\(([^()#]+?),?\s*#\s*([\d.]+)(\s*-\s*[\d.]+)?\s*\)")  # "(Harry Potter, #1-7)"
_OMNIBUS_WORDS = re.compile(
    r"\b(?:box ?set|boxed set|collection|omnibus|complete series|trilogy|books? \d+ ?- ?\d+)\b"
)
_EDITIONS = ("work", "by_work", "work_starts", "omnibus", "omnibus_text_data", "omnibus_text_offsets")


def build(books_table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every lookup array of a books table (row i: book position i)."""
    return TitleIndex(books_table).arrays() | editions_arrays(books_table)


def write(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> str:
    """Write the arrays as a safetensors file; return its checksum."""
    return write_tensors(path, dict(arrays))


def read(path: str | os.PathLike[str], n_books: int) -> dict[str, np.ndarray]:
    """The arrays of a lookups file, mapped (no bytes read until used).

    Raises:
        ValueError: Not a tensor file, or arrays that do not fit ``n_books`` books (one line).
    """
    arrays = map_tensors(open_mapping(path))
    if "work" in arrays:
        n_works = int(arrays["work"].max(initial=-1)) + 1
        for name, size in {"work": n_books, "by_work": n_books, "work_starts": n_works + 1}.items():
            if arrays.get(name) is None or arrays[name].shape != (size,):
                raise ValueError(f"{name} does not fit {n_books} books")
    for name in ("exact_book", "names_book", "by_work", "omnibus"):
        if (
            name in arrays
            and arrays[name].size
            and not 0 <= int(arrays[name].min()) <= int(arrays[name].max()) < n_books
        ):
            raise ValueError(f"{name} names a book position outside 0..{n_books - 1}")
    return arrays


def words(text: str) -> list[str]:
    """The words of a text, casefolded: how series names and omnibus titles are compared."""
    return re.findall(r"\w+", text.casefold())


def editions_arrays(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Works and omnibuses of the books (see the module docstring), with column operations (Arrow's, on the
    table's strings): only omnibus titles are split into words, so 2.36 million books take about a second,
    not the 11 s a pass in Python over every title took."""
    n = len(table)
    if "work_id" in table:
        work = table["work_id"].astype(str).str.strip()
        codes, uniques = pd.factorize(work, use_na_sentinel=True)
        codes = np.asarray(codes, dtype=np.int32)
        empty = np.flatnonzero(np.asarray(uniques) == "")
        if empty.size:
            codes[codes == empty[0]] = -1
    else:
        codes = np.full(n, -1, dtype=np.int32)
    titles = table["title"].astype(str)
    noted = np.flatnonzero(titles.str.contains("#", regex=False).to_numpy(dtype=bool, na_value=False))
    spans = np.zeros(n, dtype=bool)
    spans[noted] = titles.iloc[noted].str.extract(SERIES_NOTE)[2].notna().to_numpy(dtype=bool)
    named = titles.str.contains(_OMNIBUS_WORDS.pattern, case=False, regex=True)
    omnibus = np.flatnonzero(spans | named.to_numpy(dtype=bool, na_value=False)).astype(np.int32)
    # Each omnibus title's words, padded with spaces: a series name is a run of its words when " name "
    # is in it.
    text = Strings.pack(f" {' '.join(words(t))} " for t in titles.iloc[omnibus].tolist())
    counts = np.bincount(codes[codes >= 0], minlength=int(codes.max(initial=-1)) + 1)
    return {
        "work": codes,
        "by_work": np.argsort(codes, kind="stable").astype(np.int32),
        "work_starts": np.concatenate(([0], np.cumsum(counts))) + int((codes < 0).sum()),
        "omnibus": omnibus,
        "omnibus_text_data": text.data,
        "omnibus_text_offsets": text.offsets,
    }


class Editions:
    """Other editions, box sets and omnibuses of books: their works, and the omnibuses naming their series.

    Args:
        titles: The books' titles, by position (a book's series is read from its title when asked).
        arrays: ``editions_arrays`` of the table (stored in a model folder, or made now).
    """

    def __init__(self, titles: pd.Series, arrays: Mapping[str, np.ndarray]) -> None:
        self._titles = titles
        self.work = arrays["work"]  # -1: unknown
        self._by_work = arrays["by_work"]
        self._work_starts = arrays["work_starts"]
        self._omnibus = arrays["omnibus"]
        self._omnibus_words = Strings(arrays["omnibus_text_data"], arrays["omnibus_text_offsets"]).arrow()

    @classmethod
    def of_table(cls, table: pd.DataFrame, stored: Mapping[str, np.ndarray]) -> Editions:
        """The stored arrays where there are, else made from the table (about a second a million books)."""
        arrays = stored if all(name in stored for name in _EDITIONS) else editions_arrays(table)
        return cls(table["title"], arrays)

    def series(self, position: int) -> str:
        """The series named in a book's title note ("harry potter"), or ""."""
        title = self._titles.iat[position]
        note = SERIES_NOTE.search(str(title)) if "#" in str(title) else None
        return " ".join(words(note.group(1))) if note else ""

    def omnibuses(self, series: str) -> np.ndarray:
        """Positions of the omnibus titles that name ``series`` (a run of their words); a series name is
        rarely longer than 6 words."""
        if series.count(" ") >= 6 or not len(self._omnibus_words):
            return np.zeros(0, dtype=np.int64)
        import pyarrow.compute as pc

        hits = pc.match_substring(self._omnibus_words, f" {series} ").to_numpy(zero_copy_only=False)
        return self._omnibus[hits].astype(np.int64)

    def of(self, positions: np.ndarray) -> np.ndarray:
        """Other editions, box sets and omnibuses of the works at ``positions`` (excluding them)."""
        works = np.unique(self.work[positions])
        works = works[works >= 0]
        found = [self._by_work[self._work_starts[w] : self._work_starts[w + 1]] for w in works.tolist()]
        for series in {self.series(int(p)) for p in positions} - {""}:
            found.append(self.omnibuses(series))
        if not found:
            return np.zeros(0, dtype=np.int64)
        return np.setdiff1d(np.concatenate(found).astype(np.int64), positions)
