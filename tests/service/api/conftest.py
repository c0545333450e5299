"""Fixtures for the API's tests: the app under TestClient, with or without real servers.

`offline_settings` needs no server at all (no database configured, Redis on a port where
nothing listens: the cache is bypassed), for validation, auth, limits and OpenAPI. The
`postgres` fixture and tests/service/conftest's `redis_server` are real servers started
once per session; tests that stop or pause a server start their own (see test_faults.py).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from fastapi.testclient import TestClient

from tests.service.api.helpers import server_settings
from tests.service.redis.servers import RedisServer
from triage_core.pipeline import Pipeline
from triage_core.service.api import create_app
from triage_core.service.settings import Secret, ServiceSettings
from triage_core.service.store import migrate
from triage_ops.sandbox.postgres import PostgresServer, start_postgres

ClientFactory = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture(scope="session")
def refused_port() -> int:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def offline_settings(refused_port: int) -> ServiceSettings:
    return ServiceSettings(
        redis_url=Secret(f"redis://127.0.0.1:{refused_port}/0"),
        redis_timeout_s=0.5,
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with start_postgres() as server:
        migrate(server.url())
        yield server


@pytest.fixture
def live_settings(postgres: PostgresServer, redis_server: RedisServer) -> ServiceSettings:
    with redis_server.client() as client:
        client.flushall()
    return server_settings(postgres.url(), redis_server.url)


@pytest.fixture
def client_for() -> ClientFactory:
    """`with client_for(settings) as client:` runs the app's lifespan around the block."""

    @contextmanager
    def make(
        settings: ServiceSettings, *, pipeline: Pipeline | None = None
    ) -> Iterator[TestClient]:
        app = create_app(settings, pipeline=pipeline)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client

    return make


@pytest.fixture
def offline_client(
    offline_settings: ServiceSettings, client_for: ClientFactory
) -> Iterator[TestClient]:
    with client_for(offline_settings) as client:
        yield client
