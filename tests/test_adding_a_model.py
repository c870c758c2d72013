"""docs/adding-a-model.md is true: its example module, added as one new file, trains and serves everywhere."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import bookrec.models
from bookrec.config import TrainConfig
from bookrec.models import model_kinds
from bookrec.recommender import Recommender
from bookrec.train import train
from conftest import planted_dataset

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "adding-a-model.md"


@pytest.fixture
def mf_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The guide's example saved as a module of bookrec.models (in a folder added to the package's path)."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1, "the guide should hold exactly one python block: the example module"
    (tmp_path / "mf.py").write_text(blocks[0], encoding="utf-8")
    monkeypatch.setattr(bookrec.models, "__path__", [*bookrec.models.__path__, str(tmp_path)])
    model_kinds.cache_clear()
    try:
        yield "mf"
    finally:
        sys.modules.pop("bookrec.models.mf", None)
        monkeypatch.undo()
        model_kinds.cache_clear()


def test_the_guides_example_is_a_whole_model_kind(mf_kind: str, tmp_path: Path) -> None:
    assert mf_kind in model_kinds()
    data = planted_dataset(np.random.default_rng(3), n_users=120, n_books=60, per_user=25)
    result = train(data, TrainConfig(model=mf_kind, epochs=8, lr=0.02))
    assert result.config.engine == "torch"
    mean_only = float(np.sqrt(np.mean((result.valid_data.rating - data.rating.mean()) ** 2)))
    assert result.metrics["valid_rmse"] < mean_only
    served = Recommender.load(result.save(tmp_path / "mf-model"))
    assert served.kind == mf_kind
    valid = result.valid_data
    import torch

    with torch.no_grad():
        expected = result.model(
            torch.as_tensor(valid.user_idx.astype(np.int64)), torch.as_tensor(valid.book_idx)
        )
    np.testing.assert_allclose(served.predict_positions(valid.user_idx, valid.book_idx), expected, rtol=1e-4)
    first, second = data.books.id_of(0), data.books.id_of(1)
    assert len(served.similar(first, k=5)) == 5
    assert len(served.recommend(data.users.id_of(0), k=5)) == 5
    assert len(served.recommend_for({first: 5.0, second: 4.0}, k=5)) == 5
    assert len(served.biases("highest", k=3)) == 3
    assert len(served.book_map(20)) == 20
