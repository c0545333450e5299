"""`backup restore-test`: a real restore of a real base backup into a scratch instance,
row counts compared with the primary, the instance always removed."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.ops.backup.conftest import BEFORE_BACKUP, PASSWORD
from tests.ops.backup.helpers import (
    basebackup,
    config,
    insert_emails,
    invoke,
    make_ctx,
    owned,
    sql,
    write_config,
)
from triage_ops.procedures.backup import restore_test
from triage_ops.procedures.backup.restore import MISSING, PRIMARY_MORE, RESTORE_MORE, SAME
from triage_ops.sandbox import processes
from triage_ops.sandbox.postgres import PostgresServer

pytestmark = pytest.mark.timeout(60)
AFTER_BACKUP = {"queued": 7, "processed": 3}


def _scratch(base: Path) -> Path:
    """Not under tmp_path: pytest resets its root to 0700, which the postgres user cannot
    traverse (also when another pytest session starts meanwhile)."""
    return owned(Path(tempfile.mkdtemp(dir=base, prefix="scratch-")))


def _postgres_pids() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and "triage-restore-test" in processes.cmdline(int(entry.name)):
            found.add(int(entry.name))
    return found


def test_restore_compares_counts_exactly(
    base: Path, primary: PostgresServer, backup_dir: Path
) -> None:
    insert_emails(primary, AFTER_BACKUP, prefix="after")
    sql(primary, "CREATE TABLE IF NOT EXISTS created_after_backup (x int)")
    scratch = _scratch(base)
    cfg = config(database_url=primary.url(), backup_dir=str(backup_dir))
    report = restore_test(make_ctx(cfg, {"restore_scratch_dir": str(scratch)}))

    assert [f.summary for f in report.findings] == []
    assert report.verified is True
    assert report.started is True
    assert report.in_recovery is False
    assert report.cleaned_up is True
    assert list(scratch.iterdir()) == []
    assert _postgres_pids() == set()
    assert report.backup == str(backup_dir / "20260101T000000Z")
    assert list(report.steps) == ["copy", "verify", "start", "count", "cleanup"]
    assert report.duration_s == pytest.approx(sum(report.steps.values()), abs=0.2)
    before = sum(BEFORE_BACKUP.values())
    assert report.tables == [
        {
            "table": "public.created_after_backup",
            "restored_rows": None,
            "primary_rows": 0,
            "verdict": MISSING,
        },
        {
            "table": "public.emails",
            "restored_rows": before,
            "primary_rows": before + sum(AFTER_BACKUP.values()),
            "verdict": PRIMARY_MORE,
        },
        {"table": "public.schema_migrations", "restored_rows": 2, "primary_rows": 2,
         "verdict": SAME},
    ]  # fmt: skip
    assert report.emails_by_status == [
        {"status": "failed", "restored_rows": 5, "primary_rows": 5},
        {"status": "processed", "restored_rows": 40, "primary_rows": 43},
        {"status": "processing", "restored_rows": 2, "primary_rows": 2},
        {"status": "queued", "restored_rows": 3, "primary_rows": 10},
    ]


def test_restore_with_more_rows_than_the_primary_is_flagged(
    base: Path, primary: PostgresServer
) -> None:
    backups = owned(base / "before-delete")
    sql(primary, "CREATE TABLE doomed (x int)")
    sql(primary, "INSERT INTO doomed SELECT generate_series(1, 25)")
    basebackup(primary, backups / "b1", fmt="t")  # and from a tar backup
    sql(primary, "DELETE FROM doomed WHERE x > 20")
    cfg = config(database_url=primary.url(), backup_dir=str(backups))
    report = restore_test(make_ctx(cfg, {"restore_scratch_dir": str(_scratch(base))}))
    assert [f.code for f in report.findings] == ["TRI-BACKUP-011"]
    assert report.findings[0].severity == "warning"
    assert report.findings[0].evidence["tables"] == [
        {"table": "public.doomed", "restored_rows": 25, "primary_rows": 20, "verdict": RESTORE_MORE}
    ]
    assert report.cleaned_up is True
    sql(primary, "DROP TABLE doomed")


def test_a_corrupted_backup_fails_the_restore_and_is_cleaned_up(
    base: Path, backup_dir: Path, primary: PostgresServer
) -> None:
    backups = owned(base / "restore-corrupt")
    copy = backups / "b1"
    shutil.copytree(backup_dir / "20260101T000000Z", copy)
    (copy / "PG_VERSION").write_text("99\n")  # size 3 bytes as before, checksum differs
    scratch = _scratch(base)
    report = restore_test(
        make_ctx(config(database_url=primary.url()), {"restore_scratch_dir": str(scratch)}),
        backup=copy,
    )
    assert [f.code for f in report.findings] == ["TRI-BACKUP-010"]
    failed = report.findings[0]
    assert failed.severity == "critical"
    assert failed.evidence["step"] == "verify"
    assert failed.summary == (
        "restore test of b1 failed at verify: pg_verifybackup: error: checksum mismatch for"
        ' file "PG_VERSION"'
    )
    assert report.started is False
    assert report.cleaned_up is True
    assert list(scratch.iterdir()) == []


def test_a_backup_made_with_dash_r_restores_standalone_and_a_down_primary_is_reported(
    base: Path, primary: PostgresServer
) -> None:
    backups = owned(base / "with-R")
    basebackup(primary, backups / "r1", extra=("-R",))  # standby.signal + primary_conninfo
    assert (backups / "r1" / "standby.signal").exists()
    closed = processes.free_port()
    down = f"postgresql://triage:{PASSWORD}@127.0.0.1:{closed}/triage"
    report = restore_test(
        make_ctx(config(database_url=down), {"restore_scratch_dir": str(_scratch(base))}),
        backup=backups / "r1",
    )
    assert report.in_recovery is False  # not a standby of the primary: a restore
    assert [f.code for f in report.findings] == ["TRI-BACKUP-007"]
    assert report.findings[0].summary.startswith(
        f"restore not compared: PostgreSQL primary at 127.0.0.1:{closed}/triage: "
    )
    assert PASSWORD not in report.findings[0].summary
    assert {t["verdict"] for t in report.tables} == {"not compared (primary did not answer)"}
    emails = next(t for t in report.tables if t["table"] == "public.emails")
    assert emails["restored_rows"] >= sum(BEFORE_BACKUP.values())
    assert emails["primary_rows"] is None
    assert report.cleaned_up is True
    assert (backups / "r1" / "standby.signal").exists()  # the backup itself is untouched


def test_sigterm_during_the_restore_removes_the_scratch_instance(
    base: Path, primary: PostgresServer, backup_dir: Path
) -> None:
    scratch = _scratch(base)
    script = (
        "import sys, time\n"
        "from tests.ops.backup.helpers import config, make_ctx\n"
        "from triage_ops.procedures.backup import restore, restore_test\n"
        "real = restore._counts\n"
        "def slow(conn):\n"
        "    print('counting', flush=True); time.sleep(30); return real(conn)\n"
        "restore._counts = slow\n"
        f"ctx = make_ctx(config(database_url={primary.url()!r}, backup_dir={str(backup_dir)!r}),"
        f" {{'restore_scratch_dir': {str(scratch)!r}}})\n"
        "restore_test(ctx)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "counting\n"  # the scratch server is up
        pids = _postgres_pids()
        assert len(pids) >= 1
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=20)
    finally:
        child.kill()
    assert child.returncode != 0
    assert list(scratch.iterdir()) == []
    deadline = time.monotonic() + 5
    while _postgres_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _postgres_pids() == set()


def test_cli_restore_test(tmp_path: Path, primary: PostgresServer, backup_dir: Path) -> None:
    path = write_config(tmp_path / "ops.yaml", database_url=primary.url(), backup_dir=backup_dir)
    code, out, err = invoke("--config", str(path), "--dry-run", "backup", "restore-test")
    assert code == 0, err
    assert out.splitlines()[0] == "Restore test (dry run: nothing done)"
    assert [line.split()[0] for line in out.splitlines()[2:]] == [
        "copy", "verify", "start", "count", "cleanup",
    ]  # fmt: skip

    code, out, err = invoke("--config", str(path), "--output", "json", "backup", "restore-test")
    assert code == 0, err
    data = json.loads(out)
    assert data["exit_code"] == 0
    assert data["verified"] is True and data["cleaned_up"] is True
    emails = next(t for t in data["tables"] if t["table"] == "public.emails")
    assert emails["restored_rows"] == sum(BEFORE_BACKUP.values())
    assert PASSWORD not in out + err
