"""Your next read: name books you liked (stars optional), get recommendations with their reasons.

The list lives in the address (``?liked=26:5,7,240&read=3``: book ids, optional stars, and the books already
read), so a reload keeps it and a link shares it. Widgets only edit the address; the page reads it back.
"""

from __future__ import annotations

import streamlit as st

from bookrec.app import cards, query, state
from bookrec.errors import UnknownBookError
from bookrec.recommender import Recommender
from bookrec.results import BookResult

_ADD, _ADD_STARS, _READ = "next_add", "next_add_stars", "next_read"


def _write(liked: query.Liked) -> None:
    if liked:
        st.query_params["liked"] = query.format_liked(liked)
    else:
        st.query_params.pop("liked", None)


def _liked_now() -> query.Liked:
    return query.parse_liked(st.query_params.get("liked", ""))[0]


def _add() -> None:
    book = st.session_state.get(_ADD)
    if book is None:
        return
    liked, stars = _liked_now(), st.session_state.get(_ADD_STARS)
    liked.pop(str(book), None)
    liked[str(book)] = stars
    _write(liked)
    st.session_state[f"stars_{book}"] = stars
    st.session_state[_ADD] = None


def _set_stars(book: str) -> None:
    liked = _liked_now()
    if book in liked:
        liked[book] = st.session_state.get(f"stars_{book}")
        _write(liked)


def _remove(book: str) -> None:
    liked = _liked_now()
    liked.pop(book, None)
    _write(liked)
    st.session_state.pop(f"stars_{book}", None)


def _clear() -> None:
    for book in _liked_now():
        st.session_state.pop(f"stars_{book}", None)
    _write({})


def _remember_read() -> None:
    ids = [str(b) for b in st.session_state.get(_READ) or []]
    if ids:
        st.query_params["read"] = query.format_ids(ids)
    else:
        st.query_params.pop("read", None)


def _checked(recommender: Recommender) -> query.Liked:
    """The list in the address, less what this model cannot read (said once, and taken out of the address)."""
    text = st.query_params.get("liked", "")
    parsed, bad = query.parse_liked(text)
    steps = state.rating_steps(recommender)
    liked: query.Liked = {}
    for book, stars in parsed.items():
        try:
            canonical = str(state.book_choice(recommender, book))
        except UnknownBookError:
            bad.append(book)
            continue
        if stars is not None and stars not in steps:
            bad.append(f"{book}:{stars:g} (stars go {steps[0]:g} to {steps[-1]:g})")
            stars = None
        liked[canonical] = stars
    if bad:
        st.warning(
            f"Left out of your list what this model cannot use: {', '.join(bad)}.", icon=":material/warning:"
        )
    if query.format_liked(liked) != text:
        _write(liked)
    return liked


def _sync_read(recommender: Recommender) -> None:
    """Make the box of books read hold what the address says (a shared link, a reload)."""
    text = st.query_params.get("read", "")
    if query.format_ids([str(b) for b in st.session_state.get(_READ) or []]) == text:
        return
    read = []
    for book in query.parse_ids(text):
        try:
            read.append(state.book_choice(recommender, book))
        except UnknownBookError:
            continue  # a book this model does not know cannot be recommended anyway
    st.session_state[_READ] = read
    _remember_read()  # and the address what the box holds


def _liked_list(recommender: Recommender, liked: query.Liked, steps: list[float]) -> None:
    st.subheader(f"Books you liked ({len(liked)})", anchor=False)
    for book, stars in liked.items():
        result = recommender.book(f"id:{book}")
        if st.session_state.get(f"stars_{book}", "unset") != stars:
            st.session_state[f"stars_{book}"] = stars  # the address wins: a shared link, a reload
        name, rating, remove = st.columns([6, 4, 1], vertical_alignment="center")
        name.markdown(f"**{cards.escape_markdown(result.title)}** — {cards.escape_markdown(result.authors)}")
        rating.segmented_control(
            f"Stars for {result.title}",
            steps,
            format_func=cards.stars,
            key=f"stars_{book}",
            label_visibility="collapsed",
            on_change=_set_stars,
            args=(book,),
        )
        remove.button("✕", key=f"remove_{book}", on_click=_remove, args=(book,), help="Take it off the list")
    st.button("Clear the list", key="next_clear", on_click=_clear)


def _page(recommender: Recommender) -> None:
    ids, labels = state.book_choices(recommender)
    steps = state.rating_steps(recommender)
    liked = _checked(recommender)
    _sync_read(recommender)
    book_box, stars_box = st.columns([3, 2])
    book_box.selectbox(
        "Add a book you liked",
        ids,
        index=None,
        format_func=labels.__getitem__,
        key=_ADD,
        placeholder="Type a title or an author…",
        on_change=_add,
    )
    stars_box.segmented_control(
        "Your stars (optional)",
        steps,
        format_func=cards.stars,
        key=_ADD_STARS,
        help="Leave empty for 'liked'.",
    )
    if liked:
        _liked_list(recommender, liked, steps)
    read = st.multiselect(
        "Books you have already read (left out of the recommendations)",
        ids,
        format_func=labels.__getitem__,
        key=_READ,
        on_change=_remember_read,
        placeholder="Type a title or an author…",
    )
    k_box, floor_box, order_box = st.columns(3)
    k = k_box.slider("How many recommendations", 4, 40, 12, step=4, key="next_k")
    by = "rating"
    if recommender.ranker is not None:  # a folder from before the ranking model can only rank by rating
        by = order_box.radio(
            "Order by",
            list(_ORDERS),
            format_func=_ORDERS.__getitem__,
            key="next_by",
            help="Best match: what readers of your books went on to read (the ranking model). Highest "
            "rating: the books the rating model expects you to rate highest (the blog's order).",
        )
    min_ratings = floor_box.number_input(
        "Minimum ratings",
        min_value=0,
        value=state.default_min_ratings(recommender),
        step=10,
        key="next_min_ratings",
    )
    if not liked:
        st.info(
            "Add a few books you liked to get recommendations. Stars help, but are optional.",
            icon=":material/auto_stories:",
        )
        return
    results = recommender.recommend_for(
        {f"id:{book}": stars for book, stars in liked.items()},
        k=k,
        min_ratings=int(min_ratings),
        exclude=[f"id:{book}" for book in read],
        by=by,
    )
    st.subheader("Your next read", anchor=False)
    st.caption("This page's address holds your list: bookmark it or send it to a friend.")
    if not results:
        st.info("Nothing left to recommend with these settings; lower the minimum ratings.")
    cards.show(results, because=True, describe=_describe)


_ORDERS = {"match": "Best match", "rating": "Highest predicted rating"}


def _describe(result: BookResult) -> str:
    """The card's line: the predicted stars, and the match that ordered the list (when it did)."""
    stars = f"predicted {result.score:.1f}★ for you"
    return stars if result.match is None else f"match {result.match:.2f} · {stars}"


st.title("Your next read", anchor=False)
with state.friendly_errors():
    model = state.recommender()
    if model is not None:
        _page(model)
