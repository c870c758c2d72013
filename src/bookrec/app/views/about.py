"""About this model: the data it learned from, its settings, its metrics and its learning curve.

Everything comes from the model folder's manifest; what a manifest does not record is left out, not guessed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from bookrec.app import shelves, state, text
from bookrec.recommender import Recommender

_METRICS = {
    "valid_rmse": "Validation RMSE",
    "valid_mae": "Validation MAE",
    "valid_mse": "Validation MSE",
    "train_loss": "Training loss",
    "epochs": "Epochs",
    "seconds": "Training time (s)",
}


def _data(manifest: dict[str, Any]) -> dict[str, Any]:
    data = manifest.get("data")
    return data if isinstance(data, dict) else {"name": data} if data else {}


def _rows(values: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as flat (name, value) rows."""
    rows = []
    for key, value in values.items():
        if isinstance(value, dict):
            rows += _rows(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", "—" if value is None else str(value)))
    return rows


def _show_rows(rows: list[tuple[str, str]], key: str, name: str = "setting") -> None:
    if rows:
        st.dataframe(pd.DataFrame(rows, columns=[name, "value"]), hide_index=True, key=key)


def _curve(history: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(history)
    if "epoch" not in frame:
        frame["epoch"] = range(1, len(frame) + 1)
    figure = go.Figure()
    for column, name in (("train_loss", "training loss"), ("valid_loss", "validation loss")):
        if column in frame and frame[column].notna().any():
            figure.add_trace(go.Scatter(x=frame["epoch"], y=frame[column], mode="lines+markers", name=name))
    figure.update_layout(
        height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="epoch", yaxis_title="MSE"
    )
    figure.update_xaxes(dtick=max(1, len(frame) // 10))  # whole epochs
    st.plotly_chart(figure, key="learning_curve")
    st.dataframe(frame, hide_index=True, key="history_table")


def _page(recommender: Recommender) -> None:
    manifest = recommender.manifest
    data = _data(manifest)
    shelves.load(recommender)  # the reader's lists stay in the address
    st.caption(f"Model folder: {text.md(state.model_path())}")

    st.header("Data", anchor=False)
    lo, hi = recommender.rating_scale
    columns = st.columns(4)
    columns[0].metric("Readers", f"{recommender.n_users:,}")
    columns[1].metric("Books", f"{recommender.n_books:,}")
    n_train, n_valid = data.get("n_train"), data.get("n_valid")
    columns[2].metric("Ratings trained on", f"{n_train:,}" if isinstance(n_train, int) else "—")
    columns[3].metric("Ratings held out", f"{n_valid:,}" if isinstance(n_valid, int) else "—")
    kind = "SYNTHETIC ratings (made by `bookrec synth`)" if state.synthetic(recommender) else "Ratings"
    source = text.md(data.get("name") or "not recorded")
    st.markdown(f"{kind} from {lo:g} to {hi:g} stars. Source: {source}.")

    st.header("Settings", anchor=False)
    model = manifest.get("model") or {}
    n_factors = manifest.get("n_factors", recommender.head.n_factors)
    st.markdown(
        f"Model **{text.md(model.get('kind', 'dot'))}** with **{text.md(n_factors)}** factors per reader "
        "and book."
    )
    _show_rows(_rows(manifest.get("config") or model.get("settings") or {}), "settings_table")

    st.header("Metrics", anchor=False)
    metrics = manifest.get("metrics") or {}
    shown = [(key, label) for key, label in _METRICS.items() if isinstance(metrics.get(key), int | float)]
    if shown:
        for column, (key, label) in zip(st.columns(len(shown)), shown, strict=True):
            value = metrics[key]
            column.metric(label, f"{value:,}" if isinstance(value, int) else f"{value:.4g}")
    else:
        st.info("This model's folder records no metrics.")
    _show_rows([r for r in _rows(metrics) if r[0] not in _METRICS], "metrics_table", "metric")

    st.header("Learning curve", anchor=False)
    history = manifest.get("history") or []
    if history and isinstance(history, list) and all(isinstance(row, dict) for row in history):
        _curve(history)
    else:
        st.info("This model's folder records no training history.")

    created, version = manifest.get("created", "—"), manifest.get("bookrec_version", "—")
    st.caption(f"Saved {text.md(created)} by bookrec {text.md(version)}.")


st.title("About this model", anchor=False)
with state.friendly_errors():
    current = state.recommender()
    if current is not None:
        _page(current)
