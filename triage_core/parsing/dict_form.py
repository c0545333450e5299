"""The HTTP API's JSON form of an email -> Email.

API clients send whatever JSON they like: every field is type-checked and a wrong one
becomes an `errors` entry naming the field, never an exception, so one bad field costs
that field and not the whole request.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from triage_core.config import ParseLimits
from triage_core.message import Attachment, Email
from triage_core.parsing.addresses import address_list, parse_mailbox
from triage_core.parsing.dates import parse_date
from triage_core.parsing.encoded_words import decode_encoded_words
from triage_core.parsing.html_text import html_to_text
from triage_core.parsing.ids import first_id, id_list
from triage_core.parsing.quotes import split_message

_FIELDS = (
    "subject",
    "body",
    "from",
    "to",
    "cc",
    "date",
    "message_id",
    "in_reply_to",
    "references",
    "reply_to",
    "html",
    "headers",
    "attachments",
)
_KNOWN = frozenset(_FIELDS)
_ISO = re.compile(r"\s*\d{4}-\d{2}-\d{2}")
_MAX_UNKNOWN_NOTES = 10
_MAX_ATTACHMENTS = 1000


class _Reader:
    """Typed access to the mapping; each wrong field is noted once in `errors`."""

    __slots__ = ("data", "errors", "raw_size")

    def __init__(self, data: Mapping[Any, Any]) -> None:
        self.data = data
        self.errors: list[str] = []
        self.raw_size = 0

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            self.raw_size += len(value)
            return value
        self.errors.append(f"field '{key}' must be a string")
        return ""

    def texts(self, key: str) -> list[str]:
        value = self.data.get(key)
        if value is None:
            return []
        if isinstance(value, str):
            self.raw_size += len(value)
            return [value]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            self.raw_size += sum(len(v) for v in value)
            return list(value)
        self.errors.append(f"field '{key}' must be a string or a list of strings")
        return []


def parse_mapping(data: Mapping[Any, Any], *, limits: ParseLimits, source: str | None) -> Email:
    r = _Reader(data)
    unknown = [k for k in data if not (isinstance(k, str) and k in _KNOWN)]
    for key in unknown[:_MAX_UNKNOWN_NOTES]:
        r.errors.append(f"unknown field {str(key)[:60]!r} ignored")

    subject = _one_line(r.text("subject"))
    from_value = _one_line(r.text("from"))
    from_name, from_addr = parse_mailbox(from_value)
    to = _addresses(r.texts("to"))
    cc = _addresses(r.texts("cc"))
    reply_to_list = address_list(_one_line(r.text("reply_to")))
    date = _date(data.get("date"), r.errors)
    message_id = first_id(r.text("message_id"))
    in_reply_to = first_id(r.text("in_reply_to"))
    references = tuple(ref for v in r.texts("references") for ref in id_list(v))
    extra = _headers(data.get("headers"), r.errors)
    attachments = _attachments(data.get("attachments"), r.errors)

    body = r.text("body")
    markup = r.text("html")
    body_is_html = False
    if "\r" in body:
        body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.strip() and markup.strip():
        body = html_to_text(markup[: limits.max_part_bytes])
        body_is_html = True
    body = body.strip()
    if len(body) > limits.max_text_chars:
        r.errors.append(f"body over {limits.max_text_chars} characters: truncated")
        body = body[: limits.max_text_chars]
    newest, quoted, signature = split_message(body)

    given = [
        ("subject", subject),
        ("from", from_value),
        ("to", ", ".join(to)),
        ("cc", ", ".join(cc)),
        ("message-id", message_id),
        ("in-reply-to", in_reply_to),
        ("references", " ".join(references)),
    ]
    headers = tuple((k, v) for k, v in given if v) + extra
    if not message_id:
        message_id = _synthetic_id(data)
    lookup = dict(reversed(extra))
    return Email(
        subject=subject,
        from_name=from_name,
        from_addr=from_addr,
        to=to,
        cc=cc,
        reply_to=reply_to_list[0] if reply_to_list else "",
        date=date,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        body=body,
        newest=newest,
        quoted=quoted,
        signature=signature,
        body_is_html=body_is_html,
        attachments=attachments,
        list_id=lookup.get("list-id", ""),
        list_unsubscribe=lookup.get("list-unsubscribe", ""),
        precedence=lookup.get("precedence", ""),
        auto_submitted=lookup.get("auto-submitted", ""),
        headers=headers,
        raw_size=r.raw_size,
        errors=tuple(r.errors),
        source=source,
    )


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        value = " ".join(value.split())
    value = value.strip()
    return decode_encoded_words(value) if "=?" in value else value


def _addresses(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        for addr in address_list(value):
            if addr not in out:
                out.append(addr)
    return tuple(out)


def _date(value: Any, errors: list[str]) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        errors.append("field 'date' must be a string (RFC 2822 or ISO 8601)")
        return None
    parsed: datetime | None = None
    if _ISO.match(value):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
    else:
        parsed = parse_date(value)
    if parsed is None:
        errors.append(f"field 'date' is not an RFC 2822 or ISO 8601 date: {value[:60]!r}")
    return parsed


def _headers(value: Any, errors: list[str]) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        errors.append("field 'headers' must be a mapping of header names to strings")
        return ()
    out: list[tuple[str, str]] = []
    bad = False
    for name, v in value.items():
        if isinstance(name, str) and isinstance(v, str):
            out.append((name.strip().lower(), _one_line(v)))
        elif (
            isinstance(name, str)
            and isinstance(v, list | tuple)
            and all(isinstance(i, str) for i in v)
        ):
            out.extend((name.strip().lower(), _one_line(i)) for i in v)
        else:
            bad = True
    if bad:
        errors.append("field 'headers' must be a mapping of header names to strings")
    return tuple(out)


def _attachments(value: Any, errors: list[str]) -> tuple[Attachment, ...]:
    if value is None:
        return ()
    message = "field 'attachments' must be a list of {filename, content_type, size}"
    if not isinstance(value, list | tuple):
        errors.append(message)
        return ()
    out: list[Attachment] = []
    bad = False
    for item in value[:_MAX_ATTACHMENTS]:
        if not isinstance(item, Mapping):
            bad = True
            continue
        filename = item.get("filename", "")
        ctype = item.get("content_type", "")
        size = item.get("size", 0)
        if filename is None:
            filename = ""
        if ctype is None:
            ctype = ""
        if size is None:
            size = 0
        if (
            not isinstance(filename, str)
            or not isinstance(ctype, str)
            or not isinstance(size, int)
            or isinstance(size, bool)
            or size < 0
        ):
            bad = True
            continue
        out.append(Attachment(filename, ctype.strip().lower() or "application/octet-stream", size))
    if bad:
        errors.append(message)
    return tuple(out)


def _synthetic_id(data: Mapping[Any, Any]) -> str:
    """Hash of the known fields' reprs in a fixed order: stable for the same input."""
    canon = "\x1f".join(f"{k}={data.get(k)!r}" for k in _FIELDS)
    digest = hashlib.sha1(canon[: 64 * 1024].encode("utf-8", "surrogatepass")).hexdigest()
    return f"<{digest}@triage.local>"
