"""`triage-ops incident p0|p1|p2` (the runbook's High-Priority Incident Response, step for
step) and the incident record: `incident list|show|open|note|resolve`.

Running `incident pN` attaches the run to an incident record in the audit timeline: the
one given with `--incident`, else the latest unresolved incident of that severity, else a
new one (not on --dry-run, which records nothing new). The comms templates and the
postmortem draft are filled from that record.
"""

from __future__ import annotations

from typing import Any

import click

from triage_ops.cli import Ctx
from triage_ops.commands.common import handles_errors, log
from triage_ops.commands.incident_record import (
    incident_list,
    incident_note,
    incident_open,
    incident_resolve,
    incident_show,
)

TITLES = {
    "P0": "Complete service outage",
    "P1": "Performance degradation",
    "P2": "Functional issues",
}


@click.group()
def incident() -> None:
    """Incident response (P0, P1, P2) and the incident record."""


for command in (incident_list, incident_show, incident_open, incident_note, incident_resolve):
    incident.add_command(command)


def _attach(ctx: Ctx, audit: Any, severity: str, given: str | None) -> str | None:
    from triage_ops.incidents import list_incidents, load_incident, open_incident

    if given:
        load_incident(audit, given)  # a typo is a usage error, not a new incident
        return given
    for record in list_incidents(audit):  # newest first
        if record.severity == severity and not record.resolved:
            log(ctx)(f"attaching to open incident {record.id} ({record.title})")
            return str(record.id)
    if ctx.dry_run:
        return None
    record = open_incident(audit, severity, TITLES[severity])
    log(ctx)(f"opened incident {record.id}")
    return str(record.id)


def _run(
    ctx: Ctx,
    severity: str,
    *,
    act: bool,
    take: tuple[str, ...],
    incident_id: str | None,
    params: dict[str, Any],
) -> None:
    from triage_ops.commands.runbook_command import run_runbook_command

    run_runbook_command(
        ctx,
        f"incident-{severity.lower()}",
        values=params,
        act=act,
        take=take,
        attach=lambda audit: _attach(ctx, audit, severity, incident_id),
    )


_act = click.option(
    "--act",
    is_flag=True,
    help="Take the safe actions the findings call for (asks first unless --yes).",
)
_take = click.option(
    "--take",
    multiple=True,
    metavar="STEP",
    help="Also take this action step (not taken by --act alone). Repeatable.",
)
_incident = click.option(
    "--incident", "incident_id", metavar="ID", help="Attach to this incident record."
)


@incident.command("p0")
@_act
@_take
@_incident
@click.option(
    "--dedup-key",
    default="",
    metavar="KEY",
    help="The page's PagerDuty dedup key: acknowledged first when paging is configured.",
)
@click.pass_obj
@handles_errors
def p0(ctx: Ctx, act: bool, take: tuple[str, ...], incident_id: str | None, dedup_key: str) -> None:
    """P0, complete service outage: PagerDuty, pods, rollouts, services, ingress, API
    logs, PostgreSQL primary and replica, Redis, the model server and /readyz, then the
    runbook's resolution table finding by finding. With --act: acknowledge the page,
    switch to fallback mode when the model is down, restart the API when its pods are not
    ready; then the recovery validation (POST /v1/classify, health).

    Exit: 0 healthy, 1 warnings, 2 critical findings, 4 a check could not run."""
    _run(ctx, "P0", act=act, take=take, incident_id=incident_id, params={"dedup_key": dedup_key})


@incident.command("p1")
@_act
@_take
@_incident
@click.pass_obj
@handles_errors
def p1(ctx: Ctx, act: bool, take: tuple[str, ...], incident_id: str | None) -> None:
    """P1, performance degradation: CPU and memory, P95 latency (> 2 s) and error rate
    (> 5%), slow queries, model inference latency, queue backlog, recent deployments.
    Offers the common fixes: scale out (--take scale-out), restart the model servers
    (--take restart-model), and the safe cache flush (`triage-ops cache flush`)."""
    _run(ctx, "P1", act=act, take=take, incident_id=incident_id, params={})


@incident.command("p2")
@_incident
@click.pass_obj
@handles_errors
def p2(ctx: Ctx, incident_id: str | None) -> None:
    """P2, functional issues: classification confidence drift, fallback rate, category
    mix against last week, recent model deployments and the served model versions."""
    _run(ctx, "P2", act=False, take=(), incident_id=incident_id, params={})
