"""Explore: the books readers love or dislike beyond their taste (book biases), and a map of books.

The map is the PCA of the most-rated books' vectors (``Recommender.book_map``), told in plain words: books
near each other are liked by the same readers; the most-read books are labelled as landmarks, each axis is
named by the landmarks at its two ends, and a click on a point shows the books most like it. Hover shows
title, author and year; a decade picker narrows the books; pick authors to pick their books out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from bookrec.app import cards, shelves, state, text
from bookrec.recommender import BookResult, Recommender

_VIEWS = ("Loved and disliked", "Map of books")
_FLOORS = (0, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
_HOVER = "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>%{customdata[2]}<extra></extra>"
_LANDMARKS = 10  # the most-read books on the map get their title written beside them


def _table(results: list[BookResult]) -> pd.DataFrame:
    """The useful columns first (a phone shows the first two or three without scrolling sideways)."""
    return pd.DataFrame(
        {
            "Title": [r.title for r in results],
            "Bias": [r.score for r in results],
            "Ratings": [r.n_ratings for r in results],
            "Goodreads ★": [r.average_rating for r in results],
            "Authors": [r.authors for r in results],
            "Year": pd.array([r.year for r in results], dtype="Int64"),
            "Link": [text.web_link(r.goodreads_url) or None for r in results],
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
        "Title": st.column_config.TextColumn(width="medium", pinned=True),
        "Bias": st.column_config.NumberColumn(format="%+.2f", width="small"),
        "Ratings": st.column_config.NumberColumn(format="localized", width="small"),
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


def _short(title: str) -> str:
    """A landmark's label: the title without its series, cut to 28 characters."""
    short = str(title).split(" (")[0]
    return short if len(short) <= 28 else short[:27] + "…"


def _trace(frame: pd.DataFrame, **marker: object) -> go.Scatter:
    year = frame["year"].astype("Float64").map(lambda v: "year unknown" if pd.isna(v) else f"{int(v)}")
    custom = np.column_stack(
        [frame["title"].map(text.html_text), frame["authors"].map(text.html_text), year, frame["book_id"]]
    )
    return go.Scatter(
        x=frame["pc1"], y=frame["pc2"], mode="markers", customdata=custom, hovertemplate=_HOVER, marker=marker
    )


