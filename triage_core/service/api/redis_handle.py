"""A Redis client that may not exist yet.

A single-Redis client connects lazily, but a Redis Cluster client contacts the cluster
when it is built and fails if no node answers. The API must start while Redis is down and
recover when it comes back without a restart, so the client is built on first use and,
after a failure, re-tried at most once per `retry_s` (a request meanwhile fails fast
instead of paying a connect timeout each time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from triage_core.service.redis_clients import RedisClient, RedisUnavailable, connect

log = logging.getLogger(__name__)

RETRY_S = 5.0


class RedisHandle:
    def __init__(
        self,
        url: str,
        *,
        cluster: bool,
        timeout_s: float,
        name: str,
        retry_s: float = RETRY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._cluster = cluster
        self._timeout_s = timeout_s
        self.name = name
        self._retry_s = retry_s
        self._clock = clock
        self._client: RedisClient | None = None
        self._failed_at: float | None = None
        self._error = ""
        self._lock = threading.Lock()

    def client(self) -> RedisClient:
        """The client, built now if needed; `RedisUnavailable` when it cannot be built."""
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is not None:
                return self._client
            now = self._clock()
            if self._failed_at is not None and now - self._failed_at < self._retry_s:
                raise RedisUnavailable(self._error)
            try:
                self._client = connect(self._url, cluster=self._cluster, timeout_s=self._timeout_s)
            except RedisUnavailable as exc:
                self._failed_at, self._error = now, str(exc)
                log.warning("%s: %s", self.name, exc)
                raise
            self._failed_at = None
            return self._client

    def peek(self) -> RedisClient | None:
        """The client if it was built; never connects (for paths that must not block)."""
        return self._client

    def ping(self) -> None:
        self.client().ping()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
