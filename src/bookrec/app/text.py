"""The app's one escaping helper: text from the address or from data files shown as itself, never as markup.

Streamlit renders Markdown in almost every string it shows (messages, captions, widget labels, option labels,
button labels, help tooltips): emphasis, links, images, HTML, LaTeX between dollars, emoji shortcodes
(``:smile:``) and icons (``:material/home:``). ``md`` makes a value inert there; ``html_text`` does the same
inside the app's own HTML (cards, plotly tooltips); ``web_link`` keeps only http(s) links. Plain functions,
no Streamlit, so that they are tested on their own.
"""

from __future__ import annotations

import html
import re

__all__ = ["html_text", "md", "web_link"]

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and an escaped one is literal.
_MARKDOWN = re.compile(r"([\\`*_\[\]{}()<>#+\-.!|~$&=^\"':@])")
# Shortcodes, icons and GFM's bare links ("https://x", "www.x.org", "a@b.org") are found in the text after
# Markdown is parsed (":material/" even in the raw source), where backslashes are gone: a word joiner (U+2060,
# invisible, no line break) after each ":", "." and "@" breaks them.
_BREAK = re.compile(r"([:.@])")
_WORD_JOINER = "\u2060"


def md(value: object) -> str:
    """``value`` as text that Streamlit's Markdown shows verbatim (no links, images, HTML, LaTeX, icons).

    Line breaks become spaces: a value is one line (a blank line could end a list item or a block).
    """
    text = " ".join(str(value).splitlines())
    text = _MARKDOWN.sub(r"\\\1", text)
    return _BREAK.sub(r"\1" + _WORD_JOINER, text)


def html_text(value: object) -> str:
    """``value`` as HTML text inside the app's own HTML (cards, plotly tooltips), shown verbatim.

    Besides ``<>&"'``, colons and dollars become character references (Streamlit rewrites ``:material/`` in
    the raw source, references are decoded only after it), and line breaks become spaces (a blank line would
    end the HTML block and let Markdown resume).
    """
    text = html.escape(" ".join(str(value).splitlines()), quote=True)
    return text.replace(":", "&#58;").replace("$", "&#36;")


def web_link(url: object) -> str:
    """The URL if it is an http(s) link without spaces or quotes, else "" (no javascript: or data:)."""
    text = str(url or "").strip()
    if not text.lower().startswith(("https://", "http://")) or re.search(r"[\s\"'<>`]", text):
        return ""
    return text
