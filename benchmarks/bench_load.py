"""Benchmark: load 5,976,479 goodbooks-shaped ratings from CSV (first load) and from the cache (later loads).

Not a test. Each load runs in a fresh Python process so the figures include what a user waits for: the
interpreter, imports, parsing or cache reading. Peak memory is the process's maximum resident set size.
The ratings are SYNTHETIC (bookrec's generator, real-size); the real file has the same shape.

    .venv/bin/python benchmarks/bench_load.py [--runs 5] [--data DIR]

Targets on a 2-core machine: first load <= 5 s, cached load <= 0.5 s, peak memory <= 1 GB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import full_size_data

_LOAD = """
import json, resource, sys, time
start = time.perf_counter()
from bookrec.data import load_dataset
data = load_dataset(sys.argv[1])
loaded = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": loaded, "peak_mb": peak_mb, "ratings": data.n_ratings,
                  "users": data.n_users, "books": data.n_books}))
"""


def _load_once(data: Path, home: Path) -> dict[str, float]:
    env = {"BOOKREC_HOME": str(home), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", _LOAD, str(data)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def run_benchmark(data: Path, runs: int) -> list[tuple[str, list[dict[str, float]]]]:
    """Time ``runs`` first loads (each with an empty cache) and ``runs`` cached loads."""
    first, cached = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            first.append(_load_once(data, Path(home)))
            cached.append(_load_once(data, Path(home)))
            cached.append(_load_once(data, Path(home)))
    return [("first load (CSV)", first), ("cached load", cached)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bookrec-bench-goodbooks")
    args = parser.parse_args()
    data = full_size_data(args.data)
    results = run_benchmark(data, args.runs)
    sample = results[0][1][0]
    print(
        f"\nSYNTHETIC goodbooks-shaped data: {sample['ratings']:,} ratings, {sample['users']:,} readers, "
        f"{sample['books']:,} books; {args.runs} runs each, fresh process per load\n"
    )
    print(f"{'what':<18} {'median s':>9} {'min s':>7} {'max s':>7} {'peak MB (median)':>17}")
    for name, rows in results:
        seconds = [r["seconds"] for r in rows]
        peak = statistics.median(r["peak_mb"] for r in rows)
        median = statistics.median(seconds)
        print(f"{name:<18} {median:>9.3f} {min(seconds):>7.3f} {max(seconds):>7.3f} {peak:>17.0f}")


if __name__ == "__main__":
    main()
