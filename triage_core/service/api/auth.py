"""Optional API keys (401 missing, 403 wrong) and the per-key rate limit (429).

A key is accepted from `X-API-Key: KEY` or `Authorization: Bearer KEY`. Comparison is on
SHA-256 digests with `hmac.compare_digest` against every configured key (no early exit), so
neither the key's length nor which key matched shows in the timing. A key is never logged
or echoed: a client is known by the index of its key (`key-0`, `key-1`, ...), which is what
the rate limiter buckets on and what logs may show.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from fastapi import Request

from triage_core.service.api.errors import Forbidden, RateLimited, Unauthorized
from triage_core.service.api.ratelimit import TokenBucketLimiter, retry_after_header

API_KEY_HEADER = "x-api-key"
_BEARER = "bearer "


class AccessGuard:
    """Holds digests of the configured keys and the limiter; no keys means no auth (the
    rate limit, when on, then buckets by client address)."""

    def __init__(self, keys: Sequence[str], *, limiter: TokenBucketLimiter | None) -> None:
        self._digests = tuple(_digest(k) for k in keys if k)
        self._limiter = limiter

    @property
    def auth_enabled(self) -> bool:
        return bool(self._digests)

    def identify(self, presented: str | None) -> str:
        """The client's identity (`key-N`), or 401/403."""
        if not self._digests:
            return "anonymous"
        if not presented:
            raise Unauthorized(
                "an API key is required: send X-API-Key or Authorization: Bearer",
                headers={"WWW-Authenticate": "Bearer"},
            )
        digest = _digest(presented)
        match = -1
        for index, known in enumerate(self._digests):
            if hmac.compare_digest(digest, known) and match < 0:
                match = index
        if match < 0:
            raise Forbidden("the API key is not valid")
        return f"key-{match}"

    def check(self, request: Request) -> str:
        identity = self.identify(presented_key(request))
        if self._limiter is not None:
            bucket = identity
            if identity == "anonymous":
                client = request.client
                bucket = f"addr-{client.host if client else 'unknown'}"
            wait = self._limiter.acquire(bucket)
            if wait > 0.0:
                raise RateLimited(
                    "rate limit exceeded: retry later",
                    headers={"Retry-After": retry_after_header(wait)},
                )
        return identity


def presented_key(request: Request) -> str | None:
    headers = request.headers
    key = headers.get(API_KEY_HEADER)
    if key:
        return key.strip()
    authorization = headers.get("authorization", "")
    if authorization[: len(_BEARER)].lower() == _BEARER:
        return authorization[len(_BEARER) :].strip() or None
    return None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
