"""The reader's shelves: books liked (with stars), already read, and to read, kept in the page address.

``?liked=26:5,7&read=3&want=9`` (``query`` reads and writes the values). Every page keeps the shelves in its
address, so that any link shares them; they are mirrored in the session, because moving to another page
starts from a bare address. A shelf holds at most ``MAX_BOOKS`` books: a longer link is cut, with a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from bookrec.app import query, state, text
from bookrec.errors import UnknownBookError
from bookrec.recommender import Recommender

MAX_BOOKS = 200
"""The most books a shelf holds (a 200-book list renders in about a second; a longer one is cut)."""

NAMES = ("liked", "read", "want")
_SESSION, _VERSION = "shelves", "shelves_version"


@dataclass
class Shelves:
    """The reader's books: ``liked`` (book id -> stars or None), ``read`` and ``want`` (book ids)."""

    liked: query.Liked = field(default_factory=dict)
    read: list[str] = field(default_factory=list)
    want: list[str] = field(default_factory=list)

    def values(self) -> dict[str, str]:
        """The address's values (empty shelves left out)."""
        values = {
            "liked": query.format_liked(self.liked),
            "read": query.format_ids(self.read),
            "want": query.format_ids(self.want),
        }
        return {name: value for name, value in values.items() if value}


def current() -> Shelves:
    """A copy of the shelves as this session last wrote them (pages call ``load`` first)."""
    found = st.session_state.get(_SESSION)
    if not isinstance(found, Shelves):
        return Shelves()
    return Shelves(dict(found.liked), list(found.read), list(found.want))


def version() -> int:
    """How many times the reader changed the shelves in this session (to scroll to new answers)."""
    return int(st.session_state.get(_VERSION, 0))


def save(shelves: Shelves) -> None:
    """Write the shelves to the session and to the address (a change counts in ``version``)."""
    values = shelves.values()
    if _SESSION in st.session_state and st.session_state[_SESSION].values() != values:
        st.session_state[_VERSION] = version() + 1
    st.session_state[_SESSION] = Shelves(dict(shelves.liked), list(shelves.read), list(shelves.want))
    for name in NAMES:
        if name in values:
            if st.query_params.get(name) != values[name]:
                st.query_params[name] = values[name]
        else:
            st.query_params.pop(name, None)


def load(recommender: Recommender) -> Shelves:
    """The shelves of the address (a link, a reload), else of the session; unusable items are left out
    with one warning, and a shelf over ``MAX_BOOKS`` is cut to its first books, saying so."""
    if _SESSION in st.session_state:
        shelves = current()
        in_address = {name: st.query_params[name] for name in NAMES if name in st.query_params}
        if not in_address or in_address == shelves.values():
            save(shelves)  # a page opened from the menu starts from a bare address
            return shelves
    bad: list[str] = []
    cut: list[str] = []
    liked, unread = query.parse_liked(st.query_params.get("liked", ""))
    bad += unread
    steps = state.rating_steps(recommender)
    shelves = Shelves()
    for book, stars in liked.items():
        known = _known(recommender, book, bad)
        if known is None:
            continue
        if stars is not None and stars not in steps:
            bad.append(f"{book}:{stars:g} (stars go {steps[0]:g} to {steps[-1]:g})")
            stars = None
        shelves.liked[known] = stars
    for name in ("read", "want"):
        ids = [_known(recommender, book, bad) for book in query.parse_ids(st.query_params.get(name, ""))]
        setattr(shelves, name, list(dict.fromkeys(b for b in ids if b is not None)))
    for name in NAMES:
        books = getattr(shelves, name)
        if len(books) > MAX_BOOKS:
            cut.append(f"{len(books):,} books {_LABELS[name]}")
            kept = list(books)[:MAX_BOOKS]
            setattr(shelves, name, {b: books[b] for b in kept} if isinstance(books, dict) else kept)
    if bad:
        st.warning(
            text.md(f"Left out of your lists what this model cannot use: {', '.join(bad[:20])}")
            + (f" and {len(bad) - 20:,} more." if len(bad) > 20 else "."),
            icon=":material/warning:",
        )
    if cut:
        st.warning(
            f"A list holds at most {MAX_BOOKS} books: the link has {' and '.join(cut)}; the first "
            f"{MAX_BOOKS} of each are kept.",
            icon=":material/warning:",
        )
    save(shelves)
    return shelves


_LABELS = {"liked": "liked", "read": "already read", "want": "to read"}


def _known(recommender: Recommender, book: str, bad: list[str]) -> str | None:
    """The book's id as the model writes it, or None (and ``book`` noted in ``bad``) for an unknown one."""
    if not book.strip():
        return None
    try:
        return str(state.book_choice(recommender, book))
    except UnknownBookError:
        bad.append(book)
        return None


# --- changes (callbacks of widgets and card actions) -------------------------------------------------------


def like(book: str, stars: float | None) -> bool:
    """Add a book to the liked list (or change its stars); False when the list is full."""
    shelves = current()
    if book not in shelves.liked and len(shelves.liked) >= MAX_BOOKS:
        st.session_state["shelves_full"] = True
        return False
    shelves.liked[book] = stars  # a book already there keeps its place
    shelves.want = [b for b in shelves.want if b != book]
    save(shelves)
    return True


def unlike(book: str) -> None:
    """Take a book off the liked list."""
    shelves = current()
    shelves.liked.pop(book, None)
    save(shelves)


def shelve(name: str, book: str) -> bool:
    """Put a book on the ``read`` or ``want`` shelf; False when that shelf is full."""
    shelves = current()
    books: list[str] = getattr(shelves, name)
    if book in books:
        return True
    if len(books) >= MAX_BOOKS:
        st.session_state["shelves_full"] = True
        return False
    books.append(book)
    if name == "read":
        shelves.want = [b for b in shelves.want if b != book]
    save(shelves)
    return True


def unshelve(name: str, book: str) -> None:
    """Take a book off the ``read`` or ``want`` shelf."""
    shelves = current()
    setattr(shelves, name, [b for b in getattr(shelves, name) if b != book])
    save(shelves)


def clear_liked() -> None:
    """Empty the liked list."""
    shelves = current()
    shelves.liked = {}
    save(shelves)


def full_message() -> None:
    """Say once, after an add was refused, that a list is full."""
    if st.session_state.pop("shelves_full", False):
        st.warning(
            f"A list holds at most {MAX_BOOKS} books: take one off to add another.", icon=":material/block:"
        )
