"""Message-ID, In-Reply-To, References, and the synthetic id for mail without one.

The synthetic id hashes the raw input, so the same message always gets the same id: the
pipeline's results (and the service's idempotent store) must be deterministic.
"""

from __future__ import annotations

import hashlib
import re

_ID = re.compile(r"<[^<>\s]*>")
_MAX_REFERENCES = 200
_MAX_ID_CHARS = 998  # the RFC 5322 line limit
SYNTHETIC_PREFIX_BYTES = 64 * 1024


def synthetic_id(raw: bytes) -> str:
    return f"<{hashlib.sha1(raw[:SYNTHETIC_PREFIX_BYTES]).hexdigest()}@triage.local>"


def first_id(value: str) -> str:
    """The first "<...>" of the value, else the bare value (some mailers omit brackets)."""
    if not value:
        return ""
    m = _ID.search(value)
    if m is not None and len(m.group(0)) > 2:
        return m.group(0)[:_MAX_ID_CHARS]
    bare = value.strip()
    return bare.split()[0][:_MAX_ID_CHARS] if bare else ""


def id_list(value: str) -> tuple[str, ...]:
    if not value:
        return ()
    found = [i for i in _ID.findall(value) if len(i) > 2]
    if not found:
        found = value.split()
    return tuple(i[:_MAX_ID_CHARS] for i in found[:_MAX_REFERENCES])
