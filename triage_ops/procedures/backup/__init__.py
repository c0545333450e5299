"""The runbook's "Data Management and Backup Procedures / Database Backup and Recovery"
section, and the backup lines of the daily and monthly checklists.

What the runbook says, and what is done instead (DESIGN.md "Known traps"):

- `pg_basebackup --list` does not exist: pg_basebackup keeps no catalogue. The backup
  directory (`backup_dir`, one directory per `pg_basebackup -D DIR -X stream`) is read
  instead, and the latest backup's age is judged (`locate`, `verify`).
- `pg_verifybackup /backup/latest/` is kept, and run for real (tar backups are unpacked
  first: PostgreSQL 15's pg_verifybackup reads plain backups only) (`verify`).
- `pg_last_wal_replay_lsn()` alone says nothing: the replica's replay lag is measured in
  bytes against the primary's current LSN and in seconds, and a replica that is down or
  not streaming is a finding (`replica`).
- `pg_restore -d ... dump_*.sql` restores a logical dump, not a base backup: the restore
  test starts a real scratch instance from the base backup and compares row counts with
  the primary (`restore`).
- `pg_resetwal -f` destroys data and `recovery.conf` is gone since PostgreSQL 12: point-in-
  time recovery is `recovery_target_time` + `recovery.signal`, printed as a reviewed plan
  and never applied by triage-ops (`pitr`).

Checks usable by `check daily|monthly`: `check_backup`, `check_replica`,
`check_restore_test` (each `StepContext -> list[Finding]`).
"""

from __future__ import annotations

from triage_ops.procedures.backup.locate import BaseBackup, Inventory, read, scan
from triage_ops.procedures.backup.pitr import (
    PitrPlan,
    parse_target,
    pitr_plan,
    plan_for,
    plan_for_config,
)
from triage_ops.procedures.backup.replica import ReplicaReport, check_replica, replica_report
from triage_ops.procedures.backup.restore import (
    RestoreReport,
    check_restore_test,
    choose_backup,
    restore_steps,
    restore_test,
)
from triage_ops.procedures.backup.settings import SETTINGS, setting
from triage_ops.procedures.backup.verify import (
    BackupReport,
    VerifyResult,
    backup_report,
    check_backup,
    verify_backups,
)

__all__ = [
    "SETTINGS",
    "BackupReport",
    "BaseBackup",
    "Inventory",
    "PitrPlan",
    "ReplicaReport",
    "RestoreReport",
    "VerifyResult",
    "backup_report",
    "check_backup",
    "check_replica",
    "check_restore_test",
    "choose_backup",
    "parse_target",
    "pitr_plan",
    "plan_for",
    "plan_for_config",
    "read",
    "replica_report",
    "restore_steps",
    "restore_test",
    "scan",
    "setting",
    "verify_backups",
]
