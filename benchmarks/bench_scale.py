"""Benchmark: how bookrec grows, from goodbooks' size to the UCSD Goodreads shape, on this machine.

Not a test. One table, each step of each size in a fresh Python process (its seconds, and its peak memory:
the process's VmHWM, or for Spark the sampled peak of the process and its JVM together):

- synth: writing the SYNTHETIC data set (`generate_goodbooks`; reused when --keep already holds it);
- first load: `load_dataset` parsing the CSV into an empty cache (and writing the cache);
- cached load: the same from the cache;
- train: the default `bookrec train` (rating model and ranking model, `TrainConfig()`) from the cached
  data, then `save`; its seconds are load + train + save, as a user waits for them;
- folder: the model folder's size;
- query: `bookrec similar MODEL "Synthetic Book 1"` as a whole new process (imports, load, answer);
- spark (--spark, at 1x and 4x only): `train(..., TrainConfig(engine="spark"), spark_master="local[2]")`
  and `save`; slow (about 12 minutes for the 6M ratings of 1x with the ranking model), so only when asked.

Sizes (--sizes): 1, 4, 16 are goodbooks multiples (53,424 readers x N, 10,000 books, 5,976,479 ratings x N,
goodbooks' 0.153 to-read pairs a rating); ucsd is the UCSD Goodreads Book Graph's shape (876,145 readers,
2,360,655 books, 104,551,549 ratings and 124,096,793 rating-0 shelf events: 228,648,342 interactions)
times each --ucsd-scale, in that layout. ALL DATA IS SYNTHETIC (`bookrec synth`). A line is fitted through
each step's seconds and peak memory against the ratings (goodbooks rows) and against the interactions (UCSD
rows), and the UCSD shape's figures extrapolated from it when it was not run at scale 1.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 1,4,16,ucsd] [--ucsd-scale 0.0625,0.25]
        [--spark] [--keep DIR] [--json FILE]

The full UCSD shape (--ucsd-scale 1) needs about 20 GB of disk with 16x goodbooks (CSV, cache, model
folders: the UCSD x 0.25 row kept 1.1 GB of CSV and a 1.1 GB model folder) and, on a 2-core machine, well
over an hour in all (the ranking model's fit dominates; see docs/scale.md). Targets (issue 13): at the
UCSD shape, load + train (rating and ranking) + save in <= 15 minutes with peak memory <= 12 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

GOODBOOKS = {"users": 53_424, "books": 10_000, "ratings": 5_976_479, "to_read": None}
UCSD = {"users": 876_145, "books": 2_360_655, "ratings": 104_551_549, "to_read": 124_096_793}
TARGET_SECONDS, TARGET_GB = 15 * 60, 12.0
QUERY = "Synthetic Book 1"

_WORKER = r"""
import json, os, sys, time
from pathlib import Path

def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0

step, args = sys.argv[1], json.loads(sys.argv[2])
start = time.perf_counter()
out = {}
if step == "synth":
    from bookrec.data.synth import generate_goodbooks
    report = generate_goodbooks(Path(args["data"]), n_users=args["users"], n_books=args["books"],
                                n_ratings=args["ratings"], n_to_read=args["to_read"], seed=0,
                                layout=args["layout"])
    out["events"] = report.n_ratings + report.n_to_read
elif step in ("first", "cached"):
    from bookrec.data import load_dataset
    data = load_dataset(args["data"])
    out.update(ratings=data.n_ratings, wants=int(data.want_user_idx.size), users=data.n_users,
               books=data.n_books)
elif step in ("train", "spark"):
    from bookrec.data import load_dataset
    from bookrec.train import TrainConfig, train
    data = load_dataset(args["data"])
    out["load_s"] = time.perf_counter() - start
    config = TrainConfig(engine="spark") if step == "spark" else TrainConfig()
    fit = time.perf_counter()
    result = train(data, config, progress=False, **({"spark_master": "local[2]"} if step == "spark" else {}))
    out["fit_s"] = time.perf_counter() - fit
    out["rank_s"] = result.metrics.get("rank_seconds")
    out["rank_beside"] = result.metrics.get("rank_beside")
    out["fit_peak_mb"] = peak_mb()
    saving = time.perf_counter()
    result.save(args["model"])
    out["save_s"] = time.perf_counter() - saving
    out["folder_mb"] = sum(p.stat().st_size for p in Path(args["model"]).rglob("*") if p.is_file()) / 2**20
