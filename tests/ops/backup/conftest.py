"""One primary (with migrations and data), its base backups and a streaming replica made
with `pg_basebackup -R`, per test module: real servers on loopback."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.backup.helpers import basebackup, insert_emails, owned, reachable
from triage_core.service.store import migrate
from triage_ops.sandbox.postgres import PostgresServer, start_postgres, start_replica

PASSWORD = "pw-Backup-5ecret"
BEFORE_BACKUP = {"queued": 3, "processing": 2, "processed": 40, "failed": 5}


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="triage-backup-test-") as name:
        yield reachable(Path(name))


@pytest.fixture(scope="module")
def primary(base: Path) -> Iterator[PostgresServer]:
    server = start_postgres(base / "primary", password=PASSWORD, stat_statements=True)
    try:
        migrate(server.url())
        insert_emails(server, BEFORE_BACKUP, prefix="before")
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def backup_dir(base: Path, primary: PostgresServer) -> Path:
    """backup_dir with one plain base backup, taken after BEFORE_BACKUP was written."""
    backups = owned(base / "backups")
    basebackup(primary, backups / "20260101T000000Z")
    return backups


@pytest.fixture
def replica(base: Path, primary: PostgresServer) -> Iterator[PostgresServer]:
    server = start_replica(primary, Path(tempfile.mkdtemp(dir=base, prefix="replica-")))
    try:
        yield server
    finally:
        server.destroy()
