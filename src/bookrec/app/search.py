"""Find a book by typing: suggestions come from the server as the reader types, a few at a time.

A select box over every title sends all 10,000 labels to the browser on every change of the page (640 KB);
here a search field (committed after a pause in typing) reruns only its own fragment, and shows up to
``LIMIT`` suggestion buttons, each with title, author, year and ratings. Picking one calls ``on_pick`` and
reruns the page.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from bookrec.app import state, text
from bookrec.recommender import Recommender
from bookrec.results import TitleMatch

LIMIT = 6
"""Suggestions shown at once."""


def label(result: TitleMatch) -> str:
    """A suggestion's text: "Title — Authors, 2008 · 12,345 ratings" (shown verbatim)."""
    words = str(result.title)
    if result.authors:
        words += f" — {result.authors}"
    if result.year is not None:
        words += f", {result.year}"
    return text.md(words) + f" · {result.ratings_count:,} ratings"


@st.fragment
def search_box(
    recommender: Recommender, key: str, label_text: str, on_pick: Callable[[str], None], *, help: str = ""
) -> None:
    """A search field and its suggestions; ``on_pick(book_id)`` runs when the reader picks one.

    Widgets: the field is ``key``; the suggestions are ``{key}_pick_{book_id}`` buttons.
    """
    typed = st.text_input(
        label_text,
        key=key,
        type="search",
        live=True,
        placeholder="Type a title or an author…",
        help=help or None,
    )
    hits = state.suggest(recommender, typed or "", LIMIT)
    if typed and not hits:
        st.caption(f"No book matches {text.md(typed)}; try fewer words, or the author's name.")
    for hit in hits:
        st.button(
            label(hit),
            key=f"{key}_pick_{hit.book_id}",
            type="tertiary",
            width="stretch",
            on_click=_picked,
            args=(key, str(hit.book_id), on_pick),
        )
    if st.session_state.pop(f"{key}_picked", False) and _fragment_run():
        st.rerun()  # the whole page: a pick changes more than this fragment


def _fragment_run() -> bool:
    """Whether this run is the fragment's own (typing, a pick), not the whole page's."""
    context = get_script_run_ctx()
    return bool(context is not None and context.fragment_ids_this_run)


def _picked(key: str, book: str, on_pick: Callable[[str], None]) -> None:
    on_pick(book)
    st.session_state[key] = ""  # an empty field for the next book
    st.session_state[f"{key}_picked"] = True
