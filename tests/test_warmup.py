"""The install-time warm-up: after it, the first `bookrec train` compiles nothing (numba loads its cache)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import planted_ratings, write_ratings

# Runs `bookrec train ARGS` through the command line's own entry point and prints how many numba
# compilations it caused (a load from the cache sends no "numba:compile" event) and what they were.
_TRAIN_AND_COUNT = """
import sys
from numba.core import event
from bookrec.cli import main
log = event.RecordingListener()
sys.argv = ["bookrec", "train", *sys.argv[1:]]
with event.install_listener("numba:compile", log):
    try:
        main()
    except SystemExit as done:
        if done.code:
            raise
compiled = [e.data["dispatcher"].py_func for _, e in log.buffer if e.is_end]
print("COMPILED", len(compiled), sorted({f"{f.__module__}.{f.__qualname__}" for f in compiled}))
"""


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter (numba's in-memory compilations start empty), with this test's environment."""
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow  # two fresh interpreters (torch, numba): ~5 s once the cache is warm; ~30 s cold, once
def test_after_the_warm_up_the_first_train_compiles_nothing(tmp_path: Path) -> None:
    # The cache is wherever numba puts it for this environment (beside the sources in a checkout), exactly
    # as for a user: the warm-up and the later command must agree on it without being told.
    warm = _run(["-m", "bookrec.warmup"])
    assert warm.stdout.startswith("bookrec: ") and "cache" in warm.stdout
    user_ids, book_ids, stars = planted_ratings(np.random.default_rng(7), 60, list(range(1, 41)), 12)
    rows = [(int(u), int(b), int(s)) for u, b, s in zip(user_ids, book_ids, stars, strict=True)]
    ratings = write_ratings(tmp_path / "ratings.csv", rows)
    out = tmp_path / "model"
    train = _run(["-c", _TRAIN_AND_COUNT, "--ratings", str(ratings), "--epochs", "2", "--out", str(out)])
    assert "COMPILED 0 []" in train.stdout, train.stdout  # the signatures train uses are the warmed ones
    assert (out / "manifest.json").is_file()
    # The cache files themselves, where this environment's numba keeps them (numba's locator, which the
    # fresh interpreters used too).
    from bookrec.data._synth_kernels import _draw_kernel
    from bookrec.engines._sgd_kernels import sgd_epoch

    for kernel in (sgd_epoch, _draw_kernel):
        folder = Path(kernel._cache._cache_path)
        assert list(folder.glob(f"*.{kernel.__name__}-*.nbi")), folder
