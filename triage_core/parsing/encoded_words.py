"""RFC 2047 encoded-words ("=?utf-8?B?...?=") in header values.

Adjacent encoded-words are joined without the whitespace between them (RFC 2047 6.2), and
consecutive words in the same charset are decoded together, because senders split
multi-byte characters across words. Bad base64 is repaired, never raised.
"""

from __future__ import annotations

import binascii
import re

from triage_core.parsing.charsets import decode_8bit, decode_charset, resolve_charset

# The encoded text cannot hold "?" or whitespace, so each match is bounded by the next "?".
_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def b64_tolerant(data: bytes) -> bytes:
    """base64 that survives missing padding, stray characters and truncation."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    clean = _B64_JUNK.sub(b"", data)
    rem = len(clean) % 4
    if rem == 1:
        clean = clean[:-1]
    elif rem:
        clean += b"=" * (4 - rem)
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:
        return b""


def _word_bytes(encoding: str, text: str) -> bytes:
    raw = text.encode("ascii", "replace")
    if encoding in "bB":
        return b64_tolerant(raw)
    return binascii.a2b_qp(raw, header=True)


def _charset_codec(charset: str) -> str:
    # RFC 2231 section 5 allows a language suffix: "utf-8*en".
    codec = resolve_charset(charset.partition("*")[0])
    return codec or "utf-8"


def decode_encoded_words(value: str) -> str:
    """Decode every encoded-word of a header value; text outside them is kept as is."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = b""
    pending_codec = ""
    last = 0
    for m in _WORD.finditer(value):
        gap = value[last : m.start()]
        codec = _charset_codec(m.group(1))
        data = _word_bytes(m.group(2), m.group(3))
        if pending_codec and (gap == "" or gap.isspace()):
            if codec == pending_codec:
                pending += data
            else:
                out.append(_decode(pending, pending_codec))
                pending, pending_codec = data, codec
        else:
            if pending_codec:
                out.append(_decode(pending, pending_codec))
            out.append(gap)
            pending, pending_codec = data, codec
        last = m.end()
    if pending_codec:
        out.append(_decode(pending, pending_codec))
    out.append(value[last:])
    return "".join(out)


def _decode(data: bytes, codec: str) -> str:
    if codec == "utf-8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return decode_8bit(data)
    return decode_charset(data, codec)
