"""Benchmark: how long the command line takes to answer, start-up included, as a user's shell runs it.

Not a test. Each command runs as a whole new process (``python -m bookrec ...``), so the time is what a user
waits: the interpreter, the imports, loading the model, the answer, printing it:

- ``bookrec --help``;
- ``bookrec similar MODEL "The Da Vinci Code"``;
- ``bookrec recommend MODEL --liked "The Hobbit" --liked "Dune"``.

MODEL is the default model trained on SYNTHETIC goodbooks-shaped ratings of the real release's size (53,424
readers, 10,000 books, 5,976,479 ratings; 128 factors), trained once in a fresh process by the checkout under
test and cached in the temporary folder. Each command gets one untimed run first (it compiles the checkout's
bytecode and warms the file cache); then the commands take turns, so that a busy moment of the machine falls
on all of them alike. Wall-clock seconds around ``subprocess.run`` (``perf_counter``).

``--src PATH`` runs another checkout's code (``PYTHONPATH=PATH/src``) with this interpreter and its
packages: a before/after comparison of two trees.

    .venv/bin/python benchmarks/bench_startup.py [--runs 9] [--src PATH] [--data D] [--retrain]

Targets on a 2-core machine: ``--help`` <= 0.5 s; a query on a full-size model <= 1 s (medians). The last
column lists the heavy libraries a command imported (from one more run under ``-X importtime``): a query
should need none of torch, numba, pooch and matplotlib.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import full_size_data

CACHE = Path(tempfile.gettempdir()) / "bookrec-bench-startup"
HERE = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numba", "pooch", "matplotlib", "streamlit")
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# Works with the training API of old and new checkouts alike.
_TRAIN = """
import sys
from bookrec.data import load_dataset
from bookrec.train import train
train(load_dataset(sys.argv[1]), progress=False).save(sys.argv[2])
"""


def _env(src: Path, home: Path) -> dict[str, str]:
    """A small, fixed environment: the checkout's code first, its own BOOKREC_HOME."""
    env = {"BOOKREC_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(src / "src")}
    env |= {name: os.environ[name] for name in (*THREAD_VARIABLES, "NUMBA_CACHE_DIR") if name in os.environ}
    return env


def _cache_for(src: Path) -> Path:
    """A cache folder per checkout: model folders of two versions of the code need not load in each other."""
    digest = hashlib.sha256(str(src).encode()).hexdigest()[:8]
    return CACHE / f"{src.name}-{digest}"


def trained_model(src: Path, data: Path, env: dict[str, str], retrain: bool) -> Path:
    """The checkout's default model on ``data``, trained once in a fresh process and cached."""
    folder = _cache_for(src) / "model"
    if retrain or not (folder / "manifest.json").is_file():
        print(f"training the default model with {src} into {folder} ...", flush=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", _TRAIN, str(data), str(folder)], env=env, check=True)
        print(f"  trained and saved in {time.perf_counter() - start:.1f} s", flush=True)
    else:
        print(f"using the cached model in {folder} (--retrain to train it again)", flush=True)
    return folder


def run(args: list[str], env: dict[str, str], *, flags: tuple[str, ...] = ()) -> tuple[float, str]:
    """Run ``python -m bookrec ARGS`` in a new process; its wall seconds and its stderr."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *flags, "-m", "bookrec", *args], env=env, capture_output=True)
    seconds = time.perf_counter() - start
    stderr = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        sys.exit(f"bookrec {' '.join(args)} failed ({done.returncode}):\n{stderr}")
    return seconds, stderr


def heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    """The heavy top-level libraries that ``bookrec ARGS`` imports (``-X importtime`` lists every import)."""
    _, report = run(args, env, flags=("-X", "importtime"))
    imported = {line.rsplit("|", 1)[-1].strip() for line in report.splitlines() if "|" in line}
    return [name for name in HEAVY if name in imported]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9, help="Timed runs of each command.")
    parser.add_argument(
        "--src", type=Path, default=HERE, help="The checkout to run (its src/ goes on PYTHONPATH)."
    )
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "bookrec-bench-goodbooks")
    parser.add_argument("--retrain", action="store_true", help="Train the cached model again.")
    args = parser.parse_args()
    src = args.src.resolve()
    if not (src / "src" / "bookrec").is_dir():
        sys.exit(f"{src} is not a bookrec checkout (no src/bookrec)")
    env = _env(src, _cache_for(src) / "home")
    model = str(trained_model(src, full_size_data(args.data), env, args.retrain))

    commands = {
        "bookrec --help": (["--help"], 0.5),
        'bookrec similar MODEL "The Da Vinci Code"': (["similar", model, "The Da Vinci Code"], 1.0),
        'bookrec recommend MODEL --liked "The Hobbit" --liked "Dune"': (
            ["recommend", model, "--liked", "The Hobbit", "--liked", "Dune"],
            1.0,
        ),
    }
    for command, _ in commands.values():
        run(command, env)  # untimed: bytecode compiled, files cached
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, (command, _) in commands.items():
            times[name].append(run(command, env)[0])
    load_after = os.getloadavg()[0]
    imports = {name: heavy_imports(command, env) for name, (command, _) in commands.items()}

    print(
        f"\n{src} with Python {sys.version.split()[0]}; {args.runs} runs of each command, each a new "
        f"process; {os.cpu_count()} CPUs, load average {load_before:.2f} -> {load_after:.2f}"
    )
    print(f"MODEL: {model} (SYNTHETIC goodbooks-shaped ratings, full size)\n")
    width = max(len(name) for name in commands)
    header = f"{'median s':>8} {'min s':>6} {'max s':>6}  {'target':<8} {'result':<6} heavy imports"
    print(f"{'command':<{width}} {header}")
    for name, (_, target) in commands.items():
        values = times[name]
        median = statistics.median(values)
        verdict = "ok" if median <= target else "MISSED"
        heavy = ", ".join(imports[name]) or "none of " + "/".join(HEAVY)
        print(
            f"{name:<{width}} {median:>8.3f} {min(values):>6.3f} {max(values):>6.3f}  "
            f"{'<= ' + format(target, 'g') + ' s':<8} {verdict:<6} {heavy}"
        )


if __name__ == "__main__":
    main()
