"""Every key the service writes is a cache key or a queue key: the ops CLI's safe cache
flush (delete `triage:cache:*` only) depends on it."""

from __future__ import annotations

from tests.service.redis.servers import RedisTarget
from triage_core.service import keys
from triage_core.service.cache import ResultCache
from triage_core.service.control import FallbackSwitch
from triage_core.service.queue import Queue
from triage_core.service.redis_clients import RedisClient
from triage_core.service.settings import ServiceSettings


def test_every_key_written_is_a_cache_or_a_queue_key(
    redis_target: RedisTarget, redis_client: RedisClient
) -> None:
    queue = Queue(redis_client, settings=ServiceSettings(queue_claim_idle_ms=0))
    queue.ensure_group()
    for i in range(3):
        queue.enqueue(f"e{i}", b"x")
    entries = queue.read("w", count=2, block_ms=0)
    queue.ack(entries[:1])
    queue.dead_letter(entries[1], "test")
    queue.stats()
    cache = ResultCache(redis_client, ttl_s=60)
    for i in range(20):
        cache.put(f"email {i}".encode(), {"i": i})
    FallbackSwitch(redis_client, poll_s=0).set(True, reason="test", actor="test")

    found = redis_target.all_keys()
    assert {k for k in found if keys.is_queue_key(k)} == {
        keys.QUEUE_STREAM.encode(),
        keys.DEAD_LETTER_STREAM.encode(),
        keys.FALLBACK_SWITCH.encode(),
    }
    cache_keys = {k for k in found if keys.is_cache_key(k)}
    assert cache_keys == {cache.key(f"email {i}".encode()).encode() for i in range(20)}
    assert found == cache_keys | {k for k in found if keys.is_queue_key(k)}


def test_queue_keys_share_one_cluster_slot(redis_client: RedisClient) -> None:
    from redis.crc import key_slot

    slots = {
        key_slot(k.encode())
        for k in (keys.QUEUE_STREAM, keys.DEAD_LETTER_STREAM, keys.FALLBACK_SWITCH)
    }
    assert len(slots) == 1
