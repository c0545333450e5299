"""`triage-ops retention run|restore|status`: the runbook's data retention, done safely
(triage_ops.procedures.retention says what differs from the runbook's snippet and why).

Nothing heavy is imported at module level: `triage-ops --help` loads this module to list
the command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit, handles_errors, log

if TYPE_CHECKING:
    from triage_ops.procedures.retention.execute import RetentionResult

# Mirror the library's defaults (a test keeps them equal) so --help needs no import.
DEFAULT_BATCH = 10_000
DEFAULT_MAX_DURATION = "2h"
STATUSES = ("queued", "processing", "processed", "failed")

archive_argument = click.argument(
    "archive_dir", metavar="ARCHIVE_DIR", type=click.Path(path_type=Path)
)
max_duration_option = click.option(
    "--max-duration",
    default=DEFAULT_MAX_DURATION,
    show_default=True,
    metavar="DURATION",
    help="Time budget (30m, 2h, ...): no batch starts past it; the run stops resumably.",
)
dry_run_option = click.option(
    "--dry-run", "dry_run_here", is_flag=True, help="Show the plan and counts; change nothing."
)
yes_option = click.option("--yes", "-y", "yes_here", is_flag=True, help="Do not ask first.")
incident_option = click.option(
    "--incident", default=None, help="Incident id to file the audit entry under."
)


@click.group()
def retention() -> None:
    """Archive old rows of the emails table and delete exactly what was archived;
    restore them; show an archive's state."""


@retention.command("run")
@click.option(
    "--older-than",
    default=None,
    metavar="DURATION",
    help="Rows created more than this before now (90d, 12h, 2w). Required for a new archive;"
    " a resumed archive keeps its own.",
)
@click.option(
    "--archive-to",
    "archive_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Archive directory: segments + manifest.json. The same directory resumes a run.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="STATUS",
    help=f"Status of the rows to archive, one of {', '.join(STATUSES)} (repeatable)."
    " Default: processed.",
)
@click.option(
    "--batch-size",
    default=str(DEFAULT_BATCH),
    metavar="N",
    show_default=True,
    help="Rows per segment: one DELETE ... RETURNING streamed by COPY, one transaction.",
)
@max_duration_option
@dry_run_option
@yes_option
@incident_option
@click.pass_obj
@handles_errors
def run_cmd(
    ctx: Ctx,
    older_than: str | None,
    archive_dir: Path,
    statuses: tuple[str, ...],
    batch_size: str,
    max_duration: str,
    dry_run_here: bool,
    yes_here: bool,
    incident: str | None,
) -> None:
    """Stream the policy's rows to a checked, compressed archive, then delete exactly
    those rows; resumable. Exit 0 done (or dry run / nothing to do), 1 declined, 2 failed
    or not verified (a partial run is resumed by the same command), 3 bad input, 4
    PostgreSQL unreachable."""
    from triage_ops.commands.reporting import confirm_plan, open_audit
    from triage_ops.procedures.retention.execute import run_retention

    config = ctx.config()
    result = run_retention(
        config,
        archive_dir=archive_dir,
        older_than=older_than,
        statuses=statuses,
        batch_size=batch_size,
        max_duration=max_duration,
        timeout=ctx.timeout,
        dry_run=ctx.dry_run or dry_run_here,
        yes=ctx.yes or yes_here,
        confirm=confirm_plan,
        audit=open_audit(config, timeout=ctx.timeout),
        incident=incident,
        log=log(ctx),
    )
    _finish(ctx, result)


@retention.command("restore")
@archive_argument
@max_duration_option
@dry_run_option
@yes_option
@incident_option
@click.pass_obj
@handles_errors
def restore_cmd(
    ctx: Ctx,
    archive_dir: Path,
    max_duration: str,
    dry_run_here: bool,
    yes_here: bool,
    incident: str | None,
) -> None:
    """Check every segment, then put the archived rows back (INSERT ... ON CONFLICT DO
    NOTHING): rows already present are counted, never overwritten; idempotent."""
    from triage_ops.commands.reporting import confirm_plan, open_audit
    from triage_ops.procedures.retention.execute import restore_archive

    config = ctx.config()
    result = restore_archive(
        config,
        archive_dir=archive_dir,
        max_duration=max_duration,
        timeout=ctx.timeout,
        dry_run=ctx.dry_run or dry_run_here,
        yes=ctx.yes or yes_here,
        confirm=confirm_plan,
        audit=open_audit(config, timeout=ctx.timeout),
        incident=incident,
        log=log(ctx),
    )
    _finish(ctx, result)


@retention.command("status")
@archive_argument
@click.option(
    "--verify",
    "check",
    is_flag=True,
    help="Also read every segment back (checksum, zstd or gzip, row count, ids).",
)
@click.pass_obj
@handles_errors
def status_cmd(ctx: Ctx, archive_dir: Path, check: bool) -> None:
    """What the archive's manifest says: complete or partial, rows, segments (no database
    needed). Exit 0 complete, 1 partial, 2 a segment fails its check, 3 no archive."""
    from triage_ops.exit_codes import ExitCode
    from triage_ops.procedures.retention.verify import archive_status

    report = archive_status(archive_dir, check=check)
    emit(ctx, report if ctx.output == "json" else _fields(report), title="Retention archive")
    if report.get("problems"):
        for problem in report["problems"]:
            log(ctx)(problem)
        click.get_current_context().exit(int(ExitCode.CRITICAL))
    if report["state"] != "complete":
        click.get_current_context().exit(int(ExitCode.WARNINGS))


def _fields(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"field": key, "value": value} for key, value in data.items()]


def _finish(ctx: Ctx, result: RetentionResult) -> None:
    from triage_ops.commands.reporting import emit_outcome

    outcome = result.outcome
    if ctx.output == "json":
        emit(ctx, result.to_json())
    else:
        emit_outcome(ctx, outcome)
        if result.details:
            click.echo("")
            emit(ctx, _fields(result.details), title="Details")
        for note in result.notes:
            log(ctx)(note)
    if outcome.exit_code:
        click.get_current_context().exit(int(outcome.exit_code))
