"""The neural model's defaults and its reader and book biases (issue 12: the neural model earns its place)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bookrec.config import TrainConfig
from bookrec.data import Dataset
from bookrec.models import model_kind
from bookrec.recommender import Recommender
from bookrec.train import train
from conftest import FIXTURES


@pytest.fixture(scope="module")
def nn_default(planted: Dataset):
    return train(planted, TrainConfig(model="nn", ranker="none"))


def test_nn_default_beats_biases_alone_on_planted_taste(planted: Dataset, nn_default) -> None:
    # Biases alone: the dot model with its factors starting (and so staying) at zero.
    biases = train(planted, TrainConfig(model="dot", init_std=0.0, adapt=False, ranker="none"))
    assert nn_default.metrics["valid_rmse"] < biases.metrics["valid_rmse"] - 0.05


def test_trained_nn_has_biases_and_serves_them(nn_default, tmp_path: Path) -> None:
    served = Recommender.load(nn_default.save(tmp_path / "nn"))
    head = served.head
    assert np.abs(head.user_bias).max() > 0 and np.abs(head.book_offset).max() > 0
    assert head.reader_params(np.arange(3)).shape == (3, head.user_vectors.shape[1] + 1)
    linear, jacobian = head.score_jacobian(head.reader_params(np.array([0]))[0], np.arange(5))
    assert np.allclose(jacobian[:, -1], 1.0)
    assert np.allclose(
        linear, head.pair_scores(head.reader_params(np.zeros(5, int)), np.arange(5)), atol=1e-5
    )


def test_nn_folder_from_before_the_biases_loads_without_them() -> None:
    served = Recommender.load(FIXTURES / "models-0.1.0" / "nn")
    head = served.head
    assert not np.any(head.user_bias) and not np.any(head.book_offset)
    # No reader bias to fit: a folded-in reader has exactly the old parameters.
    assert head.reader_params(np.arange(2)).shape == (2, head.user_vectors.shape[1])
    assert "mlp_user_bias" not in head.to_tensors()


def test_checkpoint_settings_from_before_the_biases_rebuild_without_them() -> None:
    kind = model_kind("nn")
    old = {"n_users": 4, "n_books": 3, "user_factors": 2, "book_factors": 2, "n_hidden": 5, "dropout": 0.0}
    module = kind.rebuild(old)
    assert module.user_bias is None and not module.settings()["biases"]
    assert kind.rebuild(module.settings()).settings() == module.settings()
    new = kind.rebuild({**old, "biases": True})
    assert new.user_bias is not None and new.settings()["biases"]


def test_nn_starts_from_a_dot_fit_and_decays_its_embeddings_harder(planted: Dataset) -> None:
    import torch

    from bookrec.engines.torch import TorchEngine
    from bookrec.models.base import default_y_range
    from bookrec.train import initial_model

    config = TrainConfig(model="nn", ranker="none", valid_pct=0.0)
    y_range = default_y_range(planted.rating_min, planted.rating_max)
    cold = initial_model(planted, config, y_range)
    engine = TorchEngine(initial_model(planted, config, y_range), planted, config, device="cpu")
    warm = engine.model
    # The dot fit's factors carry the planted taste: their dot products follow the ratings, the noise
    # of the normal start does not.
    with torch.no_grad():
        taste = {
            name: (m.user_factors.weight[planted.user_idx] * m.book_factors.weight[planted.book_idx])
            .sum(1)
            .numpy()
            for name, m in (("cold", cold), ("warm", warm))
        }
    assert np.corrcoef(taste["warm"], planted.rating)[0, 1] > 0.5
    assert abs(np.corrcoef(taste["cold"], planted.rating)[0, 1]) < 0.1
    decay = {len(g["params"]): g["weight_decay"] for g in engine.optimizer.param_groups}
    assert decay[2] == pytest.approx(5 * config.wd)  # the two embeddings
    assert sorted(decay.values()) == pytest.approx([config.wd, 5 * config.wd])


def test_where_the_probe_keeps_biases_alone_the_nn_embeddings_start_at_zero() -> None:
    """No taste in the ratings: the dot fit the network would start from is biases alone, so its
    embeddings start from zero rather than from factors fitted to noise."""
    from bookrec.engines.torch import warm_start
    from bookrec.models.base import default_y_range
    from bookrec.train import initial_model
    from test_adapt import _biases_and_noise

    no_taste = _biases_and_noise()
    config = TrainConfig(model="nn", ranker="none", valid_pct=0.0)
    model = initial_model(no_taste, config, default_y_range(no_taste.rating_min, no_taste.rating_max))
    assert model.user_factors.weight.abs().max() > 0
    warm_start(model, no_taste, config)
    assert not model.user_factors.weight.any() and not model.book_factors.weight.any()
