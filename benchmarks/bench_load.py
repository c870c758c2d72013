"""Benchmark: load 5,976,479 goodbooks-shaped ratings from CSV (first load) and from the cache (later loads).

Not a test. Each load runs in a fresh Python process so the figures include what a user waits for: the
interpreter, imports, parsing or cache reading. Peak memory is the process's maximum resident set size.
The ratings are SYNTHETIC (bookrec's generator, real-size); the real file has the same shape.

    .venv/bin/python benchmarks/bench_load.py [--runs 5] [--data DIR] [--scale-runs 1] [--no-scale]

Targets on a 2-core machine: first load <= 5 s, cached load <= 0.5 s, peak memory <= 1 GB.

Then the Goodreads-scale figure: the first load's peak memory per rating over the interpreter's own (the
process's peak resident set size, VmHWM, less its size after the imports), for the first 6M rows of a
24M-rating SYNTHETIC file (`bookrec synth --users 214000 --ratings 24000000`, generated once, about a
minute) and for all of it. Target: <= 24 bytes per rating (the Dataset's arrays take 12), so the 229M UCSD
interactions fit in 6 GB.
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
from pathlib import Path
start = time.perf_counter()
from bookrec.data import DataSource, load_dataset
import bookrec.data.load
def status_mb(field):  # this process's own figures: ru_maxrss keeps the parent's across fork and exec
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base_mb = status_mb("VmRSS")
path = Path(sys.argv[1])
data = load_dataset(DataSource(ratings=path) if path.is_file() else path)
loaded = time.perf_counter() - start
peak_mb = status_mb("VmHWM")
print(json.dumps({"seconds": loaded, "peak_mb": peak_mb, "ratings": data.n_ratings,
                  "users": data.n_users, "books": data.n_books,
                  "bytes_per_rating": (peak_mb - base_mb) * 2**20 / data.n_ratings}))
"""
_SCALE_USERS, _SCALE_RATINGS = 214_000, 24_000_000


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


def scale_data(folder: Path) -> tuple[Path, Path]:
    """A 24M-rating ratings.csv (generated once) and a file of its first 6M rows."""
    from bookrec.data.synth import generate_goodbooks

    full, part = folder / "ratings.csv", folder / "ratings_6m.csv"
    if not full.is_file():
        print(f"generating {_SCALE_RATINGS:,} SYNTHETIC ratings in {folder} ...", flush=True)
        generate_goodbooks(folder, n_users=_SCALE_USERS, n_ratings=_SCALE_RATINGS, seed=0)
    if not part.is_file():
        with open(full, "rb") as source, open(part, "wb") as target:
            for number, line in enumerate(source):
                if number > 6_000_000:
                    break
                target.write(line)
    return part, full


def run_scale(folder: Path, runs: int) -> None:
    """Print the first load's seconds and peak bytes per rating at 6M and 24M ratings (fresh process)."""
    print(f"\n{'first load, --ratings':<22} {'ratings':>11} {'median s':>9} {'bytes/rating (median)':>22}")
    for path in scale_data(folder):
        rows = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as home:
                rows.append(_load_once(path, Path(home)))
        seconds = statistics.median(r["seconds"] for r in rows)
        per_rating = statistics.median(r["bytes_per_rating"] for r in rows)
        print(f"{path.name:<22} {rows[0]['ratings']:>11,} {seconds:>9.2f} {per_rating:>22.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bookrec-bench-goodbooks")
    parser.add_argument("--scale-data", type=Path, default=Path(tempfile.gettempdir()) / "bookrec-bench-24m")
    parser.add_argument("--scale-runs", type=int, default=1)
    parser.add_argument("--no-scale", action="store_true", help="skip the 6M / 24M bytes-per-rating figures")
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
    if not args.no_scale:
        run_scale(args.scale_data, args.scale_runs)


if __name__ == "__main__":
    main()
