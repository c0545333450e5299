"""The text every stage after classification judges: what this sender wrote.

The parser splits quoted history and the signature off into their own fields, so urgency,
deadlines, asks and the summary read `email.newest` only: "URGENT" in a quoted message
from last week is not this sender's urgency.

Of a long message only the opening and the closing are read (`HEAD_CHARS` + `TAIL_CHARS`):
the gist and the asks sit at the top, a deadline often in the last line ("Please reply by
Friday."), and every text signal costs time in proportion to the text (Python's regex
engine: several ns per character), so the bound keeps triage at thousands of emails per
second when a 100 kB newsletter arrives. Every stage reads the same string, so the per-text
caches (sentences, asks, deadlines) compute each signal once per email.
"""

from __future__ import annotations

from triage_core.message import Email

HEAD_CHARS = 500
TAIL_CHARS = 250


# The last long text and what was kept of it. The priority agent, the summarizer and the
# responder each ask for the same email in turn: one slot returns them the same object,
# built once and hashed once by the text caches. Compared by identity, and the slot keeps
# its text alive, so no other string can take its id.
_last: tuple[str, str] = ("", "")


def own_text(email: Email) -> str:
    global _last
    # An Email built by hand (or by a parser that found no quote) may only have `body`.
    text = email.newest or ("" if email.quoted else email.body)
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text  # the same object: cache lookups hash it once
    last = _last
    if last[0] is text:
        return last[1]
    kept = opening(text, HEAD_CHARS) + "\n\n" + closing(text, TAIL_CHARS)
    _last = (text, kept)
    return kept


def opening(text: str, limit: int) -> str:
    """The first `limit` chars of `text`, cut after a line or sentence end when one is in
    the last third, so the last sentence is not a fragment."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    if cut < limit * 2 // 3:
        cut = text.rfind(". ", 0, limit) + 1
    if cut < limit * 2 // 3:
        cut = limit
    return text[:cut]


def closing(text: str, limit: int) -> str:
    """The last `limit` chars of `text`, starting at a line or sentence start when one is
    in the first third."""
    if len(text) <= limit:
        return text
    start = len(text) - limit
    cut = text.find("\n", start, start + limit // 3)
    if cut < 0:
        cut = text.find(". ", start, start + limit // 3)
        cut = cut + 1 if cut >= 0 else start
    return text[cut:].lstrip()
