"""`backup pitr-plan`: the point-in-time recovery procedure, as exact steps to review.

The runbook's version is dangerous: `pg_resetwal -f` throws away the WAL that recovery
needs (and can leave a corrupt cluster), and `recovery.conf` has been gone since
PostgreSQL 12 (a server that finds one refuses to start). The PostgreSQL 12+ procedure is:
stop the server, keep the old data directory (it holds WAL that may not be archived yet),
restore a base backup that started before the target, copy the unarchived WAL across, set
`restore_command`, `recovery_target_time` and `recovery_target_action = 'promote'` in
`postgresql.auto.conf`, create `recovery.signal`, start, and verify.

This module only plans: applying it stops the production database and replaces its data
directory, a decision for a person with the plan in front of them, so there is no
`--yes` path that runs it (on purpose, not yet-to-do). The target is validated: after the
chosen backup's start (recovery cannot stop before the backup's consistent point) and not
in the future. A naive `--target-time` is taken as UTC, and the plan always writes the
offset, since the server would otherwise read it in its own time zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from triage_ops.errors import UsageError
from triage_ops.procedures.backup import locate
from triage_ops.procedures.backup.settings import setting

_NEEDS_ARCHIVE = "<command that copies archived WAL file %f to %p>"


@dataclass(frozen=True)
class PitrPlan:
    target_time: datetime
    backup: locate.BaseBackup
    data_dir: str
    restore_command: str
    steps: list[dict[str, str]]  # {"step", "what", "command"}; one row per command
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "target_time": self.target_time.isoformat(),
            "backup": self.backup.to_json(),
            "data_dir": self.data_dir,
            "restore_command": self.restore_command,
            "applied": False,
            "steps": self.steps,
            "notes": self.notes,
        }


def parse_target(text: str) -> datetime:
    """ISO 8601; without an offset it is UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--target-time {text!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def pitr_plan(
    *,
    backup: locate.BaseBackup,
    target: datetime,
    now: datetime,
    data_dir: str,
    database: str,
    wal_archive_dir: str = "",
    restore_command: str = "",
    namespace: str = "email-triage",
    deployments: tuple[str, ...] = ("email-triage-api", "email-triage-worker"),
) -> PitrPlan:
    target = target.astimezone(UTC)
    if target <= backup.start_time:
        raise UsageError(
            f"target {_pg_time(target)} is not after the start of backup {backup.path}"
            f" ({_pg_time(backup.start_time)}): choose an older backup with --backup"
        )
    if target > now:
        raise UsageError(f"target {_pg_time(target)} is in the future (now {_pg_time(now)})")
    notes: list[str] = []
    if target < backup.end_time:
        notes.append(
            f"the target is before this backup finished ({_pg_time(backup.end_time)}):"
            " recovery cannot stop before that point; use an older backup"
        )
    if not restore_command:
        if wal_archive_dir:
            restore_command = f'cp {wal_archive_dir}/%f "%p"'
        else:
            restore_command = _NEEDS_ARCHIVE
            notes.append(
                "no WAL archive configured (wal_archive_dir or --restore-command): fill in"
                " restore_command; without archived WAL recovery cannot go past the backup"
            )
    data = data_dir.rstrip("/")
    old = f"{data}.before-pitr-{target.strftime('%Y%m%dT%H%M%SZ')}"
    auto = f"{data}/postgresql.auto.conf"
    rows: list[dict[str, str]] = []

    def step(what: str, *commands: str) -> None:
        number = str(1 + len({r["step"] for r in rows}))
        for i, command in enumerate(commands):
            rows.append({"step": number, "what": what if i == 0 else "", "command": command})

    step(
        "Stop the service's writers",
        f"kubectl -n {namespace} scale "
        + " ".join(f"deployment/{d}" for d in deployments)
        + " --replicas=0",
    )
    step("Stop PostgreSQL (fast shutdown)", f"pg_ctl stop -D {data} -m fast")
    step("Keep the old data directory (never pg_resetwal it)", f"mv {data} {old}")
    if backup.format == locate.PLAIN:
        restore = [
            f"install -d -m 700 {data}",
            f"cp -a {backup.path}/. {data}/",
        ]
    else:
        wal = "pg_wal.tar.gz" if (backup.path / "pg_wal.tar.gz").exists() else "pg_wal.tar"
        base = "base.tar.gz" if (backup.path / "base.tar.gz").exists() else "base.tar"
        restore = [
            f"install -d -m 700 {data}",
            f"tar -xf {backup.path}/{base} -C {data}",
            f"tar -xf {backup.path}/{wal} -C {data}/pg_wal",
        ]
    step(
        f"Restore base backup {backup.path.name} (started {_pg_time(backup.start_time)})",
        *restore,
        f"rm -f {data}/standby.signal {data}/recovery.signal",
    )
    step(
        "Copy WAL the archive may not have yet from the old pg_wal",
        f"cp -n {old}/pg_wal/0* {data}/pg_wal/",
    )
    step(
        "Set the recovery target (postgresql.auto.conf; recovery.conf is gone since PG 12)",
        *(
            f"echo {_dq(line)} >> {auto}"
            for line in (
                f"restore_command = '{_sq(restore_command)}'",
                f"recovery_target_time = '{_pg_time(target)}'",
                "recovery_target_action = 'promote'",
            )
        ),
    )
    step("Ask for targeted recovery", f"touch {data}/recovery.signal")
    step(
        "Start: WAL is replayed up to the target, then the server promotes",
        f"pg_ctl start -D {data} -w -t 3600",
    )
    step(
        "Verify: out of recovery, nothing after the target",
        f'psql -d {database} -Atc "SELECT pg_is_in_recovery()"  # expect: f',
        f'psql -d {database} -Atc "SELECT max(created_at) FROM emails"'
        f"  # expect: <= {_pg_time(target)}",
        f"ls {data}/recovery.signal  # expect: No such file (removed by the promotion)",
    )
    step(
        "Bring the service back; take a new base backup (new timeline); rebuild the replica",
        f"kubectl -n {namespace} scale "
        + " ".join(f"deployment/{d}" for d in deployments)
        + " --replicas=<the counts before step 1>",
        "triage-ops backup verify",
    )
    notes.append(
        "a plan only: nothing was changed. The replica still follows the old timeline and"
        " must be rebuilt from the recovered primary (pg_basebackup -R)."
    )
    notes.append(
        f"if {data} is a mount point (a volume), step 3 cannot rename it: move its"
        " contents into a directory beside it instead"
    )
    return PitrPlan(target, backup, data, restore_command, rows, notes)


def plan_for(
    *,
    backup_dir: str,
    backup: Path | None,
    target_text: str,
    now: datetime,
    **options: Any,
) -> PitrPlan:
    """The newest backup that started before the target (or `--backup PATH`)."""
    target = parse_target(target_text)
    if backup is not None:
        chosen = locate.read(backup)
    else:
        if not backup_dir:
            raise UsageError("no backup_dir configured and no --backup given")
        before = [b for b in locate.scan(Path(backup_dir)).backups if b.start_time < target]
        if not before:
            raise UsageError(f"no base backup in {backup_dir} started before {target_text}")
        chosen = before[-1]
    return pitr_plan(backup=chosen, target=target, now=now, **options)


def plan_for_config(
    config: Any,
    *,
    target_text: str,
    backup: Path | None = None,
    backup_dir: str | None = None,
    restore_command: str | None = None,
    data_dir: str | None = None,
    now: datetime | None = None,
) -> PitrPlan:
    """`backup pitr-plan`: the settings from the config, options over them."""
    return plan_for(
        backup_dir=backup_dir or setting(config, "backup_dir"),
        backup=backup,
        target_text=target_text,
        now=now or datetime.now(UTC),
        data_dir=data_dir or setting(config, "pg_data_dir"),
        database=_database_name(config),
        wal_archive_dir=setting(config, "wal_archive_dir"),
        restore_command=restore_command or "",
        namespace=str(getattr(config, "namespace", "email-triage")),
        deployments=(
            str(getattr(config, "api_deployment", "email-triage-api")),
            str(getattr(config, "worker_deployment", "email-triage-worker")),
        ),
    )


def _database_name(config: Any) -> str:
    dsn = str(getattr(config, "database_url", "") or "")
    try:
        params = conninfo_to_dict(dsn) if dsn else {}
    except psycopg.ProgrammingError:
        params = {}
    return str(params.get("dbname") or params.get("user") or "postgres")


def _pg_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")


def _sq(text: str) -> str:
    """Inside a postgresql.conf single-quoted value, a quote is doubled."""
    return text.replace("'", "''")


def _dq(text: str) -> str:
    """A shell double-quoted word."""
    escaped = "".join("\\" + c if c in '\\"$`' else c for c in text)
    return f'"{escaped}"'