elif step == "query":
    from bookrec.cli import main
    sys.argv = ["bookrec", "similar", args["model"], args["query"]]
    try:
        main()
    except SystemExit as stop:
        if stop.code:
            raise
out["seconds"] = time.perf_counter() - start
out["peak_mb"] = peak_mb()
print("\n@@" + json.dumps(out))
"""


def _tree_rss_mb(root: int) -> float:
    """The resident memory of ``root`` and all its descendants now (MB), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 2**20


def run_step(step: str, args: dict[str, Any], home: Path) -> dict[str, Any]:
    """One step in a fresh process: its own figures, the wall time, and the sampled peak of its tree."""
    env = {**os.environ, "BOOKREC_HOME": str(home)}
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", _WORKER, step, json.dumps(args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree = [0.0]

    def sample() -> None:
        while child.poll() is None:
            tree[0] = max(tree[0], _tree_rss_mb(child.pid))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"step {step} failed ({child.returncode}):\n{stderr[-4000:]}")
    result = json.loads(stdout.rsplit("@@", 1)[1])
    result["wall_s"] = time.perf_counter() - started
    result["tree_peak_mb"] = max(tree[0], result["peak_mb"])
    return result


def shape(size: str, scale: float) -> dict[str, Any]:
    """The sizes and layout of a row: a goodbooks multiple, or the UCSD shape times ``scale``."""
    if size == "ucsd":
        counts = {k: round(v * scale) for k, v in UCSD.items()}
        label = "UCSD shape" if scale == 1 else f"UCSD shape x {scale:g}"
        return {**counts, "layout": "ucsd", "label": label}
    factor = int(size)
    return {
        "users": GOODBOOKS["users"] * factor,
        "books": GOODBOOKS["books"],
        "ratings": GOODBOOKS["ratings"] * factor,
        "to_read": None,
        "layout": "goodbooks",
        "label": f"goodbooks x {factor}",
    }


def run_row(row: dict[str, Any], work: Path, spark: bool) -> dict[str, Any]:
    """Every step of one size; the data set is written once and kept in ``work``."""
    name = row["label"].replace(" ", "").replace("x", "-")
    data, home, model = work / f"data{name}", work / f"home{name}", work / f"model{name}"
    spec = {k: row[k] for k in ("users", "books", "ratings", "to_read", "layout")}
    results: dict[str, Any] = {"row": row}
    if (data / "README.txt").is_file():
        results["synth"] = None  # written by an earlier run (--keep)
    else:
        results["synth"] = _announce(row, "synth", run_step("synth", {**spec, "data": str(data)}, home))
    shutil.rmtree(home, ignore_errors=True)
    for step in ("first", "cached", "train", "query"):
        args = {"data": str(data), "model": str(model), "query": QUERY}
        results[step] = _announce(row, step, run_step(step, args, home))
    if spark and row["layout"] == "goodbooks" and row["ratings"] <= 4 * GOODBOOKS["ratings"]:
        args = {"data": str(data), "model": str(model) + "-spark"}
        results["spark"] = _announce(row, "spark", run_step("spark", args, home))
    return results


