"""`redis_target`, which runs a Redis test on both the session's redis-server and its
3-node Redis Cluster (tests/service/conftest), emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.redis.servers import RedisTarget
from triage_core.service.redis_clients import RedisClient


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
