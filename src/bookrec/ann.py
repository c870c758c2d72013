"""Approximate nearest books for catalogues of millions: faiss inverted-file indexes, one per question.

Scoring every book costs a pass over all their vectors: 1.2 GB and about 190 ms a query at 2.36 million
books. Above ``THRESHOLD`` books a model folder carries an index per question instead (built when it is
saved), and a query scores exactly only the candidates the index returns. Below it every book is scored, so
small catalogues answer exactly as they always did.

Both questions become one: the largest inner products with unit vectors. "similar" (cosine) scales each
book vector to unit length; "match" (the ranking model's inner product ``q · b``) uses the classic reduction
of maximum inner product search to nearest neighbours (Bachrach et al. 2014): ``b -> [b / M,
sqrt(1 - |b / M|^2)]`` with ``M`` the largest book norm, and the query ``[q / |q|, 0]``, so that every row
has unit length and the nearest rows are those of the largest ``q · b``. The index is faiss's
``IndexIVFScalarQuantizer``: k-means lists (``nlist`` about twice the square root of the books), 8-bit codes
(a quarter of the vectors' size), ``nprobe`` lists searched per query; the vectors are padded to a multiple
of 8 dimensions, which lets faiss use its SIMD code (129 dimensions ran 20-40 times slower).

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NAMES", "THRESHOLD", "BookIndex", "build_indexes"]

THRESHOLD = 200_000
"""Books from which a saved model carries indexes: at 200,000 books an exact query scans 100 MB (about
15 ms), at a million about 80 ms."""
NAMES = ("similar", "match")
"""The questions an index answers: "similar" (cosine of the rating model's book vectors) and "match" (the
ranking model's inner product)."""
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
            query: The reader's factors ("match") or the book's vector ("similar"), (d,).
            n: How many candidates.
            allowed: Which books may be returned (a boolean per position); None: all.
        """
        import faiss

        norm = float(np.linalg.norm(query))
        row = np.zeros((1, self.index.d), dtype=np.float32)
        row[0, : query.shape[0]] = query / max(norm, 1e-12)
        params = faiss.SearchParametersIVF(nprobe=self.nprobe)
        bits = None
        if allowed is not None:
            # Bit i of byte i // 8, least significant first: faiss's IDSelectorBitmap. ``bits`` must outlive
            # the search (faiss keeps only a pointer).
            bits = np.packbits(allowed, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(allowed.size, faiss.swig_ptr(bits))
        _, found = self.index.search(row, int(min(n, self.n_books)), params=params)
        del bits
        found = found[0]
        return found[found >= 0].astype(np.int64)


def build_indexes(
    book_vectors: np.ndarray, ranker_factors: np.ndarray | None, *, threshold: int = THRESHOLD
) -> dict[str, BookIndex]:
    """The indexes a model of this many books carries (none below ``threshold`` books).

    Args:
        book_vectors: The rating model's book vectors ("similar").
        ranker_factors: The ranking model's book factors ("match"), or None without a ranking model.
        threshold: Books from which to index.
    """
    if book_vectors.shape[0] < max(threshold, 1):
        return {}
    indexes = {"similar": BookIndex.build(book_vectors, cosine=True)}
    if ranker_factors is not None:
        indexes["match"] = BookIndex.build(ranker_factors, cosine=False)
    return indexes


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
