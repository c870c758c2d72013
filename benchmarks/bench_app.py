"""Benchmark: the web app's server time per page interaction, and 20 concurrent sessions for a minute.

Not a test. The model has 10,000 books: goodbooks-10k's real titles and authors when the team's copy of
books.csv is at hand (../shared/data/goodbooks/books.csv), placeholder titles otherwise, with random factor
tables in which books by one author lie close (synthetic but real-titled, so that the answers look plausible),
and 53,424 readers.

1. Server time per interaction: each interaction is one script run of the app under Streamlit's AppTest (the
   whole page's Python: widgets, library calls, charts, serialisation), repeated; median and 95th percentile.
   Targets: <= 300 ms (adding a book, changing stars and every other interaction); <= 2 s for opening a
   200-book link. Under AppTest a search field's run is the whole page's (a browser reruns only its
   fragment), so the "type" rows are upper bounds.
2. Load: the app served by ``bookrec app`` on 127.0.0.1, and 20 sessions, each its own websocket speaking
   Streamlit's protocol as a browser tab does, asking for pages (similar books, your next read, explore,
   about; each with another book list in its address) back to back for a minute. Every request must be
   answered, with no error in any answer and none in the server's log.

    .venv/bin/python benchmarks/bench_app.py [--runs 20] [--sessions 20] [--seconds 60] [--skip-load]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bookrec.data import IdMap
from bookrec.data.rated import RatedBooks
from bookrec.models.dot import DotHead
from bookrec.recommender import Recommender

SHARED_BOOKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "goodbooks" / "books.csv"
TARGET_MS = 300.0
LINK_TARGET_MS = 2000.0
GOODREADS = "https://www.goodreads.com/book/show/{}"


# --- the model -------------------------------------------------------------------------------------------


def _books(n_books: int, rng: np.random.Generator) -> pd.DataFrame:
    if SHARED_BOOKS.is_file():
        books = pd.read_csv(SHARED_BOOKS).head(n_books)
        return pd.DataFrame(
            {
                "book_id": books.book_id,
                "title": books.title.fillna(books.original_title).fillna("untitled"),
                "authors": books.authors.fillna(""),
                "year": pd.array(books.original_publication_year.round(), dtype="Int64"),
                "average_rating": books.average_rating,
                "ratings_count": books.ratings_count,
                "image_url": books.image_url.fillna(""),
                "small_image_url": books.small_image_url.fillna(""),
                "goodreads_url": [GOODREADS.format(g) for g in books.goodreads_book_id],
            }
        )
    authors = rng.integers(1, n_books // 4, size=n_books)
    return pd.DataFrame(
        {
            "book_id": np.arange(1, n_books + 1),
            "title": [f"Synthetic Book {i}" for i in range(1, n_books + 1)],
            "authors": [f"Synthetic Author {a}" for a in authors],
            "year": pd.array(rng.integers(1800, 2017, size=n_books), dtype="Int64"),
            "average_rating": rng.uniform(3.0, 4.8, size=n_books).round(2),
            "ratings_count": (rng.pareto(1.2, size=n_books) * 5000 + 1000).astype(np.int64),
            "image_url": "",
            "small_image_url": "",
            "goodreads_url": "",
        }
    )


def build_model(
    n_books: int = 10_000, n_users: int = 53_424, per_user: int = 20, seed: int = 0
) -> Recommender:
    """A goodbooks-sized model: random factors in which an author's books lie close; popular books rated
    more often."""
    rng = np.random.default_rng(seed)
    table = _books(n_books, rng)
    n_factors = 40
    first_author = table["authors"].str.split(",").str[0].fillna("")
    author_idx = pd.factorize(first_author)[0]
    author_vectors = rng.normal(size=(author_idx.max() + 1, n_factors))
    book_vectors = 0.8 * author_vectors[author_idx] + rng.normal(scale=0.4, size=(n_books, n_factors))
    user_vectors = rng.normal(scale=0.3, size=(n_users, n_factors))
    popularity = table["ratings_count"].to_numpy(dtype=np.float64) ** 0.8
    chosen = rng.choice(n_books, size=(n_users, per_user), p=popularity / popularity.sum())
    users = np.repeat(np.arange(n_users), per_user)
    stars = rng.integers(1, 6, size=users.size).astype(np.float32)
    rated = RatedBooks.from_arrays(users, chosen.reshape(-1), stars, n_users)
    table["n_ratings"] = np.bincount(chosen.reshape(-1), minlength=n_books)
    head = DotHead(
        user_vectors.astype(np.float32),
        rng.normal(scale=0.2, size=n_users).astype(np.float32),
        book_vectors.astype(np.float32),
        (0.4 * (table["average_rating"].to_numpy() - 3.9) + rng.normal(scale=0.1, size=n_books)).astype(
            np.float32
        ),
        (0.0, 5.5),
    )
    recommender = Recommender(
        head=head,
        users=IdMap(np.arange(1, n_users + 1)),
        books=IdMap(table["book_id"].to_numpy()),
        books_table=table,
        rating_scale=(1.0, 5.0),
        rated=rated,
    )
    history = [
        {"epoch": e, "epochs": 5, "train_loss": 0.9 - 0.08 * e, "valid_loss": 0.8 - 0.03 * e, "seconds": 9.0}
        for e in range(1, 6)
    ]
    recommender.manifest.update(
        model={"kind": "dot", "settings": {"n_factors": n_factors}},
        data={"name": "benchmark: random factors over goodbooks-10k books (SYNTHETIC)"},
        metrics={"valid_rmse": 0.83, "valid_mae": 0.65, "epochs": 5},
        history=history,
    )
    return recommender


# --- 1. server time per interaction ----------------------------------------------------------------------


def _interactions(book_ids: list[int]) -> list[tuple[str, str, Any]]:
    """(name, page, step): on ``page``, ``step(at, i)`` sets up the i-th repetition; the next run is timed."""

    def liked(i: int) -> str:
        return ",".join(f"{b}:{1 + (b + i) % 5}" for b in book_ids[(i * 7) % 500 :][:5])

    def opening(page: str, query: Any = lambda i: {}) -> Any:
        def step(at: Any, i: int) -> None:
            at.switch_page("views/about.py" if "about" not in page else "views/similar.py").run()
            at.query_params.clear()
            at.query_params.update(query(i))
            at.switch_page(page)  # the timed run opens the page, as following a link does

        return step

    def setting(kind: str, key: str, values: list[Any]) -> Any:
        return lambda at, i: getattr(at, kind)(key=key).set_value(values[i % len(values)])

    def typing(key: str, words: list[str]) -> Any:
        return lambda at, i: at.text_input(key=key).input(words[i % len(words)])

    def picking(key: str, words: list[str]) -> Any:
        def step(at: Any, i: int) -> None:
            at.text_input(key=key).input(words[i % len(words)]).run()
            at.button(key=next(b.key for b in at.button if b.key.startswith(f"{key}_pick_"))).click()

        return step

    def starring(at: Any, i: int) -> None:
        at.selectbox(key="next_edit").set_value(at.selectbox(key="next_edit").options[0]).run()
        at.segmented_control(key="next_edit_stars").set_value(float(1 + i % 5))

    titles = ["hobbit", "dune", "gone girl", "the stand", "emma", "dracula", "ulysses", "rebecca"]
    authors = [["Stephen King", "J.K. Rowling"], ["Terry Pratchett", "Agatha Christie"]]
    return [
        ("similar: open the page", "views/similar.py", opening("views/similar.py")),
        ("similar: type (suggestions)", "views/similar.py", typing("similar_find", titles)),
        ("similar: pick a suggestion", "views/similar.py", picking("similar_find", titles)),
        ("similar: show 40 instead of 12", "views/similar.py", setting("slider", "similar_k", [40, 12])),
        (
            "next read: open a 5-book list",
            "views/next_read.py",
            opening("views/next_read.py", lambda i: {"liked": liked(i)}),
        ),
        (
            "next read: open a 200-book link",
            "views/next_read.py",
            opening("views/next_read.py", lambda i: {"liked": ",".join(map(str, book_ids[i : i + 200]))}),
        ),
        ("next read: type (suggestions)", "views/next_read.py", typing("next_add", titles)),
        ("next read: add a book", "views/next_read.py", picking("next_add", titles)),
        ("next read: change stars", "views/next_read.py", starring),
        (
            "next read: card: already read",
            "views/next_read.py",
            lambda at, i: at.button(
                key=next(b.key for b in at.button if b.key.startswith("next_read_"))
            ).click(),
        ),
        (
            "explore: loved and disliked",
            "views/explore.py",
            setting("select_slider", "explore_min_ratings", [25, 100]),
        ),
        (
            "explore: map of 1,000 books",
            "views/explore.py",
            setting("radio", "map_colour", ["nothing", "year"]),
        ),
        (
            "explore: map, pick out 2 authors",
            "views/explore.py",
            setting("multiselect", "map_authors", authors),
        ),
        ("explore: map of 5,000 books", "views/explore.py", setting("slider", "map_n_books", [5000, 4900])),
        ("about this model: open the page", "views/about.py", opening("views/about.py")),
    ]


def measure_interactions(model_dir: Path, runs: int) -> list[tuple[str, list[float]]]:
    """Time each interaction ``runs`` times (after one warm-up); returns milliseconds per run."""
    from streamlit.testing.v1 import AppTest

    from bookrec.app import MAIN_SCRIPT, MODEL_ENV

    os.environ[MODEL_ENV] = str(model_dir)
    recommender = Recommender.load(model_dir)
    order = np.argsort(-recommender.books_table["n_ratings"].to_numpy(), kind="stable")
    book_ids = [int(recommender.books.id_of(int(i))) for i in order]
    at = AppTest.from_file(str(MAIN_SCRIPT), default_timeout=120).run()
    results = []
    for name, page, step in _interactions(book_ids):
        at.query_params.clear()
        at.switch_page(page).run()
        if name.startswith("next read") and "open" not in name:
            at.query_params["liked"] = "1:5,2,3:4"
            at.run()
            at.run()
        if name.startswith("explore: map"):
            at.radio(key="explore_view").set_value("Map of books").run()
        timings = []
        for i in range(runs + 1):
            step(at, i)
            start = time.perf_counter()
            at.run()
            elapsed = (time.perf_counter() - start) * 1000
            if at.exception or at.error:
                shown = [e.value for e in [*at.exception, *at.error]]
                raise RuntimeError(f"{name}: the page failed: {shown}")
            if i:  # the first run warms caches (the book map of a new size, plotly's first figure)
                timings.append(elapsed)
        results.append((name, timings))
    return results


# --- 2. concurrent sessions ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _requests(book_ids: list[int], seed: int) -> list[tuple[str, str]]:
    """A session's round of page requests (page name, query string), each with its own books."""
    rng = np.random.default_rng(seed)
    rounds = []
    for _ in range(25):
        book = int(rng.choice(book_ids[:3000]))
        liked = ",".join(f"{int(b)}:{int(rng.integers(1, 6))}" for b in rng.choice(book_ids[:3000], 4))
        rounds += [("", f"book={book}"), ("next_read", f"liked={liked}"), ("explore", ""), ("about", "")]
    return rounds


