"""Client construction: timeouts always set, cluster discovery, no password in any error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.cluster

from tests.service.redis.servers import RedisCluster, RedisServer, free_port, start_redis
from triage_core.service.cache import ResultCache
from triage_core.service.queue import Queue, QueueUnavailable
from triage_core.service.redis_clients import (
    RedisUnavailable,
    connect,
    redact,
    socket_timeout_of,
)
from triage_core.service.settings import ServiceSettings

PASSWORD = "s3cret-PW%21x"  # percent-encoded in the URL: the decoded form must not leak
DECODED = "s3cret-PW!x"


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("redis-auth"), password="the-right-one") as server:
        yield server


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def test_single_client_has_both_timeouts(redis_server: RedisServer) -> None:
    client = connect(redis_server.url, cluster=False, timeout_s=1.5)
    assert isinstance(client, redis.Redis)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (1.5, 1.5)
    assert socket_timeout_of(client) == 1.5
    assert client.ping() is True
    client.close()


def test_cluster_client_discovers_every_node(redis_cluster: RedisCluster) -> None:
    client = connect(redis_cluster.url, cluster=True, timeout_s=1.5)
    assert isinstance(client, redis.cluster.RedisCluster)
    kwargs = client.nodes_manager.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (1.5, 1.5)
    assert socket_timeout_of(client) == 1.5
    primaries = client.get_primaries()  # type: ignore[no-untyped-call]
    assert sorted(node.port for node in primaries) == sorted(
        node.port for node in redis_cluster.nodes
    )
    client.close()


def test_cluster_url_may_list_nodes_and_skips_a_dead_one(redis_cluster: RedisCluster) -> None:
    urls = f"redis://127.0.0.1:{free_port()}/0,{redis_cluster.nodes[1].url}"
    client = connect(urls, cluster=True, timeout_s=1.0)
    assert client.set("triage:cache:probe", b"1", ex=5) is True
    client.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("redis://user:pw@h:1/0", "redis://user:***@h:1/0"),
        ("rediss://user@h:1", "rediss://user@h:1"),
        ("redis://h:1/0?password=pw&db=1", "redis://h:1/0?password=***&db=1"),
        ("redis://:a@h:1,redis://:b@h:2", "redis://:***@h:1,redis://:***@h:2"),
        ("redis://h:1/0", "redis://h:1/0"),
        ("redis://u:p@ss@h:1/0", "redis://u:***@h:1/0"),
    ],
)
def test_redact(url: str, expected: str) -> None:
    assert redact(url) == expected


@pytest.mark.timeout(10)
def test_refused_cluster_connect_names_no_password() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnavailable) as caught:
        connect(url, cluster=True, timeout_s=0.5)
    text = _chain_text(caught.value)
    assert PASSWORD not in text
    assert DECODED not in text
    assert str(caught.value).startswith("cannot connect to Redis at redis://:***@127.0.0.1:")


@pytest.mark.parametrize(
    "url",
    [f"redis://:{PASSWORD}@127.0.0.1:notaport/0", f"http://:{PASSWORD}@127.0.0.1:1/0"],
)
def test_a_bad_url_names_no_password(url: str) -> None:
    for cluster in (False, True):
        with pytest.raises(RedisUnavailable) as caught:
            connect(url, cluster=cluster, timeout_s=0.5)
        text = _chain_text(caught.value)
        assert PASSWORD not in text
        assert DECODED not in text


@pytest.mark.timeout(10)
def test_a_wrong_password_names_no_password(locked_redis: RedisServer) -> None:
    client = connect(
        f"redis://:{PASSWORD}@127.0.0.1:{locked_redis.port}/0", cluster=False, timeout_s=1.0
    )
    with pytest.raises(QueueUnavailable) as caught:
        Queue(client, settings=ServiceSettings()).enqueue("e", b"x")
    text = _chain_text(caught.value)
    assert "AuthenticationError" in str(caught.value)
    assert PASSWORD not in text
    assert DECODED not in text
    assert isinstance(caught.value.__cause__, redis.AuthenticationError)


def test_the_right_password_works(locked_redis: RedisServer) -> None:
    client = connect(locked_redis.url, cluster=False, timeout_s=1.0)
    cache = ResultCache(client, ttl_s=5)
    cache.put(b"x", {"ok": True})
    assert cache.get(b"x") == {"ok": True}
    client.close()


@pytest.mark.timeout(10)
def test_a_refused_single_redis_fails_fast_with_the_typed_error() -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0", cluster=False, timeout_s=0.5)
    start = time.monotonic()
    with pytest.raises(QueueUnavailable) as caught:
        Queue(client, settings=ServiceSettings()).enqueue("e", b"x")
    assert time.monotonic() - start < 0.5
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    assert str(caught.value).startswith("queue enqueue failed: ConnectionError: ")


def test_timeout_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        connect("redis://127.0.0.1:1/0", cluster=False, timeout_s=0)
