"""Approximate nearest books for catalogues of millions: faiss inverted-file indexes, one per question.

Scoring every book costs a pass over all their vectors: 1.2 GB and about 190 ms a query at 2.36 million
books. Above ``THRESHOLD`` books a model folder carries an index per question instead (built when it is
saved), and a query scores exactly only the candidates the index returns. Below it every book is scored, so
small catalogues answer exactly as they always did.

Every question becomes one: the largest inner products with unit vectors. "similar" (cosine) scales each
book vector to unit length; "match" (the ranking model's inner product ``q · b``) uses the classic reduction
of maximum inner product search to nearest neighbours (Bachrach et al. 2014): ``b -> [b / M,
sqrt(1 - |b / M|^2)]`` with ``M`` the largest book norm, and the query ``[q / |q|, 0]``, so that every row
has unit length and the nearest rows are those of the largest ``q · b``. "rating" (the highest predicted
ratings) is the same search on each book's ``[vector, bias]`` against the reader's ``[vector, bias, 1]``,
for a rating model whose score is such an inner product (the dot model; see ``rating_rows``). The index
is faiss's ``IndexIVFScalarQuantizer``: k-means lists (``nlist`` about twice the square root of the books),
8-bit codes (a quarter of the vectors' size), ``nprobe`` lists searched per query; the vectors are padded to a
multiple of 8 dimensions, which lets faiss use its SIMD code (129 dimensions ran 20-40 times slower).

The candidates are re-scored exactly by the caller, so every score shown is exact; only which books make the
list is approximate (recall@10 against scoring every book: benchmarks/bench_serving.py). Books a list must
leave out by a filter (genres, too few ratings) are skipped inside the index (a bitmap); books read are
asked for on top of k. Where too few candidates survive, the caller scores every book.

faiss is imported only where an index is built or read, so ``import bookrec`` stays light.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NAMES", "THRESHOLD", "BookIndex", "build_indexes", "pack", "rating_query", "rating_rows"]

THRESHOLD = 200_000
"""Books from which a saved model carries indexes: at 200,000 books an exact query scans 100 MB (about
15 ms), at a million about 80 ms."""
NAMES = ("similar", "match", "rating")
"""The questions an index answers: "similar" (cosine of the book vectors that carry taste: the rating model's,
or the ranking model's where it is biases alone, see ``bookrec.taste``), "match" (the
ranking model's inner product) and "rating" (the rating model's linear score, where it is an inner product:
see ``rating_rows``)."""
_BLOCK = 1 << 16  # books converted at a time while building (no float64 or full-size copy)
_TRAIN_PER_LIST = 30  # k-means sample per list (faiss warns below 39; 30 measured the same recall)
_COPY = 1 << 24  # bytes copied at a time when an index read from a file is written again
_NPROBE = 64  # lists searched: recall@10 >= 0.95 at 1M and 2.36M (benchmarks/bench_serving.py)


class BookIndex:
    """An inverted-file index of book vectors for one question (see the module docstring).

    Args:
        index: The faiss index.
        cosine: Whether rows were scaled to unit length (cosine) rather than augmented (inner product).
        nprobe: Lists searched per query.
        source: An open descriptor of the file the index was read from (see ``read``), or None.
    """

    def __init__(self, index: Any, cosine: bool, nprobe: int, source: int | None = None) -> None:
        self.index = index
        self.cosine = bool(cosine)
        self.nprobe = int(nprobe)
        self._source = source
        if source is not None:
            weakref.finalize(self, os.close, source)

    @property
    def n_books(self) -> int:
        """Books indexed."""
        return int(self.index.ntotal)

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        *,
        cosine: bool,
        nlist: int | None = None,
        nprobe: int = _NPROBE,
        seed: int = 0,
    ) -> BookIndex:
        """Index ``vectors`` (n_books, d), read in blocks (a memory-mapped table is not copied whole).

        Args:
            vectors: One row per book position.
            cosine: Cosine similarity (True) or inner product (False).
            nlist: k-means lists (default: about twice the square root of the books).
            nprobe: Lists searched per query.
            seed: Seed of the k-means sample and initialisation.
        """
        import faiss

        n, d = vectors.shape
        nlist = int(nlist or max(1, min(n // _TRAIN_PER_LIST, round(2 * math.sqrt(n)))))
        scale = 0.0
        if not cosine:
            for start in range(0, n, _BLOCK):
                block = np.asarray(vectors[start : start + _BLOCK], dtype=np.float32)
                scale = max(scale, float(np.linalg.norm(block, axis=1).max(initial=0.0)))
        dims = _padded(d)
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatL2(dims), dims, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2
        )
        index.cp.seed = seed
        index.cp.min_points_per_centroid = (
            1  # small catalogues train on all their books, without faiss's warning
        )
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, _TRAIN_PER_LIST * nlist), replace=False))
        index.train(_rows(np.asarray(vectors[sample], dtype=np.float32), dims, cosine, scale))
        for start in range(0, n, _BLOCK):
            index.add(
                _rows(np.asarray(vectors[start : start + _BLOCK], dtype=np.float32), dims, cosine, scale)
            )
        index.nprobe = int(min(nprobe, nlist))
        return cls(index, cosine, nprobe)

    def settings(self) -> dict[str, Any]:
        """What the manifest records beside the index file."""
        return {"cosine": self.cosine, "nprobe": self.nprobe, "nlist": int(self.index.nlist)}

    def write(self, path: str | Path) -> None:
        """Write the index as a faiss file (faiss's own binary format: arrays, no pickle).

        An index read from a file is written as a copy of that file: faiss would write a mapped index as a
        reference to the file it maps, not as its lists. The copy comes from the descriptor opened when it
        was read, so it is that file's checked bytes even if its folder has since been replaced.
        """
        if self._source is None:
            import faiss

            faiss.write_index(self.index, str(path))
            return
        with open(path, "wb") as out:
            offset = 0
            while chunk := os.pread(self._source, _COPY, offset):
                out.write(chunk)
                offset += len(chunk)

    @classmethod
    def read(cls, path: str | Path, settings: Mapping[str, Any]) -> BookIndex:
        """Map an index file (its lists stay on disk; the operating system pages in what a query reads)."""
        import faiss

        source = os.open(path, os.O_RDONLY)
        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
        except BaseException:
            os.close(source)
            raise
        return cls(index, bool(settings["cosine"]), int(settings["nprobe"]), source)

    def search(self, query: np.ndarray, n: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """Positions of up to ``n`` books nearest the query, nearest first (approximate order).

        Args:
            query: The reader's factors ("match"), the book's vector ("similar"), or ``rating_query``'s
                augmented parameters ("rating"), (d,).
            n: How many candidates.
            allowed: Which books may be returned: a boolean per position, or those booleans as ``pack``
                makes them (packed once, for a filter used again); None: all.
        """
        import faiss

        norm = float(np.linalg.norm(query))
        row = np.zeros((1, self.index.d), dtype=np.float32)
        row[0, : query.shape[0]] = query / max(norm, 1e-12)
        params = faiss.SearchParametersIVF(nprobe=self.nprobe)
        bits = None
        if allowed is not None:
            # ``bits`` must outlive the search (faiss keeps only a pointer).
            bits = pack(allowed) if allowed.dtype == np.bool_ else np.ascontiguousarray(allowed, np.uint8)
            params.sel = faiss.IDSelectorBitmap(self.n_books, faiss.swig_ptr(bits))
        _, found = self.index.search(row, int(min(n, self.n_books)), params=params)
        del bits
        found = found[0]
        return found[found >= 0].astype(np.int64)


def pack(allowed: np.ndarray) -> np.ndarray:
    """A boolean per position as faiss's ``IDSelectorBitmap`` reads it: bit i of byte i // 8, least
    significant first."""
    return np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")


def build_indexes(
    book_vectors: np.ndarray,
    ranker_factors: np.ndarray | None,
    *,
    threshold: int = THRESHOLD,
    head: Any = None,
    have: Collection[str] = (),
) -> dict[str, BookIndex]:
    """The indexes a model of this many books carries (none below ``threshold`` books).

    Args:
        book_vectors: The book vectors similar books are measured with ("similar"; ``bookrec.taste``).
        ranker_factors: The ranking model's book factors ("match"), or None without a ranking model.
        threshold: Books from which to index.
        head: The rating model's serving head: "rating" is indexed where its score is an inner product
            (``rating_rows``); None: not indexed.
        have: Indexes the model already carries: not built again (a folder saved before "rating" existed
            gets only that one).
    """
    if book_vectors.shape[0] < max(threshold, 1):
        return {}
    indexes = {}
    if "similar" not in have:
        indexes["similar"] = BookIndex.build(book_vectors, cosine=True)
    if ranker_factors is not None and "match" not in have:
        indexes["match"] = BookIndex.build(ranker_factors, cosine=False)
    rows = None if head is None or "rating" in have else rating_rows(head)
    if rows is not None:
        indexes["rating"] = BookIndex.build(rows, cosine=False)
    return indexes


def rating_query(params: np.ndarray) -> np.ndarray:
    """The "rating" index's query for a reader's parameters: ``[params, 1]`` (see ``rating_rows``)."""
    return np.append(np.asarray(params, dtype=np.float32), np.float32(1.0))


def rating_rows(head: Any) -> _AffineRows | None:
    """Each book's row ``[J_b, c_b]`` when the head's linear score is ``J_b · params + c_b`` for every
    reader, with ``J_b`` (the score's Jacobian, from the model contract) the same for all readers: then the
    highest predicted ratings are the largest inner products with ``[params, 1]`` (the dot model: ``J_b`` is
    the book's vector and a 1, ``c_b`` its bias). None where the Jacobian depends on the reader (the neural
    model, piecewise linear): probed on a sample of books with readers far apart."""
    n = head.n_books
    sample = np.unique(np.linspace(0, n - 1, min(n, 256)).astype(np.int64))
    rng = np.random.default_rng(0)
    base = np.asarray(head.average_reader(), dtype=np.float64)
    offsets = []
    design = None
    for _ in range(3):
        params = base + 3.0 * rng.standard_normal(base.size)
        linear, jacobian = head.score_jacobian(params, sample)
        if design is not None and not np.allclose(jacobian, design, rtol=1e-6, atol=1e-9):
            return None
        design = jacobian
        offsets.append(linear - jacobian @ params)
    scale = max(float(np.abs(offsets[0]).max(initial=0.0)), 1.0)
    if not all(np.allclose(o, offsets[0], rtol=0.0, atol=1e-6 * scale) for o in offsets[1:]):
        return None
    return _AffineRows(head, base)


class _AffineRows:
    """``[J_b, c_b]`` of every book as a read-only table made block by block (see ``rating_rows``): what
    ``BookIndex.build`` reads by slices and samples, without a full-size copy."""

    def __init__(self, head: Any, params: np.ndarray) -> None:
        self._head = head
        self._params = params
        self.shape = (int(head.n_books), int(params.size) + 1)

    def __getitem__(self, rows: slice | np.ndarray) -> np.ndarray:
        books = np.arange(self.shape[0])[rows]
        linear, jacobian = self._head.score_jacobian(self._params, books)
        out = np.empty((books.size, self.shape[1]), dtype=np.float32)
        out[:, :-1] = jacobian
        out[:, -1] = linear - jacobian @ self._params
        return out


def _padded(d: int) -> int:
    """The index's width: the vector, one augmented coordinate, padded to a multiple of 8."""
    return -(-(d + 1) // 8) * 8


def _rows(block: np.ndarray, dims: int, cosine: bool, scale: float) -> np.ndarray:
    """Unit rows of the index for a block of book vectors (see the module docstring)."""
    out = np.zeros((block.shape[0], dims), dtype=np.float32)
    norms = np.linalg.norm(block, axis=1)
    if cosine:
        out[:, : block.shape[1]] = block / np.maximum(norms, 1e-12)[:, None]
    else:
        scale = max(scale, 1e-12)
        out[:, : block.shape[1]] = block / scale
        out[:, block.shape[1]] = np.sqrt(np.maximum(0.0, 1.0 - (norms / scale) ** 2))
    return out
