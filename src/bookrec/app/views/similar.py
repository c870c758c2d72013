"""Similar books: type part of a title or an author, pick a suggestion, see the books the model puts nearest.

The chosen book travels in the address (``?book=26``, with the reader's lists), so a link opens the same
answer. Every card can be liked, shelved, or followed ("More like this").
"""

from __future__ import annotations

import streamlit as st

from bookrec.app import cards, genres, search, shelves, state, text
from bookrec.errors import UnknownBookError
from bookrec.recommender import Recommender


def _choose(book: str) -> None:
    st.query_params["book"] = book


def _chosen(recommender: Recommender) -> str | None:
    """The book in the address (an unknown one: a friendly error, and the address forgets it)."""
    wanted = st.query_params.get("book")
    if not wanted:
        return None
    try:
        return str(state.book_choice(recommender, wanted))
    except UnknownBookError as error:
        st.error(f"The link names a book this model does not know: {text.md(error)}", icon=":material/error:")
        st.query_params.pop("book", None)
        return None


def _page(recommender: Recommender) -> None:
    shelves.load(recommender)
    shelves.full_message()
    steps = state.rating_steps(recommender)
    few = state.few_ratings(recommender)
    st.sidebar.subheader("Settings", anchor=False)
    k = st.sidebar.slider("How many", 4, 40, 12, step=4, key="similar_k")
    min_ratings = st.sidebar.number_input(
        "Minimum ratings",
        min_value=0,
        value=state.default_min_ratings(recommender),
        step=10,
        key="similar_min_ratings",
        help="Leave out books rated by fewer readers than this: too few ratings to place them well.",
    )
    kinds = genres.genre_filter(recommender, "similar_genres")
    search.search_box(
        recommender,
        "similar_find",
        "Find a book",
        _choose,
        help="Type any part of a title or an author's name; pick one of the suggestions.",
    )
    chosen = _chosen(recommender)
    if chosen is None:
        st.info(
            "Pick a book to see the books most like it, by how readers rated them.", icon=":material/search:"
        )
        return
    book = recommender.book(f"id:{chosen}")
    st.subheader("Books like this one", anchor="chosen")
    more = cards.show([book], scope="chosen", steps=steps, few_below=few)
    if book.n_ratings < few:
        st.warning(
            f"Only {book.n_ratings:,} readers rated {text.md(book.title)}: the books below are a rough "
            "guess.",
            icon=":material/info:",
        )
    results = recommender.similar(f"id:{chosen}", k=k, min_ratings=int(min_ratings), genres=kinds)
    if not results and kinds:
        st.info(f"No book of these genres has {int(min_ratings):,} ratings or more; lower the minimum.")
    elif not results:
        st.info(f"No book has {int(min_ratings):,} ratings or more; lower the minimum.")
    else:
        st.subheader(f"The {len(results)} most similar books", anchor="results")
        more = (
            cards.show(
                results, lambda r: f"similarity {r.score:.2f}", scope="similar", steps=steps, few_below=few
            )
            or more
        )
    if more is not None and more != chosen:
        st.query_params["book"] = more
        st.rerun()


st.title("Similar books", anchor=False)
with state.friendly_errors():
    model = state.recommender()
    if model is not None:
        _page(model)