async def _session(
    url: str, requests: list[tuple[str, str]], stop_at: float, tally: dict[str, Any], limit: int = 0
) -> None:
    """One browser tab: send a page request, read the answer up to its end, repeat until ``stop_at``."""
    import websockets
    from streamlit.proto.Alert_pb2 import Alert
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    origin = url.replace("ws://", "http://").split("/_stcore")[0]
    async with websockets.connect(url, subprotocols=["streamlit"], origin=origin, max_size=None) as socket_:
        for count, (page, query) in enumerate(itertools.cycle(requests)):
            if time.monotonic() >= stop_at or (limit and count >= limit):
                return
            back = BackMsg()
            back.rerun_script.page_name = page
            back.rerun_script.query_string = query
            started = time.perf_counter()
            tally["sent"] += 1
            await socket_.send(back.SerializeToString())
            errors = cards = 0
            try:
                async with asyncio.timeout(60):
                    while True:
                        forward = ForwardMsg()
                        forward.ParseFromString(await socket_.recv())
                        kind = forward.WhichOneof("type")
                        if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                            element = forward.delta.new_element
                            which = element.WhichOneof("type")
                            errors += which == "exception" or (
                                which == "alert" and element.alert.format == Alert.ERROR
                            )
                            cards += which == "markdown" and "bookrec-card" in element.markdown.body
                        if kind == "script_finished":
                            break
            except TimeoutError:
                tally["unanswered"] += 1
                return
            tally["latency_ms"].append((time.perf_counter() - started) * 1000)
            tally["answered"] += 1
            tally["with_errors"] += errors > 0
            tally["with_cards"] += cards > 0


