"""``bookrec tune``: search training settings with Optuna; save a model trained with the best."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from bookrec.cli import _training as training
from bookrec.cli import app
from bookrec.cli._options import DataOptions, HelpCommand, flag_names, with_data_options

if TYPE_CHECKING:
    from bookrec.tune import TrialResult, TuneResult

_TRIAL_COLUMNS = ("trial", "factors", "lr", "wd", "epochs", "bs", "valid RMSE", "time")


def _trial_cells(trial: TrialResult) -> tuple[str, ...]:
    p = trial.params
    return (
        str(trial.number),
        str(p["n_factors"]),
        f"{p['lr']:.3g}",
        f"{p['wd']:.3g}",
        str(p["epochs"]),
        str(p.get("bs", 1)),
        "diverged" if trial.rmse is None else f"{trial.rmse:.4f}",
        f"{trial.seconds:.1f} s",
    )


def _rmse(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _trial_line(cells: tuple[str, ...]) -> str:
    widths = (5, 7, 9, 9, 6, 6, 10, 9)
    return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))


_Minutes = Annotated[
    float, typer.Option("--minutes", metavar="M", help="Time budget: no trial starts after M minutes.")
]
_Trials = Annotated[
    int | None, typer.Option("--trials", metavar="N", help="Stop after N trials (default: the time budget).")
]
_Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="sgd (dot only), torch, or auto (sgd for dot, torch for nn).",
        rich_help_panel=training.PANEL,
    ),
]
_Out = Annotated[
    Path | None,
    typer.Option(
        "--out", metavar="DIR", help="Train the best settings on all the data and save the model here."
    ),
]
_Json = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON object: best_rmse, best_config, n_trials, seconds, trials, and with --out "
        "valid_rmse (the saved model's, on ratings no trial saw) and out.",
    ),
]


@app.command(cls=HelpCommand)
@with_data_options
def tune(
    data_options: DataOptions,
    minutes: _Minutes = 10.0,
    trials: _Trials = None,
    model: training.ModelKind = "dot",
    engine: _Engine = "auto",
    valid_pct: training.ValidPct = 0.2,
    seed: training.Seed = 42,
    device: training.Device = "auto",
    out: _Out = None,
    as_json: _Json = False,
) -> None:
    """Search factors, lr, wd and epochs (and batch size for the torch engine) with Optuna.

    Trials train on the training part of the split and are scored on a part of it; the
    validation part stays unseen, and with --out the best settings are trained on the
    whole data and scored there (an honest RMSE). The first trial is the defaults.
    Needs Optuna (pip install optuna).

    Examples:

      bookrec tune --minutes 5

      bookrec tune --trials 20 --out models/tuned

      bookrec tune --model nn --ratings ml/ratings.csv --user-col userId --item-col movieId --minutes 10
    """
    from bookrec.config import TrainConfig
    from bookrec.modelfile import ensure_replaceable
    from bookrec.train import train_and_save
    from bookrec.tune import check_budget
    from bookrec.tune import tune as run_tune

    # Bad settings fail before the data are loaded and any time is spent.
    with flag_names():
        check_budget(minutes, trials, valid_pct)
        TrainConfig(model=model, engine=engine, valid_pct=valid_pct, seed=seed)
    if out is not None:
        ensure_replaceable(out)  # now, not after the search
    dataset = data_options.load()
    console = Console(highlight=False, soft_wrap=True)  # long paths stay on one line
    callbacks = []
    if not as_json:
        budget = f"{minutes:g} minutes" + ("" if trials is None else f" or {trials} trials")
        console.print(f"tuning {model} on {dataset.n_ratings:,} ratings of {dataset.name} for {budget}")
        console.print(_trial_line(_TRIAL_COLUMNS), style="bold")
        callbacks.append(lambda trial: console.print(_trial_line(_trial_cells(trial))))
    with flag_names():
        result = run_tune(
            dataset,
            model=model,
            engine=engine,
            minutes=minutes,
            n_trials=trials,
            valid_pct=valid_pct,
            seed=seed,
            device=device,
            callbacks=callbacks,
        )
    values: dict[str, Any] = result.to_dict()
    if out is not None:
        with flag_names(), training.progress_bar(not as_json) as progress:
            trained = train_and_save(
                dataset, result.best_config, out, progress=progress, device=device, checkpoints=False
            )
        values |= {"valid_rmse": trained.metrics["valid_rmse"], "out": str(out)}
    if as_json:
        typer.echo(json.dumps(values))
    else:
        _summary(console, result, values, out)


def _summary(console: Console, result: TuneResult, values: dict[str, Any], out: Path | None) -> None:
    """The best settings as flags and as a TrainConfig, and where the model went."""
    best = result.best_config
    console.print(
        f"best of {len(result.trials)} trials ({result.seconds:.0f} s): tuning RMSE {result.best_rmse:.4f} "
        f"with --factors {best.n_factors} --lr {best.lr:.3g} --wd {best.wd:.3g} --epochs {best.epochs}"
        + (f" --bs {best.bs}" if best.engine == "torch" else "")
    )
    console.print(f"best TrainConfig: {json.dumps(best.to_dict())}")
    if out is not None:
        console.print(
            f"saved the best model, trained on all the data, to {out}: "
            f"validation RMSE {_rmse(values['valid_rmse'])} (on ratings no trial saw)"
        )
