"""The result cache: a triage result per email content, in Redis, with a TTL.

The cache is an optimisation, never a dependency: the service must keep answering when
Redis is down or hangs. So every Redis error becomes a miss (`get`) or a no-op (`put`),
counted in `errors` and logged at warning level. After an error the cache is bypassed
without touching Redis for `retry_after_s` (a small circuit breaker): with a hung Redis,
only one request per window pays the socket timeout instead of every request, and the log
gets one line per window instead of one per request.

Keys are `keys.cache_key(sha256 hex)`, spread over all cluster slots; the ops CLI's safe
flush relies on the prefix. A `salt` (e.g. the model version) is hashed in front of the
content when given, so a model rollout does not serve results of the previous model.

Degraded results (fallback mode) are not stored: a fallback classification cached for a
day would outlive the incident that caused it. A value that is not a JSON object (the
runbook's "corrupted cache") is a miss and is deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from triage_core.service import keys
from triage_core.service.redis_clients import REDIS_ERRORS, RedisClient

log = logging.getLogger(__name__)


class ResultCache:
    """`get(content)` / `put(content, result)` over Redis; thread-safe."""

    def __init__(
        self,
        client: RedisClient,
        *,
        ttl_s: int,
        retry_after_s: float = 5.0,
        salt: bytes = b"",
    ) -> None:
        if ttl_s < 1:
            raise ValueError("ttl_s must be >= 1")
        if retry_after_s < 0:
            raise ValueError("retry_after_s must be >= 0")
        self.client = client
        self.ttl_s = int(ttl_s)
        self.retry_after_s = retry_after_s
        self.salt = salt
        self.hits = 0
        self.misses = 0  # includes errors, corrupt values and bypassed lookups
        self.errors = 0  # Redis errors (each one logged at warning level)
        self.corrupt = 0  # values that were not a JSON object (deleted)
        self.bypassed = 0  # calls that skipped Redis while the breaker was open
        self._lock = threading.Lock()
        self._closed_at = 0.0  # monotonic time from which Redis is tried again

    def key(self, content: bytes) -> str:
        digest = hashlib.sha256(self.salt + content if self.salt else content).hexdigest()
        return keys.cache_key(digest)

    def get(self, content: bytes) -> dict[str, Any] | None:
        """The cached result for `content`, or None (miss, Redis down, corrupt value)."""
        if self._open():
            self._count_miss(bypassed=True)
            return None
        key = self.key(content)
        try:
            raw: Any = self.client.get(key)
        except REDIS_ERRORS as exc:
            self._failed("get", exc)
            self._count_miss()
            return None
        if raw is None:
            self._count_miss()
            return None
        value = _decode(raw)
        if value is None:
            self._drop_corrupt(key)
            self._count_miss()
            return None
        with self._lock:
            self.hits += 1
        return value

    def put(self, content: bytes, result: Mapping[str, Any]) -> None:
        """Store `result` for `ttl_s` seconds; a no-op for degraded results or Redis down."""
        if result.get("degraded"):
            return
        if self._open():
            with self._lock:
                self.bypassed += 1
            return
        data = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        try:
            self.client.set(self.key(content), data, ex=self.ttl_s)
        except REDIS_ERRORS as exc:
            self._failed("put", exc)

    def _open(self) -> bool:
        """True while the breaker is open (Redis failed less than retry_after_s ago)."""
        return self._closed_at > time.monotonic()

    def _failed(self, what: str, exc: Exception) -> None:
        with self._lock:
            self.errors += 1
            self._closed_at = time.monotonic() + self.retry_after_s
        log.warning(
            "result cache %s failed (%s: %s): cache bypassed for %.1f s",
            what,
            type(exc).__name__,
            exc,
            self.retry_after_s,
        )

    def _count_miss(self, *, bypassed: bool = False) -> None:
        with self._lock:
            self.misses += 1
            if bypassed:
                self.bypassed += 1

    def _drop_corrupt(self, key: str) -> None:
        with self._lock:
            self.corrupt += 1
        log.warning("result cache value under %s is not a JSON object: deleted", key)
        try:
            self.client.getdel(key)  # single-key, unlike DEL: one timeout on a cluster
        except REDIS_ERRORS as exc:
            self._failed("delete", exc)


def _decode(raw: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        return None
    return value if isinstance(value, dict) else None
