"""Benchmark: accuracy of bookrec's defaults against the blog's recipe, Surprise and simple baselines.

Not a test. Measured in one run, each method on the same random 80/20 split (seed 42) of the same ratings:

- MovieLens-small (``../shared/data/movielens-small/ratings.csv``): bookrec's default ``train`` (dot, sgd
  engine), the nn model's defaults, the blog's recipe reproduced in bookrec (DotBias, 50 factors,
  ``fit_one_cycle(5, 5e-3, wd=0.1)``, batch 64: the torch engine), Surprise's ``SVD()`` and ``SVDpp()``
  with their defaults (``random_state=0`` for a repeatable run), the global mean, and reader and book
  biases alone (bookrec's dot model with its factors held at zero). Targets: the default's validation
  RMSE <= 0.855 and below every other method's.
- Issue 12's other kinds of data, so the defaults are not tuned to MovieLens alone: a 10% per-reader sample
  of MovieLens-small (seed 42: sparse real ratings), sparse SYNTHETIC data (``bookrec.data.synth``: 20,000
  readers, 5,000 books, 340,000 ratings on a 1-10 scale, reader tail 1, taste 0.5) and full-size
  goodbooks-shaped SYNTHETIC data (53,424 readers, ~6M ratings; the real books.csv when the team's copy is at
  hand). Each: the default against biases alone, Surprise's ``SVD()`` (and ``SVDpp()`` and the nn model where
  they run in minutes). The bar: the default below biases alone and at or below ``SVD()`` on every kind.
- Top-N on a per-reader hold-out (5 random ratings of every reader with 10 or more, seed 42) of each data
  set: precision, recall and NDCG at 10 and catalogue coverage of the default model (trained on the rest)
  against the most-popular books; liked = the top quarter of the scale (4 stars and up).

    .venv/bin/python benchmarks/bench_accuracy.py [--movielens FILE] [--goodbooks DIR] [--readers N]
        [--no-goodbooks] [--top-n]

Surprise is installed only for benchmarks: ``pip install 'bookrec[bench]'``; without it its rows say so.
Train seconds are the wall time of ``train()`` (split, epochs and per-epoch validation; CPU, 2 threads
for the sgd engine) or of Surprise's trainset build and ``fit``; the machine is shared, so they are noisy.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bookrec.data import Dataset, DataSource, holdout_per_reader, load_dataset, random_split
from bookrec.data.synth import generate_goodbooks
from bookrec.evaluation import evaluate_top_n, popularity_scores, rating_metrics
from bookrec.recommender import Recommender
from bookrec.train import TrainConfig, TrainResult, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MOVIELENS = SHARED / "movielens-small" / "ratings.csv"
SHARED_BOOKS = SHARED / "goodbooks" / "books.csv"
VALID_PCT, SEED = 0.2, 42
RMSE_TARGET = 0.855
Makers = tuple[Callable[[], object] | None, Callable[[], object] | None]

BLOG = TrainConfig(model="dot", engine="torch", n_factors=50, epochs=5, lr=5e-3, wd=0.1, bs=64)
# Factors start at 0 and get zero gradients: biases alone (no regularization probe: nothing to choose)
BIASES = TrainConfig(n_factors=1, init_std=0.0, adapt=False)


@dataclass(frozen=True)
class Row:
    """One method's validation error and training time."""

    method: str
    rmse: float | None
    mse: float | None
    seconds: float | None
    note: str = ""


def bookrec_row(method: str, data: Dataset, config: TrainConfig) -> Row:
    start = time.perf_counter()
    result = train(data, config, progress=False, device="cpu")
    seconds = time.perf_counter() - start
    metrics = result.metrics
    return Row(method, metrics["valid_rmse"], metrics["valid_mse"], seconds, _probe_note(result))


def _probe_note(result: TrainResult) -> str:
    """What the regularization probe chose, so a gain can be traced to factors or to a longer schedule."""
    choice = result.metrics.get("regularization")
    if not choice:
        return ""
    kept = f"factors at x{choice['factor_scale']:.4g}" if choice["factors"] else "biases alone kept"
    return f"probe: {kept}, {choice.get('epochs', result.config.epochs)} epochs"


def mean_row(data: Dataset) -> Row:
    train_part, valid_part = random_split(data, VALID_PCT, SEED)
    start = time.perf_counter()
    mean = float(np.mean(train_part.rating, dtype=np.float64))
    seconds = time.perf_counter() - start
    metrics = rating_metrics(np.full(valid_part.n_ratings, mean), valid_part.rating)
    return Row("global mean", metrics.rmse, metrics.mse, seconds)