def _decade(year: float) -> int:
    return int(year // 10 * 10)


def _decades(frame: pd.DataFrame) -> pd.DataFrame:
    """A decade picker ("before 1900", "1900s" ... "2010s") instead of a slider of years from -750."""
    years = frame["year"].dropna().astype(float)
    if years.empty:
        return frame
    first = max(1900, min(_decade(y) for y in years))
    last = max(first, _decade(years.max()))
    options = (
        ["before 1900", *[f"{d}s" for d in range(first, last + 10, 10)]]
        if years.min() < 1900
        else [f"{d}s" for d in range(first, last + 10, 10)]
    )
    if len(options) < 2:
        return frame
    low, high = st.select_slider("Published", options, value=(options[0], options[-1]), key="map_decades")
    start = -np.inf if low == "before 1900" else float(low[:-1])
    end = 1899.0 if high == "before 1900" else float(high[:-1]) + 9
    if (low, high) == (options[0], options[-1]):
        return frame
    return frame[frame["year"].astype("Float64").between(start, end).fillna(False).astype(bool)]


def _axis(frame: pd.DataFrame, column: str) -> str:
    """An axis in plain words: the landmark books at its two ends."""
    top = frame.nlargest(min(len(frame), 50), "n_ratings")
    if top.empty:
        return ""
    low, high = top.loc[top[column].idxmin(), "title"], top.loc[top[column].idxmax(), "title"]
    return f"← more like {text.html_text(_short(low))} · more like {text.html_text(_short(high))} →"


def _figure(frame: pd.DataFrame, chosen: list[str], colour: str) -> go.Figure:
    authors = _authors(frame)
    figure = go.Figure()
    if chosen:
        picked = authors.map(lambda names: bool(set(names) & set(chosen)))
        figure.add_trace(_trace(frame[~picked], color="lightgrey", size=6, opacity=0.5))
        figure.data[-1].name = "other books"
        for author in chosen:
            mine = frame[authors.map(lambda names, a=author: a in names)]
            figure.add_trace(_trace(mine, size=11, line={"width": 1, "color": "white"}))
            figure.data[-1].name = text.html_text(author)
    elif colour == "year" and frame["year"].notna().any():
        known = frame[frame["year"].notna()]
        # Colour by rank of year, not year: a few ancient books (Homer, -750) would wash out the rest.
        rank = known["year"].astype(float).rank(pct=True)
        ticks = np.quantile(known["year"].astype(float), [0, 0.25, 0.5, 0.75, 1])
        bar = {"title": "year", "tickvals": [0, 0.25, 0.5, 0.75, 1], "ticktext": [f"{t:.0f}" for t in ticks]}
        figure.add_trace(_trace(known, color=rank, colorscale="Viridis", size=7, colorbar=bar))
        figure.add_trace(_trace(frame[frame["year"].isna()], color="lightgrey", size=6))
    else:
        figure.add_trace(_trace(frame, size=7))
    landmarks = frame.nlargest(min(len(frame), _LANDMARKS), "n_ratings")
    for _, book in landmarks.iterrows():
        figure.add_annotation(
            x=book["pc1"],
            y=book["pc2"],
            text=text.html_text(_short(book["title"])),
            showarrow=False,
            yshift=12,
            font={"size": 11},
        )
    figure.update_layout(
        height=640,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": _axis(frame, "pc1"), "showticklabels": False, "zeroline": False},
        yaxis={"title": _axis(frame, "pc2"), "showticklabels": False, "zeroline": False},
        showlegend=bool(chosen),
        hoverlabel={"align": "left"},
        clickmode="event+select",
    )
    return figure


def _map(recommender: Recommender) -> None:
    top = min(5000, recommender.n_books // 100 * 100)
    left, right = st.columns(2)
    n_books = (
        left.slider("Books on the map", 100, top, min(1000, top), step=100, key="map_n_books")
        if top > 500
        else recommender.n_books  # a few hundred books: all of them
    )
    colour = right.radio("Colour by", ("year", "nothing"), key="map_colour", horizontal=True)
    frame = _decades(state.book_map(recommender, int(n_books), 0))
    counts = _authors(frame).explode().value_counts().drop("", errors="ignore")
    chosen = st.multiselect(
        "Pick out authors", counts.index.tolist(), key="map_authors", placeholder="Type an author…"
    )
    st.caption(
        f"{len(frame):,} books. Books near each other are liked by the same readers; the most-read are "
        "labelled. Click a book to see the books most like it."
    )
    event = st.plotly_chart(
        _figure(frame, chosen, colour), key="map_chart", on_select="rerun", selection_mode="points"
    )
    points = (event.get("selection") or {}).get("points") or [] if event else []
    if points and points[0].get("customdata"):
        _clicked(recommender, str(points[0]["customdata"][3]))


def _clicked(recommender: Recommender, book_id: str) -> None:
    """The clicked book and the books most like it, as cards."""
    book = recommender.book(f"id:{book_id}")
    st.subheader(f"Books most like {text.md(book.title)}", anchor="results")
    steps, few = state.rating_steps(recommender), state.few_ratings(recommender)
    similar = recommender.similar(f"id:{book_id}", k=6, min_ratings=state.default_min_ratings(recommender))
    more = cards.show(
        [book, *similar],
        lambda r: "" if r is book else f"similarity {r.score:.2f}",
        scope="map",
        steps=steps,
        few_below=few,
    )
    if more is not None:
        st.switch_page("views/similar.py", query_params={"book": more, **shelves.current().values()})


def _page(recommender: Recommender) -> None:
    shelves.load(recommender)  # the reader's lists stay in the address
    shelves.full_message()
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
