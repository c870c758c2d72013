"""Benchmark: how often the title search finds the book a person means, and how long it takes.

Not a test. Over the real metadata of goodbooks-10k's 10,000 books (the team's copy of books.csv beside the
project, or the trimmed copy in tests/fixtures) and the typed queries of tests/fixtures/title_queries.csv
(common titles, typos, parts of titles, authors, series, original titles, ambiguous queries and books that
are not there), it reports:

- top-1 accuracy of ``TitleIndex.find``: the expected book, or an error where none is expected
  (``UnknownBookError`` for a book that is not there or a query that fits several works alike), by kind;
- whether the expected book is the first suggestion of ``TitleIndex.search`` (type-ahead);
- latency per query of ``find`` and of ``search(k=10)``, median and p95, after one warm-up pass (the fuzzy
  index is built on the first fuzzy query; its build time is printed apart), and the index's build time.

    .venv/bin/python benchmarks/bench_search.py [--books PATH] [--repeat 5] [--show-misses]

Targets: top-1 accuracy >= 95%, p95 < 20 ms per query on 10,000 titles.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from _common import SHARED_BOOKS
from bookrec.errors import UnknownBookError
from bookrec.titles import TitleIndex

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"


def load_index(path: Path) -> tuple[TitleIndex, pd.DataFrame, float, float]:
    """The index over a books.csv, with its construction and fuzzy-index build seconds."""
    books = pd.read_csv(path, dtype={"work_id": str}, keep_default_na=False, na_values=[""])
    start = time.perf_counter()
    index = TitleIndex(books[["title", "original_title", "authors", "work_id", "ratings_count"]])
    built = time.perf_counter() - start
    start = time.perf_counter()
    index.search("warm up the fuzzy index")
    fuzzy = time.perf_counter() - start
    return index, books, built, fuzzy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = SHARED_BOOKS if SHARED_BOOKS.is_file() else FIXTURES / "books_titles.csv"
    parser.add_argument("--books", type=Path, default=default)
    parser.add_argument("--queries", type=Path, default=FIXTURES / "title_queries.csv")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()

    index, books, built, fuzzy = load_index(args.books)
    ids = books["book_id"].astype(int).to_numpy()
    with open(args.queries, encoding="utf-8", newline="") as handle:
        queries = list(csv.DictReader(handle))

    right: dict[str, list[bool]] = defaultdict(list)
    first_suggestion: list[bool] = []
    misses = []
    for row in queries:
        expected = {int(b) for b in row["expected"].split("|") if b}
        try:
            got: int | None = int(ids[index.find(row["query"])])
        except UnknownBookError:
            got = None
        ok = got in expected if expected else got is None
        right[row["kind"]].append(ok)
        hits = index.search(row["query"], limit=10)
        if expected:
            first_suggestion.append(bool(hits) and int(ids[hits[0].book_idx]) in expected)
        if not ok:
            top = [f"{int(ids[h.book_idx])} {h.title} ({h.score:.0f}, {h.matched_on})" for h in hits[:3]]
            wanted = row["expected"] or "an error"
            misses.append(f"  {row['query']!r}: expected {wanted}, got {got}; top: {top}")

    find_ms, search_ms = [], []
    for _ in range(args.repeat):
        for row in queries:
            start = time.perf_counter()
            with contextlib.suppress(UnknownBookError):
                index.find(row["query"])
            find_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            index.search(row["query"], limit=10)
            search_ms.append((time.perf_counter() - start) * 1000)

    total = [ok for oks in right.values() for ok in oks]
    print(f"books: {len(index):,} from {args.books}")
    print(f"index: {built * 1000:.0f} ms to build, {fuzzy * 1000:.0f} ms more for the fuzzy index")
    print(f"queries: {len(queries)} from {args.queries.name}")
    print(f"{'kind':<10} {'queries':>7} {'top-1':>7}")
    for kind, oks in right.items():
        print(f"{kind:<10} {len(oks):>7} {np.mean(oks):>7.0%}")
    print(f"{'all':<10} {len(total):>7} {np.mean(total):>7.1%}   (find: the expected book, or an error)")
    print(f"search: the expected book first for {np.mean(first_suggestion):.1%} of {len(first_suggestion)}")
    for name, values in (("find", find_ms), ("search k=10", search_ms)):
        p95 = float(np.percentile(values, 95))
        median = statistics.median(values)
        print(f"{name:<12} median {median:.2f} ms, p95 {p95:.2f} ms, max {max(values):.2f} ms")
    if args.show_misses and misses:
        print("misses:")
        print("\n".join(misses))


if __name__ == "__main__":
    main()