def surprise_row(method: str, data: Dataset, make: Callable[[], object] | None) -> Row:
    """Fit a Surprise algorithm on the training part (raw ids); score it on the same validation part."""
    if make is None:
        return Row(method, None, None, None, "skipped: pip install 'bookrec[bench]' (scikit-surprise)")
    import pandas as pd
    from surprise import Dataset as SurpriseDataset
    from surprise import Reader

    train_part, valid_part = random_split(data, VALID_PCT, SEED)
    frame = pd.DataFrame(
        {
            "user": data.users.ids[train_part.user_idx],
            "item": data.books.ids[train_part.book_idx],
            "rating": train_part.rating.astype(np.float64),
        }
    )
    start = time.perf_counter()
    reader = Reader(rating_scale=(data.rating_min, data.rating_max))
    trainset = SurpriseDataset.load_from_df(frame, reader).build_full_trainset()
    algo = make()
    algo.fit(trainset)  # type: ignore[attr-defined]
    seconds = time.perf_counter() - start
    testset = zip(
        data.users.ids[valid_part.user_idx].tolist(),
        data.books.ids[valid_part.book_idx].tolist(),
        valid_part.rating.astype(np.float64).tolist(),
        strict=True,
    )
    predicted = np.array([p.est for p in algo.test(list(testset))])  # type: ignore[attr-defined]
    metrics = rating_metrics(predicted, valid_part.rating)
    return Row(method, metrics.rmse, metrics.mse, seconds)


def surprise_makers() -> Makers:
    try:
        from surprise import SVD, SVDpp
    except ImportError:
        return None, None
    return (lambda: SVD(random_state=0)), (lambda: SVDpp(random_state=0))


def _recommender(result: TrainResult) -> Recommender:
    """A Recommender over a training result, in memory (what ``TrainResult.save`` would write)."""
    return Recommender.from_saved(result.saved_model())


def top_n_rows(data: Dataset, k: int = 10) -> list[tuple[str, dict[str, float]]]:
    """Default model vs most popular on a per-reader hold-out (5 ratings per reader with 10+)."""
    train_part, held = holdout_per_reader(data, 5, seed=SEED)
    result = train(train_part, TrainConfig(valid_pct=0.0), progress=False)
    model = evaluate_top_n(_recommender(result).scores_for, train_part, held, k=k, max_readers=None)
    popular = evaluate_top_n(popularity_scores(train_part), train_part, held, k=k, max_readers=None)
    return [("bookrec default (dot)", model.to_dict()), ("most popular", popular.to_dict())]


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"{'method':<56} {'RMSE':>8} {'MSE':>8} {'train s':>9}")
    for row in rows:
        seconds = "-" if row.seconds is None else f"{row.seconds:.2f}"
        line = f"{row.method:<56} {_fmt(row.rmse):>8} {_fmt(row.mse):>8} {seconds:>9}"
        print(line + (f"  {row.note}" if row.note else ""), flush=True)


def print_top_n(title: str, rows: list[tuple[str, dict[str, float]]], k: int = 10) -> None:
    print(f"\n{title}")
    columns = (f"precision@{k}", f"recall@{k}", f"NDCG@{k}", "coverage", "readers")
    print(f"{'method':<30} " + " ".join(f"{c:>{max(len(c), 9)}}" for c in columns))
    for method, m in rows:
        print(
            f"{method:<30} {m[f'precision@{k}']:>12.4f} {m[f'recall@{k}']:>9.4f} {m[f'ndcg@{k}']:>9.4f} "
            f"{m['coverage']:>9.1%} {int(m['readers']):>9,}",
            flush=True,
        )


def check(rows: list[Row], *, target: float | None) -> list[str]:
    """One line per target: the default's RMSE under ``target`` and under every other method's."""
    default = next(r for r in rows if r.method.startswith("bookrec default"))
    lines = []
    if target is not None and default.rmse is not None:
        lines.append(
            f"default RMSE {default.rmse:.4f} <= {target}: {'ok' if default.rmse <= target else 'MISSED'}"
        )
    for row in rows:
        if row is default or row.rmse is None or default.rmse is None:
            continue
        verdict = "ok" if default.rmse < row.rmse else "MISSED"
        lines.append(f"default beats {row.method}: {default.rmse:.4f} < {row.rmse:.4f}: {verdict}")
    return lines


