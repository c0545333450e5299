"""A real PostgreSQL for the retention tests (one server per test session, a fresh migrated
database per test), and the CLI with the `retention` command registered (cli.py lists it
once the lead adds it; until then the tests add it themselves)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import triage_ops.cli as cli
from tests.ops.retention.harness import own_catalogue
from triage_core.service.store import migrate
from triage_ops.sandbox.postgres import PostgresServer, start_postgres

COMMAND = ("retention", "triage_ops.commands.retention:retention")
PASSWORD = "s3cret-Pa55-for-retention"


@pytest.fixture(autouse=True)
def retention_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._COMMANDS, *COMMAND)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """In a directory of its own under /tmp (not pytest's basetemp, which a concurrent
    pytest session may prune while this one still runs)."""
    server = start_postgres(password=PASSWORD)
    yield server
    server.destroy()


@pytest.fixture
def db(pg_server: PostgresServer) -> str:
    """The URL (with the password: a secret) of a fresh, migrated database."""
    url = pg_server.create_database()
    migrate(url)
    return url


@pytest.fixture(autouse=True)
def catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    from triage_ops.engine import runner

    monkeypatch.setattr(runner, "_default_catalogue", own_catalogue)
