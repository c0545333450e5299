"""`triage-ops secrets rotate db-password|status`: the database password the service logs
in with (triage_ops.procedures.secret_rotation says what differs from the runbook, and why).

Nothing heavy is imported at module level: `triage-ops --help` loads this module."""

from __future__ import annotations

import click

from triage_ops.cli import Ctx
from triage_ops.commands.acting import (
    dry_run_option,
    engine_log,
    finish,
    incident_option,
    yes_option,
)
from triage_ops.commands.common import emit, handles_errors


@click.group()
def secrets() -> None:
    """The secrets the service runs with: status and safe rotation."""


@secrets.group("rotate")
def rotate() -> None:
    """Rotate a secret in every place that holds it, verified, rolled back on failure."""


@rotate.command("db-password")
@click.option(
    "--rollout-timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="How long the restarted deployments may take to roll out (all of them).",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Rotate even though the Secret's password does not log in (the service is locked"
    " out); any rollback sets the role to the Secret's password.",
)
@dry_run_option
@yes_option
@incident_option
@click.pass_obj
@handles_errors
def rotate_db_password_cmd(
    ctx: Ctx,
    rollout_timeout: float,
    repair: bool,
    dry_run_here: bool,
    yes_here: bool,
    incident: str | None,
) -> None:
    """New random password for the service's PostgreSQL role: ALTER ROLE (SCRAM verifier),
    the Kubernetes Secret, a rolling restart of the API and the workers, then verify the
    Secret's password logs in and the old one does not. Any failure puts PostgreSQL and
    the Secret back in agreement. The password is never shown. Exit 0 done (or dry run),
    1 declined, 2 failed (rolled back) or not verified, 3 usage, 4 unreachable."""
    from triage_ops.commands.reporting import confirm_plan, open_audit
    from triage_ops.procedures.secret_rotation import ACTION_NAME, rotate_db_password

    config = ctx.config()
    outcome = rotate_db_password(
        config,
        timeout=ctx.timeout,
        dry_run=ctx.dry_run or dry_run_here,
        yes=ctx.yes or yes_here,
        confirm=confirm_plan,
        audit=open_audit(config, timeout=ctx.timeout),
        incident=incident,
        log=engine_log(ctx, ACTION_NAME),
        rollout_timeout_s=rollout_timeout,
        repair=repair,
    )
    finish(ctx, outcome, one_line_failure=True)


@secrets.command("status")
@click.pass_obj
@handles_errors
def status_cmd(ctx: Ctx) -> None:
    """The database Secret: its keys (names only), age since the last verified rotation
    (audit timeline) or creation, whether rotation is due, and whether its password logs
    in as the service role. Exit 0 fine, 1 rotation due, 2 the password does not log in,
    4 PostgreSQL or Kubernetes unreachable."""
    from triage_ops.commands.reporting import open_audit
    from triage_ops.findings import exit_code
    from triage_ops.procedures.secret_rotation import secret_status

    config = ctx.config()
    status = secret_status(config, timeout=ctx.timeout, audit=open_audit(config))
    if ctx.output == "json":
        emit(ctx, status.to_json())
    else:
        emit(ctx, status.rows, columns=["field", "value"], title="Database secret")
        if status.findings:
            rows = [
                {"severity": str(f.severity), "code": f.code, "summary": f.summary}
                for f in status.findings
            ]
            emit(ctx, rows, columns=["severity", "code", "summary"], title="Findings")
    code = exit_code(status.findings)
    if code:
        click.get_current_context().exit(int(code))
