"""`triage-ops security check|isolate`: the runbook's "Security Operations" (daily checks,
and isolating a compromised node). triage_ops.procedures.security and .isolation say
what differs from the runbook, and why.

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
def security() -> None:
    """Security checks (certificates, refused requests, image vulnerabilities) and node
    isolation."""


@security.command("check")
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    metavar="HOST:PORT",
    help="TLS endpoint whose certificate is checked (repeatable; default tls_endpoints).",
)
@click.option(
    "--cafile",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Trust these CA certificates instead of the system's (a private CA).",
)
@click.option(
    "--warn-days",
    type=click.IntRange(min=0),
    default=None,
    help="Warn when a certificate expires within this many days (default cert_warn_days).",
)
@click.option(
    "--window",
    default="24h",
    show_default=True,
    help="Prometheus range for the 401/403/429 share (5m, 1h, 24h, 7d).",
)
@click.option(
    "--auth-threshold",
    type=click.FloatRange(min=0, max=1),
    default=0.05,
    show_default=True,
    help="Warn above this share of refused (401/403/429) requests.",
)
@click.option(
    "--trivy-report",
    type=click.Path(dir_okay=False),
    default=None,
    help="A `trivy image --format json` report (default trivy_report).",
)
@click.option(
    "--report-max-age",
    type=click.FloatRange(min=0),
    default=7.0,
    show_default=True,
    metavar="DAYS",
    help="Warn when the vulnerability scan is older than this.",
)
@click.pass_obj
@handles_errors
def check_cmd(
    ctx: Ctx,
    endpoints: tuple[str, ...],
    cafile: str | None,
    warn_days: int | None,
    window: str,
    auth_threshold: float,
    trivy_report: str | None,
    report_max_age: float,
) -> None:
    """Certificate expiry of the configured endpoints, the share of refused API requests
    (401/403/429) from Prometheus, and the image's vulnerability report, concurrently,
    each within --timeout. Exit 0 fine, 1 warnings, 2 critical (a certificate that does
    not verify), 4 a check could not run."""
    from triage_ops.commands.runbook_command import run_runbook_command
    from triage_ops.procedures.security import security_runbook

    run_runbook_command(
        ctx,
        security_runbook(),
        values={
            "endpoints": ",".join(endpoints) or None,
            "cafile": cafile,
            "warn_days": warn_days,
            "window": window,
            "auth_failure_ratio": auth_threshold,
            "trivy_report": trivy_report,
            "report_max_age_days": report_max_age,
        },
    )


@security.command("isolate")
@click.argument("node")
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0.1),
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="How long evictions a PodDisruptionBudget refuses are retried (then reported).",
)
@dry_run_option
@yes_option
@incident_option
@click.pass_obj
@handles_errors
def isolate_cmd(
    ctx: Ctx,
    node: str,
    drain_timeout: float,
    dry_run_here: bool,
    yes_here: bool,
    incident: str | None,
) -> None:
    """Isolate a node (the runbook's `kubectl cordon` + `kubectl drain --ignore-daemonsets`):
    cordon it, evict every pod through the Eviction API (PodDisruptionBudgets hold;
    DaemonSet pods stay), verify the node is unschedulable and empty. Asks first, the
    answer defaulting to NO. Exit 0 done (or dry run), 1 declined, 2 not isolated (an
    eviction refused: reported), 3 usage, 4 unreachable."""
    from triage_ops.commands.reporting import confirm_plan, open_audit
    from triage_ops.procedures.isolation import ACTION_NAME, isolate_node, pod_rows

    config = ctx.config()
    outcome = isolate_node(
        config,
        node=node,
        timeout=ctx.timeout,
        wait_s=drain_timeout,
        dry_run=ctx.dry_run or dry_run_here,
        yes=ctx.yes or yes_here,
        confirm=confirm_plan,
        audit=open_audit(config, timeout=ctx.timeout),
        incident=incident,
        log=engine_log(ctx, ACTION_NAME),
    )
    rows = pod_rows(outcome)
    if rows and ctx.output != "json" and outcome.outcome not in ("declined", "noop"):
        emit(ctx, rows, columns=["pod", "result", "detail"], title=f"Pods on {node}")
        click.echo()
    finish(ctx, outcome, one_line_failure=True)