def _announce(row: dict[str, Any], step: str, result: dict[str, Any]) -> dict[str, Any]:
    """Print a step's figures as soon as it ends (a full run takes long)."""
    print(
        f"  {row['label']}: {step} {result['wall_s']:.1f} s, peak {result['peak_mb'] / 1024:.2f} GB "
        f"(with children {result['tree_peak_mb'] / 1024:.2f} GB)",
        flush=True,
    )
    return result


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least-squares line ``y = a + b x``; None with fewer than two distinct x."""
    if len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


_STEPS = (("synth", "synth"), ("first", "first load"), ("cached", "cached load"), ("train", "train+save"))


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\nSYNTHETIC data (`bookrec synth`), each step a fresh process; s = wall seconds, GB = peak memory")
    head = f"{'data':<22} {'ratings':>12} {'events':>12}"
    for _, title in _STEPS:
        head += f" {title + ' s':>15} {'GB':>5}"
    print(head + f" {'folder MB':>9} {'query s':>8} {'query GB':>8}")
    for r in rows:
        row = r["row"]
        events = row["ratings"] + (r["first"]["wants"] if row["layout"] == "ucsd" else 0)
        line = f"{row['label']:<22} {r['first']['ratings']:>12,} {events:>12,}"
        for key, _ in _STEPS:
            step = r.get(key)
            line += (
                f" {'(kept)':>15} {'':>5}"
                if step is None
                else (f" {step['wall_s']:>15.1f} {step['peak_mb'] / 1024:>5.2f}")
            )
        query = r["query"]
        print(
            line + f" {r['train']['folder_mb']:>9.0f} {query['wall_s']:>8.2f} {query['peak_mb'] / 1024:>8.2f}"
        )
    for r in rows:
        t = r["train"]
        print(
            f"  {r['row']['label']}: train step = load {t['load_s']:.1f} s + fit {t['fit_s']:.1f} s "
            f"(ranking model {t['rank_s'] or 0:.1f} s of it, {_rank_way(t)}) + save {t['save_s']:.1f} s; "
            f"peak after fit {t['fit_peak_mb'] / 1024:.2f} GB"
        )
        if "spark" in r:
            s = r["spark"]
            print(
                f"  {r['row']['label']}: spark local[2] train+save {s['wall_s']:.0f} s, peak of Python and "
                f"JVM (sampled) {s['tree_peak_mb'] / 1024:.2f} GB, folder {s['folder_mb']:.0f} MB"
            )


def _rank_way(step: dict[str, Any]) -> str:
    """How the ranking model ran: beside the rating model, or first, alone (memory was short)."""
    if step.get("rank_beside") is None:
        return "on its own thread"
    return "beside the rating model" if step["rank_beside"] else "first, alone: memory was short"


def print_growth(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Fitted lines per step: seconds and bytes per rating (goodbooks) or per interaction (UCSD)."""
    fits: dict[str, Any] = {}
    for layout, unit in (("goodbooks", "rating"), ("ucsd", "interaction")):
        part = [r for r in rows if r["row"]["layout"] == layout]
        if len({r["row"]["ratings"] for r in part}) < 2:
            continue
        print(f"\ngrowth, {layout} rows (fitted line: intercept + slope x {unit}s)")
        for key, title in (*_STEPS, ("query", "query")):
            have = [r for r in part if r.get(key) is not None]
            xs = [float(_units(r, layout)) for r in have]
            seconds = _fit(xs, [r[key]["wall_s"] for r in have])
            memory = _fit(xs, [r[key]["peak_mb"] * 2**20 for r in have])
            if seconds is None or memory is None:
                continue
            fits[f"{layout}/{key}"] = {"seconds": seconds, "bytes": memory}
            line = (
                f"  {title:<12} {seconds[1] * 1e6:8.2f} s per million {unit}s, "
                f"{memory[1]:7.1f} bytes per {unit} (+{memory[0] / 2**30:.2f} GB)"
            )
            if layout == "ucsd" and not any(r["row"]["label"] == "UCSD shape" for r in part):
                events = UCSD["ratings"] + UCSD["to_read"]
                line += (
                    f"; at the UCSD shape: {seconds[0] + seconds[1] * events:.0f} s, "
                    f"{(memory[0] + memory[1] * events) / 2**30:.1f} GB"
                )
            print(line)
    return fits


def _units(result: dict[str, Any], layout: str) -> int:
    if layout == "ucsd":
        return result["row"]["ratings"] + result["row"]["to_read"]
    return result["row"]["ratings"]


def check_targets(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        if r["row"]["label"] != "UCSD shape":
            continue
        steps = [r["first"], r["train"]]
        seconds = sum(s["wall_s"] for s in steps)
        peak = max(s["peak_mb"] for s in [*steps, r["cached"], r["query"]]) / 1024
        ok = "yes" if seconds <= TARGET_SECONDS and peak <= TARGET_GB else "NO"
        print(
            f"\nUCSD shape (SYNTHETIC), first load + train + save: {seconds / 60:.1f} min "
            f"(target <= {TARGET_SECONDS / 60:.0f}), peak {peak:.1f} GB (target <= {TARGET_GB:.0f}): {ok}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,4,16,ucsd", help="goodbooks multiples and/or ucsd")
    parser.add_argument(
        "--ucsd-scale", default="0.0625,0.25", help="fractions of the UCSD shape, comma-separated (1: full)"
    )
    parser.add_argument("--spark", action="store_true", help="also the spark engine at 1x and 4x (slow)")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) data, caches and models in this folder")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bookrec-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes.split(","):
        scales = [float(s) for s in args.ucsd_scale.split(",")] if size == "ucsd" else [1.0]
        rows += [shape(size.strip(), scale) for scale in scales]
    rows.sort(key=lambda r: r["ratings"])
    results = []
    try:
        for row in rows:
            results.append(run_row(row, work, args.spark))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    fits = print_growth(results)
    check_targets(results)
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": results, "fits": fits}, indent=1))


if __name__ == "__main__":
    main()
