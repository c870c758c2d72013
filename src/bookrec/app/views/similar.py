"""Similar books: pick a book by typing part of its title or author; see the books the model puts nearest.

The chosen book travels in the address (``?book=26``), so a link opens the same answer.
"""

from __future__ import annotations

import streamlit as st

from bookrec.app import cards, state
from bookrec.errors import UnknownBookError
from bookrec.recommender import Recommender

_BOOK = "similar_book"


def _remember_choice() -> None:
    chosen = st.session_state.get(_BOOK)
    if chosen is None:
        st.query_params.pop("book", None)
    else:
        st.query_params["book"] = str(chosen)


def _page(recommender: Recommender) -> None:
    ids, labels = state.book_choices(recommender)
    wanted = st.query_params.get("book")
    if wanted and str(st.session_state.get(_BOOK)) != wanted:
        # A shared link or a reload: the address wins (an unknown id: a friendly error, an empty box).
        try:
            st.session_state[_BOOK] = state.book_choice(recommender, st.query_params["book"])
        except UnknownBookError as error:
            st.error(f"The link names a book this model does not know: {error}", icon=":material/error:")
            st.query_params.pop("book", None)
    left, middle, right = st.columns([6, 2, 2])
    chosen = left.selectbox(
        "Find a book",
        ids,
        index=None,
        format_func=labels.__getitem__,
        key=_BOOK,
        placeholder="Type a title or an author…",
        on_change=_remember_choice,
        help="Type any part of a title or an author's name; pick one of the suggestions.",
    )
    k = middle.slider("How many", 4, 40, 12, step=4, key="similar_k")
    min_ratings = right.number_input(
        "Minimum ratings",
        min_value=0,
        value=state.default_min_ratings(recommender),
        step=10,
        key="similar_min_ratings",
        help="Leave out books rated by fewer readers than this: too few ratings to place them well.",
    )
    if chosen is None:
        st.info(
            "Pick a book to see the books most like it, by how readers rated them.", icon=":material/search:"
        )
        return
    book = recommender.book(f"id:{chosen}")
    st.subheader("Books like this one", anchor=False)
    cards.show([book])
    results = recommender.similar(f"id:{chosen}", k=k, min_ratings=int(min_ratings))
    if not results:
        st.info(f"No book has {int(min_ratings):,} ratings or more; lower the minimum.")
        return
    st.subheader(f"The {len(results)} most similar books", anchor=False)
    cards.show(results, lambda s: f"similarity {s:.2f}")


st.title("Similar books", anchor=False)
with state.friendly_errors():
    model = state.recommender()
    if model is not None:
        _page(model)
