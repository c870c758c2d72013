"""SplitMix64, the one small counter-based generator of bookrec's compiled kernels.

Training (the sgd engine's shuffles) and ``bookrec synth`` (its draws) both need random numbers inside numba
kernels, where numpy's Generators cannot go; both derive every stream from a seed with these functions, so a
seeded run gives the same numbers on any number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def splitmix64(state: np.uint64) -> tuple[np.uint64, np.uint64]:
    """One step of SplitMix64: returns (new state, 64 random bits)."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return state, z


@njit(cache=True, inline="always")
def next_uniform(state: np.uint64) -> tuple[np.uint64, float]:
    """One step of SplitMix64 as a float in the open interval (0, 1) (the top 53 bits)."""
    state, z = splitmix64(state)
    return state, (np.float64(z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def mix_seed(seed: int, a: int, b: int) -> np.uint64:
    """A 64-bit stream key from a seed and two small integers (epoch, block)."""
    state = np.uint64(seed) * np.uint64(0x2545F4914F6CDD1D) + np.uint64(a) * np.uint64(0x9E3779B97F4A7C15)
    state, z = splitmix64(state + np.uint64(b) * np.uint64(0xD1B54A32D192ED03))
    state, z2 = splitmix64(state ^ z)
    return z2


@njit(cache=True)
def permutation(n: int, key: np.uint64) -> np.ndarray:
    """A random permutation of ``range(n)`` (Fisher-Yates driven by SplitMix64 from ``key``)."""
    out = np.arange(n, dtype=np.int64)
    state = key
    for i in range(n - 1, 0, -1):
        state, z = splitmix64(state)
        j = np.int64(z % np.uint64(i + 1))
        tmp = out[i]
        out[i] = out[j]
        out[j] = tmp
    return out
