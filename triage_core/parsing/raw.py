"""Raw RFC 822 / MIME bytes -> Email.

The stdlib parser builds a full object tree and decodes every part (~290 us a message with
policy.default); triage needs a dozen headers and one text, so this path splits headers
with two regex passes, locates MIME parts by offsets and decodes only the chosen text.
"""

from __future__ import annotations

from triage_core.config import ParseLimits
from triage_core.message import Email
from triage_core.parsing.addresses import address_list, parse_mailbox
from triage_core.parsing.body import assemble_body
from triage_core.parsing.dates import parse_date
from triage_core.parsing.headers import read_headers
from triage_core.parsing.ids import first_id, id_list, synthetic_id
from triage_core.parsing.mime import MimeWalker, Segment
from triage_core.parsing.quotes import split_message
from triage_core.parsing.sizes import human_size


def parse_bytes(data: bytes, *, limits: ParseLimits, source: str | None) -> Email:
    errors: list[str] = []
    raw_size = len(data)
    if raw_size > limits.max_message_bytes:
        errors.append(f"message over {human_size(limits.max_message_bytes)}: tail ignored")
        data = data[: limits.max_message_bytes]
    if not data or data.isspace():
        errors.append("empty message")
        return Email(
            message_id=synthetic_id(data), raw_size=raw_size, errors=tuple(errors), source=source
        )
    start = 0
    if data.startswith(b"From "):  # mbox "From_" line, not a header
        nl = data.find(b"\n")
        start = len(data) if nl < 0 else nl + 1
    end = len(data)
    headers, body_start = read_headers(data, start, end, limits, errors)
    if not headers:
        errors.append("no headers found")
    elif body_start >= end:
        errors.append("no body after the headers")
    first = dict(reversed(headers))  # the first occurrence of a header wins
    get = first.get

    walker = MimeWalker(data, limits, errors)
    segments: list[Segment] = []
    if body_start < end:
        walker.entity(
            content_type=get("content-type", ""),
            cte=get("content-transfer-encoding", ""),
            disposition=get("content-disposition", ""),
            start=body_start,
            end=end,
            depth=0,
            top=True,
            out=segments,
        )
    if not segments:
        segments = walker.named_inline
    body, body_is_html = assemble_body(data, segments, walker, limits, errors)
    newest, quoted, signature = split_message(body)
    from_name, from_addr = parse_mailbox(get("from", ""))
    reply_to = address_list(get("reply-to", ""))
    return Email(
        subject=get("subject", ""),
        from_name=from_name,
        from_addr=from_addr,
        to=address_list(get("to", "")),
        cc=address_list(get("cc", "")),
        reply_to=reply_to[0] if reply_to else "",
        date=parse_date(get("date", "")),
        message_id=first_id(get("message-id", "")) or synthetic_id(data),
        in_reply_to=first_id(get("in-reply-to", "")),
        references=id_list(get("references", "")),
        body=body,
        newest=newest,
        quoted=quoted,
        signature=signature,
        body_is_html=body_is_html,
        attachments=tuple(walker.attachments),
        list_id=get("list-id", ""),
        list_unsubscribe=get("list-unsubscribe", ""),
        precedence=get("precedence", ""),
        auto_submitted=get("auto-submitted", ""),
        headers=tuple(headers),
        raw_size=raw_size,
        errors=tuple(dict.fromkeys(errors)),  # once each, in order
        source=source,
    )
