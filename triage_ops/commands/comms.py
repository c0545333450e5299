"""`triage-ops comms templates|render|send`: incident messages from the incident record."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit, handles_errors, log

if TYPE_CHECKING:
    from triage_ops.engine.contract import Plan
    from triage_ops.procedures.comms import MaintenanceWindow

F = Callable[..., Any]


def maintenance_options(func: F) -> F:
    """The fields of a maintenance notice (there is no incident to take them from)."""
    options = [
        click.option("--window-start", default="", help="Maintenance start: 'YYYY-MM-DD HH:MM'."),
        click.option("--window-end", default="", help="Maintenance end: 'YYYY-MM-DD HH:MM'."),
        click.option(
            "--timezone", default="UTC", show_default=True, help="Time zone of the window."
        ),
        click.option("--purpose", default="", help="Why (maintenance notices)."),
        click.option(
            "--impact",
            default="Minimal disruption expected",
            show_default=True,
            help="Expected impact (maintenance notices).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _window(
    window_start: str, window_end: str, timezone: str, purpose: str, impact: str
) -> MaintenanceWindow:
    from triage_ops.procedures.comms import MaintenanceWindow

    return MaintenanceWindow(
        window_start=window_start,
        window_end=window_end,
        timezone=timezone,
        purpose=purpose,
        impact=impact,
    )


def confirm_plan(plan: Plan) -> bool:
    """Ask on the terminal; no answer (no terminal, EOF) is a refusal that says --yes."""
    from triage_ops.errors import UsageError

    click.echo(f"About to: {plan.summary}", err=True)
    try:
        return click.confirm("Proceed?", default=not plan.destructive, err=True)
    except click.Abort:
        raise UsageError(
            "not confirmed (no answer on the terminal); add --yes to proceed"
        ) from None


@click.group()
def comms() -> None:
    """Incident messages (initial, update, resolved, postmortem) filled from the incident
    record, and maintenance notices; rendered, or sent to Slack, email or stdout."""


@comms.command("templates")
@click.pass_obj
@handles_errors
def templates_cmd(ctx: Ctx) -> None:
    """The templates, what each needs and what it is for."""
    from triage_ops.procedures.comms import list_templates

    rows = [t.to_json() for t in list_templates()]
    emit(ctx, rows, columns=["name", "source", "requires", "about"])


@comms.command("render")
@click.argument("template")
@click.option("--incident", "incident_id", default=None, help="Incident id (INC-...).")
@maintenance_options
@click.pass_obj
@handles_errors
def render_cmd(
    ctx: Ctx,
    template: str,
    incident_id: str | None,
    window_start: str,
    window_end: str,
    timezone: str,
    purpose: str,
    impact: str,
) -> None:
    """Print TEMPLATE filled from the incident's record (exit 3 when a field is missing)."""
    from triage_ops.procedures.comms import render_message

    message = render_message(
        ctx.config(),
        template,
        incident_id=incident_id,
        window=_window(window_start, window_end, timezone, purpose, impact),
    )
    if ctx.output == "json":
        emit(ctx, message.to_json())
    else:
        click.echo(message.text, nl=False)


@comms.command("send")
@click.argument("template")
@click.option("--incident", "incident_id", default=None, help="Incident id (INC-...).")
@click.option(
    "--via", type=click.Choice(["slack", "email", "stdout"]), required=True, help="Transport."
)
@maintenance_options
@click.pass_obj
@handles_errors
def send_cmd(
    ctx: Ctx,
    template: str,
    incident_id: str | None,
    via: str,
    window_start: str,
    window_end: str,
    timezone: str,
    purpose: str,
    impact: str,
) -> None:
    """Send TEMPLATE (--dry-run: show the message and where it would go; asks first unless
    --yes; verified by the transport's acceptance; recorded on the incident's timeline)."""
    from triage_ops.procedures.comms import send_message

    result = send_message(
        ctx.config(),
        template,
        via=via,
        incident_id=incident_id,
        window=_window(window_start, window_end, timezone, purpose, impact),
        timeout=ctx.timeout,
        dry_run=ctx.dry_run,
        yes=ctx.yes,
        confirm=confirm_plan,
        log=log(ctx),
    )
    outcome = result.outcome
    if ctx.output == "json":
        emit(ctx, result.to_json())
    elif outcome.outcome == "dry-run":
        click.echo(f"would send via {via} to {result.destination}:\n")
        click.echo(result.message.text, nl=False)
    elif outcome.outcome == "ok" and via == "stdout":
        click.echo(result.message.text, nl=False)
    else:
        rows = [{"destination": result.destination, "outcome": outcome.outcome}]
        emit(ctx, rows, title=f"{template} via {via}")
        for finding in outcome.findings:
            log(ctx)(f"{finding.code} {finding.severity}: {finding.summary}")
    if outcome.exit_code:
        click.get_current_context().exit(int(outcome.exit_code))
