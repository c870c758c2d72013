"""Benchmark: how long a reader waits for an answer from a full-size model, and for the model to load.

Not a test. On SYNTHETIC goodbooks-shaped ratings of the real release's size (53,424 readers, 10,000 books,
5,976,479 ratings; bookrec's generator with the real books where the team's copy is at hand), the default
model is trained once, in a fresh process, and cached with the data in the temporary folder. Then, with the
query kinds interleaved so that a busy moment of the machine falls on all of them alike:

- ``similar(book, k=10)``: over N different books, by id and by exact title;
- ``recommend_for`` of a new reader who names 5 books (exact titles drawn at random from the 2,000 most
  rated), k=10: over N different sets;
- ``recommend(user_id, k=10)``: over N different readers;
- ``Recommender.load``: in fresh processes (the import of bookrec, then the load), and again in-process.

Each query kind gets a few untimed calls first. Latencies are wall-clock (``perf_counter``), one call at a
time. BLAS threads follow the environment (OPENBLAS_NUM_THREADS etc.), which the header prints, because
on a busy machine they decide the tail.

    .venv/bin/python benchmarks/bench_query.py [--queries 300] [--loads 5] [--busy N] [--data D] [--model M]

``--busy N`` keeps N other processes spinning while the queries are timed: a shared machine, or a server
answering other requests.

Targets on a 2-core machine: similar p95 <= 5 ms, recommend_for with 5 books p95 <= 50 ms, load <= 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from _common import LOAD_SCRIPT, full_size_data
from bookrec.recommender import Recommender

CACHE = Path(tempfile.gettempdir()) / "bookrec-bench-query"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
POPULAR = 2000  # a new reader names books they know: drawn from the most-rated books
WARMUP = 5

_TRAIN = """
import sys
from bookrec.data import load_dataset
from bookrec.train import train
train(load_dataset(sys.argv[1]), progress=False).save(sys.argv[2])
"""


def _env(home: Path) -> dict[str, str]:
    env = {"BOOKREC_HOME": str(home), "PATH": "/usr/bin:/bin"}
    passed = (*THREAD_VARIABLES, "PYTHONPATH", "NUMBA_CACHE_DIR")  # what the measuring process runs with
    env |= {name: os.environ[name] for name in passed if name in os.environ}
    return env


def trained_model(data: Path, folder: Path, home: Path, retrain: bool) -> Path:
    """Train (once, in a fresh process) the default model on ``data`` and save it to ``folder``."""
    if retrain or not (folder / "manifest.json").is_file():
        print(f"training the default model into {folder} ...", flush=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", _TRAIN, str(data), str(folder)], env=_env(home), check=True)
        print(f"  trained and saved in {time.perf_counter() - start:.1f} s", flush=True)
    else:
        print(f"using the cached model in {folder} (--retrain to train it again)", flush=True)
    return folder


def load_in_fresh_process(model: Path, home: Path) -> dict[str, float]:
    """Import bookrec and load the model in a new interpreter; seconds of each step."""
    command = [sys.executable, "-c", LOAD_SCRIPT, str(model)]
    out = subprocess.run(command, env=_env(home), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@contextlib.contextmanager
def busy_cores(n: int) -> Iterator[None]:
    """Keep ``n`` other processes spinning on the CPU meanwhile: a machine shared with other work."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5 if spinners else 0.0)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def time_queries(kinds: dict[str, Callable[[int], object]], n: int) -> dict[str, list[float]]:
    """Milliseconds of call i of every kind, i = 0..n-1, the kinds interleaved; untimed warm-up first."""
    for call in kinds.values():
        for i in range(WARMUP):
            call(i)
    times: dict[str, list[float]] = {name: [] for name in kinds}
    for i in range(n):
        for name, call in kinds.items():
            start = time.perf_counter_ns()
            call(i)
            times[name].append((time.perf_counter_ns() - start) / 1e6)
    return times


