"""`triage-ops cache stats` against a real redis-server and a real 3-node Redis Cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ops.cache.conftest import fill_cache, fill_queue
from tests.service.redis.servers import RedisCluster, RedisTarget
from triage_core.service import keys
from triage_core.service.redis_clients import RedisClient
from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.engine.catalogue import Catalogue, read_file
from triage_ops.engine.contract import StepContext
from triage_ops.procedures import cache

pytestmark = pytest.mark.timeout(60)
CATALOGUE = Path(__file__).resolve().parents[3] / "runbooks" / "findings.d" / "cache.yaml"


def test_stats_counts_samples_and_names_the_queue_keys(
    target: RedisTarget, client: RedisClient, config_path: Path, run_cli: Any
) -> None:
    fill_queue(client)
    fill_cache(client, 40)  # TTL 3600 s, so under an hour by the time it is read
    for name, ttl in (("a", 30), ("b", 600), ("c", 3 * 86400), ("d", 5 * 3600)):
        client.set(f"{keys.CACHE_PREFIX}ttl:{name}", b"{}", ex=ttl)
    client.set(f"{keys.CACHE_PREFIX}forever", b"{}")
    client.set("somebody:else", b"x")
    servers = target.servers
    for node in servers.nodes if isinstance(servers, RedisCluster) else [servers]:
        with node.client() as each:
            each.config_resetstat()
    client.get(f"{keys.CACHE_PREFIX}ttl:a")
    client.get(f"{keys.CACHE_PREFIX}ttl:b")
    client.get(f"{keys.CACHE_PREFIX}ttl:c")
    client.get(f"{keys.CACHE_PREFIX}missing:1")
    client.get(f"{keys.CACHE_PREFIX}missing:2")

    done = run_cli(config_path, "--output", "json", "cache", "stats")

    assert done.exit_code == 0, done.stderr
    rows = done.json()
    assert len(rows) == (3 if target.cluster else 1)
    assert sum(r["cache_keys"] for r in rows) == 45
    assert sum(r["sampled"] for r in rows) == 45  # sample 200 per master covers all
    assert sum(r["keys"] for r in rows) == 49
    assert sum(r["other_keys"] for r in rows) == 1
    buckets = {name: sum(r["ttl"][name] for r in rows) for name in cache.TTL_NAMES}
    assert buckets == {"none": 1, "<1m": 1, "<1h": 41, "<1d": 1, ">=1d": 1}
    assert sorted(name for r in rows for name in r["queue_keys"]) == sorted(
        [keys.DEAD_LETTER_STREAM, keys.FALLBACK_SWITCH, keys.QUEUE_STREAM]
    )
    assert sum(r["keyspace_hits"] for r in rows) == 3
    assert sum(r["keyspace_misses"] for r in rows) == 2
    assert all(r["evicted_keys"] == 0 and r["used_memory"] > 0 for r in rows)
    assert all(r["mean_bytes"] > 40 for r in rows if r["sampled"])
    assert all(r["cache_bytes_est"] == r["mean_bytes"] * r["cache_keys"] for r in rows)
    assert all(r["maxmemory_policy"] == "noeviction" for r in rows)


def test_stats_table_and_sample_size(single: RedisTarget, run_cli: Any, tmp_path: Path) -> None:
    from tests.ops.cache.conftest import write_config

    client = single.connect()
    fill_queue(client)
    fill_cache(client, 30)
    config = write_config(tmp_path, redis_url=single.url, cluster=False)

    table = run_cli(config, "cache", "stats", "--sample", "5")
    data = run_cli(config, "-o", "json", "cache", "stats", "--sample", "5")

    assert table.exit_code == 0, table.stderr
    header = table.stdout.splitlines()[1].split()
    assert header == [
        "MASTER", "KEYS", "CACHE_KEYS", "CACHE_BYTES_EST", "TTL_SAMPLE", "QUEUE_KEYS",
        "USED_MEMORY_HUMAN", "HIT_RATE", "EVICTED_KEYS", "MAXMEMORY_POLICY",
    ]  # fmt: skip
    assert keys.QUEUE_STREAM in table.stdout
    [row] = data.json()
    assert (row["cache_keys"], row["sampled"]) == (30, 5)
    assert row["ttl_sample"] == "none:0 <1m:0 <1h:5 <1d:0 >=1d:0"


def test_stats_with_a_prefix_outside_the_cache_is_refused(
    single: RedisTarget, run_cli: Any, tmp_path: Path
) -> None:
    from tests.ops.cache.conftest import write_config

    config = write_config(tmp_path, redis_url=single.url, cluster=False)

    done = run_cli(config, "cache", "stats", "--prefix", keys.QUEUE_PREFIX)

    assert done.exit_code == 3
    assert done.stderr.count("\n") == 1 and "could match queue keys" in done.stderr


def _context(target: RedisTarget) -> StepContext:
    config = OpsConfig().merged(
        {"redis_url": target.url, "redis_cluster": target.cluster}, where="test"
    )
    return StepContext(
        config=config,
        clients=Clients(config, timeout=2.0),
        timeout=10.0,
        make_finding=Catalogue(read_file(CATALOGUE), config=config).finding,
    )


def test_eviction_check_flags_allkeys_policies_only_where_the_queue_lives(
    single: RedisTarget,
) -> None:
    client = single.connect()
    fill_queue(client)
    admin: Any = single.servers.client()  # type: ignore[union-attr]
    try:
        admin.config_set("maxmemory", 512 * 1024 * 1024)
        admin.config_set("maxmemory-policy", "volatile-lru")
        assert cache.check_eviction(_context(single)) == []

        admin.config_set("maxmemory-policy", "allkeys-lru")
        [finding] = cache.check_eviction(_context(single))
        assert finding.code == "TRI-CACHE-002" and str(finding.severity) == "critical"
        assert finding.evidence["policy"] == "allkeys-lru"
        assert finding.evidence["queue_keys"] == [
            keys.QUEUE_STREAM, keys.DEAD_LETTER_STREAM, keys.FALLBACK_SWITCH,
        ]  # fmt: skip
    finally:
        admin.config_set("maxmemory", 0)
        admin.config_set("maxmemory-policy", "noeviction")
