"""The MIME tree over raw bytes: which spans are body text, which are attachments.

Parts are located with bytes.find on the boundary and described by offsets into the one
message buffer: nothing is copied or decoded while walking, so an attachment of any size
costs only its boundary search. Only the text parts finally chosen as the body are decoded
(see body.py). Every loop is bounded by ParseLimits (parts, depth, header bytes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from triage_core.config import ParseLimits
from triage_core.message import Attachment
from triage_core.parsing.headers import Header, read_headers
from triage_core.parsing.memo import per_short_value
from triage_core.parsing.params import param, split_value
from triage_core.parsing.transfer import estimate_size, normalize_cte

FORWARD_MARKER = "---------- Forwarded message ---------"
_MAX_DELIM_TAIL = 256  # a boundary line longer than this is content, not a delimiter
_FORWARD_FIELDS = (("from", "From"), ("date", "Date"), ("subject", "Subject"), ("to", "To"))


class TextPart(NamedTuple):
    """A body candidate: data[start:end] still transfer-encoded and charset-encoded.
    A NamedTuple: one is built per text part of every message, and a tuple costs a
    fraction of a frozen dataclass's per-field object.__setattr__."""

    start: int
    end: int
    cte: str
    charset: str
    html: bool


# A body segment: a text part to decode, or ready text (a forwarded message's header lines).
Segment = TextPart | str

_NO_PARAMS: Mapping[str, str] = MappingProxyType({})
# Anything but the ASCII whitespace bytes.strip() removes.
_NOT_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")


# Content-Type and Content-Disposition values repeat from message to message
# ('text/plain; charset="us-ascii"'): their parse is memoized, and the parameter mapping is
# read-only because it is shared. Each parameter keeps its own entry so that it is still
# decoded only when the walk asks for it.
@per_short_value
def _split_shared(value: str) -> tuple[str, Mapping[str, str]]:
    main, params = split_value(value)
    return main, MappingProxyType(params)


@per_short_value
def _name_param(content_type: str) -> str:
    return param(_split_shared(content_type)[1], "name")


@per_short_value
def _filename_param(disposition: str) -> str:
    return param(_split_shared(disposition)[1], "filename")


@per_short_value
def _boundary_param(content_type: str) -> str:
    return param(_split_shared(content_type)[1], "boundary")


def split_multipart(
    data: bytes, start: int, end: int, boundary: bytes, max_count: int
) -> tuple[list[tuple[int, int]], bool]:
    """Spans of the parts of a multipart body, and whether the closing delimiter was seen.

    A delimiter is "--boundary" at a line start, optionally followed by "--" (closing) and
    whitespace up to the end of the line (RFC 2046 5.1.1); the CRLF before it belongs to
    the delimiter. At most `max_count` spans are returned.
    """
    delim = b"--" + boundary
    dlen = len(delim)
    spans: list[tuple[int, int]] = []
    part_start = -1
    pos = start
    while len(spans) < max_count:
        i = data.find(delim, pos, end)
        if i < 0:
            break
        pos = i + dlen
        if i > start and data[i - 1] != 0x0A:
            continue
        j = pos
        closing = data.startswith(b"--", j, end)
        if closing:
            j += 2
        nl = data.find(b"\n", j, min(end, j + _MAX_DELIM_TAIL))
        line_end = nl if nl >= 0 else min(end, j + _MAX_DELIM_TAIL)
        if line_end < end and nl < 0:
            continue
        if data[j:line_end].strip():
            continue
        if part_start >= 0:
            part_end = i - 1 if i > start else i
            if part_end > part_start and data[part_end - 1] == 0x0D:
                part_end -= 1
            spans.append((part_start, max(part_start, part_end)))
        if closing:
            return spans, True
        part_start = min(end, line_end + 1)
        pos = part_start
    if part_start >= 0 and len(spans) < max_count:
        spans.append((part_start, end))
    return spans, False