def load_test(model_dir: Path, sessions: int, seconds: float) -> dict[str, Any]:
    """Serve the app with ``bookrec app`` and run ``sessions`` websocket sessions for ``seconds``."""
    recommender = Recommender.load(model_dir)
    book_ids = [int(b) for b in recommender.books.ids]
    port = _free_port()
    home = Path(tempfile.mkdtemp(prefix="bench-app-home-"))
    log = home / "server.log"
    env = {**os.environ, "BOOKREC_HOME": str(home)}
    command = [sys.executable, "-m", "bookrec", "app", str(model_dir), "--port", str(port)]
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as answer:
                    if answer.read().strip() == b"ok":
                        break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"the app did not start:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        tally: dict[str, Any] = {
            "sent": 0,
            "answered": 0,
            "unanswered": 0,
            "with_cards": 0,
            "with_errors": 0,
            "latency_ms": [],
        }
        url = f"ws://127.0.0.1:{port}/_stcore/stream"

        async def run_all() -> list[Any]:
            # A first visitor loads the model (once per process); then all sessions start together.
            await _session(url, [("", "")], time.monotonic() + seconds, {**tally, "latency_ms": []}, limit=1)
            stop_at = time.monotonic() + seconds
            jobs = [_session(url, _requests(book_ids, seed), stop_at, tally) for seed in range(sessions)]
            return await asyncio.gather(*jobs, return_exceptions=True)

        started = time.monotonic()
        outcomes = asyncio.run(run_all())
        tally["elapsed_s"] = time.monotonic() - started
        tally["sessions_failed"] = sum(isinstance(o, BaseException) for o in outcomes)
        tally["session_errors"] = [repr(o) for o in outcomes if isinstance(o, BaseException)][:3]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    text = log.read_text(errors="replace")
    tally["server_log_errors"] = text.count("Traceback") + text.count(" ERROR ")
    shutil.rmtree(home, ignore_errors=True)
    return tally


