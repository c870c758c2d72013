"""Explore: the books readers love or dislike beyond their taste (book biases), and a map of books.

The map is the PCA of the most-rated books' vectors (``Recommender.book_map``): books near each other are read
by the same readers. Hover shows title and author; colour by year, or pick authors to pick their books out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from bookrec.app import state
from bookrec.recommender import BookResult, Recommender

_VIEWS = ("Loved and disliked", "Map of books")
_FLOORS = (0, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
_HOVER = "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>%{customdata[2]}<extra></extra>"


def _table(results: list[BookResult]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Title": [r.title for r in results],
            "Authors": [r.authors for r in results],
            "Year": pd.array([r.year for r in results], dtype="Int64"),
            "Bias": [r.score for r in results],
            "Goodreads ★": [r.average_rating for r in results],
            "Ratings": [r.n_ratings for r in results],
            "Link": [r.goodreads_url or None for r in results],
        }
    )


def _biases(recommender: Recommender) -> None:
    st.caption(
        "A book's bias is what the model adds to every reader's predicted rating for it: how much it is "
        "liked (or disliked) beyond what readers' taste explains."
    )
    k_box, floor_box = st.columns(2)
    k = k_box.slider("How many", 5, 50, 15, step=5, key="explore_k")
    most = int(recommender.books_table["n_ratings"].max())
    floors = [f for f in _FLOORS if f <= most] or [0]
    default = max(f for f in floors if f <= state.default_min_ratings(recommender))
    min_ratings = floor_box.select_slider("Minimum ratings", floors, value=default, key="explore_min_ratings")
    config = {
        "Bias": st.column_config.NumberColumn(format="%+.2f"),
        "Goodreads ★": st.column_config.NumberColumn(format="%.2f"),
        "Link": st.column_config.LinkColumn(display_text="Goodreads ↗"),
    }
    for which, heading in (("highest", "Loved beyond taste"), ("lowest", "Disliked beyond taste")):
        results = recommender.biases(which, k=k, min_ratings=min_ratings)
        st.subheader(heading, anchor=False)
        if results:
            st.dataframe(_table(results), hide_index=True, column_config=config, key=f"bias_{which}")
        else:
            st.info(f"No book has {min_ratings:,} ratings or more; lower the minimum.")


def _authors(frame: pd.DataFrame) -> pd.Series:
    """Each book's authors as a list (goodbooks separates them with commas)."""
    return frame["authors"].fillna("").str.split(r",\s*")


def _trace(frame: pd.DataFrame, x: str, y: str, **marker: object) -> go.Scatter:
    year = frame["year"].astype("Float64").map(lambda v: "year unknown" if pd.isna(v) else f"{int(v)}")
    custom = np.column_stack([frame["title"], frame["authors"], year])
    return go.Scatter(
        x=frame[x], y=frame[y], mode="markers", customdata=custom, hovertemplate=_HOVER, marker=marker
    )


def _map(recommender: Recommender) -> None:
    top = min(5000, recommender.n_books // 100 * 100)
    controls = st.columns(4 if top > 500 else 3)
    n_books = (
        controls.pop(0).slider("Books on the map", 100, top, min(1000, top), step=100, key="map_n_books")
        if top > 500
        else recommender.n_books  # a few hundred books: all of them
    )
    frame = state.book_map(recommender, int(n_books), 0)
    variance = frame.attrs.get("explained_variance", [0.0, 0.0, 0.0])
    names = {f"pc{i + 1}": f"component {i + 1} ({v:.0%})" for i, v in enumerate(variance)}
    x = controls[0].selectbox("Across", list(names), 0, format_func=names.__getitem__, key="map_x")
    y = controls[1].selectbox("Up", list(names), 1, format_func=names.__getitem__, key="map_y")
    colour = controls[2].radio("Colour by", ("year", "nothing"), key="map_colour", horizontal=True)
    years = frame["year"].dropna().astype(int)
    if len(years) and years.min() < years.max():
        low, high = st.slider(
            "Published",
            int(years.min()),
            int(years.max()),
            (int(years.min()), int(years.max())),
            key="map_years",
        )
        if (low, high) != (int(years.min()), int(years.max())):
            frame = frame[frame["year"].between(low, high).fillna(False).astype(bool)]
    authors = _authors(frame)
    counts = authors.explode().value_counts().drop("", errors="ignore")
    chosen = st.multiselect(
        "Pick out authors", counts.index.tolist(), key="map_authors", placeholder="Type an author…"
    )
    figure = go.Figure()
    if chosen:
        picked = authors.map(lambda names: bool(set(names) & set(chosen)))
        figure.add_trace(_trace(frame[~picked], x, y, color="lightgrey", size=6, opacity=0.5))
        figure.data[-1].name = "other books"
        for author in chosen:
            mine = frame[authors.map(lambda names, a=author: a in names)]
            figure.add_trace(_trace(mine, x, y, size=11, line={"width": 1, "color": "white"}))
            figure.data[-1].name = author
    elif colour == "year" and frame["year"].notna().any():
        known = frame[frame["year"].notna()]
        # Colour by rank of year, not year: a few ancient books (Homer, -750) would wash out the rest.
        rank = known["year"].astype(float).rank(pct=True)
        ticks = np.quantile(known["year"].astype(float), [0, 0.25, 0.5, 0.75, 1])
        bar = {"title": "year", "tickvals": [0, 0.25, 0.5, 0.75, 1], "ticktext": [f"{t:.0f}" for t in ticks]}
        figure.add_trace(_trace(known, x, y, color=rank, colorscale="Viridis", size=7, colorbar=bar))
        figure.add_trace(_trace(frame[frame["year"].isna()], x, y, color="lightgrey", size=6))
    else:
        figure.add_trace(_trace(frame, x, y, size=7))
    figure.update_layout(
        height=640,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title=names[x].replace("%)", "% of the variance)"),
        yaxis_title=names[y].replace("%)", "% of the variance)"),
        showlegend=bool(chosen),
        hoverlabel={"align": "left"},
    )
    st.plotly_chart(figure, key="map_chart")
    st.caption(f"{len(frame):,} books. Books near each other are liked by the same readers.")


def _page(recommender: Recommender) -> None:
    view = st.radio("Show", _VIEWS, key="explore_view", horizontal=True, label_visibility="collapsed")
    if view == _VIEWS[0]:
        _biases(recommender)
    else:
        _map(recommender)


st.title("Explore", anchor=False)
with state.friendly_errors():
    model = state.recommender()
    if model is not None:
        _page(model)
