"""`triage-ops check daily|weekly|monthly`: the runbook's Routine Maintenance checklists,
one runbook each (runbooks/check-daily.yaml, check-weekly.yaml, check-monthly.yaml), made
for a CI cron job: `--output json` is the report, the exit code says how it went.

Exit codes: 0 every item passed, 1 warnings, 2 a critical finding, 3 usage or
configuration error, 4 an item could not be checked (and nothing critical was found).
Every check of `daily` finishes within --timeout (they run concurrently)."""

from __future__ import annotations

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import handles_errors

_param = click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A checklist parameter (see `triage-ops runbook show check-<list>`). Repeatable.",
)


@click.group()
def check() -> None:
    """The scheduled checklists (daily, weekly, monthly) for CI cron jobs: `--output
    json` for the report. Exit 0 every item passed, 1 warnings, 2 a critical finding, 3
    usage or configuration error, 4 an item could not be checked (nothing critical)."""


def _run(ctx: Ctx, checklist: str, params: tuple[str, ...]) -> None:
    from triage_ops.commands.runbook_command import run_runbook_command

    run_runbook_command(ctx, f"check-{checklist}", params=params)


@check.command("daily")
@_param
@click.pass_obj
@handles_errors
def daily(ctx: Ctx, params: tuple[str, ...]) -> None:
    """Morning health check: overnight alerts (Alertmanager, Prometheus history) and
    incidents, service metrics against their thresholds, backup and replica, resource
    use and its trend, the security scan report, and the runbook's daily commands (pods,
    services, ingress, up{job="email-triage"}, PostgreSQL, Redis INFO). Each item within
    --timeout. Exit codes: see `triage-ops check --help`."""
    _run(ctx, "daily", params)


@check.command("weekly")
@_param
@click.pass_obj
@handles_errors
def weekly(ctx: Ctx, params: tuple[str, ...]) -> None:
    """Monday maintenance: secret age and rotation due, certificate expiry, noisy and
    flapping alerts, cost and capacity signals, the vulnerability report."""
    _run(ctx, "weekly", params)


@check.command("monthly")
@_param
@click.pass_obj
@handles_errors
def monthly(ctx: Ctx, params: tuple[str, ...]) -> None:
    """First-Tuesday review: a full restore test of the latest base backup, the
    disaster-recovery document present and recent, the capacity planning numbers (with
    --param capacity_chart=PATH.png, the chart too). The restore test may take long."""
    _run(ctx, "monthly", params)
