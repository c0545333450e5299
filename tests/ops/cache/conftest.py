"""Real Redis for the cache tests: the service tests' session redis-server and 3-node Redis
Cluster (tests/service/conftest.py, imported here), emptied before each test; a triage-ops
config file pointing at them; the CLI invoked the way a user does; and the service's own
queue (stream + consumer group + pending + dead-letter + fallback switch) to prove intact."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click.testing
import pytest
import yaml

from tests.service.conftest import redis_cluster, redis_server
from tests.service.redis.servers import RedisTarget
from triage_core.service import keys
from triage_core.service.control import FallbackSwitch
from triage_core.service.queue import Queue
from triage_core.service.redis_clients import RedisClient
from triage_core.service.settings import ServiceSettings
from triage_ops import cli

__all__ = ["redis_cluster", "redis_server"]  # session fixtures, re-exported for pytest


@pytest.fixture(params=["single", "cluster"])
def target(request: pytest.FixtureRequest) -> RedisTarget:
    servers = request.getfixturevalue(
        "redis_server" if request.param == "single" else "redis_cluster"
    )
    found = RedisTarget(kind=request.param, servers=servers)
    found.flush()
    return found


@pytest.fixture
def single(redis_server: Any) -> RedisTarget:
    found = RedisTarget(kind="single", servers=redis_server)
    found.flush()
    return found


@pytest.fixture
def client(target: RedisTarget) -> Iterator[RedisClient]:
    connected = target.connect()
    try:
        yield connected
    finally:
        connected.close()


def write_config(directory: Path, *, redis_url: str, cluster: bool, **extra: Any) -> Path:
    path = directory / "triage-ops.yaml"
    settings = {
        "redis_url": redis_url,
        "redis_cluster": cluster,
        "audit_log": str(directory / "audit.jsonl"),
        **extra,
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture
def config_path(target: RedisTarget, tmp_path: Path) -> Path:
    return write_config(tmp_path, redis_url=target.url, cluster=target.cluster)


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> Any:
    """`run_cli(config, *args)`: triage-ops as a user runs it (stdin is not a terminal,
    as under cron). `cache` is registered here until cli.py lists it."""
    monkeypatch.setitem(cli._COMMANDS, "cache", "triage_ops.commands.cache:cache")

    def run(config: Path | None, *args: str) -> CliResult:
        runner = click.testing.CliRunner()
        argv = (["--config", str(config)] if config else []) + list(args)
        result = runner.invoke(cli.main, argv, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run


# -- the service's queue ------------------------------------------------------------------


@dataclass(frozen=True)
class QueueState:
    stream_length: int
    pending: int
    dead_letter: int
    groups: tuple[str, ...]
    switch_on: bool
    entry_ids: tuple[str, ...]


def fill_queue(client: RedisClient, *, entries: int = 25, pending: int = 5, dead: int = 2) -> None:
    """What a running service leaves in Redis: XADD entries, the consumer group, entries
    delivered and not acknowledged, dead-lettered entries, and the fallback switch on."""
    queue = Queue(client, settings=ServiceSettings())
    queue.ensure_group()
    for i in range(entries):
        queue.enqueue(f"email-{i}", b"From: a@example.com\r\nSubject: hi %d\r\n\r\nbody" % i)
    taken = queue.read("worker-1", count=pending + dead, block_ms=0)
    for entry in taken[:dead]:
        queue.dead_letter(entry, "poison message (test)")
    FallbackSwitch(client, poll_s=0).set(True, reason="cache flush test", actor="pytest")


def queue_state(client: RedisClient) -> QueueState:
    stream_length = int(client.xlen(keys.QUEUE_STREAM))
    groups: Sequence[Any] = (
        client.xinfo_groups(keys.QUEUE_STREAM) if client.exists(keys.QUEUE_STREAM) else []
    )
    entries: Any = client.xrange(keys.QUEUE_STREAM) if stream_length else []
    return QueueState(
        stream_length=stream_length,
        pending=sum(int(g["pending"]) for g in groups),
        dead_letter=int(client.xlen(keys.DEAD_LETTER_STREAM)),
        groups=tuple(sorted(_text(g["name"]) for g in groups)),
        switch_on=bool(client.exists(keys.FALLBACK_SWITCH)),
        entry_ids=tuple(_text(entry_id) for entry_id, _fields in entries),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def fill_cache(client: RedisClient, count: int, *, prefix: str = keys.CACHE_PREFIX) -> list[str]:
    names = [f"{prefix}{i:064x}" for i in range(count)]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.set(name, b'{"schema":"triage/v1","category":"request"}', ex=3600)
    pipe.execute()
    return names


def cache_keys_left(target: RedisTarget, prefix: str = keys.CACHE_PREFIX) -> set[bytes]:
    return {key for key in target.all_keys() if key.startswith(prefix.encode())}