def stray_row_note(path: Path, data: Dataset) -> str:
    """Where the file's last row (999,999999: a reader and movie seen nowhere else) fell in the split."""
    last = path.read_text(encoding="utf-8").rstrip("\n").rsplit("\n", 1)[-1]
    user, item = last.split(",")[:2]
    u, b = data.users.get(user), data.books.get(item)
    counts_u = np.bincount(data.user_idx, minlength=data.n_users)
    if u is None or b is None or counts_u[u] != 1:
        return f"the file's last row is {last!r}"
    _, valid_part = random_split(data, VALID_PCT, SEED)
    where = "validation" if np.any((valid_part.user_idx == u) & (valid_part.book_idx == b)) else "training"
    return (
        f"the file's last row ({last}) is a reader and a movie that appear nowhere else; kept as is "
        f"(the same input for every method), it fell in the {where} part"
    )


def movielens(path: Path, makers: Makers) -> str:
    data = load_dataset(DataSource(ratings=path, user_col="userId", item_col="movieId"))
    print(
        f"\nMovieLens-small ({path}): {data.n_ratings:,} ratings, {data.n_users:,} readers, "
        f"{data.n_books:,} movies, scale {data.rating_min:g}-{data.rating_max:g}; random 80/20 split, seed 42"
    )
    print(f"note: {stray_row_note(path, data)}")
    svd, svdpp = makers
    rows = [
        mean_row(data),
        bookrec_row("reader and book biases alone (dot, factors at 0)", data, BIASES),
        bookrec_row("bookrec default (dot, sgd engine, 128 factors)", data, TrainConfig()),
        bookrec_row("bookrec nn default (torch engine)", data, TrainConfig(model="nn")),
        bookrec_row("blog recipe (dot, 50 f, 5 ep, lr 5e-3, wd 0.1, bs 64)", data, BLOG),
        surprise_row("Surprise SVD()", data, svd),
        surprise_row("Surprise SVDpp()", data, svdpp),
    ]
    held = random_split(data, VALID_PCT, SEED)[1].n_ratings
    print_table(f"MovieLens-small, validation error ({held:,} ratings held out)", rows)
    for line in check(rows, target=RMSE_TARGET):
        print(f"  {line}")
    print_top_n(
        "MovieLens-small, top-10 on a per-reader hold-out (5 per reader, liked = 4+ stars)", top_n_rows(data)
    )
    return holds(rows)


def per_reader_sample(data: Dataset, share: float, seed: int) -> Dataset:
    """``share`` of each reader's ratings (at least one), drawn with ``seed``: sparse real ratings."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(data.n_ratings), data.user_idx))  # each reader's ratings, shuffled
    counts = np.bincount(data.user_idx, minlength=data.n_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(data.n_ratings) - np.repeat(starts, counts)
    keep = rank < np.maximum(1, np.ceil(share * counts))[data.user_idx[order]]
    return data.subset(np.sort(order[keep]))


def synthetic(folder: Path, label: str, **knobs: object) -> Dataset:
    """The goodbooks-shaped SYNTHETIC folder of ``knobs`` (generated once, then read from ``folder``)."""
    if not (folder / "ratings.csv").is_file():
        books = SHARED_BOOKS if SHARED_BOOKS.is_file() else None
        print(f"\ngenerating {label} in {folder} ...", flush=True)
        generate_goodbooks(folder, books_csv=books, seed=0, **knobs)  # type: ignore[arg-type]
    return load_dataset(folder)


def peer_rows(data: Dataset, makers: Makers, *, nn: bool, svdpp: bool, why: str = "") -> list[Row]:
    """The default beside biases alone and Surprise's SVD (and SVD++, the nn model where they run in time)."""
    svd, pp = makers
    skipped = f"skipped: {why}" if why else "skipped"
    rows = [
        mean_row(data),
        bookrec_row("reader and book biases alone (dot, factors at 0)", data, BIASES),
        bookrec_row("bookrec default (dot, sgd engine, 128 factors)", data, TrainConfig(ranker="none")),
    ]
    if nn:
        rows.append(
            bookrec_row("bookrec nn default (torch engine)", data, TrainConfig(model="nn", ranker="none"))
        )
    else:
        rows.append(Row("bookrec nn default (torch engine)", None, None, None, skipped))
    rows.append(surprise_row("Surprise SVD()", data, svd))
    rows.append(
        surprise_row("Surprise SVDpp()", data, pp)
        if svdpp
        else Row("Surprise SVDpp()", None, None, None, skipped)
    )
    return rows


