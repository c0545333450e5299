"""PostgreSQL stopped, black-holed (accepts TCP, never answers) or hanging mid-statement:
one typed line naming it, within the timeout, never a traceback or a hang. And the
database password never appears in output, logs, the archive or the audit trail."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.retention.conftest import PASSWORD
from tests.ops.retention.harness import env_for, invoke
from tests.ops.retention.rows import seed_mix
from triage_ops.clients.errors import TimedOut
from triage_ops.clients.postgres import PostgresClient
from triage_ops.procedures.retention.session import Deadline
from triage_ops.sandbox.processes import free_port

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that completes the TCP handshake (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def archive(db: str, tmp_path: Path) -> Path:
    seed_mix(db)
    path = tmp_path / "archive"
    result = invoke(
        env_for(db, tmp_path), "retention", "run", "--older-than", "90d",
        "--archive-to", str(path), "--yes",
    )  # fmt: skip
    assert result.code == 0, result.err
    return path


def _commands(archive: Path) -> list[list[str]]:
    return [
        ["run", "--older-than", "90d", "--archive-to", str(archive.parent / "new"), "--yes"],
        ["run", "--older-than", "90d", "--archive-to", str(archive.parent / "new"), "--dry-run"],
        ["restore", str(archive), "--yes"],
    ]


def test_stopped_postgres(archive: Path, tmp_path: Path) -> None:
    port = free_port()
    env = env_for(f"postgresql://triage:{PASSWORD}@127.0.0.1:{port}/triage", tmp_path)
    for command in _commands(archive):
        started = time.monotonic()
        result = invoke(env, "--timeout", "2", "retention", *command)
        assert time.monotonic() - started < 5
        assert (result.code, result.out) == (4, "")
        assert result.err.splitlines()[-1].startswith(
            f"triage-ops: error: PostgreSQL primary at 127.0.0.1:{port}/triage: "
        ), command
        assert "Traceback" not in result.err and PASSWORD not in result.err


def test_black_holed_postgres(archive: Path, tmp_path: Path, black_hole: int) -> None:
    env = env_for(f"postgresql://triage:{PASSWORD}@127.0.0.1:{black_hole}/triage", tmp_path)
    for command in _commands(archive):
        started = time.monotonic()
        result = invoke(env, "--timeout", "2", "retention", *command)
        assert time.monotonic() - started < 6
        assert (result.code, result.out) == (4, "")
        assert result.err.splitlines()[-1] == (
            f"triage-ops: error: PostgreSQL primary at 127.0.0.1:{black_hole}/triage:"
            " no answer within 2 s (connect)"
        ), command
    assert not (archive.parent / "new").exists()


def test_a_statement_that_never_returns_is_cut_off(db: str) -> None:
    client = PostgresClient(db, timeout=2)
    with client.connect(statement_timeout_s=60) as conn:
        deadline = Deadline(conn, seconds=0.5, where=f"PostgreSQL primary at {client.address}")
        started = time.monotonic()
        with pytest.raises(TimedOut) as raised, deadline("a hung server"):
            conn.execute("SELECT pg_sleep(30)")
    assert time.monotonic() - started < 3
    assert str(raised.value) == (
        f"PostgreSQL primary at {client.address}: no answer within 0.5 s (a hung server)"
    )


def test_the_password_never_shows(db: str, tmp_path: Path) -> None:
    assert PASSWORD in db
    seed_mix(db)
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    outputs = []
    for args in (
        ["-vv", "retention", "run", "--older-than", "90d", "--archive-to", str(archive),
         "--dry-run"],
        ["-vv", "retention", "run", "--older-than", "90d", "--archive-to", str(archive), "--yes"],
        ["-vv", "-o", "json", "retention", "status", str(archive), "--verify"],
        ["-vv", "-o", "markdown", "retention", "restore", str(archive), "--yes"],
    ):  # fmt: skip
        result = invoke(env, *args)
        assert result.code == 0, result.err
        outputs += [result.out, result.err]
    wrong = env | {"TRIAGE_OPS_DATABASE_URL": db.replace(PASSWORD, PASSWORD + "-old")}
    refused = invoke(wrong, "retention", "restore", str(archive), "--yes")
    assert refused.code != 0
    assert "authentication failed" in refused.err
    outputs += [refused.out, refused.err]
    files = [p.read_text() for p in archive.iterdir() if p.suffix == ".json"]
    files.append((tmp_path / "audit.jsonl").read_text())
    assert "retention.run" in files[-1] and "retention.restore" in files[-1]
    for text in outputs + files:
        assert PASSWORD not in text
