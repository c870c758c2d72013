"""Compile bookrec's numba kernels once, at install, so the first ``bookrec train`` is as fast as later ones.

numba compiles a kernel the first time a process calls it with new argument types: about 13 s for the sgd
engine's kernels on a 2-core machine, all of it in the first epoch of the first ``bookrec train``. The
kernels are ``cache=True``, so the machine code is kept on disk and later processes load it in a fraction
of a second. Where it is kept is numba's own choice, made the same way in every process: ``NUMBA_CACHE_DIR``
when set; else ``__pycache__`` beside the source when that folder is writable (a virtual environment, an
editable install); else the user's cache folder (``~/.cache/numba``: numba's fallback for a read-only
package). So the warm-up sets nothing: run by the same user in the same environment as later commands (the
Makefile runs it right after ``pip install``), it fills the cache they read. An edited kernel source
invalidates its entries (numba keys them by the file's content), and the next call compiles again.

It compiles by running the code the commands run, on a tiny data set, rather than by listing signatures
that could drift from what training passes: ``synthesize`` (the ``bookrec synth`` kernel), then ``train``
with the default settings for one epoch (the sgd engine's kernels, with the dtypes, flags and Python
scalar types of a real run). The ranking model is left out: implicit's ALS is compiled ahead of time.

    python -m bookrec.warmup        # prints what it compiled; a second run compiles nothing
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["WarmupReport", "warm_up"]

# Tiny: numba compiles a whole kernel for its argument types whatever the data's size, so the data only has
# to reach every kernel (a validation split for predict); the run is compiling and imports, not work.
_USERS, _BOOKS, _RATINGS = 200, 120, 6_000


@dataclass(frozen=True)
class WarmupReport:
    """What a warm-up did.

    Attributes:
        compiled: Each signature numba compiled because its cache lacked it (bookrec's kernels and the numba
            helpers inside them), as "module.function(types)".
        seconds: Wall time of the warm-up, imports included.
    """

    compiled: tuple[str, ...]
    seconds: float


def warm_up() -> WarmupReport:
    """Run the code paths of ``bookrec synth`` and ``bookrec train`` on tiny data, filling numba's cache.

    Returns:
        Which kernel signatures had to be compiled: none when the cache was already warm for this
        environment, so a test or a user can check that the first real run will compile nothing.
    """
    start = time.perf_counter()
    from numba.core import event

    log = event.RecordingListener()  # a compile sends events; a load from the cache sends none
    with event.install_listener("numba:compile", log):
        from bookrec.config import TrainConfig
        from bookrec.data.dataset import Dataset
        from bookrec.data.synth import synthesize
        from bookrec.train import train

        data = synthesize(_USERS, _BOOKS, _RATINGS, seed=0)
        ratings = data.ratings
        dataset = Dataset.from_ratings(
            ratings["user_id"].to_numpy(),
            ratings["book_id"].to_numpy(),
            ratings["rating"].to_numpy(),
            rating_scale=(1.0, 5.0),
        )
        # The defaults of `bookrec train` (model, engine, optimizer, split), one epoch, no ranking model.
        train(dataset, TrainConfig(epochs=1, ranker="none"), progress=False)
    compiled = tuple(_signature(e.data) for _, e in log.buffer if e.is_end)
    return WarmupReport(compiled=compiled, seconds=time.perf_counter() - start)


def _signature(data: dict[str, Any]) -> str:
    """A compiled signature for people: "bookrec.engines._sgd_kernels.predict(array(int32, 1d, C), ...)"."""
    function = data["dispatcher"].py_func
    return f"{function.__module__}.{function.__qualname__}({', '.join(str(t) for t in data['args'])})"


def main() -> int:
    """``python -m bookrec.warmup``: warm the cache and say what was compiled."""
    report = warm_up()
    if report.compiled:
        ours = sum(name.startswith("bookrec.") for name in report.compiled)
        print(
            f"bookrec: compiled {ours} kernel signatures (and {len(report.compiled) - ours} numba helpers) "
            f"in {report.seconds:.1f} s; later runs load them from numba's cache"
        )
    else:
        print(f"bookrec: the kernels were already compiled and cached ({report.seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
