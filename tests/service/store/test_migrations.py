"""Migrations against a real PostgreSQL: in order, once, atomically, under a lock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.service.store.conftest import APP_PASSWORD
from triage_core.service.store import (
    Migration,
    MigrationError,
    StoreUnavailable,
    available,
    migrate,
)
from triage_core.service.store.migrations import ADVISORY_LOCK_KEY

SHIPPED = ["0001_create_emails", "0002_emails_indexes"]


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_the_shipped_migrations_are_numbered_from_one() -> None:
    shipped = available()
    assert [m.label for m in shipped] == SHIPPED
    assert [m.version for m in shipped] == [1, 2]
    assert all(len(m.checksum) == 64 for m in shipped)
    assert "sql" not in repr(shipped[0])  # reprs stay short in logs


def test_a_fresh_database_gets_the_table_and_the_runbook_indexes(empty_database_url: str) -> None:
    report = migrate(empty_database_url)
    assert [m.label for m in report.applied] == SHIPPED
    assert (report.version, report.dry_run) == (2, False)
    assert query(empty_database_url, "SELECT version, name FROM schema_migrations ORDER BY 1") == [
        (1, "create_emails"),
        (2, "emails_indexes"),
    ]
    assert query(
        empty_database_url,
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'emails'"
        " AND indexname LIKE 'idx_%' ORDER BY 1",
    ) == [
        (
            "idx_emails_created_at",
            "CREATE INDEX idx_emails_created_at ON public.emails USING btree (created_at)",
        ),
        (
            "idx_emails_status",
            "CREATE INDEX idx_emails_status ON public.emails USING btree (status)",
        ),
    ]
    columns = query(
        empty_database_url,
        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns"
        " WHERE table_name = 'emails' ORDER BY ordinal_position",
    )
    assert columns == [
        ("id", "uuid", "NO", "gen_random_uuid()"),
        ("message_id", "text", "NO", None),
        ("status", "text", "NO", "'queued'::text"),
        ("category", "text", "YES", None),
        ("priority", "text", "YES", None),
        ("summary", "text", "YES", None),
        ("result", "jsonb", "YES", None),
        ("attempts", "integer", "NO", "0"),
        ("error", "text", "YES", None),
        ("created_at", "timestamp with time zone", "NO", "now()"),
        ("processed_at", "timestamp with time zone", "YES", None),
    ]
    with psycopg.connect(empty_database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO emails (message_id, status) VALUES ('<x@y>', 'done')")


def test_a_second_run_applies_nothing(database_url: str) -> None:
    before = query(database_url, "SELECT version, applied_at FROM schema_migrations ORDER BY 1")
    report = migrate(database_url)
    assert (report.applied, report.version) == ((), 2)
    after = query(database_url, "SELECT version, applied_at FROM schema_migrations ORDER BY 1")
    assert after == before


def test_a_dry_run_reports_and_changes_nothing(empty_database_url: str) -> None:
    report = migrate(empty_database_url, dry_run=True)
    assert [m.label for m in report.applied] == SHIPPED
    assert (report.version, report.dry_run) == (0, True)
    assert query(
        empty_database_url, "SELECT to_regclass('emails'), to_regclass('schema_migrations')"
    ) == [(None, None)]
    migrate(empty_database_url)
    again = migrate(empty_database_url, dry_run=True)
    assert (again.applied, again.version) == ((), 2)


def test_concurrent_runs_apply_each_migration_once(empty_database_url: str) -> None:
    start = threading.Barrier(6)

    def run() -> list[int]:
        start.wait(timeout=10)
        return [m.version for m in migrate(empty_database_url).applied]

    with ThreadPoolExecutor(max_workers=6) as pool:
        applied = [v for versions in pool.map(lambda _: run(), range(6)) for v in versions]
    assert sorted(applied) == [1, 2]
    assert query(empty_database_url, "SELECT count(*) FROM schema_migrations") == [(2,)]


def test_a_failing_migration_is_rolled_back_whole(database_url: str) -> None:
    broken = Migration(3, "broken", "CREATE TABLE half_done (x int);\nSELECT no_such_column;\n")
    with pytest.raises(MigrationError) as caught:
        migrate(database_url, migrations=(*available(), broken))
    assert str(caught.value) == (
        'migration 0003_broken failed and was rolled back: column "no_such_column" does not exist'
    )
    assert query(database_url, "SELECT to_regclass('half_done')") == [(None,)]
    assert query(database_url, "SELECT max(version) FROM schema_migrations") == [(2,)]
    fixed = Migration(3, "broken", "CREATE TABLE half_done (x int);\n")
    assert [m.version for m in migrate(database_url, migrations=(*available(), fixed)).applied] == [
        3
    ]


def test_an_edited_migration_is_refused(database_url: str) -> None:
    first, second = available()
    edited = Migration(first.version, first.name, first.sql + "-- edited\n")
    with pytest.raises(MigrationError) as caught:
        migrate(database_url, migrations=(edited, second))
    assert str(caught.value) == (
        "migration 0001_create_emails was changed after it was applied (checksum differs):"
        " add a new migration instead"
    )


def test_a_held_lock_times_out_with_a_clear_error(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        with pytest.raises(MigrationError) as caught:
            migrate(database_url, lock_timeout_s=0.3)
    assert str(caught.value) == "another migration still holds the migration lock after 0.3 s"
    assert migrate(database_url).version == 2  # released with the holder's session


def test_an_unreachable_server_is_unavailable_without_the_password(refused_port: int) -> None:
    url = f"postgresql://triage:{APP_PASSWORD}@127.0.0.1:{refused_port}/triage"
    with pytest.raises(StoreUnavailable) as caught:
        migrate(url, timeout_s=1.0)
    message = str(caught.value)
    assert message.startswith(
        f"migrate: PostgreSQL at 127.0.0.1:{refused_port}/triage unavailable: "
    )
    assert message.endswith("Connection refused")
    assert APP_PASSWORD not in f"{message} {caught.value!r}"
