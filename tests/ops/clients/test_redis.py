"""RedisOpsClient against real redis-servers (single, password-protected, paused, and a
3-node cluster): ping, and every failure as a typed error naming the right server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.blackhole import black_hole
from tests.service.redis.servers import RedisCluster, start_cluster
from triage_ops.clients.errors import AuthFailed, TimedOut, Unreachable
from triage_ops.clients.redis import RedisOpsClient
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError
from triage_ops.sandbox.processes import free_port
from triage_ops.sandbox.redis import RedisServer, start_redis

pytestmark = pytest.mark.timeout(120)

PASSWORD = "redis-Pa55-w0rd-xyz"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis")) as started:
        yield started


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis-auth"), password=PASSWORD) as started:
        yield started


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with start_cluster(tmp_path_factory.mktemp("redis-cluster"), nodes=3) as started:
        yield started


def test_ping_single(server: RedisServer) -> None:
    client = RedisOpsClient(server.url, timeout=2)
    assert 0 < client.ping() < 1000
    assert 0 < client.ping(queue=True) < 1000  # same server when no queue URL is set
    assert client.client(queue=True) is client.client()
    assert client.masters() == [client.client()]


def test_password_protected(protected: RedisServer) -> None:
    assert RedisOpsClient(protected.url, timeout=2).ping() > 0
    wrong_url = f"redis://:wrong-{PASSWORD}@127.0.0.1:{protected.port}/0"
    for url in (wrong_url, f"redis://127.0.0.1:{protected.port}/0"):
        with pytest.raises(AuthFailed) as caught:
            RedisOpsClient(url, timeout=2).ping()
        assert PASSWORD not in str(caught.value)
        assert caught.value.__cause__ is None
    assert str(caught.value) == (
        f"Redis at redis://127.0.0.1:{protected.port}/0: authentication failed (PING)"
    )


def test_refused_names_the_server() -> None:
    port = free_port()
    client = RedisOpsClient(f"redis://:{PASSWORD}@127.0.0.1:{port}/0", timeout=2)
    with pytest.raises(Unreachable) as caught:
        client.ping()
    assert not isinstance(caught.value, TimedOut)
    message = str(caught.value)
    assert message.startswith(f"Redis at redis://:***@127.0.0.1:{port}/0: ")
    assert "Connection refused" in message and message.endswith("(PING)")
    assert PASSWORD not in message


def test_queue_errors_name_the_queue_redis(server: RedisServer) -> None:
    """A separate queue Redis that is down is reported under its own address."""
    port = free_port()
    client = RedisOpsClient(server.url, timeout=2, queue_url=f"redis://127.0.0.1:{port}/0")
    assert client.ping() > 0
    with pytest.raises(Unreachable) as caught:
        client.ping(queue=True)
    assert str(caught.value).startswith(f"Redis at redis://127.0.0.1:{port}/0: ")
    translated = client.translate(ConnectionError("x"), "XLEN", queue=True)
    assert str(translated).startswith(f"Redis at redis://127.0.0.1:{port}/0: ")


def test_paused_times_out_within_the_timeout(server: RedisServer) -> None:
    client = RedisOpsClient(server.url, timeout=1.5)
    with server.paused():
        started = time.monotonic()
        with pytest.raises(TimedOut) as caught:
            client.ping()
        elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 2.5
    assert str(caught.value) == f"Redis at {server.url}: no answer within 1.5 s (PING)"
    assert client.ping() > 0  # the same client recovers once Redis answers


def test_black_hole_times_out() -> None:
    with black_hole() as port:
        client = RedisOpsClient(f"redis://127.0.0.1:{port}/0", timeout=1)
        started = time.monotonic()
        with pytest.raises(TimedOut):
            client.ping()
        assert time.monotonic() - started < 2.0


def test_cluster_masters_and_ping(cluster: RedisCluster) -> None:
    client = RedisOpsClient(cluster.url, timeout=2, cluster=True)
    masters = client.masters()
    ports = sorted(m.connection_pool.connection_kwargs["port"] for m in masters)
    assert ports == sorted(node.port for node in cluster.nodes)
    assert all(m.ping() for m in masters)
    assert client.ping() > 0


def test_cluster_unreachable_is_a_typed_error(tmp_path: Path) -> None:
    """Building a cluster client contacts the cluster: the service's RedisUnavailable it
    raises is translated like any redis-py error."""
    port = free_port()
    client = RedisOpsClient(f"redis://127.0.0.1:{port}/0", timeout=1, cluster=True)
    with pytest.raises(Unreachable) as caught:
        client.ping()
    assert str(caught.value).startswith(f"Redis at redis://127.0.0.1:{port}/0: ")
    assert str(caught.value).endswith("(connect)")


def test_from_config() -> None:
    with pytest.raises(UsageError, match="no redis_url configured"):
        RedisOpsClient.from_config(OpsConfig(), timeout=1)
    config = OpsConfig().merged(
        {
            "redis_url": f"redis://:{PASSWORD}@cache:6379/0",
            "queue_redis_url": "redis://queue:6380/0",
            "redis_cluster": "true",
        },
        where="t",
    )
    client = RedisOpsClient.from_config(config, timeout=2)
    assert (client.address, client.queue_address, client.cluster) == (
        "redis://:***@cache:6379/0",
        "redis://queue:6380/0",
        True,
    )
