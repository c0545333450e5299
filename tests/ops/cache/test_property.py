"""Property: whatever keys Redis holds, a flush deletes every key under the cache prefix and
no other key, the queue (stream entries, consumer group, pending entries, dead-letter
stream, fallback switch) included; a dry run deletes nothing. On a single redis-server
and on a 3-node Redis Cluster, through the engine exactly as the CLI runs it.

Key names are adversarial: arbitrary bytes (invalid UTF-8 too), names glued from the
prefixes and their own prefixes (`triage:cache` without the colon, `triage:`, `{`), hash
tags (the queue's `{triage-queue}` among them, which pins a cache-looking key to the
queue's slot), glob characters, case and whitespace near-misses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ops.cache.conftest import fill_queue, queue_state
from tests.service.redis.servers import RedisCluster, RedisServer, RedisTarget
from triage_core.service import keys
from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import StepContext
from triage_ops.engine.runner import execute_action
from triage_ops.procedures import cache

FRAGMENTS = [
    keys.CACHE_PREFIX,
    keys.CACHE_PREFIX[:-1],  # "triage:cache"
    "triage:",
    "triage",
    "TRIAGE:CACHE:",
    " triage:cache:",
    "triage:cache;",
    keys.QUEUE_PREFIX,
    keys.QUEUE_PREFIX[:-1],
    "{triage-queue}",
    "{",
    "}",
    "{}",
    "{x}",
    keys.CONTROL_PREFIX,
    "*",
    "?",
    "[a-z]",
    "\\",
    ":",
    "é",
]
FIXED_QUEUE_KEYS = {
    keys.QUEUE_STREAM.encode(),
    keys.DEAD_LETTER_STREAM.encode(),
    keys.FALLBACK_SWITCH.encode(),
}

glued = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), min_size=1, max_size=4
).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass"))
raw = st.one_of(
    st.binary(max_size=24),
    st.tuples(st.sampled_from([f.encode() for f in FRAGMENTS]), st.binary(max_size=10)).map(
        lambda pair: pair[0] + pair[1]
    ),
)
key_names = st.one_of(glued, raw).filter(lambda key: key not in FIXED_QUEUE_KEYS)
kinds = st.sampled_from(["string", "hash", "list", "zset", "string-ttl"])
keyspaces = st.dictionaries(key_names, kinds, min_size=1, max_size=40)
suffixes = st.text(alphabet="ab:*?[]\\{}é ", max_size=5)
prefixes = st.one_of(st.none(), suffixes.map(lambda s: keys.CACHE_PREFIX + s))


def write(client: Any, keyspace: dict[bytes, str]) -> None:
    for name, kind in keyspace.items():
        if kind == "string":
            client.set(name, b"v")
        elif kind == "string-ttl":
            client.set(name, b'{"schema":"triage/v1"}', ex=600)
        elif kind == "hash":
            client.hset(name, mapping={b"f": b"v"})
        elif kind == "list":
            client.rpush(name, b"a", b"b")
        else:
            client.zadd(name, {b"m": 1.0})


def flush(target: RedisTarget, *, prefix: str | None, dry_run: bool) -> str:
    config = OpsConfig().merged(
        {"redis_url": target.url, "redis_cluster": target.cluster}, where="test"
    )
    ctx = StepContext(config=config, clients=Clients(config, timeout=5.0), timeout=30.0)
    action = cache.FlushCache(prefix=prefix or keys.CACHE_PREFIX, batch=7)  # many batches
    outcome = execute_action(
        action, ctx, dry_run=dry_run, yes=True, confirm=lambda plan: True, audit=None,
        incident=None,
    )  # fmt: skip
    for client in ctx.clients.redis()._clients.values():
        client.close()
    return outcome.outcome


def check_flush(target: RedisTarget, keyspace: dict[bytes, str], prefix: str | None) -> None:
    target.flush()
    client = target.connect()
    try:
        fill_queue(client, entries=6, pending=2, dead=1)
        write(client, keyspace)
        queue_before = queue_state(client)
        everything = target.all_keys()
        assert everything == set(keyspace) | FIXED_QUEUE_KEYS  # the data went in

        dry = flush(target, prefix=prefix, dry_run=True)
        assert dry in {"dry-run", "noop"}
        assert target.all_keys() == everything  # a dry run deletes nothing

        outcome = flush(target, prefix=prefix, dry_run=False)

        doomed_prefix = (prefix or keys.CACHE_PREFIX).encode()
        doomed = {key for key in everything if key.startswith(doomed_prefix)}
        assert outcome == ("ok" if doomed else "noop")
        assert target.all_keys() == everything - doomed  # every cache key went, nothing else
        assert not doomed & FIXED_QUEUE_KEYS
        assert all(keys.is_cache_key(key) and not keys.is_queue_key(key) for key in doomed)
        assert queue_state(client) == queue_before
    finally:
        client.close()


@pytest.mark.timeout(120)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(keyspace=keyspaces, prefix=prefixes)
def test_single_redis_flush_deletes_every_cache_key_and_nothing_else(
    redis_server: RedisServer, keyspace: dict[bytes, str], prefix: str | None
) -> None:
    check_flush(RedisTarget(kind="single", servers=redis_server), keyspace, prefix)


@pytest.mark.timeout(180)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(keyspace=keyspaces, prefix=prefixes)
def test_cluster_flush_deletes_every_cache_key_and_nothing_else(
    redis_cluster: RedisCluster, keyspace: dict[bytes, str], prefix: str | None
) -> None:
    check_flush(RedisTarget(kind="cluster", servers=redis_cluster), keyspace, prefix)


@given(key=st.one_of(key_names, st.text().map(str.encode)), prefix=prefixes)
def test_the_last_check_before_unlink_never_passes_a_non_cache_key(
    key: bytes, prefix: str | None
) -> None:
    prefix_b = (prefix or keys.CACHE_PREFIX).encode()
    if cache.is_flushable(key, prefix_b):
        assert key.startswith(prefix_b) and key.startswith(keys.CACHE_PREFIX.encode())
        assert keys.is_cache_key(key) and not keys.is_queue_key(key)
    else:
        assert not key.startswith(prefix_b)
