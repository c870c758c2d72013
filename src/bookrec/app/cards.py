"""Book cards: cover, title, author, year, average rating, the answer's score and a link to Goodreads.

All cards of an answer are one HTML block (one element, not one per book: it keeps a page interaction cheap).
Covers load lazily (``loading="lazy"``) over a placeholder; a missing cover, or one that fails to load (no
network), leaves the placeholder showing. Every text is escaped; only http(s) links are kept.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence

import streamlit as st

from bookrec.recommender import BookResult

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
.bookrec-cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px;
  margin:6px 0 18px}
.bookrec-card{display:flex;gap:12px;padding:10px;border:1px solid rgba(128,128,128,.25);border-radius:8px}
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
</style>""".replace("PLACEHOLDER", f"url({PLACEHOLDER})")


def stars(value: float) -> str:
    """A star rating as a label: ``4★``, ``4.5★``."""
    return f"{value:g}★"


def escape_markdown(text: str) -> str:
    """Text shown as itself inside Streamlit Markdown (no emphasis, links or HTML from a title)."""
    return re.sub(r"([\\`*_\[\]<>#|~$])", r"\\\1", text)


def _link(url: str) -> str:
    """The URL if it is http(s), else "" (no javascript: or data: links from a books file)."""
    url = (url or "").strip()
    return url if url.lower().startswith(("https://", "http://")) else ""


def cover_url(result: BookResult) -> str:
    """The book's cover, or "" for none (Goodreads' "nophoto" image counts as none)."""
    url = _link(result.image_url)
    return "" if "nophoto" in url else url


def _card(result: BookResult, score: str, because: bool) -> str:
    e = html.escape
    page = _link(result.goodreads_url)
    cover = cover_url(result)
    image = f'<img src="{e(cover)}" alt="" loading="lazy">' if cover else ""
    cover_box = f'<div class="bookrec-cover">{image}</div>'
    title = e(result.title)
    if page:
        title = f'<a href="{e(page)}" target="_blank" rel="noopener noreferrer">{title}</a>'
        cover_box = f'<a href="{e(page)}" target="_blank" rel="noopener noreferrer">{cover_box}</a>'
    meta = [str(result.year) if result.year is not None else "year unknown"]
    if result.average_rating is not None:
        meta.append(f"★ {result.average_rating:.2f} on Goodreads")
    if page:
        meta.append(f'<a href="{e(page)}" target="_blank" rel="noopener noreferrer">Goodreads ↗</a>')
    lines = [
        f'<div class="bookrec-title">{title}</div>',
        f'<div class="bookrec-authors">{e(result.authors)}</div>' if result.authors else "",
        f'<div class="bookrec-meta">{" · ".join(meta)}</div>',
        f'<div class="bookrec-score">{e(score)}</div>' if score else "",
    ]
    if because and result.because:
        liked = ", ".join(f"<b>{e(t)}</b>" for t in result.because)
        lines.append(f'<div class="bookrec-because">Because you liked {liked}</div>')
    return (
        f'<div class="bookrec-card" data-book-id="{e(str(result.book_id))}">{cover_box}'
        f'<div class="bookrec-body">{"".join(lines)}</div></div>'
    )


def show(
    results: Sequence[BookResult],
    score: Callable[[float], str] | None = None,
    *,
    because: bool = False,
    describe: Callable[[BookResult], str] | None = None,
) -> None:
    """Show books as a grid of cards.

    Args:
        results: The books, in order.
        score: Formats a result's score for its card (``lambda s: f"similarity {s:.2f}"``); None: no score.
        because: Show "Because you liked ..." from ``BookResult.because``.
        describe: Formats the whole result's line instead of ``score`` (to show its match beside its stars).
    """

    def line(result: BookResult) -> str:
        if describe is not None:
            return describe(result)
        return score(result.score) if score else ""

    cards = "".join(_card(r, line(r), because) for r in results)
    st.markdown(f'{_STYLE}<div class="bookrec-cards">{cards}</div>', unsafe_allow_html=True)