class MimeWalker:
    """Walks one message's MIME tree, collecting body segments and attachment metadata."""

    __slots__ = (
        "_data",
        "_depth_noted",
        "_limits",
        "_parts_noted",
        "attachments",
        "errors",
        "named_inline",
        "parts",
    )

    def __init__(self, data: bytes, limits: ParseLimits, errors: list[str]) -> None:
        self._data = data
        self._limits = limits
        self.errors = errors
        self.attachments: list[Attachment] = []
        # Inline text parts that carry a filename: attachments by the rules, but the body
        # when the message has no other text (some mailers name every part).
        self.named_inline: list[Segment] = []
        self.parts = 0
        self._parts_noted = False
        self._depth_noted = False

    def entity(
        self,
        *,
        content_type: str,
        cte: str,
        disposition: str,
        start: int,
        end: int,
        depth: int,
        top: bool,
        out: list[Segment],
    ) -> None:
        """Classify the entity whose body is data[start:end] and append to `out`."""
        ctype, params = _split_shared(content_type) if content_type else ("text/plain", _NO_PARAMS)
        if "/" not in ctype:
            ctype = "text/plain"  # RFC 2045 5.2: an invalid Content-Type means text/plain
        enc = normalize_cte(cte)
        maintype = ctype.partition("/")[0]
        if maintype == "multipart":
            self._multipart(ctype, content_type, enc, start, end, depth, out)
            return
        disp = _split_shared(disposition)[0] if disposition else ""
        filename = (
            (_filename_param(disposition) if disposition else "")
            or (_name_param(content_type) if content_type else "")
        ).strip()[:255]
        if ctype in ("message/rfc822", "message/global") and enc not in (
            "base64",
            "quoted-printable",
        ):
            if disp == "attachment":
                self.attachments.append(Attachment(filename, ctype, max(0, end - start)))
            self._message(start, end, depth, out)
            return
        if maintype == "text" and disp != "attachment":
            part = TextPart(start, end, enc, params.get("charset", ""), ctype == "text/html")
            if top or not filename:
                out.append(part)
                return
            self.named_inline.append(part)
        self.attachments.append(
            Attachment(filename, ctype, estimate_size(self._data, start, end, enc))
        )

    def _too_deep(self, depth: int) -> bool:
        if depth < self._limits.max_depth:
            return False
        if not self._depth_noted:
            self._depth_noted = True
            self.errors.append(
                f"MIME nesting deeper than {self._limits.max_depth}: inner parts ignored"
            )
        return True

    def _multipart(
        self,
        ctype: str,
        content_type: str,
        enc: str,
        start: int,
        end: int,
        depth: int,
        out: list[Segment],
    ) -> None:
        boundary = _boundary_param(content_type)
        if not boundary:
            self.errors.append("multipart without boundary: body read as text")
            out.append(TextPart(start, end, enc, "", False))
            return
        if self._too_deep(depth):
            return
        budget = max(0, self._limits.max_parts - self.parts) + 1
        spans, closed = split_multipart(
            self._data, start, end, boundary.encode("utf-8", "surrogateescape"), budget
        )
        if not spans:
            self.errors.append("MIME boundary not found: body read as text")
            out.append(TextPart(start, end, enc, "", False))
            return
        if not closed and len(spans) < budget:
            self.errors.append("truncated MIME: closing boundary missing")
        if ctype != "multipart/alternative":
            # RFC 2046 5.1.5: the parts of a digest are messages unless they say otherwise.
            default = "message/rfc822" if ctype == "multipart/digest" else ""
            for span in spans:
                self._part(span, depth + 1, out, default)
            return
        choices: list[list[Segment]] = []
        for span in spans:
            sub: list[Segment] = []
            self._part(span, depth + 1, sub, "")
            choices.append(sub)
        out.extend(self._choose(choices))

    def _part(
        self, span: tuple[int, int], depth: int, out: list[Segment], default_type: str
    ) -> None:
        self.parts += 1
        if self.parts > self._limits.max_parts:
            if not self._parts_noted:
                self._parts_noted = True
                self.errors.append(f"too many MIME parts (>{self._limits.max_parts}): rest ignored")
            return
        start, end = span
        headers, body_start = read_headers(self._data, start, end, self._limits, self.errors)
        ct, cte, disp = _mime_fields(headers)
        self.entity(
            content_type=ct or default_type,
            cte=cte,
            disposition=disp,
            start=body_start,
            end=end,
            depth=depth,
            top=False,
            out=out,
        )

    def _message(self, start: int, end: int, depth: int, out: list[Segment]) -> None:
        """A forwarded message: its header summary and its text join the body, marked so
        the quote splitter files them under quoted history."""
        if self._too_deep(depth):
            return
        headers, body_start = read_headers(self._data, start, end, self._limits, self.errors)
        lines = [FORWARD_MARKER]
        for key, label in _FORWARD_FIELDS:
            for name, value in headers:
                if name == key:
                    lines.append(f"{label}: {value}")
                    break
        out.append("\n".join(lines))
        ct, cte, disp = _mime_fields(headers)
        self.entity(
            content_type=ct,
            cte=cte,
            disposition=disp,
            start=body_start,
            end=end,
            depth=depth + 1,
            top=True,
            out=out,
        )

    def has_text(self, part: TextPart) -> bool:
        """Whether the first 4 KiB of the part hold a non-whitespace byte (searched in
        place: no copy of the span)."""
        start = part.start
        return _NOT_SPACE.search(self._data, start, min(part.end, start + 4096)) is not None

    def _choose(self, choices: list[list[Segment]]) -> list[Segment]:
        """multipart/alternative: the first alternative with plain text, else one with HTML,
        else the first non-empty one."""
        for sub in choices:
            if any(isinstance(s, TextPart) and not s.html and self.has_text(s) for s in sub):
                return sub
        for sub in choices:
            if any(isinstance(s, TextPart) and s.html for s in sub):
                return sub
        for sub in choices:
            if sub:
                return sub
        return []


def _mime_fields(headers: list[Header]) -> tuple[str, str, str]:
    ct = cte = disp = ""
    for name, value in headers:
        if name[:8] != "content-":
            continue
        if name == "content-type" and not ct:
            ct = value
        elif name == "content-transfer-encoding" and not cte:
            cte = value
        elif name == "content-disposition" and not disp:
            disp = value
    return ct, cte, disp
