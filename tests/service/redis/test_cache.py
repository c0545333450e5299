"""The result cache against real servers: hit, miss, TTL, corrupt values, Redis down."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import pytest

from tests.service.redis.servers import free_port
from triage_core.service import keys
from triage_core.service.cache import ResultCache
from triage_core.service.redis_clients import RedisClient, connect

RESULT = {"schema": "triage/v1", "category": "incident", "priority": "P0", "degraded": False}
CONTENT = b"Subject: Prod down\r\n\r\nEverything is on fire \xe2\x9c\x93"


def test_miss_then_put_then_hit(redis_client: RedisClient) -> None:
    cache = ResultCache(redis_client, ttl_s=60)
    assert cache.get(CONTENT) is None
    cache.put(CONTENT, RESULT)
    assert cache.get(CONTENT) == RESULT
    assert cache.get(CONTENT + b" ") is None
    assert (cache.hits, cache.misses, cache.errors) == (1, 2, 0)


def test_key_value_and_ttl_as_stored(redis_client: RedisClient) -> None:
    cache = ResultCache(redis_client, ttl_s=3600)
    cache.put(CONTENT, RESULT)
    key = keys.CACHE_PREFIX + hashlib.sha256(CONTENT).hexdigest()
    assert cache.key(CONTENT) == key
    stored: Any = redis_client.get(key)
    assert json.loads(stored) == RESULT
    assert 3590 <= redis_client.ttl(key) <= 3600


def test_entries_expire_after_the_ttl(redis_client: RedisClient) -> None:
    cache = ResultCache(redis_client, ttl_s=1)
    cache.put(CONTENT, RESULT)
    assert cache.get(CONTENT) == RESULT
    time.sleep(1.1)
    assert cache.get(CONTENT) is None


def test_salt_separates_model_versions(redis_client: RedisClient) -> None:
    old = ResultCache(redis_client, ttl_s=60, salt=b"model-1")
    new = ResultCache(redis_client, ttl_s=60, salt=b"model-2")
    old.put(CONTENT, RESULT)
    assert new.get(CONTENT) is None
    assert old.get(CONTENT) == RESULT
    assert old.key(CONTENT) == keys.cache_key(hashlib.sha256(b"model-1" + CONTENT).hexdigest())


def test_degraded_results_are_not_cached(redis_client: RedisClient) -> None:
    cache = ResultCache(redis_client, ttl_s=60)
    cache.put(CONTENT, {**RESULT, "degraded": True})
    assert redis_client.exists(cache.key(CONTENT)) == 0


@pytest.mark.parametrize("value", [b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_a_corrupt_value_is_a_miss_and_is_deleted(redis_client: RedisClient, value: bytes) -> None:
    cache = ResultCache(redis_client, ttl_s=60)
    redis_client.set(cache.key(CONTENT), value)
    assert cache.get(CONTENT) is None
    assert (cache.corrupt, cache.errors) == (1, 0)
    assert redis_client.exists(cache.key(CONTENT)) == 0


@pytest.mark.timeout(10)
def test_redis_refusing_connections_is_a_miss_and_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0", cluster=False, timeout_s=0.5)
    cache = ResultCache(client, ttl_s=60, retry_after_s=30)
    with caplog.at_level(logging.WARNING, logger="triage_core.service.cache"):
        assert cache.get(CONTENT) is None
        cache.put(CONTENT, RESULT)  # breaker open: Redis not tried again
        assert cache.get(CONTENT) is None
    assert (cache.errors, cache.bypassed, cache.misses, cache.hits) == (1, 2, 2, 0)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("result cache get failed (ConnectionError: ")
    assert record.getMessage().endswith("cache bypassed for 30.0 s")


@pytest.mark.timeout(10)
def test_without_breaker_every_call_tries_redis() -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0", cluster=False, timeout_s=0.5)
    cache = ResultCache(client, ttl_s=60, retry_after_s=0)
    cache.put(CONTENT, RESULT)
    assert cache.get(CONTENT) is None
    assert (cache.errors, cache.bypassed) == (2, 0)


def test_bad_settings_are_refused(redis_client: RedisClient) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        ResultCache(redis_client, ttl_s=0)
