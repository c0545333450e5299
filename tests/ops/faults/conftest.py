"""The shared stack (tests/ops/faults/stack.py) for the fault-injection tests, and servers
of their own that the tests stop and pause without disturbing the stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.faults import stack as stack_module
from tests.ops.faults.stack import PG_PASSWORD, Stack, resume, start_replica
from triage_core.service.store import migrate
from triage_ops.sandbox.postgres import PostgresServer, start_postgres
from triage_ops.sandbox.redis import RedisServer, start_redis


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield stack_module.acquire(tmp_path_factory.mktemp("ops-stack"))
    stack_module.release()


@pytest.fixture(scope="module")
def fault_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of the fault tests' own (they stop and pause it), migrated, with the
    stack's password."""
    server = start_postgres(password=PG_PASSWORD)
    try:
        migrate(server.url())
        yield server
    finally:
        server.destroy()


@pytest.fixture
def fault_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server per test (they stop and pause it; starting one takes ~0.1 s)."""
    with start_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture(scope="module")
def replica(stack: Stack) -> Iterator[PostgresServer]:
    """A streaming replica of the stack's primary (`pg_basebackup -R`), password-protected
    like it."""
    server = start_replica(stack.postgres)
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def running_replica(replica: PostgresServer) -> Iterator[PostgresServer]:
    """The replica, started again after a test that stopped or paused it."""
    yield replica
    resume(replica)
    if not replica.alive():
        replica.start()