def query_kinds(rec: Recommender, n: int, seed: int = 0) -> dict[str, Callable[[int], object]]:
    """The calls to time: argument i picks the i-th of n different books, title sets or readers."""
    rng = np.random.default_rng(seed)
    n_books, n_users = rec.n_books, rec.n_users
    book_ids = [rec.books.id_of(int(p)) for p in rng.choice(n_books, size=min(n, n_books), replace=False)]
    # Titles shared by several books resolve to the most rated one; the call is timed all the same.
    title_books = rng.choice(n_books, size=min(n, n_books), replace=False)
    titles = [str(rec.books_table["title"].iat[int(p)]) for p in title_books]
    popular = np.argsort(-rec.books_table["n_ratings"].to_numpy(), kind="stable")[:POPULAR]
    liked_sets = [
        [str(rec.books_table["title"].iat[int(p)]) for p in rng.choice(popular, size=5, replace=False)]
        for _ in range(n)
    ]
    user_ids = [rec.users.id_of(int(p)) for p in rng.choice(n_users, size=min(n, n_users), replace=False)]

    def pick(items: list) -> Callable[[int], object]:
        return lambda i: items[i % len(items)]

    book_id, title, liked, user_id = pick(book_ids), pick(titles), pick(liked_sets), pick(user_ids)
    return {
        "similar by id (k=10)": lambda i: rec.similar(book_id(i), k=10),
        "similar by exact title (k=10)": lambda i: rec.similar(title(i), k=10),
        "recommend_for, 5 liked titles (k=10)": lambda i: rec.recommend_for(liked(i), k=10),
        "recommend(user_id) (k=10)": lambda i: rec.recommend(user_id(i), k=10),
    }


TARGETS_MS = {
    "similar by id (k=10)": 5.0,
    "similar by exact title (k=10)": 5.0,
    "recommend_for, 5 liked titles (k=10)": 50.0,
}


def _verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return "ok" if value <= target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=300, help="Different books, sets, readers per kind.")
    parser.add_argument("--loads", type=int, default=5, help="Fresh-process and in-process loads.")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bookrec-bench-goodbooks")
    parser.add_argument("--model", type=Path, default=CACHE / "model")
    parser.add_argument(
        "--busy", type=int, default=0, metavar="N", help="Spin N other processes while timing queries."
    )
    parser.add_argument("--retrain", action="store_true", help="Train the cached model again.")
    args = parser.parse_args()
    home = CACHE / "home"  # the parsed-ratings cache of the training process, kept for the next run
    data = full_size_data(args.data)
    model = trained_model(data, args.model, home, args.retrain)

    fresh = [load_in_fresh_process(model, home) for _ in range(args.loads)]
    in_process = []
    for _ in range(args.loads):
        start = time.perf_counter()
        rec = Recommender.load(model)
        in_process.append(time.perf_counter() - start)

    kinds = query_kinds(rec, args.queries)
    with busy_cores(args.busy):
        load_before = os.getloadavg()[0]
        times = time_queries(kinds, args.queries)
        load_after = os.getloadavg()[0]

    n_factors = rec.head.n_factors
    threads = ", ".join(f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ)
    print(
        f"\nSYNTHETIC goodbooks-shaped data: {rec.rated.rating.size:,} ratings, {rec.n_users:,} readers, "
        f"{rec.n_books:,} books; the default model ({rec.kind}, {n_factors} factors)"
    )
    print(
        f"{args.queries} different queries per kind, one at a time; {os.cpu_count()} CPUs, load average "
        f"{load_before:.2f} -> {load_after:.2f}; {args.busy} spinning processes beside; "
        f"BLAS threads: {threads or 'library default'}\n"
    )
    print(f"{'query':<38} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  {'target':<14} result")
    for name, values in times.items():
        p50, p95 = np.percentile(values, [50, 95])
        target = TARGETS_MS.get(name)
        shown = f"p95 <= {target:g} ms" if target is not None else "-"
        print(f"{name:<38} {p50:>8.2f} {p95:>8.2f} {max(values):>8.2f}  {shown:<14} {_verdict(p95, target)}")

    print(
        f"\n{'load (' + str(args.loads) + ' runs)':<38} {'median s':>8} {'max s':>8}  {'target':<14} result"
    )
    rows = [
        ("fresh process: import + load", [r["total"] for r in fresh], 1.0),
        ("fresh process: Recommender.load only", [r["load"] for r in fresh], None),
        ("in-process Recommender.load", in_process, None),
    ]
    for name, values, target in rows:
        median = statistics.median(values)
        shown = f"<= {target:g} s" if target is not None else "-"
        print(f"{name:<38} {median:>8.3f} {max(values):>8.3f}  {shown:<14} {_verdict(median, target)}")


if __name__ == "__main__":
    main()
