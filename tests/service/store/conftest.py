"""Fixtures for the store's tests: one real PostgreSQL for the session, a fresh database
(migrated or not) per test, and a black-holed TCP port."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from triage_core.service.settings import Secret, ServiceSettings
from triage_core.service.store import Store, migrate
from triage_ops.sandbox.postgres import PostgresServer, start_postgres

APP_PASSWORD = "s3cret-pw-41x"  # the tests grep every output for it


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """TCP logins need APP_PASSWORD, so the tests can check that no password leaks into a
    message."""
    with start_postgres(password=APP_PASSWORD, database=None) as server:
        yield server


@pytest.fixture
def empty_database_url(postgres: PostgresServer) -> str:
    return postgres.create_database()


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    migrate(empty_database_url)
    return empty_database_url


def make_settings(url: str, *, replica: str = "", timeout_s: float = 3.0) -> ServiceSettings:
    return ServiceSettings(
        database_url=Secret(url),
        database_replica_url=Secret(replica),
        database_pool_min=1,
        database_pool_max=8,
        database_timeout_s=timeout_s,
    )


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    with Store(make_settings(database_url)) as opened:
        yield opened


@pytest.fixture(scope="session")
def black_hole() -> Iterator[int]:
    """A port whose kernel completes TCP handshakes (listen backlog) but where nothing ever
    reads or answers: a PostgreSQL that hangs, the worst case for a client's timeouts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@pytest.fixture(scope="session")
def refused_port() -> int:
    """A port nothing listens on (bound then closed): connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
