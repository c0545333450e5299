"""The parsed email every stage works on.

`Email` is deliberately a plain, immutable record: parsing is the only stage that touches
raw bytes, so the classifier, priority agent, summarizer and responder can be tested with
hand-built `Email` objects and can never disagree about how a header was decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata only: the payload is never kept, so a 50 MB attachment costs nothing."""

    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Email:
    """A decoded message.

    `body` is the full readable text (text/plain preferred, HTML converted when it is the
    only body). `newest` is the part written by the sender of this message: quoted history
    (`quoted`) and the signature (`signature`) are split off because every later stage
    (summary, urgency, asks) must judge what *this* sender wrote, not the thread.
    """

    subject: str = ""
    from_name: str = ""
    from_addr: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: str = ""
    date: datetime | None = None
    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    body: str = ""
    newest: str = ""
    quoted: str = ""
    signature: str = ""
    body_is_html: bool = False
    attachments: tuple[Attachment, ...] = ()
    # Bulk/automation headers, verbatim (decoded); empty when absent.
    list_id: str = ""
    list_unsubscribe: str = ""
    precedence: str = ""
    auto_submitted: str = ""
    # Every header as decoded (name lower-cased, value), in message order. The classifier
    # reads a few of them (X-Mailer, Received, ...) as features.
    headers: tuple[tuple[str, str], ...] = ()
    raw_size: int = 0
    errors: tuple[str, ...] = field(default=())
    source: str | None = None

    def header(self, name: str, default: str = "") -> str:
        """First value of a header, case-insensitively; a small linear scan is cheaper than a
        dict for the ~20 headers of a typical message."""
        lname = name.lower()
        for key, value in self.headers:
            if key == lname:
                return value
        return default

    @property
    def is_reply(self) -> bool:
        return bool(self.in_reply_to or self.references) or self.subject[:3].lower() == "re:"

    @property
    def is_bulk(self) -> bool:
        """True for mailing-list, bulk or machine-sent mail (RFC 2369, RFC 3834, Precedence)."""
        if self.list_id or self.list_unsubscribe:
            return True
        if self.precedence.lower() in {"bulk", "list", "junk"}:
            return True
        auto = self.auto_submitted.lower()
        return bool(auto) and auto != "no"
