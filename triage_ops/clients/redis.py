"""Redis for triage-ops (redis-py, single or cluster): the cache Redis and the queue Redis
(the same server unless `queue_redis_url` is set), built through the service's own
`connect()` so timeouts, retries and password redaction are the ones the service uses.

For a cluster, `masters()` gives one plain client per master: SCAN and INFO are per node,
and a flush must walk every master's keyspace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import redis.cluster

from triage_core.service.redis_clients import (
    REDIS_ERRORS,
    RedisClient,
    RedisUnavailable,
    connect,
)
from triage_core.service.redis_clients import redact as redact_url
from triage_core.service.settings import Secret
from triage_ops.clients.errors import AuthFailed, ClientError, TimedOut, Unreachable
from triage_ops.errors import UsageError

SYSTEM = "redis"
T = TypeVar("T")


class RedisOpsClient:
    def __init__(
        self,
        url: Secret | str,
        *,
        timeout: float,
        cluster: bool = False,
        queue_url: Secret | str = "",
    ) -> None:
        self.url = Secret(url)
        self.queue_url = Secret(queue_url or url)
        self.timeout = timeout
        self.cluster = cluster
        self.address = redact_url(str(url))
        self.queue_address = redact_url(str(self.queue_url))
        self._clients: dict[str, RedisClient] = {}

    @classmethod
    def from_config(cls, config: Any, *, timeout: float) -> RedisOpsClient:
        if not config.redis_url:
            raise UsageError("no redis_url configured (config file or TRIAGE_OPS_REDIS_URL)")
        return cls(
            config.redis_url,
            timeout=timeout,
            cluster=bool(config.redis_cluster),
            queue_url=config.queue_redis_url,
        )

    def client(self, *, queue: bool = False) -> RedisClient:
        """The raw redis-py client (cache side by default)."""
        url = self.queue_url if queue else self.url
        if url not in self._clients:
            self._clients[url] = self.call(
                lambda: connect(url, cluster=self.cluster, timeout_s=self.timeout),
                "connect",
                queue=queue,
            )
        return self._clients[url]

    def masters(self) -> list[redis.Redis]:
        """One client per master node (the single server itself when not a cluster)."""
        client = self.client()
        if not isinstance(client, redis.cluster.RedisCluster):
            return [client]
        return [
            client.get_redis_connection(node)
            for node in client.get_nodes()  # type: ignore[no-untyped-call]
            if node.server_type == redis.cluster.PRIMARY
        ]

    def ping(self, *, queue: bool = False) -> float:
        """Round-trip latency in ms."""
        client = self.client(queue=queue)
        started = time.perf_counter()
        self.call(client.ping, "PING", queue=queue)
        return round((time.perf_counter() - started) * 1000, 2)

    def call(self, fn: Callable[[], T], what: str, *, queue: bool = False) -> T:
        """Run one redis-py call; its failures become typed errors naming the server
        (the queue Redis's address with `queue=True`). The service's RedisUnavailable (what
        `connect()` raises when a cluster cannot be reached) is translated too."""
        try:
            return fn()
        except (*REDIS_ERRORS, RedisUnavailable) as exc:
            raise self.translate(exc, what, queue=queue) from None

    def translate(self, exc: BaseException, what: str, *, queue: bool = False) -> ClientError:
        where = f"Redis at {self.queue_address if queue else self.address}"
        text = str(exc)
        for secret in (self.url, self.queue_url):
            if secret:
                text = text.replace(secret, redact_url(str(secret)))
        if isinstance(exc, redis.TimeoutError) or "timeout" in text.lower():
            return TimedOut(f"{where}: no answer within {self.timeout:g} s ({what})", system=SYSTEM)
        if isinstance(exc, redis.AuthenticationError | redis.exceptions.NoPermissionError):
            return AuthFailed(f"{where}: authentication failed ({what})", system=SYSTEM)
        if isinstance(exc, redis.ConnectionError) or "connect" in text.lower():
            return Unreachable(f"{where}: {text} ({what})", system=SYSTEM)
        return ClientError(f"{where}: {type(exc).__name__}: {text} ({what})", system=SYSTEM)
