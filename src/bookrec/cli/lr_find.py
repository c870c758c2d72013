"""``bookrec lr-find``: the learning-rate range test, its suggestion and its plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bookrec.cli import _training as training
from bookrec.cli import app
from bookrec.cli._options import DataOptions, HelpCommand, flag_names, with_data_options

_PANEL = training.PANEL


@app.command("lr-find", cls=HelpCommand)
@with_data_options
def lr_find_command(
    data_options: DataOptions,
    model: training.ModelKind = "dot",
    factors: training.Factors = None,
    wd: training.WeightDecay = None,
    bs: training.BatchSize = None,
    valid_pct: training.ValidPct = 0.2,
    seed: training.Seed = 42,
    start_lr: Annotated[
        float, typer.Option("--start-lr", metavar="LR", help="First learning rate.", rich_help_panel=_PANEL)
    ] = 1e-7,
    end_lr: Annotated[
        float, typer.Option("--end-lr", metavar="LR", help="Last learning rate.", rich_help_panel=_PANEL)
    ] = 10.0,
    steps: Annotated[
        int,
        typer.Option("--steps", metavar="N", help="Mini-batch steps between them.", rich_help_panel=_PANEL),
    ] = 200,
    device: training.Device = "auto",
    out: Annotated[
        Path, typer.Option("--out", metavar="PLOT.png", help="Where to write the loss-vs-rate plot.")
    ] = Path("lr_find.png"),
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON object: suggested_lr, method, lr_steep, lr_valley, n_steps, stopped_early, "
            "bs, model, n_factors, wd, plot, and the curve (lrs, losses).",
        ),
    ] = False,
) -> None:
    """Find a learning rate: train with a rate growing from --start-lr to --end-lr and plot the loss.

    The test runs the torch engine (AdamW mini-batches: the nn model's engine, and
    `--engine torch` for the dot model) on the training part of the split. The
    suggested rate is the rate at the lowest smoothed loss divided by 10; use it as
    --lr of `bookrec train` with the same model, factors, weight decay and batch size.
    The plot needs matplotlib (bookrec's plot extra).

    Examples:

      bookrec lr-find --out lr.png

      bookrec lr-find --model nn --ratings ml/ratings.csv --user-col userId --item-col movieId --json
    """
    from bookrec.config import TrainConfig
    from bookrec.lr_find import lr_find
    from bookrec.plots import plot_lr_find, require_matplotlib

    require_matplotlib()  # before the test runs, not after
    with flag_names():
        config = TrainConfig(
            model=model, engine="torch", n_factors=factors, wd=wd, bs=bs, valid_pct=valid_pct, seed=seed
        )
    dataset = data_options.load()
    with flag_names():
        result = lr_find(dataset, config, start_lr=start_lr, end_lr=end_lr, n_steps=steps, device=device)
    plot = plot_lr_find(result, out)
    if as_json:
        typer.echo(json.dumps({**result.to_dict(), "plot": str(plot)}))
        return
    console = Console(highlight=False, soft_wrap=True)  # long paths stay on one line
    factors_text = "fastai's size rule" if config.n_factors is None else f"{config.n_factors} factors"
    ended = (
        f"stopped after {result.lrs.size} steps at lr {result.lrs[-1]:.2g}: the loss exploded"
        if result.stopped_early
        else f"{result.lrs.size} steps"
    )
    console.print(
        f"learning-rate finder: {config.model} model (torch engine, AdamW), {factors_text}, "
        f"wd {config.wd:g}, batch {result.bs}; lr {start_lr:g} to {end_lr:g}, {ended}"
    )
    console.print(
        f"suggested lr: {result.suggested_lr:.2g} (minimum / 10); "
        f"steepest descent {result.lr_steep:.2g}, valley {result.lr_valley:.2g}"
    )
    console.print(f"plot: {plot}")
    train_args = "--model nn" if config.model == "nn" else "--engine torch"
    console.print(
        f"next: bookrec train {train_args} --lr {result.suggested_lr:.2g} (and the same data options)"
    )
