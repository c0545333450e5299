"""A real PostgreSQL with pg_stat_statements preloaded and the service's schema, one per
test module; each test gets its own database where it changes things."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.backup.helpers import reachable
from triage_ops.sandbox.postgres import PostgresServer, start_postgres

PASSWORD = "pw-Db-5ecret"


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with tempfile.TemporaryDirectory(prefix="triage-db-test-") as name:
        pg = start_postgres(
            reachable(Path(name)) / "pg", password=PASSWORD, stat_statements=True, database=None
        )
        try:
            yield pg
        finally:
            pg.destroy()
