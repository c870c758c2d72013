"""Book cards a reader can act on: cover, title, author, year, ratings, the answer's figures, one reason,
and the actions "I liked this" (with stars), "Already read", "Want to read" and "More like this".

A card is its HTML (one element) and its actions (Streamlit widgets keyed by the book). Covers load lazily
(``loading="lazy"``) over a placeholder; a missing cover, or one that fails to load (no network), leaves the
placeholder showing. Every text goes through ``text`` (shown verbatim); only http(s) links are kept.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence

import streamlit as st

from bookrec.app import shelves, text
from bookrec.results import BookResult

_PLACEHOLDER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="98" height="148" viewBox="0 0 98 148">'
    '<rect width="98" height="148" rx="4" fill="#e8e4dc"/>'
    '<rect x="10" y="10" width="78" height="128" rx="2" fill="none" stroke="#b8b0a0" stroke-width="2"/>'
    '<g font-family="sans-serif" font-size="12" fill="#8a8170" text-anchor="middle">'
    '<text x="49" y="70">No</text><text x="49" y="86">cover</text></g>'
    "</svg>"
)
PLACEHOLDER = "data:image/svg+xml;base64," + base64.b64encode(_PLACEHOLDER_SVG.encode()).decode()
"""The cover shown when a book has none, or while (or when failing) to load one."""

# A cover that fails to load (offline, gone) would show the browser's broken-image icon: a broken image
# renders its ::after box (a loaded one does not), which covers it with the placeholder. No script needed
# (Streamlit's Markdown drops onerror handlers).
_STYLE = """<style>
.bookrec-card{display:flex;gap:12px}
.bookrec-cover{flex:0 0 74px;width:74px;height:112px;border-radius:4px;overflow:hidden;
  background:#e8e4dc PLACEHOLDER center/cover no-repeat}
.bookrec-cover img{width:100%;height:100%;object-fit:cover;display:block;position:relative}
.bookrec-cover img::after{content:"";position:absolute;inset:0;background:#e8e4dc PLACEHOLDER center/cover}
.bookrec-body{min-width:0;font-size:.9rem;line-height:1.35}
.bookrec-title{font-weight:600;font-size:1rem}
.bookrec-authors{opacity:.8}
.bookrec-meta{opacity:.7;font-size:.82rem;margin-top:3px}
.bookrec-score{font-weight:600;margin-top:3px}
.bookrec-because{font-size:.82rem;margin-top:3px;font-style:italic}
.bookrec-few{display:inline-block;padding:0 6px;border-radius:8px;background:#fde68a;color:#713f12;
  font-size:.75rem;font-weight:600}
</style>""".replace("PLACEHOLDER", f"url({PLACEHOLDER})")


def stars(value: float) -> str:
    """A star rating as a label: ``4★``, ``4.5★``."""
    return f"{value:g}★"


def cover_url(result: BookResult) -> str:
    """The book's cover, or "" for none (Goodreads' "nophoto" image counts as none)."""
    url = text.web_link(result.image_url)
    return "" if "nophoto" in url else url


def _anchor(url: str, inner: str) -> str:
    return f'<a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">{inner}</a>'


def card_html(
    result: BookResult, line: str = "", *, few_below: int = 0, because: bool = False, scope: str = ""
) -> str:
    """One card's HTML: cover, title, authors, year, Goodreads' average, ratings, ``line`` and one reason."""
    e = text.html_text
    page = text.web_link(result.goodreads_url)
    cover = cover_url(result)
    image = f'<img src="{html.escape(cover)}" alt="" loading="lazy">' if cover else ""
    cover_box = f'<div class="bookrec-cover">{image}</div>'
    title = e(result.title)
    if page:
        title, cover_box = _anchor(page, title), _anchor(page, cover_box)
    meta = [str(result.year) if result.year is not None else "year unknown"]
    if result.average_rating is not None:
        meta.append(f"★ {result.average_rating:.2f} on Goodreads")
    meta.append(f"{result.n_ratings:,} ratings here")
    if result.n_ratings < few_below:
        meta.append(
            f'<span class="bookrec-few" title="Fewer than {few_below:,} ratings: the model knows this book '
            'too little to place it well">few ratings</span>'
        )
    if page:
        meta.append(_anchor(page, "Goodreads ↗"))
    lines = [
        f'<div class="bookrec-title">{title}</div>',
        f'<div class="bookrec-authors">{e(result.authors)}</div>' if result.authors else "",
        f'<div class="bookrec-meta">{" · ".join(meta)}</div>',
        f'<div class="bookrec-score">{e(line)}</div>' if line else "",
    ]
    if because and result.because:
        lines.append(f'<div class="bookrec-because">Because you liked <b>{e(result.because[0])}</b></div>')
    return (
        f'<div class="bookrec-card" data-scope="{e(scope)}" data-book-id="{e(result.book_id)}">{cover_box}'
        f'<div class="bookrec-body">{"".join(lines)}</div></div>'
    )


def show(
    results: Sequence[BookResult],
    line: Callable[[BookResult], str] | None = None,
    *,
    scope: str,
    steps: Sequence[float] = (),
    few_below: int = 0,
    because: bool = False,
    actions: bool = True,
) -> str | None:
    """Show books as a grid of cards, each with its actions (``steps``: the stars a reader can give).

    Args:
        results: The books, in order.
        line: The card's line of figures for a result (predicted stars and match, similarity); None: none.
        scope: Names this grid's widgets (``{scope}_like_{book_id}``, ``_read_``, ``_want_``, ``_more_``).
        steps: The star values of "I liked this".
        few_below: Mark books with fewer ratings than this "few ratings".
        because: Show the result's first reason ("Because you liked ...").
        actions: Show the actions.

    Returns:
        The book id whose "More like this" was pressed, else None.
    """
    st.markdown(_STYLE, unsafe_allow_html=True)
    more = None
    grid = st.container(horizontal=True, gap="medium", key=f"{scope}_grid")
    for result in results:
        book = str(result.book_id)
        with grid.container(border=True, width=340, key=f"{scope}_card_{book}"):
            st.markdown(
                card_html(
                    result, line(result) if line else "", few_below=few_below, because=because, scope=scope
                ),
                unsafe_allow_html=True,
            )
            if actions and _actions(result, scope, steps):
                more = book
    return more


def _actions(result: BookResult, scope: str, steps: Sequence[float]) -> bool:
    """A card's actions; True when "More like this" was pressed."""
    book = str(result.book_id)
    row = st.container(horizontal=True, gap="small")
    with row.popover("I liked this", icon=":material/thumb_up:", type="tertiary"):
        st.segmented_control(
            f"Your stars for {text.md(result.title)}",
            ["liked", *steps],
            format_func=lambda v: "no stars" if v == "liked" else stars(v),
            key=f"{scope}_like_{book}",
            on_change=_liked,
            args=(f"{scope}_like_{book}", book),
        )
    row.button(
        "Already read",
        icon=":material/done:",
        type="tertiary",
        key=f"{scope}_read_{book}",
        on_click=shelves.shelve,
        args=("read", book),
        help="Put it on your shelf of books read: it is left out of recommendations.",
    )
    row.button(
        "Want to read",
        icon=":material/bookmark_add:",
        type="tertiary",
        key=f"{scope}_want_{book}",
        on_click=shelves.shelve,
        args=("want", book),
    )
    return row.button("More like this", icon=":material/search:", type="tertiary", key=f"{scope}_more_{book}")


def _liked(key: str, book: str) -> None:
    value = st.session_state.get(key)
    if value is not None:
        shelves.like(book, None if value == "liked" else float(value))
        st.session_state[key] = None
