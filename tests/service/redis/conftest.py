"""Real Redis for the Redis tests: one redis-server and one 3-node Redis Cluster per
session (started on first use), and `redis_target`, which runs a test on both, emptied
before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.redis.servers import (
    RedisCluster,
    RedisServer,
    RedisTarget,
    start_cluster,
    start_redis,
)
from triage_core.service.redis_clients import RedisClient


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with start_cluster(tmp_path_factory.mktemp("redis-cluster"), nodes=3) as cluster:
        yield cluster


@pytest.fixture(params=["single", "cluster"])
def redis_target(request: pytest.FixtureRequest) -> RedisTarget:
    servers = request.getfixturevalue(
        "redis_server" if request.param == "single" else "redis_cluster"
    )
    target = RedisTarget(kind=request.param, servers=servers)
    target.flush()
    return target


@pytest.fixture
def redis_client(redis_target: RedisTarget) -> Iterator[RedisClient]:
    client = redis_target.connect()
    try:
        yield client
    finally:
        client.close()
