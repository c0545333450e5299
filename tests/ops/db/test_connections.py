"""`db connections` against the DatabaseConnections alert threshold, and how a database
that is down or black-holed is reported (one line naming it, within the timeout)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.ops.backup.helpers import config, invoke, make_ctx, write_config
from tests.ops.db.conftest import PASSWORD
from triage_ops.procedures.database import connections
from triage_ops.sandbox import processes
from triage_ops.sandbox.postgres import PostgresServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def five_sessions(server: PostgresServer) -> Iterator[tuple[str, list[psycopg.Connection[Any]]]]:
    url = server.create_database("conns")
    with ExitStack() as stack:
        conns = [
            stack.enter_context(psycopg.connect(url, application_name=f"app-{i % 2}"))
            for i in range(5)
        ]
        for conn in conns:
            conn.commit()
        yield url, conns


def test_five_sessions_against_a_threshold_of_three(
    five_sessions: tuple[str, list[psycopg.Connection[Any]]],
) -> None:
    url, conns = five_sessions
    conns[0].execute("SELECT 1")  # left idle in a transaction
    time.sleep(0.2)
    params = {"db_connections_threshold": 3, "db_idle_in_transaction_minutes": 0.001}
    report = connections(make_ctx(config(database_url=url), params))
    assert report.numbackends == 6  # five, and the check's own session
    assert report.max_connections == 200
    assert report.threshold == 3
    assert [f.code for f in report.findings] == ["TRI-SQL-020", "TRI-SQL-022"]
    high, idle = report.findings
    assert high.summary == "6 backends connected (alert threshold 3, max_connections 200)"
    assert high.severity == "warning"
    sessions = {(r["state"], r["application_name"]): r["sessions"] for r in report.by_state}
    assert sessions == {
        ("idle", "app-0"): 2,
        ("idle", "app-1"): 2,
        ("idle in transaction", "app-0"): 1,
        ("active", "triage-ops"): 1,
    }
    pid = conns[0].info.backend_pid
    assert [s["pid"] for s in report.idle_in_transaction] == [pid]
    assert report.idle_in_transaction[0]["query"] == "SELECT 1"
    assert idle.command == (
        'psql "$DATABASE_URL" -c \'SELECT pg_terminate_backend(pid) FROM pg_stat_activity'
        f" WHERE pid IN ({pid})'"
    )

    # the alert's own threshold: 6 is fine; a short idle transaction is not reported yet
    report = connections(make_ctx(config(database_url=url)))
    assert report.findings == []
    assert report.threshold == 80
    assert report.idle_minutes == 5.0


def test_cli_connections(
    tmp_path: Path,
    five_sessions: tuple[str, list[psycopg.Connection[Any]]],
) -> None:
    url, _ = five_sessions
    path = write_config(tmp_path / "ops.yaml", database_url=url)
    code, out, err = invoke("--config", str(path), "-o", "json", "db", "connections")
    assert code == 0, err
    assert json.loads(out)["numbackends"] == 6
    code, out, err = invoke("--config", str(path), "db", "connections", "--threshold", "3")
    assert code == 1, err
    assert out.splitlines()[0] == "Connections"
    assert "TRI-SQL-020" in out
    assert PASSWORD not in out + err


@pytest.fixture
def blackhole() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", [["connections"], ["slow-queries"], ["indexes"]])
def test_database_down_or_black_holed(tmp_path: Path, blackhole: int, command: list[str]) -> None:
    closed = processes.free_port()
    for port, message in [
        (closed, f"PostgreSQL primary at 127.0.0.1:{closed}/triage: "),
        (blackhole, f"PostgreSQL primary at 127.0.0.1:{blackhole}/triage: no answer within 1 s"),
    ]:
        url = f"postgresql://triage:{PASSWORD}@127.0.0.1:{port}/triage"
        path = write_config(tmp_path / "ops.yaml", database_url=url)
        started = time.monotonic()
        code, out, err = invoke("--config", str(path), "--timeout", "1", "db", *command)
        assert time.monotonic() - started < 4.0
        assert code == 4
        assert out == ""
        assert err.startswith(f"triage-ops: error: {message}")
        assert len(err.splitlines()) == 1
        assert PASSWORD not in err
