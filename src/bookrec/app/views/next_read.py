"""Your next read: name books you liked (stars optional), get recommendations you can act on.

The recommendations come first; the reader's books are in a panel above them (open while the list is empty),
the settings in the sidebar. The lists live in the address (``?liked=26:5,7&read=3&want=9``, see
``shelves``), so a reload keeps them and a link shares them.
"""

from __future__ import annotations

import streamlit as st

from bookrec.app import cards, genres, search, shelves, state, text
from bookrec.recommender import Recommender
from bookrec.results import BookResult

_ADD, _ADD_STARS, _EDIT, _EDIT_STARS = "next_add", "next_add_stars", "next_edit", "next_edit_stars"
# Chips shown before "Show all" (a 200-book list would be 200 buttons on every interaction). No docstrings
# here: Streamlit's magic would show a bare string of a page script.
_CHIPS = 24
_ORDERS = {"match": "Best match", "rating": "Highest predicted rating"}
_SCROLL = """<script>/* {nonce} */
const el = window.parent.document.getElementById("results") || document.getElementById("results");
if (el) {{ const top = el.getBoundingClientRect().top;
  if (top < 0 || top > window.innerHeight * 0.5) el.scrollIntoView({{behavior: "smooth", block: "start"}}); }}
</script>"""


def _add(book: str) -> None:
    """A suggestion was picked: add it with the stars chosen, and reset the stars for the next book."""
    shelves.like(book, st.session_state.get(_ADD_STARS))
    st.session_state[_ADD_STARS] = None


def _remove(name: str, book: str) -> None:
    if name == "liked":
        shelves.unlike(book)
    else:
        shelves.unshelve(name, book)


def _edit_chosen() -> None:
    book = st.session_state.get(_EDIT)
    st.session_state[_EDIT_STARS] = shelves.current().liked.get(book) if book else None


def _edit_stars() -> None:
    book = st.session_state.get(_EDIT)
    if book and book in shelves.current().liked:
        shelves.like(book, st.session_state.get(_EDIT_STARS))


def _chips(recommender: Recommender, name: str, books: list[str], stars: dict[str, float | None]) -> None:
    """A shelf as compact chips; each is the button that takes its book off (labelled with the title)."""
    everything = st.toggle(f"Show all {len(books)}", key=f"all_{name}") if len(books) > _CHIPS else True
    shown = books if everything else books[-_CHIPS:]
    with st.container(horizontal=True, gap="small", key=f"chips_{name}"):
        for book in shown:
            title = recommender.book(f"id:{book}").title
            given = stars.get(book)
            st.button(
                text.md(title) + ("" if given is None else f" · {cards.stars(given)}"),
                key=f"remove_{name}_{book}",
                icon=":material/close:",
                icon_position="right",
                on_click=_remove,
                args=(name, book),
                help=f"Remove {text.md(title)} from this list",
            )


def _your_books(recommender: Recommender, mine: shelves.Shelves, steps: list[float]) -> None:
    liked = list(mine.liked)
    st.segmented_control(
        "Your stars for the next book (optional)", steps, format_func=cards.stars, key=_ADD_STARS
    )
    search.search_box(recommender, _ADD, "Add a book you liked", _add)
    if liked:
        st.markdown(f"**Books you liked ({len(liked)} of at most {shelves.MAX_BOOKS})**")
        _chips(recommender, "liked", liked, mine.liked)
        edit, edit_stars = st.columns([3, 2], vertical_alignment="bottom")
        edit.selectbox(
            "Change the stars of",
            liked,
            index=None,
            format_func=lambda b: recommender.book(f"id:{b}").title,
            key=_EDIT,
            on_change=_edit_chosen,
            placeholder="Pick a book of your list…",
        )
        edit_stars.segmented_control(
            "Stars", steps, format_func=cards.stars, key=_EDIT_STARS, on_change=_edit_stars
        )
        st.button("Clear the list", key="next_clear", on_click=shelves.clear_liked, type="tertiary")
    for name, heading in (("read", "Already read (left out)"), ("want", "Want to read")):
        books = getattr(mine, name)
        if books:
            st.markdown(f"**{heading} ({len(books)})**")
            _chips(recommender, name, books, {})


