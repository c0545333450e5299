"""`triage-ops incident list|show|note|resolve|open`: the incident record, read from and
written to the audit timeline. Plain click commands: the `incident` group (beside p0, p1,
p2) mounts them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import emit, handles_errors, log

if TYPE_CHECKING:
    from triage_ops.incidents import Incident

STATUS_CHOICE = click.Choice(["investigating", "identified", "monitoring"])
SUMMARY_COLUMNS = ["id", "severity", "status", "started_at", "duration", "title"]


def _show(ctx: Ctx, incident: Incident, *, full: bool) -> None:
    if ctx.output == "json":
        emit(ctx, incident.to_json())
        return
    emit(ctx, [incident.summary_row()], columns=SUMMARY_COLUMNS)
    if not full:
        return
    record = incident.to_json()
    facts = [
        {"field": name, "value": record[name]}
        for name in ("impact", "opened_by", "resolved_at", "root_cause", "resolution")
    ]
    sections: list[tuple[str, list[dict[str, Any]], list[str]]] = [
        ("Record", facts, ["field", "value"]),
        ("Findings (worst first)", record["findings"], ["severity", "code", "summary"]),
        ("Actions taken", record["actions"], ["ts", "action", "summary", "outcome"]),
        ("Timeline", record["timeline"], ["ts", "kind", "user", "summary"]),
    ]
    for title, rows, columns in sections:
        click.echo()
        emit(ctx, rows, columns=columns, title=title)


@click.command("list")
@click.pass_obj
@handles_errors
def incident_list(ctx: Ctx) -> None:
    """Incidents on the audit timeline, newest first."""
    from triage_ops.incidents import list_incidents, timeline_for

    rows = [i.summary_row() for i in list_incidents(timeline_for(ctx.config()))]
    emit(ctx, rows, columns=SUMMARY_COLUMNS, title="incidents")


@click.command("show")
@click.argument("incident_id")
@click.pass_obj
@handles_errors
def incident_show(ctx: Ctx, incident_id: str) -> None:
    """The incident's record: status, impact, findings, actions taken, timeline."""
    from triage_ops.incidents import load_incident, timeline_for

    _show(ctx, load_incident(timeline_for(ctx.config()), incident_id), full=True)


@click.command("open")
@click.argument("severity", type=click.Choice(["P0", "P1", "P2"]))
@click.argument("title")
@click.option("--impact", default="", help="What users see (default: the severity's symptom).")
@click.pass_obj
@handles_errors
def incident_open(ctx: Ctx, severity: str, title: str, impact: str) -> None:
    """Open an incident: its id goes on every runbook run and message that follows."""
    from triage_ops.incidents import open_incident, timeline_for

    incident = open_incident(
        timeline_for(ctx.config()), severity, title, impact=impact, dry_run=ctx.dry_run
    )
    _show(ctx, incident, full=False)


@click.command("note")
@click.argument("incident_id")
@click.argument("text")
@click.option("--status", type=STATUS_CHOICE, default=None, help="Move the incident's status.")
@click.option("--impact", default=None, help="Restate the impact users see.")
@click.pass_obj
@handles_errors
def incident_note(
    ctx: Ctx, incident_id: str, text: str, status: str | None, impact: str | None
) -> None:
    """Add a note to the incident's timeline (the latest one is what `comms ... update`
    says)."""
    from triage_ops.incidents import add_note, timeline_for

    incident = add_note(
        timeline_for(ctx.config()),
        incident_id,
        text,
        status=status,
        impact=impact,
        dry_run=ctx.dry_run,
    )
    _show(ctx, incident, full=False)


@click.command("resolve")
@click.argument("incident_id")
@click.option("--root-cause", required=True, help="Why it happened, in a sentence.")
@click.option("--resolution", required=True, help="What fixed it, in a sentence.")
@click.pass_obj
@handles_errors
def incident_resolve(ctx: Ctx, incident_id: str, root_cause: str, resolution: str) -> None:
    """Resolve the incident (again: amends root cause and resolution)."""
    from triage_ops.incidents import resolve_incident, timeline_for

    incident = resolve_incident(
        timeline_for(ctx.config()), incident_id, root_cause, resolution, dry_run=ctx.dry_run
    )
    _show(ctx, incident, full=False)
    if not ctx.dry_run:
        log(ctx)(f"tell users: triage-ops comms send resolved --incident {incident.id} --via slack")
