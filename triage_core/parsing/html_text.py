"""HTML -> readable text in a few C-level passes, never html.parser.

html.parser builds an event per tag in Python and costs milliseconds on a spam newsletter.
Here one regex pass drops script/style/head/comments, one `split` cuts the text at every
tag capturing its name, and the names are mapped to their replacement (line break, "- "
bullet, cell space, nothing) by `map` over a dict, at C speed. Every pattern is linear on
hostile input: the drop pattern always succeeds (it runs to the end of the text when a
block is unclosed) and the tag pattern stops at the next "<".

Line breaks are first written as a NUL marker so that one whitespace collapse (str.split)
can treat the HTML source's own newlines as the spaces they are.
"""

from __future__ import annotations

import html
import re
from itertools import product, repeat

_MARK = "\x00"


def _ci(word: str) -> str:
    """Case-insensitive regex for an ASCII word via character classes: re.IGNORECASE
    makes every literal comparison slower, and these patterns run once per tag."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _dropped_block(tag: str) -> str:
    """The block up to its closing tag (or the end), as an unrolled loop: runs of [^<] are
    consumed in one C loop and the closing tag is tried only at a "<", not after every
    character as a lazy `.*?` does. The repeats are possessive: where the loop stops, the
    closing tag or the end must match, so nothing is ever given back."""
    t = _ci(tag)
    return rf"{t}\b[^<]*+(?:<(?!/{t}\s*>)[^<]*+)*+(?:</{t}\s*>|\Z)"


_DROPPED = ("script", "style", "head", "title", "noscript", "template")
# The lookahead rejects every other tag (most of them) with one character-class test
# instead of one failed attempt per alternative.
_DROP = re.compile(
    "<(?=[sShHtTnN!])(?:"
    + "|".join(_dropped_block(t) for t in _DROPPED)
    + r"|!--[^-]*+(?:-(?!->)[^-]*+)*+(?:-->|\Z))"
)
# One pass splits the text at every tag, capturing the tag name ("/p" for a closing one);
# the names are then mapped to their replacement at C level (map over dict.get). The
# repeats are possessive: handing name characters over to the attribute run could not make
# a ">" appear, so the engine need not keep backtracking state.
_TAG_SPLIT = re.compile(r"<(/?[A-Za-z][A-Za-z0-9]*+|[!?])[^<>]*+>")
_BLOCKS = (
    "p",
    "div",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "pre",
    "hr",
    "center",
    "form",
    "tbody",
    "thead",
    "section",
    "article",
    "header",
    "footer",
    "address",
    "caption",
    "body",
    "html",
)
# Rows and list items break a line where they open only, so consecutive ones do not leave
# blank lines between them.
_REPLACEMENT: dict[str, str] = {
    **{t: _MARK for t in _BLOCKS},
    **{"/" + t: _MARK for t in _BLOCKS if t != "tr"},
    "br": _MARK,
    "/br": _MARK,
    "li": _MARK + "- ",
    "td": " ",
    "/td": " ",
    "th": " ",
    "/th": " ",
}
# Every spelling of every name above ("BR", "Td", "tBoDy"): tags are looked up as written,
# which spares a lower() call per tag. Names are ASCII, so this is exactly
# _REPLACEMENT.get(name.lower()); a few thousand entries, built once in about a millisecond.
_ANY_CASE: dict[str, str] = {
    "".join(spelling): value
    for name, value in _REPLACEMENT.items()
    for spelling in product(*({c.lower(), c.upper()} for c in name))
}
_MARK_RUN = re.compile(r"\x00(?: ?\x00)+ ?")
_MARK_ONE = re.compile(r"\x00 ?")


def html_to_text(markup: str) -> str:
    text = _DROP.sub("", markup)
    if _MARK in text:
        text = text.replace(_MARK, "")
    if "<" in text:
        parts = _TAG_SPLIT.split(text)
        parts[1::2] = map(_ANY_CASE.get, parts[1::2], repeat(""))
        text = "".join(parts)
    if "&" in text:
        text = html.unescape(text)
    # str.split() collapses every Unicode space (\xa0 from &nbsp; included), never NUL.
    text = " ".join(text.split())
    if _MARK in text:
        text = text.replace(" " + _MARK, _MARK)
        text = _MARK_RUN.sub("\n\n", text)
        text = _MARK_ONE.sub("\n", text)
    return text.strip()
