"""`triage-ops model status|fallback on|off|restart`."""

from __future__ import annotations

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit, handles_errors


@click.group()
def model() -> None:
    """The classifier model servers and the fallback classification switch."""


@model.command("status")
@click.pass_obj
@handles_errors
def status_cmd(ctx: Ctx) -> None:
    """The served model's versions and state, the model deployment's replicas, and the
    fallback switch (who turned it on, when, why). Exit 2 when the model is not AVAILABLE
    or fallback mode is on, else 4 when the switch or the deployment could not be read."""
    from triage_ops.clients import Clients
    from triage_ops.engine.contract import StepContext
    from triage_ops.exit_codes import ExitCode
    from triage_ops.procedures.model import model_status

    config = ctx.config()
    rows = model_status(
        StepContext(
            config=config, clients=Clients(config, timeout=ctx.timeout), timeout=ctx.timeout
        )
    )
    emit(ctx, rows, columns=["component", "name", "state", "detail"])
    healthy = all(
        r["state"] == "AVAILABLE" for r in rows if r["component"] == "model-server"
    ) and not any(r["component"] == "fallback-switch" and r["state"] == "ON" for r in rows)
    if not healthy:
        click.get_current_context().exit(int(ExitCode.CRITICAL))
    if any(r["state"] == "UNKNOWN" for r in rows):  # the switch may be on: nobody can tell
        click.get_current_context().exit(int(ExitCode.UNREACHABLE))


@model.command("fallback")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--reason", default="", help="Why (kept with the switch and in the audit log).")
@click.option(
    "--no-verify-api",
    is_flag=True,
    help="Do not ask the API whether it obeys (when it is not reachable from here).",
)
@click.option("--incident", metavar="ID", help="Record the change on this incident.")
@click.pass_obj
@handles_errors
def fallback_cmd(
    ctx: Ctx, state: str, reason: str, no_verify_api: bool, incident: str | None
) -> None:
    """Switch fallback classification mode on or off. Running APIs and workers obey within
    their poll interval (2 s), without a restart; verified with a fresh classify call."""
    from triage_ops.commands.acting import run_action
    from triage_ops.procedures.model import SetFallback

    on = state == "on"
    run_action(
        ctx,
        SetFallback(
            on=on,
            reason=reason or ("switched on by hand" if on else "model server healthy again"),
            verify_api=not no_verify_api,
        ),
        incident=incident,
    )


@model.command("restart")
@click.option("--incident", metavar="ID", help="Record the change on this incident.")
@click.pass_obj
@handles_errors
def restart_cmd(ctx: Ctx, incident: str | None) -> None:
    """Rolling restart of the model servers (the runbook's `kubectl rollout restart
    deployment/email-classifier-model`), verified by the rollout and the model AVAILABLE."""
    from triage_ops.commands.acting import run_action
    from triage_ops.procedures.model import RestartModelServers

    run_action(ctx, RestartModelServers(), incident=incident)
