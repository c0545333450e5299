"""`db slow-queries` over pg_stat_statements on a real server."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.ops.backup.helpers import config, invoke, make_ctx, write_config
from tests.ops.db.conftest import PASSWORD
from triage_ops.procedures.database import redact_query, slow_queries
from triage_ops.sandbox.postgres import PostgresServer, start_postgres

pytestmark = pytest.mark.timeout(60)


def test_a_deliberately_slow_query_is_listed_first(server: PostgresServer) -> None:
    url = server.create_database("slowq")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        for _ in range(2):
            conn.execute("SELECT pg_sleep(0.25)")
        for _ in range(5):
            conn.execute("SELECT 1")
    report = slow_queries(make_ctx(config(database_url=url), {"db_slow_query_ms": 200}), limit=3)
    assert report.available is True
    assert report.mean_column == "mean_exec_time"  # PostgreSQL 13+: the runbook's mean_time
    first = report.queries[0]
    assert first["query"] == "SELECT pg_sleep($1)"
    assert first["calls"] == 2
    assert first["rows"] == 2
    assert 250 <= first["mean_ms"] < 1000
    assert first["total_ms"] == pytest.approx(2 * first["mean_ms"], rel=0.01)
    assert len(report.queries) == 3
    assert [f.code for f in report.findings] == ["TRI-SQL-003"]
    slow = report.findings[0]
    assert slow.evidence["queries"] == [first]
    assert slow.summary.startswith("1 statement(s) average more than 200 ms; the slowest ")
    assert slow.summary.endswith(" over 2 call(s): SELECT pg_sleep($1)")


def test_passwords_in_utility_statements_are_redacted(server: PostgresServer) -> None:
    url = server.create_database("slowq_secret")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE ROLE app_rotated LOGIN PASSWORD 'hunter2-Rotated'")
        conn.execute("ALTER ROLE app_rotated PASSWORD 'hunter3-Rotated'")
    report = slow_queries(make_ctx(config(database_url=url)), limit=50)
    texts = [q["query"] for q in report.queries]
    assert "ALTER ROLE app_rotated PASSWORD '***'" in texts
    assert "CREATE ROLE app_rotated LOGIN PASSWORD '***'" in texts
    assert "Rotated" not in json.dumps(report.to_json())
    assert redact_query("SELECT * FROM dblink('host=x password=s3cr3t', 'q')") == (
        "SELECT * FROM dblink('host=x password=*** 'q')"
    )


def test_extension_missing_gives_the_sql_that_enables_it(server: PostgresServer) -> None:
    url = server.create_database("no_statements")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP EXTENSION pg_stat_statements")
    report = slow_queries(make_ctx(config(database_url=url)))
    assert report.available is False
    assert [f.code for f in report.findings] == ["TRI-SQL-001"]
    finding = report.findings[0]
    assert finding.evidence["sql"] == ["CREATE EXTENSION IF NOT EXISTS pg_stat_statements"]
    assert finding.command == (
        "psql \"$DATABASE_URL\" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'"
    )


@pytest.mark.timeout(60)
def test_library_not_preloaded_needs_a_restart() -> None:
    with start_postgres() as plain:  # no shared_preload_libraries
        report = slow_queries(make_ctx(config(database_url=plain.url())))
        assert [f.code for f in report.findings] == ["TRI-SQL-002"]
        assert report.findings[0].evidence["sql"] == [
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
            "-- restart PostgreSQL",
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        ]
        # created, but the library is not loaded: the view refuses to answer
        with plain.admin(plain.database) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        report = slow_queries(make_ctx(config(database_url=plain.url())))
        assert [f.code for f in report.findings] == ["TRI-SQL-002"]
        assert report.findings[0].summary == (
            "pg_stat_statements is created in this database, but not in"
            " shared_preload_libraries (needs a restart)"
        )


def test_cli_slow_queries(tmp_path: Path, server: PostgresServer) -> None:
    url = server.create_database("slowq_cli")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_sleep(0.05)")
    path = write_config(tmp_path / "ops.yaml", database_url=url)
    code, out, err = invoke(
        "--config", str(path), "-o", "json", "db", "slow-queries", "--limit", "2"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["exit_code"] == 0
    assert len(data["queries"]) == 2
    code, out, err = invoke("--config", str(path), "db", "slow-queries", "--slow-ms", "10")
    assert code == 1, err
    assert out.splitlines()[0] == "Slow queries"
    assert out.splitlines()[1].split() == ["MEAN_MS", "CALLS", "TOTAL_MS", "ROWS", "QUERY"]
    assert "SELECT pg_sleep($1)" in out
    assert "TRI-SQL-003" in out
    assert PASSWORD not in out + err
