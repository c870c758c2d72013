"""What the benchmark scripts share: the team's real books and the full-size synthetic data set."""

from __future__ import annotations

from pathlib import Path

from bookrec.data.synth import generate_goodbooks

# The team's copy of goodbooks-10k's books.csv, beside the project (benchmarks may read it; tests may not).
SHARED_BOOKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "goodbooks" / "books.csv"


def full_size_data(folder: Path) -> Path:
    """Generate (once) the real-size SYNTHETIC data set, with real titles where the team's copy is at hand."""
    if not (folder / "ratings.csv").is_file():
        books = SHARED_BOOKS if SHARED_BOOKS.is_file() else None
        print(f"generating full-size synthetic data in {folder} ...", flush=True)
        generate_goodbooks(folder, books_csv=books, seed=0)
    return folder


LOAD_SCRIPT = """
import json, sys, time
start = time.perf_counter()
from bookrec import Recommender
imported = time.perf_counter()
rec = Recommender.load(sys.argv[1])
done = time.perf_counter()
print(json.dumps({"import": imported - start, "load": done - imported, "total": done - start}))
"""
"""A fresh process's ``import bookrec`` and ``Recommender.load(argv[1])`` seconds, as one JSON line."""
