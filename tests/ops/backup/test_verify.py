"""`backup verify` against a real primary, real base backups (plain and tar) and a
streaming replica made with `pg_basebackup -R`."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.backup.conftest import PASSWORD
from tests.ops.backup.helpers import (
    basebackup,
    config,
    invoke,
    make_ctx,
    owned,
    sql,
    write_config,
)
from triage_ops.findings import Finding
from triage_ops.procedures.backup import (
    backup_report,
    check_backup,
    check_replica,
    replica_report,
)
from triage_ops.sandbox import processes
from triage_ops.sandbox.postgres import PostgresServer

pytestmark = pytest.mark.timeout(60)


def _codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def _wait_replayed(primary: PostgresServer, replica: PostgresServer) -> str:
    """Until the replica has replayed everything the primary has written."""
    target = sql(primary, "SELECT pg_current_wal_lsn()::text")[0][0]
    processes.wait_until(
        lambda: sql(replica, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0][0],
        timeout=10,
        what="replica replay",
    )
    return str(target)


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts TCP (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_a_good_backup_verifies(backup_dir: Path, primary: PostgresServer) -> None:
    ctx = make_ctx(config(database_url=primary.url(), backup_dir=str(backup_dir)))
    report = backup_report(ctx)
    assert report.findings == []
    assert report.latest is not None
    assert report.latest.path == backup_dir / "20260101T000000Z"
    assert report.latest.format == "plain"
    assert report.verification is not None and report.verification.ok
    assert report.verification.errors == ()
    assert 0 <= report.age_hours < 0.1  # type: ignore[operator]
    assert re.fullmatch(r"[0-9A-F]+/[0-9A-F]+", report.latest.start_lsn)
    assert report.latest.label == "pg_basebackup base backup"


def test_the_latest_backup_is_chosen_and_a_stale_one_is_flagged(
    base: Path, primary: PostgresServer
) -> None:
    backups = owned(base / "two-backups")
    basebackup(primary, backups / "b-older")
    time.sleep(1.1)  # START TIME has a resolution of one second
    basebackup(primary, backups / "a-newer")  # sorts first by name, but started later
    ctx = make_ctx(config(backup_dir=str(backups), backup_max_age_hours=0))
    report = backup_report(ctx)
    assert report.latest is not None and report.latest.path.name == "a-newer"
    assert _codes(report.findings) == ["TRI-BACKUP-002"]
    stale = report.findings[0]
    assert stale.severity == "warning"
    assert stale.evidence["max_age_hours"] == 0
    assert stale.summary.startswith("the latest base backup a-newer is ")
    assert stale.command.startswith(f"pg_basebackup -D {backups}/manual-")


def test_a_corrupted_backup_fails_pg_verifybackup(base: Path, backup_dir: Path) -> None:
    backups = owned(base / "corrupted")
    copy = backups / "20260101T000000Z"
    shutil.copytree(backup_dir / "20260101T000000Z", copy)
    # flip bytes in the middle of the emails table's heap file (size unchanged)
    manifest = json.loads((copy / "backup_manifest").read_text())
    victim = max(
        (f for f in manifest["Files"] if f["Path"].startswith("base/")), key=lambda f: f["Size"]
    )
    path = copy / victim["Path"]
    with path.open("r+b") as fh:
        fh.seek(victim["Size"] // 2)
        chunk = fh.read(16)
        fh.seek(victim["Size"] // 2)
        fh.write(bytes(b ^ 0xFF for b in chunk))
    report = backup_report(make_ctx(config(backup_dir=str(backups))))
    assert _codes(report.findings) == ["TRI-BACKUP-003"]
    failed = report.findings[0]
    assert failed.severity == "critical"
    assert failed.evidence["errors"] == [
        f'pg_verifybackup: error: checksum mismatch for file "{victim["Path"]}"'
    ]
    assert failed.command == f"pg_verifybackup {copy}"


def test_a_tar_backup_is_verified_after_unpacking(base: Path, primary: PostgresServer) -> None:
    backups = owned(base / "tar")
    basebackup(primary, backups / "t1", fmt="t")
    report = backup_report(make_ctx(config(backup_dir=str(backups))))
    assert report.findings == []
    assert report.latest is not None and report.latest.format == "tar"
    assert report.verification is not None and report.verification.ok
    assert sorted(os.listdir(backups / "t1")) == ["backup_manifest", "base.tar", "pg_wal.tar"]


def test_no_backup_incomplete_backups_and_no_backup_dir(base: Path) -> None:
    empty = owned(base / "empty")
    report = backup_report(make_ctx(config(backup_dir=str(empty))))
    assert _codes(report.findings) == ["TRI-BACKUP-001"]
    assert report.findings[0].summary == f"no complete base backup in {empty}"

    (empty / "half").mkdir()
    (empty / "half" / "backup_label").write_text("START TIME: 2026-01-01 00:00:00 UTC\n")
    report = backup_report(make_ctx(config(backup_dir=str(empty))))
    assert _codes(report.findings) == ["TRI-BACKUP-012", "TRI-BACKUP-001"]
    assert report.incomplete == [str(empty / "half")]

    report = backup_report(make_ctx(config(backup_dir=str(base / "nowhere"))))
    assert _codes(report.findings) == ["TRI-BACKUP-008"]
    assert report.findings[0].summary == f"backup_dir {base / 'nowhere'} is not a directory"
    report = backup_report(make_ctx(config()))
    assert _codes(report.findings) == ["TRI-BACKUP-008"]


def test_replica_streams_with_no_lag(primary: PostgresServer, replica: PostgresServer) -> None:
    sql(primary, "CREATE TABLE IF NOT EXISTS lag_probe (x int)")
    sql(primary, "INSERT INTO lag_probe SELECT generate_series(1, 1000)")
    _wait_replayed(primary, replica)
    cfg = config(database_url=primary.url(), database_replica_url=replica.url())
    report = replica_report(make_ctx(cfg))
    assert report.findings == []
    assert report.in_recovery is True
    assert report.streaming is True
    assert report.receiver_status == "streaming"
    assert report.replay_paused is False
    # WAL keeps moving a little on an idle primary (checkpoints, autovacuum, other tests)
    assert 0 <= report.lag_bytes < 1024 * 1024
    assert report.lag_seconds == 0.0
    assert report.replay_lsn == report.receive_lsn == report.primary_lsn
    assert report.address == f"127.0.0.1:{replica.port}/triage"


def test_replica_lag_when_replay_is_paused(
    primary: PostgresServer, replica: PostgresServer
) -> None:
    _wait_replayed(primary, replica)
    sql(replica, "SELECT pg_wal_replay_pause()")
    sql(primary, "CREATE TABLE IF NOT EXISTS lag_probe (x int)")
    sql(primary, "INSERT INTO lag_probe SELECT generate_series(1, 5000)")
    time.sleep(0.3)
    cfg = config(database_url=primary.url(), database_replica_url=replica.url())
    params = {"replica_max_lag_bytes": 1000, "replica_max_lag_seconds": 3600}
    report = replica_report(make_ctx(cfg, params))
    assert _codes(report.findings) == ["TRI-BACKUP-004"]
    lagging = report.findings[0]
    primary_lsn = report.primary_lsn
    expected = sql(
        primary, f"SELECT pg_wal_lsn_diff('{primary_lsn}', '{report.replay_lsn}')::bigint"
    )[0][0]
    assert report.lag_bytes == expected > 1000
    assert lagging.evidence["lag_bytes"] == expected
    assert lagging.summary.endswith("behind the primary (replay is paused)")
    assert report.replay_paused is True
    sql(replica, "SELECT pg_wal_replay_resume()")
    _wait_replayed(primary, replica)
    assert replica_report(make_ctx(cfg, params)).findings == []


def test_replica_down_not_streaming_and_primary_down(
    primary: PostgresServer, replica: PostgresServer, blackhole: int
) -> None:
    # the primary itself is not a replica: not in recovery
    report = replica_report(make_ctx(config(database_replica_url=primary.url())))
    assert _codes(report.findings) == ["TRI-BACKUP-006"]
    assert "is not in recovery" in report.findings[0].summary

    # the replica answers, the primary does not: lag unknown
    closed = processes.free_port()
    cfg = config(
        database_url=f"postgresql://triage:{PASSWORD}@127.0.0.1:{closed}/triage",
        database_replica_url=replica.url(),
    )
    report = replica_report(make_ctx(cfg))
    assert _codes(report.findings) == ["TRI-BACKUP-007"]
    assert report.findings[0].severity == "unknown"
    assert PASSWORD not in report.findings[0].summary

    # black-holed replica: a finding within the timeout
    hole = f"postgresql://triage:{PASSWORD}@127.0.0.1:{blackhole}/triage"
    started = time.monotonic()
    report = replica_report(make_ctx(config(database_replica_url=hole), timeout=1.0))
    assert time.monotonic() - started < 4.0
    assert _codes(report.findings) == ["TRI-BACKUP-005"]
    assert "no answer within 1 s" in report.findings[0].summary

    # the replica stopped
    replica.stop()
    report = replica_report(make_ctx(config(database_replica_url=replica.url())))
    assert _codes(report.findings) == ["TRI-BACKUP-005"]
    assert report.findings[0].severity == "critical"
    assert report.findings[0].summary.startswith(f"replica 127.0.0.1:{replica.port}/triage: ")
    assert PASSWORD not in str(report.findings[0].to_json())


def test_the_checks_for_the_daily_checklist(
    backup_dir: Path, primary: PostgresServer, replica: PostgresServer
) -> None:
    _wait_replayed(primary, replica)
    cfg = config(
        database_url=primary.url(), database_replica_url=replica.url(), backup_dir=str(backup_dir)
    )
    ctx = make_ctx(cfg)
    assert check_backup(ctx) == []
    assert check_replica(ctx) == []
    assert ctx.notes[0] == "latest base backup 20260101T000000Z: 0 h old"
    assert ctx.notes[1].startswith("pg_verifybackup: 20260101T000000Z verified in ")
    assert re.fullmatch(r"replica replay lag \d+ bytes, \d+ s", ctx.notes[2])
    ctx = make_ctx(cfg, {"backup_max_age_hours": 0})
    assert _codes(check_backup(ctx)) == ["TRI-BACKUP-002"]


def test_cli_backup_verify(
    tmp_path: Path, backup_dir: Path, primary: PostgresServer, replica: PostgresServer
) -> None:
    _wait_replayed(primary, replica)
    path = write_config(
        tmp_path / "ops.yaml",
        database_url=primary.url(),
        database_replica_url=replica.url(),
        backup_dir=backup_dir,
    )
    code, out, err = invoke("--config", str(path), "--output", "json", "backup", "verify")
    assert code == 0, err
    data = json.loads(out)
    assert data["exit_code"] == 0
    assert data["findings"] == []
    assert data["backup"]["latest"]["path"] == str(backup_dir / "20260101T000000Z")
    assert data["backup"]["verified"] is True
    assert data["replica"]["streaming"] is True
    assert data["replica"]["lag_bytes"] == 0
    assert PASSWORD not in out + err

    code, out, err = invoke("--config", str(path), "backup", "verify", "--max-age-hours", "0")
    assert code == 1, err  # warnings
    assert "TRI-BACKUP-002" in out
    assert out.splitlines()[0] == "Base backup"
    assert PASSWORD not in out + err

    replica.stop()
    code, out, err = invoke("--config", str(path), "--output", "json", "backup", "verify")
    assert code == 2
    assert [f["code"] for f in json.loads(out)["findings"]] == ["TRI-BACKUP-005"]
    assert PASSWORD not in out + err
