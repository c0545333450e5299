"""Decode the chosen body segments into one readable text, within the text limits.

Plain text wins: HTML parts are converted only when no plain part has any text (the
"HTML-only" mail of newsletters and spam). Decoding stops once `max_text_chars` is
reached, so a huge text part costs at most a bounded prefix.
"""

from __future__ import annotations

from triage_core.config import ParseLimits
from triage_core.parsing.charsets import decode_body
from triage_core.parsing.html_text import html_to_text
from triage_core.parsing.mime import MimeWalker, Segment, TextPart
from triage_core.parsing.sizes import human_size
from triage_core.parsing.transfer import transfer_decode

# Encoded bytes that can yield one character at worst: 4 (UTF-8) x 3 (quoted-printable).
_RAW_PER_CHAR = 12


def assemble_body(
    data: bytes, segments: list[Segment], walker: MimeWalker, limits: ParseLimits, errors: list[str]
) -> tuple[str, bool]:
    """(body text, whether it came from HTML)."""
    use_html = True
    for seg in segments:
        if isinstance(seg, TextPart) and not seg.html and walker.has_text(seg):
            use_html = False
            break
    pieces: list[str] = []
    total = 0
    from_html = False
    for seg in segments:
        if isinstance(seg, str):
            text = seg
        elif seg.html and not use_html:
            continue
        else:
            text = _decode_part(data, seg, limits, errors)
            if seg.html:
                text = html_to_text(text)
                from_html = True
        text = text.strip()
        if text:
            pieces.append(text)
            total += len(text) + 2
            if total > limits.max_text_chars:
                break
    body = pieces[0] if len(pieces) == 1 else "\n\n".join(pieces)
    if len(body) > limits.max_text_chars:
        errors.append(f"body over {limits.max_text_chars} characters: truncated")
        body = body[: limits.max_text_chars]
    return body, from_html


def _decode_part(data: bytes, part: TextPart, limits: ParseLimits, errors: list[str]) -> str:
    if part.html:
        raw_cap = limits.max_part_bytes * 3
    else:
        raw_cap = min(limits.max_part_bytes * 3, limits.max_text_chars * _RAW_PER_CHAR + 4096)
    raw = data[part.start : min(part.end, part.start + raw_cap)]
    payload = transfer_decode(raw, part.cte)
    cut_raw = part.html and part.end - part.start > raw_cap
    if len(payload) > limits.max_part_bytes or cut_raw:
        errors.append(f"text part over {human_size(limits.max_part_bytes)}: tail ignored")
        payload = payload[: limits.max_part_bytes]
    text = decode_body(payload, part.charset, errors)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text
