"""The models: equations, output range, initialisation; the compiled kernel agrees with them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bookrec.engines import _sgd_kernels as _kernels
from bookrec.models import (
    DotBias,
    NeuralCF,
    build_model,
    default_y_range,
    embedding_size,
    sigmoid_range,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _pairs(n_users: int, n_books: int, n: int = 50, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    users = torch.as_tensor(rng.integers(0, n_users, n), dtype=torch.int64)
    books = torch.as_tensor(rng.integers(0, n_books, n), dtype=torch.int64)
    return users, books


def test_sigmoid_range_maps_into_the_open_interval() -> None:
    x = torch.tensor([-1e4, -1.0, 0.0, 1.0, 1e4])
    y = sigmoid_range(x, 0.0, 5.5)
    assert float(y[2]) == pytest.approx(2.75)
    assert torch.all(y >= 0.0) and torch.all(y <= 5.5)
    assert torch.all(y[1:] >= y[:-1])


@pytest.mark.parametrize(("n", "size"), [(1, 2), (10, 6), (10_000, 278), (53_424, 600), (10**7, 600)])
def test_embedding_size_follows_fastai(n: int, size: int) -> None:
    assert embedding_size(n) == size


def test_default_y_range_is_fastais_for_five_stars() -> None:
    assert default_y_range(1.0, 5.0) == (0.0, 5.5)
    lo, hi = default_y_range(0.5, 5.0)
    assert lo < 0.5 and hi > 5.0


def test_dot_bias_is_its_equation() -> None:
    model = DotBias(7, 5, 4, (0.0, 5.5), init_std=0.5, generator=_gen())
    users, books = _pairs(7, 5)
    p, a = model.user_factors.weight, model.user_bias.weight[:, 0]
    q, c = model.book_factors.weight, model.book_bias.weight[:, 0]
    expected = 5.5 * torch.sigmoid((p[users] * q[books]).sum(1) + a[users] + c[books])
    torch.testing.assert_close(model(users, books), expected)


@pytest.mark.parametrize("kind", ["dot", "nn"])
def test_output_stays_in_range_and_batch_equals_single(kind: str) -> None:
    model = (
        DotBias(9, 6, 3, (1.0, 2.0), init_std=1.0, generator=_gen())
        if kind == "dot"
        else NeuralCF(9, 6, 4, 3, 8, y_range=(1.0, 2.0), init_std=1.0, generator=_gen())
    ).eval()
    users, books = _pairs(9, 6, 40)
    with torch.no_grad():
        batch = model(users, books)
        single = torch.cat([model(users[i : i + 1], books[i : i + 1]) for i in range(40)])
    assert torch.all((batch > 1.0) & (batch < 2.0))
    torch.testing.assert_close(batch, single)


def test_neural_cf_is_concatenation_then_mlp() -> None:
    model = NeuralCF(11, 8, 5, 3, n_hidden=6, init_std=0.5, generator=_gen()).eval()
    users, books = _pairs(11, 8)
    x = torch.cat([model.user_factors(users), model.book_factors(books)], dim=1)
    expected = sigmoid_range(model.output(torch.relu(model.hidden(x))).squeeze(1), 0.0, 5.5)
    with torch.no_grad():
        torch.testing.assert_close(model(users, books), expected)


def test_neural_cf_sizes_follow_the_rule_unless_given() -> None:
    model = NeuralCF(2_000, 300)
    assert model.user_factors.embedding_dim == embedding_size(2_000)
    assert model.book_factors.embedding_dim == embedding_size(300)
    assert model.hidden.out_features == 100
    assert NeuralCF(20, 30, 7, 9).settings()["book_factors"] == 9


def test_dropout_is_seeded_and_off_in_eval() -> None:
    model = NeuralCF(10, 10, 4, 4, n_hidden=32, dropout=0.5, generator=_gen())
    users, books = _pairs(10, 10)
    outs = []
    for _ in range(2):
        model.set_dropout_generator(_gen(3))
        outs.append(model.train()(users, books))
    torch.testing.assert_close(outs[0], outs[1])
    model.set_dropout_generator(_gen(4))
    assert not torch.equal(outs[0], model(users, books))
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(model(users, books), model(users, books))


def test_initialisation_is_seeded_and_leaves_the_global_generator_alone() -> None:
    before = torch.random.get_rng_state()
    a, b = DotBias(30, 20, 8, generator=_gen(1)), DotBias(30, 20, 8, generator=_gen(1))
    n1, n2 = NeuralCF(30, 20, generator=_gen(1)), NeuralCF(30, 20, generator=_gen(1))
    assert torch.equal(torch.random.get_rng_state(), before)
    for x, y in ((a, b), (n1, n2)):
        for (name, p), q in zip(x.state_dict().items(), y.state_dict().values(), strict=True):
            assert torch.equal(p, q), name
    assert not torch.equal(a.user_factors.weight, DotBias(30, 20, 8, generator=_gen(2)).user_factors.weight)


@pytest.mark.parametrize("kind", ["dot", "nn"])
def test_settings_rebuild_the_architecture(kind: str) -> None:
    model = DotBias(12, 9, 5, (0.5, 6.0)) if kind == "dot" else NeuralCF(12, 9, 4, 6, 10, 0.1, (0.5, 6.0))
    rebuilt = build_model(kind, model.settings())
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.settings() == model.settings()


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        DotBias(3, 3, 0)
    with pytest.raises(ValueError, match="y_range"):
        DotBias(3, 3, 2, (2.0, 1.0))
    with pytest.raises(ValueError, match="dropout"):
        NeuralCF(3, 3, dropout=1.0)
    with pytest.raises(ValueError, match="kind"):
        build_model("svd", {})


def _tables(model: DotBias) -> tuple[np.ndarray, ...]:
    return (
        model.user_factors.weight.detach().numpy().copy(),
        model.book_factors.weight.detach().numpy().copy(),
        model.user_bias.weight.detach().numpy()[:, 0].copy(),
        model.book_bias.weight.detach().numpy()[:, 0].copy(),
    )


def test_kernel_predicts_what_the_module_predicts() -> None:
    model = DotBias(13, 11, 6, (0.0, 5.5), init_std=0.4, generator=_gen())
    users, books = _pairs(13, 11, 80)
    expected = model(users, books).detach().numpy()
    got = _kernels.predict(
        users.numpy().astype(np.int32), books.numpy().astype(np.int32), *_tables(model), 0.0, 5.5
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_one_kernel_step_is_the_gradient_step_of_the_module(rho: float) -> None:
    """One rating, one step: the kernel's update is autograd's on 0.5 err^2 + 0.5 wd |theta|^2."""
    lr, wd, mult, lo, hi = 0.1, 0.03, 2.0, 0.0, 5.5
    model = DotBias(1, 1, 5, (lo, hi), init_std=0.3, generator=_gen(5))
    user, book, rating = torch.tensor([0]), torch.tensor([0]), torch.tensor([4.5])
    err = model(user, book) - rating
    loss = 0.5 * (err**2).sum() + 0.5 * wd * sum((p**2).sum() for p in model.parameters())
    loss.backward()
    grads = {name: p.grad.detach().numpy().copy() for name, p in model.named_parameters()}
    user_f, book_f, user_b, book_b = _tables(model)
    user_sq, book_sq = np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32)
    _kernels.sgd_epoch(
        np.zeros(1, np.int32), np.zeros(1, np.int32), np.array([4.5], np.float32), np.array([0, 1]), 1,
        user_f, book_f, user_b, book_b, user_sq, book_sq, np.array([lr], np.float32),
        np.full((1, 2), wd, np.float32), np.full((1, 2), wd, np.float32), 0.0, mult, rho, lo, hi, 0, 0,
    )  # fmt: skip
    for name, table, before in (
        ("user_factors.weight", user_f[0], model.user_factors.weight[0]),
        ("book_factors.weight", book_f[0], model.book_factors.weight[0]),
        ("user_bias.weight", user_b, model.user_bias.weight[:, 0]),
        ("book_bias.weight", book_b, model.book_bias.weight[:, 0]),
    ):
        g = grads[name].reshape(-1)
        step = lr * (mult if "bias" in name else 1.0)
        if rho > 0:  # RMSprop: the row's mean squared gradient after one update is (1 - rho) * mean(g^2)
            step /= np.sqrt((1 - rho) * np.mean(g * g) + 1e-8)
        expected = before.detach().numpy().reshape(-1) - step * g
        np.testing.assert_allclose(table.reshape(-1), expected, rtol=2e-4, atol=1e-6, err_msg=name)