def _settings(recommender: Recommender) -> tuple[int, int, str, list[str]]:
    box = st.sidebar
    box.subheader("Recommendation settings", anchor=False)
    k = box.slider("How many recommendations", 4, 40, 12, step=4, key="next_k")
    min_ratings = box.number_input(
        "Minimum ratings",
        min_value=0,
        value=state.default_min_ratings(recommender),
        step=10,
        key="next_min_ratings",
    )
    by = "rating"
    if recommender.ranker is not None:  # a folder from before the ranking model can only rank by rating
        by = box.radio(
            "Order by",
            list(_ORDERS),
            format_func=_ORDERS.__getitem__,
            key="next_by",
            help="Best match: what readers of your books went on to read (the ranking model). Highest "
            "rating: the books the rating model expects you to rate highest (the blog's order).",
        )
    return int(k), int(min_ratings), by, genres.genre_filter(recommender, "next_genres")


def _describe(result: BookResult) -> str:
    """The card's line: the predicted stars, and the match that ordered the list (when it did)."""
    stars = f"predicted {result.score:.1f}★ for you"
    return stars if result.match is None else f"match {result.match:.2f} · {stars}"


def _start(
    recommender: Recommender,
    k: int,
    min_ratings: int,
    kinds: list[str],
    mine: shelves.Shelves,
    steps: list[float],
) -> None:
    """No book named yet: start from a few genres (well-liked, much-read books of each, in turn)."""
    if not genres.options(recommender):
        return
    st.subheader("Or start from genres", anchor="start")
    picked = genres.genre_filter(recommender, "next_start_genres", st, label="Genres you like") or kinds
    if not picked:
        st.caption("Pick a few genres to see well-liked, much-read books of them; like some to begin.")
        return
    starters = recommender.starter_books(
        picked, k, min_ratings=min_ratings, exclude=[f"id:{book}" for book in mine.read]
    )
    if not starters:
        st.info("No book of these genres has that many ratings; lower the minimum ratings.")
        return
    more = cards.show(
        starters,
        lambda r: f"{' · '.join(r.genres[:2])} · {r.score:.1f}★ for the average reader",
        scope="start",
        steps=steps,
        few_below=state.few_ratings(recommender),
    )
    if more is not None:
        st.switch_page("views/similar.py", query_params={"book": more, **shelves.current().values()})


def _page(recommender: Recommender) -> None:
    mine = shelves.load(recommender)
    shelves.full_message()
    steps = state.rating_steps(recommender)
    k, min_ratings, by, kinds = _settings(recommender)
    # A constant label: a label that changed with the list would fold the panel at every book added.
    with st.expander("Your books: add, rate, remove", expanded=not mine.liked, icon=":material/edit:"):
        _your_books(recommender, mine, steps)
    if not mine.liked:
        st.info(
            "Add a few books you liked to get recommendations. Stars help, but are optional.",
            icon=":material/auto_stories:",
        )
        _start(recommender, k, min_ratings, kinds, mine, steps)
        return
    results = recommender.recommend_for(
        {f"id:{book}": stars for book, stars in mine.liked.items()},
        k=k,
        min_ratings=min_ratings,
        exclude=[f"id:{book}" for book in mine.read],
        by=by,
        genres=kinds,
    )
    st.subheader("Recommended for you", anchor="results")
    st.caption(
        f"From your {len(mine.liked)} liked books ({len(mine.read)} read, {len(mine.want)} to read). This "
        "page's address holds your lists: bookmark it or send it to a friend."
    )
    if not results:
        st.info(
            "Nothing left to recommend with these settings; lower the minimum ratings or pick more genres."
        )
    more = cards.show(
        results,
        _describe,
        scope="next",
        steps=steps,
        few_below=state.few_ratings(recommender),
        because=True,
    )
    if more is not None:
        st.switch_page("views/similar.py", query_params={"book": more, **shelves.current().values()})
    if shelves.version():  # after a change of the lists, bring the new answer into view
        st.html(_SCROLL.format(nonce=shelves.version()), unsafe_allow_javascript=True)


st.title("Your next read", anchor=False)
with state.friendly_errors():
    model = state.recommender()
    if model is not None:
        _page(model)
