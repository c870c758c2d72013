"""The model kinds, found by themselves: every public module of this package with a ``KIND`` registration.

Adding a model is one new module here (see :mod:`bookrec.models.base` and ``docs/adding-a-model.md``);
nothing else lists the kinds. Importing this package, or finding a kind, never imports torch: the torch
modules (``DotBias``, ``NeuralCF``, ...) are built on first use.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

from bookrec.errors import ConfigError
from bookrec.models.base import ModelKind, ServingHead, default_y_range

__all__ = [
    "DotBias",
    "ModelKind",
    "NeuralCF",
    "RatingModel",
    "ServingHead",
    "build_model",
    "default_y_range",
    "embedding_size",
    "model_kind",
    "model_kinds",
    "ranker_kinds",
    "sigmoid_range",
]


@functools.cache
def model_kinds() -> dict[str, ModelKind]:
    """Every registered model kind by name, in the order of their modules' names ("dot" first)."""
    kinds: dict[str, ModelKind] = {}
    for name in _kind_modules():
        kind = getattr(importlib.import_module(f"{__name__}.{name}"), "KIND", None)
        if isinstance(kind, ModelKind):
            kinds[kind.name] = kind
    return kinds


@functools.cache
def ranker_kinds() -> dict[str, Any]:
    """Every registered ranking model kind by name (modules with a ``RANKER``: ``als``)."""
    rankers: dict[str, Any] = {}
    for name in _kind_modules():
        ranker = getattr(importlib.import_module(f"{__name__}.{name}"), "RANKER", None)
        if ranker is not None:
            rankers[ranker.name] = ranker
    return rankers


def _kind_modules() -> list[str]:
    """The package's public modules, "dot" first."""
    names = [
        m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name != "base"
    ]
    return sorted(names, key=lambda name: (name != "dot", name))


def model_kind(name: str) -> ModelKind:
    """The registration of one kind.

    Raises:
        ConfigError: No kind of that name.
    """
    kinds = model_kinds()
    if name not in kinds:
        raise ConfigError(f"model must be one of {', '.join(kinds)}, got {name!r}")
    return kinds[name]


def build_model(kind: str, settings: dict[str, Any]) -> Any:
    """Rebuild a torch module from its ``kind`` and its ``settings()``.

    Raises:
        ValueError: Unknown kind or settings.
    """
    if kind not in model_kinds():
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(model_kinds())}")
    return model_kinds()[kind].rebuild(settings)


_LAZY = {
    "DotBias": ("bookrec.models.dot", "DotBias"),
    "NeuralCF": ("bookrec.models.nn", "NeuralCF"),
    "RatingModel": ("bookrec.models._torch", "RatingModel"),
    "sigmoid_range": ("bookrec.models._torch", "sigmoid_range"),
    "embedding_size": ("bookrec.models._torch", "embedding_size"),
}


def __getattr__(name: str) -> Any:
    # The torch modules and helpers, imported on first use (PEP 562) so that serving never loads torch.
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
