"""Redis for every service test package: one redis-server and one 3-node Redis Cluster per
session, each started on first use. Tests empty them before use (they share them)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.redis.servers import RedisCluster, RedisServer, start_cluster, start_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with start_cluster(tmp_path_factory.mktemp("redis-cluster"), nodes=3) as cluster:
        yield cluster
