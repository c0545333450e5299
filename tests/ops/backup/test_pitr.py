"""`backup pitr-plan`: the exact plan for a fixed input, and the target's validation.
A plan needs no server: the backups here are a backup_label and a manifest, as
pg_basebackup writes them."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ops.backup.helpers import config, invoke, write_config
from triage_ops.errors import UsageError
from triage_ops.procedures.backup import locate, plan_for_config

NOW = datetime(2026, 1, 3, tzinfo=UTC)
DSN = "postgresql://triage:pw-Pitr-5ecret@db.internal:5432/email_triage"


def fake_backup(directory: Path, *, start: str, end: datetime) -> Path:
    directory.mkdir(parents=True)
    (directory / "backup_label").write_text(
        "START WAL LOCATION: 0/9000028 (file 000000010000000000000009)\n"
        "CHECKPOINT LOCATION: 0/9000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\n"
        f"START TIME: {start} UTC\nLABEL: nightly\nSTART TIMELINE: 1\n"
    )
    (directory / "backup_manifest").write_text('{"PostgreSQL-Backup-Manifest-Version": 1}\n')
    os.utime(directory / "backup_manifest", (end.timestamp(), end.timestamp()))
    return directory


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    fake_backup(
        tmp_path / "b1", start="2026-01-01 00:00:05", end=datetime(2026, 1, 1, 0, 3, tzinfo=UTC)
    )
    fake_backup(
        tmp_path / "b2", start="2026-01-02 12:00:00", end=datetime(2026, 1, 2, 12, 2, tzinfo=UTC)
    )
    return tmp_path


def test_the_plan_for_a_fixed_input(backups: Path) -> None:
    cfg = config(database_url=DSN, backup_dir=str(backups))
    plan = plan_for_config(
        cfg, target_text="2026-01-02T10:30:00Z", now=NOW, restore_command='cp /wal-archive/%f "%p"'
    )
    b1 = backups / "b1"
    data = "/var/lib/postgresql/data"
    old = f"{data}.before-pitr-20260102T103000Z"
    auto = f"{data}/postgresql.auto.conf"
    assert plan.backup.path == b1  # b2 started after the target
    assert plan.to_json()["applied"] is False
    assert [(r["step"], r["what"], r["command"]) for r in plan.steps] == [
        ("1", "Stop the service's writers",
         "kubectl -n email-triage scale deployment/email-triage-api"
         " deployment/email-triage-worker --replicas=0"),
        ("2", "Stop PostgreSQL (fast shutdown)", f"pg_ctl stop -D {data} -m fast"),
        ("3", "Keep the old data directory (never pg_resetwal it)", f"mv {data} {old}"),
        ("4", "Restore base backup b1 (started 2026-01-01 00:00:05+00)",
         f"install -d -m 700 {data}"),
        ("4", "", f"cp -a {b1}/. {data}/"),
        ("4", "", f"rm -f {data}/standby.signal {data}/recovery.signal"),
        ("5", "Copy WAL the archive may not have yet from the old pg_wal",
         f"cp -n {old}/pg_wal/0* {data}/pg_wal/"),
        ("6", "Set the recovery target (postgresql.auto.conf; recovery.conf is gone since PG 12)",
         f"echo \"restore_command = 'cp /wal-archive/%f \\\"%p\\\"'\" >> {auto}"),
        ("6", "",
         f"echo \"recovery_target_time = '2026-01-02 10:30:00+00'\" >> {auto}"),
        ("6", "", f"echo \"recovery_target_action = 'promote'\" >> {auto}"),
        ("7", "Ask for targeted recovery", f"touch {data}/recovery.signal"),
        ("8", "Start: WAL is replayed up to the target, then the server promotes",
         f"pg_ctl start -D {data} -w -t 3600"),
        ("9", "Verify: out of recovery, nothing after the target",
         'psql -d email_triage -Atc "SELECT pg_is_in_recovery()"  # expect: f'),
        ("9", "", 'psql -d email_triage -Atc "SELECT max(created_at) FROM emails"'
         "  # expect: <= 2026-01-02 10:30:00+00"),
        ("9", "", f"ls {data}/recovery.signal  # expect: No such file (removed by the promotion)"),
        ("10", "Bring the service back; take a new base backup (new timeline); rebuild the replica",
         "kubectl -n email-triage scale deployment/email-triage-api"
         " deployment/email-triage-worker --replicas=<the counts before step 1>"),
        ("10", "", "triage-ops backup verify"),
    ]  # fmt: skip
    assert plan.notes == [
        "a plan only: nothing was changed. The replica still follows the old timeline and"
        " must be rebuilt from the recovered primary (pg_basebackup -R).",
        f"if {data} is a mount point (a volume), step 3 cannot rename it: move its contents"
        " into a directory beside it instead",
    ]
    assert "pw-Pitr-5ecret" not in json.dumps(plan.to_json(), default=str)


def test_the_target_is_validated(backups: Path) -> None:
    cfg = config(database_url=DSN, backup_dir=str(backups))
    with pytest.raises(UsageError, match=r"no base backup in .* started before 2025-12-31"):
        plan_for_config(cfg, target_text="2025-12-31T00:00:00", now=NOW)
    with pytest.raises(
        UsageError,
        match=r"target 2026-01-01 00:00:00\+00 is not after the start of backup .*/b1"
        r" \(2026-01-01 00:00:05\+00\)",
    ):
        plan_for_config(cfg, target_text="2026-01-01T00:00:00", backup=backups / "b1", now=NOW)
    with pytest.raises(UsageError, match=r"target 2026-01-04 00:00:00\+00 is in the future"):
        plan_for_config(cfg, target_text="2026-01-04T00:00:00+00:00", now=NOW)
    with pytest.raises(UsageError, match="is not an ISO 8601 time"):
        plan_for_config(cfg, target_text="yesterday", now=NOW)
    # an offset is honoured (11:30+01:00 is 10:30 UTC); no WAL archive: a placeholder + note
    plan = plan_for_config(cfg, target_text="2026-01-01T01:02:00+01:00", now=NOW)
    assert plan.target_time == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    assert plan.restore_command == "<command that copies archived WAL file %f to %p>"
    assert plan.notes[:2] == [
        "the target is before this backup finished (2026-01-01 00:03:00+00): recovery cannot"
        " stop before that point; use an older backup",
        "no WAL archive configured (wal_archive_dir or --restore-command): fill in"
        " restore_command; without archived WAL recovery cannot go past the backup",
    ]


def test_cli_pitr_plan(tmp_path: Path, backups: Path) -> None:
    path = write_config(tmp_path / "ops.yaml", database_url=DSN, backup_dir=backups)
    args = ["--config", str(path), "--output", "json", "backup", "pitr-plan"]
    code, out, err = invoke(*args, "--target-time", "2026-01-02T13:00:00Z")
    assert code == 0, err
    data = json.loads(out)
    assert data["applied"] is False
    assert data["backup"]["path"] == str(backups / "b2")
    assert data["target_time"] == "2026-01-02T13:00:00+00:00"
    assert len(data["steps"]) == 17
    assert "pw-Pitr-5ecret" not in out + err

    code, out, err = invoke(*args, "--target-time", "2999-01-01T00:00:00Z")
    assert code == 3
    assert out == ""
    assert err.startswith("triage-ops: error: target 2999-01-01 00:00:00+00 is in the future")

    code, out, err = invoke(
        "--config", str(path), "backup", "pitr-plan", "--target-time", "2026-01-02T13:00:00Z"
    )
    assert code == 0, err
    assert out.splitlines()[0] == "Point-in-time recovery plan (not applied)"
    assert "recovery.signal" in out


def test_start_time_from_the_manifest_when_the_label_is_not_in_utc(tmp_path: Path) -> None:
    backup = fake_backup(tmp_path / "b", start="2026-01-01 01:00:05", end=NOW)
    label = (backup / "backup_label").read_text().replace(" UTC\n", " CET\n")
    (backup / "backup_label").write_text(label)
    with pytest.raises(UsageError, match="cannot tell when the backup started"):
        locate.read(backup)
    manifest = {
        "PostgreSQL-Backup-Manifest-Version": 1,
        "Files": [{"Path": "backup_label", "Size": 1, "Last-Modified": "2026-01-01 00:00:05 GMT"}],
    }
    (backup / "backup_manifest").write_text(json.dumps(manifest))
    read = locate.read(backup)
    assert read.start_time == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert read.label == "nightly"
    assert read.start_lsn == "0/9000028"
