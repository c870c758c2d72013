"""Training settings: ``TrainConfig`` and the measured defaults of every model kind (torch-free).

The CLI checks settings here before it loads data or imports torch; the defaults themselves live beside
each model (``KIND.defaults`` in :mod:`bookrec.models.dot`, :mod:`bookrec.models.nn`, ...), with the
measurements that chose them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from bookrec.engines import ENGINE_DEFAULTS, ENGINE_MODELS, ENGINE_OPTIMIZERS
from bookrec.errors import ConfigError
from bookrec.models import model_kind, model_kinds, ranker_kinds

__all__ = ["DEFAULTS", "ENGINES", "MODELS", "OPTIMIZERS", "TrainConfig", "auto_batch_size"]

MODELS = tuple(model_kinds())
"""The registered model kinds ("dot", "nn", ...)."""
ENGINES = ("auto", *ENGINE_OPTIMIZERS)
OPTIMIZERS = ("auto", *dict.fromkeys(o for names in ENGINE_OPTIMIZERS.values() for o in names))
DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    (kind.name, optimizer): dict(values)
    for kind in model_kinds().values()
    for optimizer, values in kind.defaults.items()
}
"""Default n_factors, epochs, lr, wd and bs per (model, optimizer), as each model kind registers them.

None n_factors: fastai's size rule (a kind that registers none). None bs: chosen from the data's size
(``auto_batch_size``; the nn kind asks for about 1,024 steps an epoch).
"""

# The ranking model's defaults (see models/als.py and benchmarks/bench_ranking.py for the measurements).
# On MovieLens-small's hold-out (bench_ranking's protocol, mean of 3 seeds, NDCG@10 random / by time, top-10
# coverage random): 128 factors, 6 sweeps, alpha 5 and reg 17.8: 0.302 / 0.120, 5.0%; reg 18.5: 0.303 /
# 0.119, 4.9%; reg 16: 0.302 / 0.120, 5.3%; reg 14: 0.297 / 0.118; alpha 4: 0.300 / 0.118; alpha 6: 0.298.
# Through `bookrec split` (seed 42), plain `bookrec train` and `evaluate --top-n`: reg 17: 0.299, 17.8: 0.301,
# 18.5: 0.302; 8 sweeps 0.299.
# The regularization grows with the readers: the fit's Gram terms sum over every reader (and every book), so a
# strength that suits 610 readers underfits 53,424 (full-size synthetic goodbooks, 3,000 sampled readers'
# hold-out, to_read.csv in: reg 18.5 NDCG@10 0.053, 60: 0.074, 100: 0.112, 170: 0.125, 300: 0.090;
# most-popular 0.070). 0.72 x sqrt(readers) gives 17.8 on MovieLens-small and 166 there.
# to_read.csv's pairs at confidence 1 (full-size synthetic, reg 60, wanted books left out of the lists as
# serving leaves them out): 0.074 against 0.073 without; at 3: 0.065.
RANK_REG_PER_SQRT_READER = 0.72
RANK_DEFAULTS: dict[str, Any] = {
    "rank_factors": 128,
    "rank_reg": None,  # RANK_REG_PER_SQRT_READER x sqrt(readers): see rank_regularization
    "rank_alpha": 5.0,
    "rank_iterations": 6,
    "rank_to_read": 1.0,
}
_MAX_EPOCHS = 10_000
_MAX_FACTORS = 4_096


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (what the model folder records; run-time knobs live in ``train``).

    Fields left as None take the measured default of the chosen model and optimizer (``DEFAULTS``), filled
    in at construction, so a config holds concrete numbers (bs may stay None: automatic) and ``to_dict``
    records them. To switch model or engine, build a new config rather than ``dataclasses.replace`` one,
    whose filled-in defaults belong to the old choice.

    Attributes:
        model: "dot" (``DotBias``) or "nn" (``NeuralCF``).
        engine: "sgd" (compiled per-rating SGD, dot only), "torch" (AdamW + one-cycle mini-batches),
            "spark" (Spark MLlib ALS, dot only: :mod:`bookrec.engines.spark`), or "auto": sgd for dot, torch
            for nn.
        optimizer: "rmsprop" (sgd engine: step sizes adapted per embedding row), "sgd" (sgd engine: plain
            steps), "adamw" (torch engine), "als" (spark engine), or "auto": the engine's first.
        n_factors: Factors per reader and book (dot), or both embedding sizes (nn: 48 by measurement;
            None: fastai's rule).
        epochs: Passes over the training ratings.
        lr: Peak learning rate of the one-cycle schedule.
        wd: Weight decay: per-rating L2 on the touched parameters (sgd), decoupled AdamW decay (torch).
        bs: Ratings per mini-batch (torch; None: ``auto_batch_size`` of the training ratings); the sgd
            engine steps per rating (bs 1).
        valid_pct: Share of ratings held out for validation, in [0, 1); 0 trains on everything.
        seed: Seed of the split, the initial weights and every shuffle.
        y_range: Output range (lo, hi); None follows the data's scale ((0, 5.5) for 1-5 stars).
        n_hidden: Hidden units of the nn model.
        dropout: Dropout after the nn model's hidden layer, in [0, 1).
        init_std: Standard deviation of the initial weights.
        pct_start: Share of the schedule spent warming the learning rate up, in (0, 1).
        shrink: L2 strength per reader and per book on top of ``wd`` per rating (sgd engine): a row's
            penalty is ``wd x its ratings + shrink``, so readers and books with few ratings are pulled
            harder towards the average (biases towards the mean rating, factors towards zero). None: the
            model's default (0 where the engine has none).
        factor_scale: Multiplies the factors' regularization (``wd`` and ``shrink``; sgd engine).
        adapt: Let the data set the regularization (sgd engine): on an internal hold-out of the training
            ratings, pick ``factor_scale`` and keep biases alone when factors do not beat them
            (:mod:`bookrec.engines.adapt`). ``train`` returns the chosen settings with ``adapt`` False and
            records the choice in ``metrics["regularization"]``. None: the model's default.
        adapt_epochs: Let the same probe lengthen the schedule (x3 epochs, up to x9) while that improves
            its error: small data converges slowly at the defaults' steps. None: on when ``adapt`` is on
            and ``epochs`` was left to the default (an explicit number of epochs is kept).
        ranker: The ranking model trained beside the rating model, which orders recommendation lists:
            "als" (implicit ALS on who read what, see :mod:`bookrec.models.als`), or "none".
        rank_factors: Factors per reader and book of the ranking model.
        rank_reg: L2 strength of the ranking model; None scales it with the data's readers
            (``rank_regularization``).
        rank_alpha: Confidence of a top-rated read relative to an unread book (see ``models.als``).
        rank_iterations: ALS sweeps of the ranking model.
        rank_to_read: Confidence of a book a reader wants to read (goodbooks' to_read.csv, where the data
            has it) relative to an unread book; 0 leaves to_read.csv out.
    """

    model: str = "dot"
    engine: str = "auto"
    optimizer: str = "auto"
    n_factors: int | None = None
    epochs: int | None = None
    lr: float | None = None
    wd: float | None = None
    bs: int | None = None
    valid_pct: float = 0.2
    seed: int = 42
    y_range: tuple[float, float] | None = None
    n_hidden: int = 100
    dropout: float = 0.0
    init_std: float = 0.01
    pct_start: float = 0.25
    shrink: float | None = None
    factor_scale: float = 1.0
    adapt: bool | None = None
    adapt_epochs: bool | None = None
    ranker: str = "als"
    rank_factors: int = RANK_DEFAULTS["rank_factors"]
    rank_reg: float | None = RANK_DEFAULTS["rank_reg"]
    rank_alpha: float = RANK_DEFAULTS["rank_alpha"]
    rank_iterations: int = RANK_DEFAULTS["rank_iterations"]
    rank_to_read: float = RANK_DEFAULTS["rank_to_read"]

    def __post_init__(self) -> None:
        kind = model_kind(self.model)
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        engine = kind.engines[0] if self.engine == "auto" else self.engine
        if engine not in (*kind.engines, *(e for e, kinds in ENGINE_MODELS.items() if self.model in kinds)):
            trains = [
                k.name
                for k in model_kinds().values()
                if engine in k.engines or k.name in ENGINE_MODELS.get(engine, ())
            ]
            raise ConfigError(
                f"engine {engine!r} trains only the {' and '.join(trains)} model; use engine "
                f"{' or '.join(repr(e) for e in kind.engines)} (or auto) for {self.model}"
            )
        object.__setattr__(self, "engine", engine)
        allowed = ENGINE_OPTIMIZERS[engine]
        optimizer = allowed[0] if self.optimizer == "auto" else self.optimizer
        if optimizer not in allowed:
            raise ConfigError(
                f"optimizer must be one of {', '.join(('auto', *allowed))} with the {engine} engine, "
                f"got {self.optimizer!r}"
            )
        object.__setattr__(self, "optimizer", optimizer)
        if engine == "sgd" and self.bs not in (None, 1):
            raise ConfigError(
                f"bs must be 1 with the sgd engine (it steps per rating), got {self.bs}; "
                "use engine 'torch' for mini-batches"
            )
        defaults = (ENGINE_DEFAULTS.get(engine) or kind.defaults)[optimizer]
        epochs_left_open = self.epochs is None
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.shrink is None:  # a kind or engine without per-row regularization
            object.__setattr__(self, "shrink", 0.0)
        if self.adapt is None:
            object.__setattr__(self, "adapt", False)
        if self.adapt_epochs is None:
            object.__setattr__(self, "adapt_epochs", bool(self.adapt and epochs_left_open))
        self._validate()

    def _validate(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        if self.n_factors is not None or self.model == "dot":
            need(
                _is_int(self.n_factors) and 1 <= self.n_factors <= _MAX_FACTORS,
                f"n_factors must be a whole number from 1 to {_MAX_FACTORS}, got {self.n_factors!r}",
            )
        need(
            _is_int(self.epochs) and 1 <= self.epochs <= _MAX_EPOCHS,
            f"epochs must be a whole number from 1 to {_MAX_EPOCHS}, got {self.epochs!r}",
        )
        need(
            _is_real(self.lr) and math.isfinite(self.lr) and 0 < self.lr <= 10,
            f"lr must be a positive number up to 10, got {self.lr!r}",
        )
        need(
            _is_real(self.wd) and math.isfinite(self.wd) and 0 <= self.wd <= 10,
            f"wd must be a number from 0 to 10, got {self.wd!r}",
        )
        need(
            self.bs is None or (_is_int(self.bs) and 1 <= self.bs <= 1 << 24),
            f"bs must be a whole number from 1 to {1 << 24}, got {self.bs!r}",
        )
        need(
            _is_real(self.valid_pct) and 0 <= self.valid_pct < 1,
            f"valid_pct must be at least 0 and below 1, got {self.valid_pct!r}",
        )
        need(
            _is_int(self.seed) and 0 <= self.seed < 2**63,
            f"seed must be a whole number from 0 to 2**63 - 1, got {self.seed!r}",
        )
        if self.y_range is not None:
            ok = (
                isinstance(self.y_range, tuple | list)
                and len(self.y_range) == 2
                and all(_is_real(v) and math.isfinite(v) for v in self.y_range)
                and self.y_range[0] < self.y_range[1]
            )
            need(ok, f"y_range must be two finite numbers (low, high) with low < high, got {self.y_range!r}")
            object.__setattr__(self, "y_range", (float(self.y_range[0]), float(self.y_range[1])))
        need(
            _is_int(self.n_hidden) and 1 <= self.n_hidden <= 1 << 16,
            f"n_hidden must be a whole number from 1 to {1 << 16}, got {self.n_hidden!r}",
        )
        need(
            _is_real(self.dropout) and 0 <= self.dropout < 1,
            f"dropout must be at least 0 and below 1, got {self.dropout!r}",
        )
        need(
            _is_real(self.init_std) and math.isfinite(self.init_std) and 0 <= self.init_std <= 10,
            f"init_std must be a number from 0 to 10, got {self.init_std!r}",
        )
        need(
            _is_real(self.pct_start) and 0 < self.pct_start < 1,
            f"pct_start must be above 0 and below 1, got {self.pct_start!r}",
        )
        need(
            _is_real(self.shrink) and math.isfinite(self.shrink) and 0 <= self.shrink <= 1e6,
            f"shrink must be a number from 0 to 1000000, got {self.shrink!r}",
        )
        need(
            _is_real(self.factor_scale) and math.isfinite(self.factor_scale) and 0 < self.factor_scale <= 1e4,
            f"factor_scale must be a positive number up to 10000, got {self.factor_scale!r}",
        )
        need(isinstance(self.adapt, bool), f"adapt must be true or false, got {self.adapt!r}")
        need(
            isinstance(self.adapt_epochs, bool),
            f"adapt_epochs must be true or false, got {self.adapt_epochs!r}",
        )
        need(
            self.engine == "sgd" or (self.shrink == 0 and self.factor_scale == 1 and not self.adapt),
            f"shrink, factor_scale and adapt apply to the sgd engine only (engine {self.engine!r})",
        )
        self._validate_ranker(need)

    def _validate_ranker(self, need: Callable[[bool, str], None]) -> None:
        rankers = ("none", *ranker_kinds())
        need(self.ranker in rankers, f"ranker must be one of {', '.join(rankers)}, got {self.ranker!r}")
        need(
            _is_int(self.rank_factors) and 1 <= self.rank_factors <= _MAX_FACTORS,
            f"rank_factors must be a whole number from 1 to {_MAX_FACTORS}, got {self.rank_factors!r}",
        )
        need(
            self.rank_reg is None
            or (_is_real(self.rank_reg) and math.isfinite(self.rank_reg) and 0 < self.rank_reg <= 1e6),
            f"rank_reg must be a positive number up to 1000000, got {self.rank_reg!r}",
        )
        need(
            _is_real(self.rank_to_read)
            and math.isfinite(self.rank_to_read)
            and 0 <= self.rank_to_read <= 1e4,
            f"rank_to_read must be a number from 0 to 10000, got {self.rank_to_read!r}",
        )
        need(
            _is_real(self.rank_alpha) and math.isfinite(self.rank_alpha) and 0 < self.rank_alpha <= 1e4,
            f"rank_alpha must be a positive number up to 10000, got {self.rank_alpha!r}",
        )
        need(
            _is_int(self.rank_iterations) and 1 <= self.rank_iterations <= 1000,
            f"rank_iterations must be a whole number from 1 to 1000, got {self.rank_iterations!r}",
        )

    def rank_regularization(self, n_users: int) -> float:
        """The ranking model's L2 strength on data with ``n_users`` readers: ``rank_reg``, or when None
        ``RANK_REG_PER_SQRT_READER x sqrt(n_users)`` (never below 1)."""
        if self.rank_reg is not None:
            return float(self.rank_reg)
        return max(1.0, RANK_REG_PER_SQRT_READER * math.sqrt(max(1, n_users)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values of every field (y_range as a list)."""
        values = asdict(self)
        if self.y_range is not None:
            values["y_range"] = list(self.y_range)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The config ``to_dict`` wrote (unknown keys are refused; missing ones take their defaults).

        Raises:
            ConfigError: An unknown key or an out-of-range value.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
        values = dict(values)
        if values.get("y_range") is not None:
            values["y_range"] = tuple(values["y_range"])
        return cls(**values)


def auto_batch_size(n_ratings: int) -> int:
    """The torch engine's batch size when none is given: about 128 steps per epoch, within 64..32768.

    Dense AdamW touches every weight at every step (as fastai does), so on goodbooks-sized data the step
    count, not the batch, sets the time: 146 steps of 32768 take ~20 s per nn epoch on 2 cores, the blog's
    batch of 64 would take over an hour. On MovieLens-small it gives 512 (158 steps per epoch).
    """
    target = max(1.0, n_ratings / 128)
    return int(min(32768, max(64, 2 ** round(math.log2(target)))))
