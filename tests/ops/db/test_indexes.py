"""`db indexes`: advice from the statistics views, the runbook's two indexes, unused and
INVALID indexes, and `--create NAME` through the engine (dry-run, confirmation, verify,
audit) on a real server."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.ops.backup.helpers import config, invoke, make_ctx, write_config
from tests.ops.db.conftest import PASSWORD
from triage_core.service.store import migrate
from triage_ops.procedures.database import create_index, index_report
from triage_ops.sandbox.postgres import PostgresServer

pytestmark = pytest.mark.timeout(60)


def _service_db(server: PostgresServer, name: str) -> str:
    url = server.create_database(name)
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO emails (message_id, status) SELECT '<m' || i || '@t>',"
            " (ARRAY['queued','processed'])[1 + i % 2] FROM generate_series(1, 200) i"
        )
    return url


def _valid(url: str, index: str) -> bool | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (index,)
        ).fetchone()
    return None if row is None else bool(row[0])


def _never_asked(plan: object) -> bool:
    raise AssertionError("confirmation asked despite --yes/--dry-run")


def test_advice_for_a_big_table_read_by_sequential_scans(server: PostgresServer) -> None:
    url = _service_db(server, "idx_advice")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE big (id int, v int)")
        conn.execute("INSERT INTO big SELECT i, i % 100 FROM generate_series(1, 20000) i")
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(3):
            conn.execute("SELECT count(*) FROM big WHERE v = 5")
    report = index_report(make_ctx(config(database_url=url), {"db_index_min_rows": 10_000}))
    assert [f.code for f in report.findings] == ["TRI-SQL-011"]
    advice = report.findings[0]
    assert advice.summary == "public.big: 3 sequential scans vs 0 index scans over 20000 rows"
    assert advice.evidence["seq_scan"] == 3
    assert advice.evidence["idx_scan"] is None
    assert advice.evidence["seq_tup_read"] == 60000
    assert (
        "CREATE INDEX CONCURRENTLY idx_big_<column> ON public.big (<column>)"
        in (advice.evidence["advice"])
    )
    assert advice.command == "triage-ops db slow-queries"
    assert report.runbook_indexes == [
        {"index": "idx_emails_created_at", "state": "present",
         "sql": "CREATE INDEX CONCURRENTLY idx_emails_created_at ON emails (created_at)"},
        {"index": "idx_emails_status", "state": "present",
         "sql": "CREATE INDEX CONCURRENTLY idx_emails_status ON emails (status)"},
    ]  # fmt: skip
    # never used, but small: listed, and a finding only past the size floor
    assert [u["index"] for u in report.unused] == [
        "public.idx_emails_created_at",
        "public.idx_emails_status",
    ]
    report = index_report(make_ctx(config(database_url=url), {"db_unused_index_min_bytes": 0}))
    unused = [f for f in report.findings if f.code == "TRI-SQL-012"]
    assert [f.evidence["index"] for f in unused] == [
        "public.idx_emails_created_at",
        "public.idx_emails_status",
    ]
    assert unused[0].command == (
        "psql \"$DATABASE_URL\" -c 'DROP INDEX CONCURRENTLY public.idx_emails_created_at'"
    )


def test_create_a_missing_runbook_index(tmp_path: Path, server: PostgresServer) -> None:
    url = _service_db(server, "idx_create")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX idx_emails_status")
    report = index_report(make_ctx(config(database_url=url)))
    assert [f.code for f in report.findings] == ["TRI-SQL-010"]
    assert report.findings[0].command == "triage-ops db indexes --create idx_emails_status"
    assert report.findings[0].evidence["sql"] == (
        "CREATE INDEX CONCURRENTLY idx_emails_status ON emails (status)"
    )

    audit = tmp_path / "audit.jsonl"
    path = write_config(tmp_path / "ops.yaml", database_url=url, audit_log=audit)
    args = ["--config", str(path), "-o", "json"]
    code, out, err = invoke(*args, "--dry-run", "db", "indexes", "--create", "idx_emails_status")
    assert code == 0, err
    dry = json.loads(out)
    assert dry["outcome"] == "dry-run"
    assert dry["plan"]["commands"] == [
        "CREATE INDEX CONCURRENTLY idx_emails_status ON emails (status)"
    ]
    assert dry["plan"]["changes"] == [
        {"target": "index idx_emails_status", "before": "absent",
         "after": "valid index on emails (status)"}
    ]  # fmt: skip
    assert _valid(url, "idx_emails_status") is None  # nothing changed

    code, out, err = invoke(*args, "db", "indexes", "--create", "idx_emails_status")
    assert code == 3  # no terminal to confirm on, no --yes: refused, nothing changed
    assert _valid(url, "idx_emails_status") is None

    code, out, err = invoke(*args, "--yes", "db", "indexes", "--create", "idx_emails_status")
    assert code == 0, err
    done = json.loads(out)
    assert done["outcome"] == "ok"
    assert done["after"] == {
        "executed": ["CREATE INDEX CONCURRENTLY idx_emails_status ON emails (status)"],
        "valid": True,
    }
    assert _valid(url, "idx_emails_status") is True
    entries = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["kind"], e["outcome"]) for e in entries] == [
        ("action", "dry-run"),
        ("action", "refused"),
        ("action", "ok"),
    ]
    assert PASSWORD not in audit.read_text() + out + err

    code, out, err = invoke(*args, "--yes", "db", "indexes", "--create", "idx_emails_status")
    assert code == 0, err
    assert json.loads(out)["outcome"] == "noop"

    code, out, err = invoke(*args, "db", "indexes", "--create", "idx_nope")
    assert code == 3
    assert "unknown index 'idx_nope'" in err


def test_an_invalid_index_from_a_failed_concurrent_build(
    tmp_path: Path, server: PostgresServer
) -> None:
    url = _service_db(server, "idx_invalid")
    cfg = config(database_url=url, audit_log=str(tmp_path / "audit.jsonl"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX idx_emails_status")
        with pytest.raises(psycopg.errors.UniqueViolation):  # statuses repeat
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY idx_emails_status ON emails (status)")
    assert _valid(url, "idx_emails_status") is False

    report = index_report(make_ctx(cfg))
    assert [f.code for f in report.findings] == ["TRI-SQL-013"]
    assert report.findings[0].summary == (
        "index public.idx_emails_status on emails is INVALID (a failed CREATE INDEX"
        " CONCURRENTLY): it is maintained on every write and never used"
    )
    assert report.invalid == [{"index": "public.idx_emails_status", "table": "emails"}]
    assert report.runbook_indexes[1]["state"] == "INVALID"

    outcome = create_index(
        cfg, "idx_emails_status", timeout=5, dry_run=False, yes=True, confirm=_never_asked,
        audit=None,
    )  # fmt: skip
    assert outcome.outcome == "ok", outcome.error
    assert outcome.plan is not None
    assert list(outcome.plan.commands) == [
        "DROP INDEX CONCURRENTLY IF EXISTS idx_emails_status",
        "CREATE INDEX CONCURRENTLY idx_emails_status ON emails (status)",
    ]
    assert outcome.plan.changes[0]["before"] == "INVALID (a failed concurrent build)"
    assert _valid(url, "idx_emails_status") is True
    assert index_report(make_ctx(cfg)).findings == []


def test_a_build_that_times_out_leaves_an_invalid_index_which_is_reported(
    server: PostgresServer,
) -> None:
    url = _service_db(server, "idx_timeout")
    cfg = config(database_url=url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX idx_emails_created_at")
    with psycopg.connect(url) as writer:  # a write left open: the build waits for it
        writer.execute("INSERT INTO emails (message_id) VALUES ('<open@t>')")
        outcome = create_index(
            cfg, "idx_emails_created_at", timeout=5, dry_run=False, yes=True,
            confirm=_never_asked, audit=None, params={"db_index_build_timeout_s": 1},
        )  # fmt: skip
        writer.rollback()
    assert outcome.outcome == "failed"
    assert [f.code for f in outcome.findings] == ["TRI-ACTION-001"]
    assert outcome.error == (
        "ActionFailed: CREATE INDEX CONCURRENTLY idx_emails_created_at ON emails (created_at):"
        " did not finish within 1 s (db_index_build_timeout_s); index idx_emails_created_at is left"
        " INVALID: re-run `triage-ops db indexes --create idx_emails_created_at` (it drops"
        " and rebuilds it) once the cause is fixed"
    )
    assert _valid(url, "idx_emails_created_at") is False
    report = index_report(make_ctx(cfg))
    assert [f.code for f in report.findings] == ["TRI-SQL-013"]
    outcome = create_index(
        cfg, "idx_emails_created_at", timeout=5, dry_run=False, yes=True,
        confirm=_never_asked, audit=None,
    )  # fmt: skip
    assert outcome.outcome == "ok"
    assert _valid(url, "idx_emails_created_at") is True
