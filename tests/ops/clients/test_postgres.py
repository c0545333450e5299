"""PostgresClient against a real PostgreSQL (password auth over TCP): ping, and every
failure as a typed error naming host:port/db, never the password."""

from __future__ import annotations

import time
from urllib.parse import quote

import psycopg
import pytest

from tests.ops.blackhole import black_hole
from tests.ops.faults.stack import PG_PASSWORD, Stack
from triage_ops.clients.errors import AuthFailed, NotFound, TimedOut, Unreachable
from triage_ops.clients.postgres import PostgresClient
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError
from triage_ops.sandbox.processes import free_port

pytestmark = pytest.mark.timeout(120)


def _url(stack: Stack, *, password: str = PG_PASSWORD, db: str = "triage") -> str:
    auth = f"triage:{quote(password, safe='')}"
    return f"postgresql://{auth}@127.0.0.1:{stack.postgres.port}/{db}"


def _no_secret(exc: BaseException, *secrets: str) -> None:
    text = f"{exc} {exc!r} {exc.__cause__!r} {exc.__context__!r}"
    for secret in secrets:
        assert secret not in text


def test_ping(stack: Stack) -> None:
    client = PostgresClient(stack.database_url, timeout=2)
    ping = client.ping()
    assert ping.address == f"127.0.0.1:{stack.postgres.port}/triage"
    assert ping.in_recovery is False
    assert ping.server_version.split(".")[0].isdigit()
    assert 0 < ping.latency_ms < 2000


def test_connect_gives_dict_rows_and_the_migrated_schema(stack: Stack) -> None:
    client = PostgresClient(stack.database_url, timeout=2)
    with client.connect() as conn:
        row = conn.execute("SELECT count(*) AS n FROM emails").fetchone()
        name = conn.execute("SELECT current_setting('application_name') AS a").fetchone()
    assert row == {"n": 0}
    assert name == {"a": "triage-ops"}


def test_wrong_password_is_auth_failed_without_the_password(stack: Stack) -> None:
    wrong = "Wr0ng-" + PG_PASSWORD
    client = PostgresClient(_url(stack, password=wrong), timeout=2)
    with pytest.raises(AuthFailed) as caught:
        client.ping()
    assert str(caught.value) == (
        f"PostgreSQL primary at 127.0.0.1:{stack.postgres.port}/triage: authentication failed"
    )
    _no_secret(caught.value, wrong, PG_PASSWORD)


def test_missing_database_is_not_found(stack: Stack) -> None:
    client = PostgresClient(_url(stack, db="no_such_db"), timeout=2)
    with pytest.raises(NotFound, match='database "no_such_db" does not exist'):
        client.ping()


def test_refused_is_unreachable() -> None:
    port = free_port()
    client = PostgresClient(f"postgresql://triage:{PG_PASSWORD}@127.0.0.1:{port}/triage", timeout=2)
    started = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        client.ping()
    assert time.monotonic() - started < 1.0
    assert not isinstance(caught.value, TimedOut)
    message = str(caught.value)
    assert message.startswith(f"PostgreSQL primary at 127.0.0.1:{port}/triage: ")
    assert "Connection refused" in message
    _no_secret(caught.value, PG_PASSWORD)


def test_black_hole_times_out_within_the_timeout() -> None:
    with black_hole() as port:
        client = PostgresClient(
            f"postgresql://triage:{PG_PASSWORD}@127.0.0.1:{port}/triage", timeout=2, role="replica"
        )
        started = time.monotonic()
        with pytest.raises(TimedOut) as caught:
            client.ping()
        elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 3.5
    assert str(caught.value) == (
        f"PostgreSQL replica at 127.0.0.1:{port}/triage: no answer within 2 s (connect)"
    )
    _no_secret(caught.value, PG_PASSWORD)


def test_statement_timeout_is_timed_out(stack: Stack) -> None:
    client = PostgresClient(stack.database_url, timeout=2)
    started = time.monotonic()
    with (
        pytest.raises(TimedOut, match=r"no answer within 2 s \(query\)"),
        client.connect(statement_timeout_s=0.3) as conn,
    ):
        conn.execute("SELECT pg_sleep(5)")
    assert time.monotonic() - started < 2.0


def test_other_sql_errors_are_left_to_the_caller(stack: Stack) -> None:
    client = PostgresClient(stack.database_url, timeout=2)
    with pytest.raises(psycopg.errors.UndefinedTable), client.connect() as conn:
        conn.execute("SELECT * FROM no_such_table")


def test_from_config() -> None:
    with pytest.raises(UsageError, match="no database_url configured"):
        PostgresClient.from_config(OpsConfig(), timeout=1)
    with pytest.raises(UsageError, match="no database_replica_url configured"):
        PostgresClient.from_config(OpsConfig(), timeout=1, replica=True)
    config = OpsConfig().merged(
        {"database_replica_url": f"postgresql://u:{PG_PASSWORD}@db-replica:5433/triage"}, where="t"
    )
    client = PostgresClient.from_config(config, timeout=3, replica=True)
    assert (client.role, client.address, client.timeout) == ("replica", "db-replica:5433/triage", 3)
    assert PG_PASSWORD not in repr(client.dsn)
