"""IdMap: the one place where ids from the files become row positions and back.

``user_id``/``book_id`` are what the files say (integers for goodbooks, strings such as ISBNs elsewhere);
``user_idx``/``book_idx`` are contiguous positions into embedding tables. Public APIs take and return ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class IdMap:
    """A sorted array of distinct ids; an id's position in it is its index.

    Attributes:
        ids: The distinct ids in ascending order, int64 or unicode.
    """

    ids: np.ndarray

    @classmethod
    def factorize(cls, raw: np.ndarray | pd.Series) -> tuple[IdMap, np.ndarray]:
        """Map raw ids to contiguous int32 positions, ordered by id (hash-based: fast on millions)."""
        codes, uniques = pd.factorize(np.asarray(raw), sort=True)
        ids = np.asarray(uniques)
        if ids.dtype == object:
            ids = ids.astype(str)
        return cls(ids), codes.astype(np.int32, copy=False)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def is_numeric(self) -> bool:
        """Whether the ids are integers (goodbooks) rather than strings."""
        return self.ids.dtype.kind in "iu"

    def coerce(self, value: Any) -> Any:
        """Turn a user-typed id (often a string) into the ids' own type; None when it cannot be one."""
        if self.is_numeric:
            try:
                return int(str(value).strip())
            except ValueError:
                return None
        return str(value)

    def index_of(self, ids: Iterable[Any] | np.ndarray) -> np.ndarray:
        """Positions of ``ids`` as int64, with -1 for ids this map does not hold."""
        wanted = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
        if wanted.size == 0:
            return np.zeros(0, dtype=np.int64)
        if self.is_numeric and wanted.dtype.kind not in "iu":
            wanted = np.array([self.coerce(v) if self.coerce(v) is not None else -(2**62) for v in wanted])
        elif not self.is_numeric:
            wanted = wanted.astype(str)
        pos = np.searchsorted(self.ids, wanted)
        pos = np.clip(pos, 0, max(len(self) - 1, 0))
        found = len(self) > 0
        hit = (self.ids[pos] == wanted) if found else np.zeros(wanted.shape, dtype=bool)
        return np.where(hit, pos, -1).astype(np.int64)

    def get(self, one_id: Any) -> int | None:
        """The position of one id, or None when absent."""
        value = self.coerce(one_id)
        if value is None:
            return None
        pos = int(self.index_of(np.array([value]))[0])
        return None if pos < 0 else pos

    def __contains__(self, one_id: object) -> bool:
        return self.get(one_id) is not None

    def id_of(self, idx: int | np.ndarray) -> Any:
        """The id at a position (or an array of them); plain Python ints for numeric ids."""
        if isinstance(idx, np.ndarray):
            return self.ids[idx]
        value = self.ids[int(idx)]
        return int(value) if self.is_numeric else str(value)
