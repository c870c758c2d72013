"""IdMap: ids to positions and back, for integer and text ids."""

from __future__ import annotations

import numpy as np

from bookrec.data import IdMap


def test_factorize_integer_ids() -> None:
    ids, idx = IdMap.factorize(np.array([30, 10, 20, 10]))
    assert ids.ids.tolist() == [10, 20, 30]
    assert idx.tolist() == [2, 0, 1, 0] and idx.dtype == np.int32
    assert ids.get("20") == 1 and ids.get(20) == 1 and ids.get(99) is None and ids.get("x") is None
    assert ids.index_of([30, 5, 10]).tolist() == [2, -1, 0]
    assert ids.id_of(2) == 30 and isinstance(ids.id_of(2), int)
    assert 10 in ids and 11 not in ids


def test_factorize_text_ids() -> None:
    ids, idx = IdMap.factorize(np.array(["b", "a", "b"], dtype=object))
    assert ids.ids.tolist() == ["a", "b"] and idx.tolist() == [1, 0, 1]
    assert not ids.is_numeric
    assert ids.get("b") == 1 and ids.get("c") is None
    assert ids.id_of(0) == "a"


def test_empty_map() -> None:
    empty = IdMap(np.zeros(0, dtype=np.int64))
    assert len(empty) == 0 and empty.get(1) is None
    assert empty.index_of([1, 2]).tolist() == [-1, -1]
