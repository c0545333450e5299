"""Real servers for the worker's tests: one PostgreSQL and one Redis for the session (a
3-node Redis Cluster only for the test that asks for it; both from tests/service/conftest),
a fresh migrated database and an empty Redis per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.service.redis.servers import RedisCluster, RedisServer
from triage_core.service.settings import Secret, ServiceSettings
from triage_core.service.store import migrate
from triage_ops.sandbox.postgres import PostgresServer, start_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with start_postgres(database=None) as server:
        yield server


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    url = postgres.create_database()
    migrate(url)
    return url


@pytest.fixture
def settings(database_url: str, redis_server: RedisServer) -> ServiceSettings:
    with redis_server.client() as client:
        client.flushall()
    return ServiceSettings(
        database_url=Secret(database_url),
        database_pool_min=1,
        database_pool_max=4,
        database_timeout_s=3.0,
        redis_url=Secret(redis_server.url),
        redis_timeout_s=2.0,
        queue_max_attempts=3,
        queue_claim_idle_ms=0,  # a failed entry is retried on the next read
        worker_batch_size=10,
        worker_block_ms=50,
        fallback_poll_s=0.5,
    )


@pytest.fixture
def cluster_settings(settings: ServiceSettings, redis_cluster: RedisCluster) -> ServiceSettings:
    redis_cluster.flushall()
    return replace(settings, redis_url=Secret(redis_cluster.url), redis_cluster=True)


def sample_payloads(count: int, *, prefix: str) -> list[tuple[str, bytes]]:
    """`count` (message_id, payload) pairs: the example inbox's raw messages and its JSON
    dicts in turn, each with its own Message-ID."""
    raws = [p.read_bytes() for p in sorted(Path(EXAMPLES / "inbox").glob("*.eml"))]
    dicts = [
        json.loads(line)
        for line in (EXAMPLES / "inbox.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    out: list[tuple[str, bytes]] = []
    for n in range(count):
        message_id = f"<{prefix}-{n}@test.example>"
        if n % 2 == 0:
            raw = raws[(n // 2) % len(raws)]
            out.append((message_id, f"Message-ID: {message_id}\r\n".encode() + _drop_id(raw)))
        else:
            data = dict(dicts[(n // 2) % len(dicts)])
            data["message_id"] = message_id
            out.append((message_id, json.dumps(data).encode()))
    return out


def _drop_id(raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    return b"\n".join(line for line in lines if not line.lower().startswith(b"message-id:"))
