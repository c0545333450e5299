"""A Redis that accepts TCP and never answers (SIGSTOP): every operation fails within its
timeout with the typed error (the cache and the switch degrade instead), never hangs.

Bounds: a single Redis or one hung cluster node costs one socket timeout; a wholly hung
cluster costs up to (1 + nodes) timeouts, because redis-py refreshes its slot table from
every known node before it raises."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from redis.exceptions import RedisClusterException

from tests.service.redis.servers import RedisCluster, RedisTarget
from triage_core.service import keys
from triage_core.service.cache import ResultCache
from triage_core.service.control import ControlUnavailable, FallbackSwitch
from triage_core.service.queue import Queue, QueueStats, QueueUnavailable
from triage_core.service.redis_clients import RedisClient, RedisUnavailable, connect
from triage_core.service.settings import ServiceSettings

TIMEOUT_S = 0.3
SLACK_S = 0.25


@pytest.fixture
def fast_client(redis_target: RedisTarget) -> Iterator[RedisClient]:
    client = redis_target.connect(timeout_s=TIMEOUT_S)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def _within(seconds: float) -> Iterator[None]:
    start = time.monotonic()
    yield
    assert time.monotonic() - start < seconds


def _fails_typed(call: Callable[[], Any], error: type[RedisUnavailable], within: float) -> None:
    with _within(within), pytest.raises(error) as caught:
        call()
    assert isinstance(caught.value.__cause__, (redis.RedisError, RedisClusterException))


@pytest.mark.timeout(20)
def test_queue_operations_fail_within_the_timeout(
    redis_target: RedisTarget, fast_client: RedisClient
) -> None:
    queue = Queue(fast_client, settings=ServiceSettings(queue_claim_idle_ms=0))
    queue.ensure_group()
    queue.enqueue("before", b"x")
    [entry] = queue.read("w", count=1, block_ms=0)
    bound = TIMEOUT_S + SLACK_S
    with redis_target.paused_for(keys.QUEUE_STREAM):
        _fails_typed(lambda: queue.enqueue("e", b"x"), QueueUnavailable, bound)
        _fails_typed(lambda: queue.read("w", count=5, block_ms=5000), QueueUnavailable, bound)
        _fails_typed(lambda: queue.ack([entry]), QueueUnavailable, bound)
        _fails_typed(queue.stats, QueueUnavailable, bound)
    # Redis is back. A typed error means "outcome unknown", not "did not happen": the
    # enqueue went out on an open connection and ran on resume (hence the store's
    # idempotency on the message id); the later calls stalled in a new connection's
    # handshake and never sent their command, so `entry` is still pending.
    assert queue.stats() == QueueStats(undelivered=1, pending=1, dead_letter=0)
    assert queue.ack([entry]) == 1
    assert [e.email_id for e in queue.read("w", count=5, block_ms=0)] == ["e"]


@pytest.mark.timeout(20)
def test_cache_is_bypassed_while_redis_hangs(
    redis_target: RedisTarget, fast_client: RedisClient, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ResultCache(fast_client, ttl_s=60, retry_after_s=0.5)
    cache.put(b"known", {"ok": True})
    assert cache.get(b"known") == {"ok": True}
    with redis_target.paused_for(cache.key(b"known")), caplog.at_level(logging.WARNING):
        with _within(TIMEOUT_S + SLACK_S):
            assert cache.get(b"known") is None
        with _within(0.05):  # the breaker is open: no second wait for the timeout
            assert cache.get(b"known") is None
            cache.put(b"known", {"ok": False})
    assert (cache.errors, cache.bypassed) == (1, 2)
    assert "cache bypassed" in caplog.text
    time.sleep(0.5)
    assert cache.get(b"known") == {"ok": True}


@pytest.mark.timeout(20)
def test_switch_keeps_its_last_value_while_redis_hangs(
    redis_target: RedisTarget, fast_client: RedisClient
) -> None:
    switch = FallbackSwitch(fast_client, poll_s=0.2)
    switch.set(True, reason="P0", actor="test")
    with redis_target.paused_for(keys.FALLBACK_SWITCH):
        time.sleep(0.25)  # the cached value is now stale: the next call reads Redis
        with _within(TIMEOUT_S + SLACK_S):
            assert switch.is_on() is True
        with _within(0.05):  # and the next poll_s answers from memory
            assert switch.is_on() is True
        assert switch.errors == 1
        bound = TIMEOUT_S + SLACK_S
        _fails_typed(lambda: switch.set(False, reason="x", actor="y"), ControlUnavailable, bound)
        _fails_typed(switch.status, ControlUnavailable, bound)
    time.sleep(0.25)
    assert switch.is_on() is True


@pytest.mark.timeout(20)
def test_a_wholly_hung_cluster_fails_within_its_bound(redis_cluster: RedisCluster) -> None:
    client = connect(redis_cluster.url, cluster=True, timeout_s=TIMEOUT_S)
    try:
        queue = Queue(client, settings=ServiceSettings())
        nodes = len(redis_cluster.nodes)
        with redis_cluster.paused():
            bound = (1 + nodes) * TIMEOUT_S + SLACK_S
            _fails_typed(lambda: queue.enqueue("e", b"x"), QueueUnavailable, bound)
            with _within(TIMEOUT_S + SLACK_S), pytest.raises(RedisUnavailable):
                connect(redis_cluster.url, cluster=True, timeout_s=TIMEOUT_S)
    finally:
        client.close()
