"""`triage-ops health`: the runbook's `scripts/health_check.py` ("verify processing
pipeline"), as the `health` runbook: the classify call, readiness, the queue moving,
PostgreSQL, Redis and the model server, concurrently, each within --timeout."""

from __future__ import annotations

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import handles_errors, log


@click.command()
@click.pass_obj
@handles_errors
def health(ctx: Ctx) -> None:
    """End-to-end health of the service. Exit 0 healthy, 1 warnings, 2 critical, 4 a check
    could not run."""
    from triage_ops.commands.reporting import confirm_plan, emit_report, load_runbook, make_run
    from triage_ops.engine.runner import run_runbook

    config, clients, audit = make_run(ctx)
    runbook, catalogue = load_runbook("health", config)
    report = run_runbook(
        runbook,
        config=config,
        clients=clients,
        timeout=ctx.timeout,
        act=False,
        dry_run=ctx.dry_run,
        yes=ctx.yes,
        confirm=confirm_plan,
        audit=audit,
        incident=None,
        log=log(ctx),
        params=runbook.parse_params(()),
        catalogue=catalogue,
    )
    emit_report(ctx, report)
    click.get_current_context().exit(int(report.exit_code))
