"""`triage-ops health`: the runbook's `scripts/health_check.py` ("verify processing
pipeline"), as the `health` runbook: the classify call, readiness, the queue moving,
PostgreSQL, Redis and the model server, concurrently, each within --timeout."""

from __future__ import annotations

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import handles_errors


@click.command()
@click.pass_obj
@handles_errors
def health(ctx: Ctx) -> None:
    """End-to-end health of the service. Exit 0 healthy, 1 warnings, 2 critical, 4 a check
    could not run."""
    from triage_ops.commands.runbook_command import run_runbook_command

    run_runbook_command(ctx, "health")
