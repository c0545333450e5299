"""`backup verify`, the backup half: the latest base backup exists, is fresh, and passes
`pg_verifybackup` (the runbook's `pg_basebackup --list` does not exist; the backup
directory is listed instead, see `locate`).

A plain backup is verified where it lies; a tar backup is unpacked into a scratch
directory first (PostgreSQL 15's pg_verifybackup reads plain backups only), which is
removed afterwards whatever happens.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage_ops.engine.contract import StepContext
from triage_ops.errors import UsageError
from triage_ops.findings import Finding
from triage_ops.procedures.backup import files, locate
from triage_ops.procedures.backup.replica import ReplicaReport, replica_report
from triage_ops.procedures.backup.settings import setting

NO_BACKUP = "TRI-BACKUP-001"
STALE = "TRI-BACKUP-002"
VERIFY_FAILED = "TRI-BACKUP-003"
NOT_CONFIGURED = "TRI-BACKUP-008"
VERIFY_DID_NOT_RUN = "TRI-BACKUP-009"
INCOMPLETE = "TRI-BACKUP-012"


@dataclass
class BackupReport:
    backup_dir: str
    latest: locate.BaseBackup | None = None
    age_hours: float | None = None
    max_age_hours: int = 0
    verification: files.Verification | None = None
    incomplete: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        check = self.verification
        return {
            "backup_dir": self.backup_dir,
            "latest": self.latest.to_json() if self.latest else None,
            "age_hours": self.age_hours,
            "max_age_hours": self.max_age_hours,
            "verified": None if check is None else check.ok,
            "verify_seconds": None if check is None else check.seconds,
            "verify_errors": [] if check is None else list(check.errors),
            "incomplete": self.incomplete,
        }


def backup_report(ctx: StepContext, *, now: datetime | None = None) -> BackupReport:
    """The latest base backup in backup_dir, its age and its pg_verifybackup result."""
    now = now or datetime.now(UTC)
    backup_dir = str(setting(ctx.config, "backup_dir", ctx.params))
    report = BackupReport(
        backup_dir, max_age_hours=setting(ctx.config, "backup_max_age_hours", ctx.params)
    )
    if not backup_dir:
        report.findings.append(
            ctx.finding(NOT_CONFIGURED, "backup_dir is not set: backups cannot be checked")
        )
        return report
    try:
        inventory = locate.scan(Path(backup_dir))
    except UsageError as exc:
        report.findings.append(ctx.finding(NOT_CONFIGURED, str(exc), backup_dir=backup_dir))
        return report
    report.incomplete = [str(p) for p in inventory.incomplete]
    if report.incomplete:
        report.findings.append(
            ctx.finding(
                INCOMPLETE,
                f"{len(report.incomplete)} backup directory(ies) without backup_manifest"
                f" (failed or still running), the newest {report.incomplete[-1]}",
                directories=report.incomplete,
            )
        )
    latest = inventory.latest
    if latest is None:
        report.findings.append(
            ctx.finding(
                NO_BACKUP, f"no complete base backup in {backup_dir}", backup_dir=backup_dir
            )
        )
        return report
    report.latest = latest
    age = latest.age_hours(now)
    report.age_hours = round(age, 2)
    ctx.note(f"latest base backup {latest.path.name}: {report.age_hours:g} h old")
    if age > report.max_age_hours:
        report.findings.append(
            ctx.finding(
                STALE,
                f"the latest base backup {latest.path.name} is {report.age_hours:g} h old"
                f" (more than {report.max_age_hours} h)",
                backup=str(latest.path),
                backup_dir=backup_dir,
                start_time=latest.start_time.isoformat(),
                age_hours=report.age_hours,
                max_age_hours=report.max_age_hours,
            )
        )
    report.verification = verify_backup(
        latest,
        timeout_s=setting(ctx.config, "backup_verify_timeout_s", ctx.params),
        scratch_dir=setting(ctx.config, "restore_scratch_dir", ctx.params) or None,
    )
    report.findings.extend(_verify_findings(ctx, latest, report.verification))
    return report


@dataclass
class VerifyResult:
    backup: BackupReport
    replica: ReplicaReport

    @property
    def findings(self) -> list[Finding]:
        return [*self.backup.findings, *self.replica.findings]

    def to_json(self) -> dict[str, Any]:
        return {
            "backup": self.backup.to_json(),
            "replica": self.replica.to_json(),
            "findings": [f.to_json() for f in self.findings],
        }


def verify_backups(ctx: StepContext) -> VerifyResult:
    """`triage-ops backup verify`: the latest base backup, then the replica."""
    return VerifyResult(backup_report(ctx), replica_report(ctx))


def check_backup(ctx: StepContext) -> list[Finding]:
    """The daily checklist's "verify backup completion status"."""
    return backup_report(ctx).findings


def verify_backup(
    backup: locate.BaseBackup, *, timeout_s: float, scratch_dir: str | None = None
) -> files.Verification:
    """pg_verifybackup over a plain backup where it lies, over a tar backup unpacked in
    `scratch_dir` (default: the temp dir), removed afterwards."""
    if backup.format == locate.PLAIN:
        return files.verify(backup.path, timeout_s=timeout_s)
    scratch = Path(tempfile.mkdtemp(prefix="triage-verify-", dir=scratch_dir))
    try:
        try:
            files.copy_into(backup, scratch / "data", owner=None)
        except files.BackupFilesError as exc:
            return files.Verification(False, True, (str(exc),), 0.0)
        return files.verify(scratch / "data", timeout_s=timeout_s)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _verify_findings(
    ctx: StepContext, backup: locate.BaseBackup, check: files.Verification
) -> list[Finding]:
    if check.ok:
        ctx.note(f"pg_verifybackup: {backup.path.name} verified in {check.seconds:g} s")
        return []
    first = check.errors[0] if check.errors else f"exit code {check.exit_code}"
    if not check.ran:
        return [
            ctx.finding(
                VERIFY_DID_NOT_RUN,
                f"pg_verifybackup could not check {backup.path.name}: {first}",
                backup=str(backup.path),
                errors=list(check.errors),
            )
        ]
    return [
        ctx.finding(
            VERIFY_FAILED,
            f"pg_verifybackup failed on {backup.path.name}: {first}",
            backup=str(backup.path),
            errors=list(check.errors),
        )
    ]
