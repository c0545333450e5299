"""The incident record, folded from the audit timeline, and the writers that add to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.ops.comms import timeline
from triage_ops.engine.audit import AuditLog
from triage_ops.errors import UsageError
from triage_ops.incidents import (
    add_note,
    format_duration,
    list_incidents,
    load_incident,
    new_incident_id,
    open_incident,
    resolve_incident,
)

NOW = datetime(2026, 11, 24, 14, 23, 41, tzinfo=UTC)


def test_new_incident_id_is_sortable() -> None:
    assert new_incident_id("P0", NOW) == "INC-20261124-1423-P0"
    later = new_incident_id("P1", NOW + timedelta(hours=1))
    assert later == "INC-20261124-1523-P1"
    assert sorted([later, "INC-20261124-1423-P0"]) == ["INC-20261124-1423-P0", later]
    with pytest.raises(UsageError, match="severity must be one of P0, P1, P2, not 'P3'"):
        new_incident_id("P3", NOW)


def test_format_duration() -> None:
    assert format_duration(timedelta(seconds=42)) == "42s"
    assert format_duration(timedelta(minutes=45, seconds=59)) == "45m"
    assert format_duration(timedelta(hours=2, minutes=5)) == "2h 5m"
    assert format_duration(timedelta(days=1, hours=3)) == "1d 3h"


def test_record_is_folded_from_the_timeline(audit_path: Path) -> None:
    incident = load_incident(AuditLog(audit_path), timeline.INCIDENT)
    assert incident.to_json() == {
        "id": "INC-20261124-1423-P0",
        "severity": "P0",
        "title": "API returns 503 on every request",
        "status": "resolved",
        "started_at": "2026-11-24T14:23:05Z",
        "resolved_at": "2026-11-24T15:30:05Z",
        "duration": "1h 7m",
        "duration_s": 4020,
        "impact": "No email is being triaged: the API answers 503 to every request",
        "opened_by": "alice",
        # worst first; the latest summary of each code
        "findings": [
            timeline.finding("TRI-REDIS-002", "critical", "Redis at 10.0.0.7:6379 still silent"),
            timeline.finding(
                "TRI-K8S-004", "warning", "2 of 3 API pods restarted in the last hour"
            ),
            timeline.finding("TRI-MODEL-001", "info", "model server ready (12 ms)"),
        ],
        # the dry-run is on the timeline, not among the actions taken
        "actions": [
            {
                "ts": "2026-11-24T14:32:30Z",
                "summary": "switch classification to fallback mode",
                "outcome": "ok",
                "action": "model.fallback-on",
                "runbook": "p0",
                "step": "fallback-on",
            },
            {
                "ts": "2026-11-24T14:35:00Z",
                "summary": "rollout restart deployment/email-triage-api",
                "outcome": "unverified",
                "action": "kube.rollout-restart",
                "runbook": "p0",
                "step": "restart-api",
            },
        ],
        "notes": [
            {
                "ts": "2026-11-24T14:40:00Z",
                "user": "alice",
                "text": "Redis primary hung after a kernel upgrade; failing over to the replica",
                "status": "identified",
            }
        ],
        "root_cause": "Redis primary hung after a kernel upgrade | no automatic failover",
        "resolution": "Promoted the replica, restarted the API pods, fallback mode off",
        "timeline": [
            {
                "ts": e["ts"][:19] + "Z",
                "kind": e["kind"],
                "summary": e["summary"],
                "user": e["user"],
            }
            for e in [*timeline.OPENED, *timeline.ACTED, *timeline.RESOLVED]
            if e["incident"] == timeline.INCIDENT
        ],
    }
    assert incident.duration == timedelta(minutes=67)


def test_list_incidents_newest_first(audit_path: Path) -> None:
    rows = [i.summary_row() for i in list_incidents(AuditLog(audit_path))]
    assert rows == [
        {
            "id": "INC-20261124-1423-P0",
            "severity": "P0",
            "status": "resolved",
            "started_at": "2026-11-24T14:23:05Z",
            "duration": "1h 7m",
            "title": "API returns 503 on every request",
        },
        {
            "id": "INC-20261120-0900-P2",
            "severity": "P2",
            "status": "investigating",
            "started_at": "2026-11-20T09:00:10Z",
            "duration": None,
            "title": "Newsletters classified as incidents",
        },
    ]


def test_unknown_incident(audit_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        load_incident(AuditLog(audit_path), "INC-20990101-0000-P0")
    assert str(raised.value) == (
        "no incident INC-20990101-0000-P0 in the audit timeline (see: triage-ops incident list)"
    )


def test_incident_known_only_from_runbook_runs(tmp_path: Path) -> None:
    """A p0 run tagged with an id nobody opened still has a record, from the id itself."""
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.append(kind="runbook.run", incident="INC-20261124-0900-P1", summary="p1: warning")
    incident = load_incident(audit, "INC-20261124-0900-P1")
    assert (incident.severity, incident.title, incident.status) == (
        "P1",
        "Performance degradation",
        "investigating",
    )
    assert incident.impact == "Users may experience delays in email processing"


def test_open_note_resolve_through_the_real_audit_log(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    opened = open_incident(audit, "P1", "  Slow   classification ", now=NOW)
    assert (opened.id, opened.title, opened.status) == (
        "INC-20261124-1423-P1",
        "Slow classification",
        "investigating",
    )
    assert opened.impact == "Users may experience delays in email processing"
    second = open_incident(audit, "P1", "Another one", now=NOW)
    assert second.id == "INC-20261124-1423-P1-2"

    noted = add_note(
        audit,
        opened.id,
        "Model latency p95 at 3.1 s",
        status="identified",
        impact="Emails are triaged up to 10 minutes late",
    )
    assert noted.status == "identified"
    assert noted.impact == "Emails are triaged up to 10 minutes late"
    assert [n.text for n in noted.notes] == ["Model latency p95 at 3.1 s"]

    resolved = resolve_incident(audit, opened.id, "Model server CPU-starved", "Scaled out to 4")
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    first_resolution = resolved.resolved_at
    amended = resolve_incident(audit, opened.id, "Model server CPU limits too low", "Scaled out")
    assert amended.root_cause == "Model server CPU limits too low"
    assert amended.resolved_at == first_resolution

    kinds = [e["kind"] for e in audit.entries(incident=opened.id)]
    assert kinds == ["incident.open", "incident.note", "incident.resolve", "incident.resolve"]
    assert audit.verify().ok


def test_writer_refusals(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    incident = open_incident(audit, "P0", "Down", now=NOW)
    with pytest.raises(UsageError, match="status must be one of investigating, identified"):
        add_note(audit, incident.id, "x", status="fixed")
    with pytest.raises(UsageError) as raised:
        add_note(audit, incident.id, "x", status="resolved")
    assert str(raised.value) == (
        "resolve with: triage-ops incident resolve INC-20261124-1423-P0"
        " --root-cause TEXT --resolution TEXT"
    )
    with pytest.raises(UsageError, match="a note needs text"):
        add_note(audit, incident.id, "   ")
    with pytest.raises(UsageError, match="needs both --root-cause and --resolution"):
        resolve_incident(audit, incident.id, "cause", " ")
    resolve_incident(audit, incident.id, "cause", "fix")
    with pytest.raises(UsageError, match="is resolved: its status no longer changes"):
        add_note(audit, incident.id, "back again?", status="investigating")
    assert add_note(audit, incident.id, "follow-up ticket OPS-12").status == "resolved"
    with pytest.raises(UsageError, match="an incident needs a title"):
        open_incident(audit, "P0", "  ")


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    incident = open_incident(audit, "P2", "Drift", now=NOW)
    before = (tmp_path / "audit.jsonl").read_bytes()
    would = resolve_incident(audit, incident.id, "cause", "fix", dry_run=True)
    assert (would.status, would.root_cause) == ("resolved", "cause")
    assert add_note(audit, incident.id, "n", status="monitoring", dry_run=True).status == (
        "monitoring"
    )
    assert open_incident(audit, "P0", "x", now=NOW, dry_run=True).id == "INC-20261124-1423-P0"
    assert (tmp_path / "audit.jsonl").read_bytes() == before
