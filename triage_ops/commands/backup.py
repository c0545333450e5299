"""`triage-ops backup verify|restore-test|pitr-plan` (triage_ops.procedures.backup)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.acting import step_context
from triage_ops.commands.common import emit, handles_errors
from triage_ops.commands.reporting import emit_checked
from triage_ops.output import render

if TYPE_CHECKING:
    pass


@click.group()
def backup() -> None:
    """Base backups: verify, restore test, point-in-time recovery plan."""


@backup.command("verify")
@click.option("--backup-dir", type=click.Path(file_okay=False), help="Overrides backup_dir.")
@click.option("--max-age-hours", type=int, help="Overrides backup_max_age_hours.")
@click.option("--max-lag-bytes", type=int, help="Overrides replica_max_lag_bytes.")
@click.option("--max-lag-seconds", type=int, help="Overrides replica_max_lag_seconds.")
@click.pass_obj
@handles_errors
def verify_cmd(
    ctx: Ctx,
    backup_dir: str | None,
    max_age_hours: int | None,
    max_lag_bytes: int | None,
    max_lag_seconds: int | None,
) -> None:
    """The latest base backup in backup_dir, its age and pg_verifybackup; the replica's
    state and replay lag against the primary."""
    from triage_ops.procedures.backup import verify_backups

    params = {
        "backup_dir": backup_dir,
        "backup_max_age_hours": max_age_hours,
        "replica_max_lag_bytes": max_lag_bytes,
        "replica_max_lag_seconds": max_lag_seconds,
    }
    result = verify_backups(step_context(ctx, "backup.verify", params))
    data = result.to_json()
    latest = data["backup"]["latest"] or {}
    backup_row = {
        "backup": latest.get("path"),
        "format": latest.get("format"),
        "started": latest.get("start_time"),
        "age_hours": data["backup"]["age_hours"],
        "max_age_hours": data["backup"]["max_age_hours"],
        "verified": data["backup"]["verified"],
        "verify_s": data["backup"]["verify_seconds"],
    }
    replica = data["replica"]
    replica_cols = ["address", "in_recovery", "streaming", "receive_lsn", "replay_lsn"]
    replica_cols += ["primary_lsn", "lag_bytes", "lag_seconds"]
    tables: list[tuple[str, Any, Sequence[str] | None]] = [("Base backup", [backup_row], None)]
    if replica["configured"]:
        tables.append(("Replica", [replica], replica_cols))
    emit_checked(ctx, data, result.findings, tables)


@backup.command("restore-test")
@click.option(
    "--backup", "backup_path", type=click.Path(file_okay=False, path_type=Path),
    help="This base backup instead of the latest in backup_dir.",
)  # fmt: skip
@click.option("--backup-dir", type=click.Path(file_okay=False), help="Overrides backup_dir.")
@click.pass_obj
@handles_errors
def restore_test_cmd(ctx: Ctx, backup_path: Path | None, backup_dir: str | None) -> None:
    """Restore the latest base backup into a scratch instance on a free port, compare row
    counts with the primary, then remove it (--dry-run: the steps only)."""
    from triage_ops.procedures.backup import restore_test

    step = step_context(ctx, "backup.restore-test", {"backup_dir": backup_dir})
    if ctx.dry_run:
        from triage_ops.procedures.backup import choose_backup, restore_steps

        steps = restore_steps(step, choose_backup(step, backup_path))
        emit(ctx, steps, columns=["step", "what"], title="Restore test (dry run: nothing done)")
        return
    report = restore_test(step, backup=backup_path)
    summary = {
        key: getattr(report, key)
        for key in ("backup", "backup_start_time", "verified", "started", "duration_s")
    }
    summary["cleaned_up"] = report.cleaned_up
    emit_checked(
        ctx,
        report.to_json(),
        report.findings,
        [
            ("Restore test", [summary], None),
            ("Row counts", report.tables, ["table", "restored_rows", "primary_rows", "verdict"]),
            ("emails by status", report.emails_by_status, None),
        ],
    )


@backup.command("pitr-plan")
@click.option("--target-time", required=True, help="ISO 8601; without an offset, UTC.")
@click.option(
    "--backup", "backup_path", type=click.Path(file_okay=False, path_type=Path),
    help="This base backup instead of the newest one that started before the target.",
)  # fmt: skip
@click.option("--backup-dir", type=click.Path(file_okay=False), help="Overrides backup_dir.")
@click.option("--restore-command", help="Fetches archived WAL (default: from wal_archive_dir).")
@click.option("--data-dir", help="The server's data directory (default: pg_data_dir).")
@click.pass_obj
@handles_errors
def pitr_plan_cmd(
    ctx: Ctx,
    target_time: str,
    backup_path: Path | None,
    backup_dir: str | None,
    restore_command: str | None,
    data_dir: str | None,
) -> None:
    """Print the point-in-time recovery plan (recovery_target_time + recovery.signal).
    A plan only: triage-ops never applies it."""
    from triage_ops.procedures.backup import plan_for_config

    plan = plan_for_config(
        ctx.config(),
        target_text=target_time,
        backup=backup_path,
        backup_dir=backup_dir,
        restore_command=restore_command,
        data_dir=data_dir,
    )
    if ctx.output == "json":
        emit(ctx, plan.to_json())
        return
    head = {
        "target_time": plan.target_time.isoformat(),
        "backup": str(plan.backup.path),
        "backup_started": plan.backup.start_time.isoformat(),
        "data_dir": plan.data_dir,
        "applied": False,
    }
    parts = [
        render([head], ctx.output, title="Point-in-time recovery plan (not applied)"),
        render(plan.steps, ctx.output, columns=["step", "what", "command"], title="Steps"),
        render([{"note": n} for n in plan.notes], ctx.output, title="Notes"),
    ]
    click.echo("\n".join(parts), nl=False)
