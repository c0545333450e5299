"""Content-Transfer-Encoding: decode chosen text parts, estimate attachment sizes.

Attachments are never decoded: their size is estimated from the encoded span with C-level
counts, so a 25 MiB base64 attachment costs a few milliseconds and no memory.
"""

from __future__ import annotations

import binascii

from triage_core.parsing.encoded_words import b64_tolerant

_EXACT_QP_LIMIT = 64 * 1024


def normalize_cte(value: str) -> str:
    return value.strip().strip("\"'").lower()


def transfer_decode(payload: bytes, cte: str) -> bytes:
    """Decoded bytes; 7bit, 8bit, binary and unknown encodings pass through."""
    if cte == "base64":
        return b64_tolerant(payload)
    if cte == "quoted-printable":
        return binascii.a2b_qp(payload)
    return payload


def estimate_size(data: bytes, start: int, end: int, cte: str) -> int:
    """Decoded size of data[start:end] without decoding it (base64: 3/4 of the encoded
    characters minus padding)."""
    n = max(0, end - start)
    if cte == "base64":
        n -= data.count(b"\n", start, end) + data.count(b"\r", start, end)
        tail = data[max(start, end - 8) : end].rstrip()
        pad = len(tail) - len(tail.rstrip(b"="))
        return max(0, n * 3 // 4 - pad)
    if cte == "quoted-printable" and n <= _EXACT_QP_LIMIT:
        return len(binascii.a2b_qp(data[start:end]))
    return n
