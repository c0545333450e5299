"""Per-client token buckets for HTTP 429.

In-process by design: each API process (each uvicorn worker, each pod) keeps its own
buckets, so the effective limit of a deployment is `rate_limit_per_minute` times the number
of API processes. That is enough to stop one runaway client from starving the others
without a shared store in the request path; a hard global quota belongs to the ingress.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

# Buckets are dropped least-recently-used beyond this many clients; a dropped bucket was
# idle, so it would have refilled anyway.
MAX_CLIENTS = 10_000


class TokenBucketLimiter:
    """`per_minute` requests per minute per client, with bursts of up to `per_minute`."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, got {per_minute}")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """Takes one token: 0.0 when allowed, else the seconds until a token is due."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            self._buckets.move_to_end(client)
            if len(self._buckets) > self._max_clients:
                self._buckets.popitem(last=False)
        return wait


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, rounded up (RFC 9110 delay-seconds), at least 1."""
    return str(max(1, math.ceil(wait_s)))