# --- report ----------------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed repetitions of each interaction")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions in the load test")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load test")
    parser.add_argument("--skip-load", action="store_true", help="time the interactions only")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-app-") as scratch:
        os.environ["BOOKREC_HOME"] = str(Path(scratch) / "home")
        started = time.perf_counter()
        model_dir = build_model().save(Path(scratch) / "model")
        titles = "real goodbooks-10k titles" if SHARED_BOOKS.is_file() else "placeholder titles"
        print(
            f"model: 10,000 books ({titles}), 53,424 readers, built in {time.perf_counter() - started:.1f} s"
        )

        print(f"\n1. Server time per interaction: AppTest script runs, {options.runs} of each")
        print(f"{'interaction':<36} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  target")
        for name, timings in measure_interactions(model_dir, options.runs):
            median, p95 = statistics.median(timings), _percentile(timings, 95)
            target = LINK_TARGET_MS if "200-book link" in name else TARGET_MS
            verdict = f"<= {target:.0f} ok" if p95 <= target else f"> {target:.0f} OVER"
            print(f"{name:<36} {median:>10.0f} {p95:>8.0f} {max(timings):>8.0f}  {verdict}")

        if options.skip_load:
            return
        print(f"\n2. Load: {options.sessions} sessions at once for {options.seconds:.0f} s, `bookrec app`")
        tally = load_test(model_dir, options.sessions, options.seconds)
        latency = tally["latency_ms"]
        rows = [
            ("requests sent", f"{tally['sent']:,}"),
            ("answered", f"{tally['answered']:,}"),
            ("unanswered (60 s time-out)", f"{tally['unanswered']:,}"),
            ("answers showing book cards", f"{tally['with_cards']:,} (similar books, your next read)"),
            ("answers showing an error", f"{tally['with_errors']:,}"),
            ("sessions that failed", f"{tally['sessions_failed']:,} {' '.join(tally['session_errors'])}"),
            ("errors in the server's log", f"{tally['server_log_errors']:,}"),
            ("throughput", f"{tally['answered'] / tally['elapsed_s']:.1f} pages/s"),
            (
                "latency median / p95 / max",
                f"{_percentile(latency, 50):.0f} / {_percentile(latency, 95):.0f} / "
                f"{max(latency, default=float('nan')):.0f} ms",
            ),
        ]
        for label, value in rows:
            print(f"{label:<36} {value}")
        failed = (
            tally["unanswered"] + tally["with_errors"] + tally["sessions_failed"] + tally["server_log_errors"]
        )
        print("all answered, nothing failed" if not failed and tally["answered"] else "FAILURES")


if __name__ == "__main__":
    main()