def holds(rows: list[Row]) -> str:
    """Issue 12's bar: the default below biases alone and at or below Surprise's SVD."""
    by = {r.method.split(" (")[0]: r.rmse for r in rows}
    default, biases, svd = by["bookrec default"], by["reader and book biases alone"], by["Surprise SVD()"]
    if default is None or biases is None:
        return "default vs biases alone: not measured"
    verdict = "ok" if default < biases else "equal: biases alone chosen" if default == biases else "MISSED"
    line = f"default {default:.4f} < biases alone {biases:.4f}: {verdict}"
    if svd is not None:
        line += f"; <= Surprise SVD {svd:.4f}: {'ok' if default <= svd else 'MISSED'}"
    return line


def kinds(args: argparse.Namespace, makers: Makers) -> list[tuple[str, str]]:
    """Issue 12's four kinds of data, each with its peers; returns one verdict line per kind."""
    verdicts = []
    if args.movielens.is_file():
        whole = load_dataset(DataSource(ratings=args.movielens, user_col="userId", item_col="movieId"))
        sparse_ml = per_reader_sample(whole, 0.1, SEED)
        label = "MovieLens-small, 10% of each reader's ratings (seed 42)"
        print(f"\n{label}: {sparse_ml.n_ratings:,} ratings, {sparse_ml.n_users:,} readers")
        rows = peer_rows(sparse_ml, makers, nn=True, svdpp=True)
        print_table(f"{label}, validation error", rows)
        verdicts.append((label, holds(rows)))
    tmp = Path(tempfile.gettempdir())
    sparse = synthetic(
        tmp / "bookrec-bench-sparse-1-10",
        "sparse SYNTHETIC data (1-10 points, most readers rate a few books, taste 0.5)",
        n_users=20_000, n_books=5_000, n_ratings=340_000, rating_max=10, reader_tail=1.0, taste_strength=0.5,
    )  # fmt: skip
    label = "sparse SYNTHETIC (1-10, reader tail 1, taste 0.5)"
    print(f"\n{label}: {sparse.n_ratings:,} ratings, {sparse.n_users:,} readers, {sparse.n_books:,} books")
    rows = peer_rows(sparse, makers, nn=True, svdpp=False, why="SVD++ takes minutes here")
    print_table(f"{label}, validation error", rows)
    verdicts.append((label, holds(rows)))
    if not args.no_goodbooks:
        full = args.goodbooks or tmp / f"bookrec-bench-goodbooks-{args.readers}"
        per_reader = 5_976_479 / 53_424  # the real release's ratings per reader
        data = synthetic(
            full,
            f"goodbooks-shaped SYNTHETIC data ({args.readers:,} readers)",
            n_users=args.readers,
            n_ratings=round(args.readers * per_reader),
        )
        label = f"goodbooks-shaped SYNTHETIC ({data.n_ratings:,} ratings)"
        print(f"\n{label}: {data.n_users:,} readers, {data.n_books:,} books")
        rows = peer_rows(
            data, makers, nn=False, svdpp=False, why="too slow here (nn: bench_train.py times it)"
        )
        print_table(f"{label}, validation error", rows)
        verdicts.append((label, holds(rows)))
        if args.top_n:
            print_top_n(f"{label}, top-10 on a per-reader hold-out (5 per reader)", top_n_rows(data))
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--movielens", type=Path, default=MOVIELENS, help="MovieLens-small's ratings.csv")
    parser.add_argument(
        "--readers", type=int, default=53_424, help="readers of the goodbooks-shaped data (full size)"
    )
    parser.add_argument("--goodbooks", type=Path, help="an existing goodbooks-shaped folder to read instead")
    parser.add_argument("--no-goodbooks", action="store_true", help="skip the goodbooks-shaped data")
    parser.add_argument("--top-n", action="store_true", help="also top-10 on the goodbooks-shaped data")
    args = parser.parse_args()
    makers = surprise_makers()
    if makers[0] is None:
        print("Surprise is not installed: its rows are skipped (pip install 'bookrec[bench]')")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        os.environ["BOOKREC_HOME"] = home  # this run's data cache, thrown away at the end
        warm = Dataset.from_ratings(np.arange(200) % 20, np.arange(200) % 30, np.arange(200) % 5 + 1.0)
        train(warm, TrainConfig(epochs=1), progress=False)  # untimed: loads (or compiles) numba's kernels
        verdicts = []
        if args.movielens.is_file():
            verdicts.append(("MovieLens-small", movielens(args.movielens, makers)))
        else:
            print(f"no MovieLens-small at {args.movielens}: skipped (pass --movielens FILE)")
        verdicts += kinds(args, makers)
    print("\nissue 12: the default below biases alone and at or below Surprise's SVD, on every kind of data")
    for label, line in verdicts:
        print(f"  {label}: {line}")
    print(f"\none run, {time.perf_counter() - started:.0f} s in all; the machine is shared: times are noisy")


if __name__ == "__main__":
    main()
