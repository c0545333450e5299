"""Crude `Email` objects from the SpamAssassin corpus, for timing and sanity checks.

Deliberately not the real parser (another stage, tested elsewhere): headers by regex, the
body is everything after the first blank line, quoted lines are dropped from `newest`.
Good enough to give the classifiers realistic text of realistic lengths.
"""

from __future__ import annotations

import re
from pathlib import Path

from triage_core.message import Attachment, Email

CORPUS_DIR = Path(__file__).resolve().parents[3] / ".cache" / "corpora" / "spamassassin" / "data"

_HEADER = re.compile(rb"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*(?:\r?\n[ \t].*)*)", re.MULTILINE)
_BLANK = re.compile(rb"\r?\n\r?\n")
_ADDR = re.compile(r"<([^<>@\s]+@[^<>\s]+)>|([^<>@\s\"]+@[^<>\s\"]+)")
_ICS = re.compile(rb'name="?[^"\r\n]*\.ics', re.IGNORECASE)


def corpus_files() -> list[Path]:
    return sorted(CORPUS_DIR.glob("*/*.txt"))


def crude_email(raw: bytes, *, source: str | None = None) -> Email:
    split = _BLANK.search(raw)
    head, body = (raw[: split.start()], raw[split.end() :]) if split else (raw, b"")
    headers: list[tuple[str, str]] = []
    for m in _HEADER.finditer(head):
        value = " ".join(m.group(2).decode("latin-1").split())
        headers.append((m.group(1).decode("ascii").lower(), value))
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name, value)
    text = body.decode("utf-8", "replace")
    newest = "\n".join(line for line in text.splitlines() if not line.startswith(">"))
    from_value = first.get("from", "")
    m = _ADDR.search(from_value)
    from_addr = (m.group(1) or m.group(2)) if m else ""
    attachments = (Attachment("invite.ics", "text/calendar", 100),) if _ICS.search(body) else ()
    return Email(
        subject=first.get("subject", ""),
        from_addr=from_addr,
        body=text,
        newest=newest,
        list_id=first.get("list-id", ""),
        list_unsubscribe=first.get("list-unsubscribe", ""),
        precedence=first.get("precedence", ""),
        auto_submitted=first.get("auto-submitted", ""),
        headers=tuple(headers),
        attachments=attachments,
        raw_size=len(raw),
        source=source,
    )


def load_corpus() -> list[tuple[str, Email]]:
    """(group, email) for every message: group is e.g. "spam-1" or "easy-ham-2"."""
    out = []
    for path in corpus_files():
        out.append((path.parent.name, crude_email(path.read_bytes(), source=path.name)))
    return out
