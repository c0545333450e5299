"""The incident record, derived from the audit timeline: one source of truth.

Nothing about an incident is stored anywhere else. Opening one, adding a note, resolving it
are audit entries (`incident.open`, `incident.note`, `incident.resolve`); runbook runs,
actions and messages sent for it (`runbook.run`, `action`, `comms.send`) carry its id. The
record is folded from those entries on demand, so the comms templates, `incident show` and
the postmortem draft can never disagree with what was actually done, and the record is as
tamper-evident as the timeline (hash-chained).

Folding rules (the entries are read in timeline order):
- severity, title and impact come from `incident.open`; an incident id that appears only on
  runbook runs (no `incident.open`) still has a record: severity from its id, start time
  from its first entry, a generic title;
- status: `investigating` when opened, then the latest note that sets one, `resolved`
  after `incident.resolve`; a later resolve amends root cause and resolution, the
  resolution time stays the first;
- findings: every code seen on the incident's runbook runs and actions (not on messages
  sent), its latest summary, worst severity first;
- actions: each `action` entry's summary and outcome, in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from triage_ops.errors import UsageError
from triage_ops.findings import Severity

if TYPE_CHECKING:
    from triage_ops.engine.audit import AuditLog

SEVERITIES = ("P0", "P1", "P2")
STATUSES = ("investigating", "identified", "monitoring", "resolved")
OPEN, NOTE, RESOLVE = "incident.open", "incident.note", "incident.resolve"
# Outcomes of an `action` entry that changed (or tried to change) something; a dry-run,
# a declined confirmation or a no-op plan stays on the timeline but is no action taken.
TAKEN = frozenset({"ok", "failed", "unverified"})
# Entries whose findings are about the service (a message that did not go out is not).
FINDINGS_FROM = frozenset({"runbook.run", "action"})
INCIDENT_ID = re.compile(r"^INC-(\d{8})-(\d{4})-(P[012])(?:-(\d+))?$")

# The runbook's symptoms per severity, as the impact users see until someone records a
# better one (`incident note ID TEXT --impact TEXT`).
DEFAULT_IMPACT = {
    "P0": "Email processing is unavailable: the service returns errors and no email is processed",
    "P1": "Users may experience delays in email processing",
    "P2": "Some emails may be classified incorrectly or miss features",
}
DEFAULT_TITLE = {
    "P0": "Complete service outage",
    "P1": "Performance degradation",
    "P2": "Functional issues",
}


@dataclass(frozen=True)
class ActionTaken:
    ts: datetime
    summary: str  # the action's plan summary: what it changed
    outcome: str  # ok | failed | unverified
    action: str = ""  # its name ("model.fallback-on")
    runbook: str = ""
    step: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": _iso(self.ts),
            "summary": self.summary,
            "outcome": self.outcome,
            "action": self.action,
            "runbook": self.runbook,
            "step": self.step,
        }


@dataclass(frozen=True)
class Note:
    ts: datetime
    user: str
    text: str
    status: str = ""  # the status it set, "" when it set none

    def to_json(self) -> dict[str, Any]:
        return {"ts": _iso(self.ts), "user": self.user, "text": self.text, "status": self.status}


@dataclass(frozen=True)
class TimelineEvent:
    ts: datetime
    kind: str
    summary: str
    user: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"ts": _iso(self.ts), "kind": self.kind, "summary": self.summary, "user": self.user}


@dataclass
class Incident:
    id: str
    severity: str
    title: str
    status: str
    started_at: datetime
    resolved_at: datetime | None = None
    impact: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)  # Finding.to_json(), worst first
    actions: list[ActionTaken] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    root_cause: str = ""
    resolution: str = ""
    timeline: list[TimelineEvent] = field(default_factory=list)
    opened_by: str = ""

    @property
    def duration(self) -> timedelta | None:
        """Start to resolution; None while the incident is open."""
        if self.resolved_at is None:
            return None
        return self.resolved_at - self.started_at

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"

    def to_json(self) -> dict[str, Any]:
        duration = self.duration
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "status": self.status,
            "started_at": _iso(self.started_at),
            "resolved_at": _iso(self.resolved_at) if self.resolved_at else None,
            "duration": format_duration(duration) if duration is not None else None,
            "duration_s": int(duration.total_seconds()) if duration is not None else None,
            "impact": self.impact,
            "opened_by": self.opened_by,
            "findings": list(self.findings),
            "actions": [a.to_json() for a in self.actions],
            "notes": [n.to_json() for n in self.notes],
            "root_cause": self.root_cause,
            "resolution": self.resolution,
            "timeline": [t.to_json() for t in self.timeline],
        }

    def summary_row(self) -> dict[str, Any]:
        """One line for `incident list`."""
        duration = self.duration
        return {
            "id": self.id,
            "severity": self.severity,
            "status": self.status,
            "started_at": _iso(self.started_at),
            "duration": format_duration(duration) if duration is not None else None,
            "title": self.title,
        }


# -- ids and times ----------------------------------------------------------------------------


def new_incident_id(severity: str, now: datetime) -> str:
    """`INC-20261124-1423-P0`: UTC minute of opening, then severity; sorts by time within a
    day. Two incidents opened in the same minute get `-2`, `-3` (see `open_incident`)."""
    _check_severity(severity)
    return f"INC-{now.astimezone(UTC):%Y%m%d-%H%M}-{severity}"


def parse_ts(value: str) -> datetime:
    ts = datetime.fromisoformat(value)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def format_duration(delta: timedelta) -> str:
    """`2h 5m`, `45m`, `30s`: what a human reads in a resolution message."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if not parts:
        parts.append(f"{secs}s")
    return " ".join(parts)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _check_severity(severity: str) -> None:
    if severity not in SEVERITIES:
        raise UsageError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")


# -- reading ----------------------------------------------------------------------------------


def load_incident(audit: AuditLog, incident_id: str) -> Incident:
    incident = _fold(incident_id, audit.entries(incident=incident_id))
    if incident is None:
        raise UsageError(
            f"no incident {incident_id} in the audit timeline (see: triage-ops incident list)"
        )
    return incident


def list_incidents(audit: AuditLog) -> list[Incident]:
    """Every incident of the timeline, newest first."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for entry in audit.entries():
        incident_id = entry.get("incident")
        if incident_id:
            by_id.setdefault(str(incident_id), []).append(entry)
    incidents = [i for i in (_fold(k, v) for k, v in by_id.items()) if i is not None]
    return sorted(incidents, key=lambda i: (i.started_at, i.id), reverse=True)


def _fold(incident_id: str, entries: Iterable[Mapping[str, Any]]) -> Incident | None:
    record: Incident | None = None
    findings: dict[str, tuple[int, dict[str, Any]]] = {}  # code -> (first seen, latest)
    for entry in entries:
        if entry.get("incident") != incident_id:
            continue
        ts = parse_ts(str(entry["ts"]))
        kind = str(entry.get("kind", ""))
        details: Mapping[str, Any] = entry.get("details") or {}
        if record is None:
            record = _skeleton(incident_id, ts)
        if kind == OPEN:
            record.severity = str(details.get("severity") or record.severity)
            record.title = str(details.get("title") or record.title)
            record.impact = str(details.get("impact") or record.impact)
            record.started_at = ts
            record.opened_by = str(entry.get("user", ""))
            record.status = "investigating"
        elif kind == NOTE:
            if details.get("impact"):
                record.impact = str(details["impact"])
            status = str(details.get("status") or "")
            if status and not record.resolved:
                record.status = status
            record.notes.append(
                Note(ts, str(entry.get("user", "")), str(details.get("text", "")), status)
            )
        elif kind == RESOLVE:
            record.root_cause = str(details.get("root_cause", ""))
            record.resolution = str(details.get("resolution", ""))
            record.resolved_at = record.resolved_at or ts
            record.status = "resolved"
        elif kind == "action" and entry.get("outcome") in TAKEN:
            plan = entry.get("plan") or {}
            record.actions.append(
                ActionTaken(
                    ts=ts,
                    summary=str(plan.get("summary") or entry.get("summary", "")),
                    outcome=str(entry.get("outcome", "")),
                    action=str(details.get("action") or ""),
                    runbook=str(entry.get("runbook") or ""),
                    step=str(entry.get("step") or ""),
                )
            )
        found = (entry.get("findings") or []) if kind in FINDINGS_FROM else []
        for finding in found:
            code = str(finding.get("code", ""))
            first = findings[code][0] if code in findings else len(findings)
            findings[code] = (first, dict(finding))
        record.timeline.append(
            TimelineEvent(ts, kind, str(entry.get("summary", "")), str(entry.get("user", "")))
        )
    if record is None:
        return None
    ranked = sorted(findings.values(), key=lambda fs: (-_rank(fs[1]), fs[0]))
    record.findings = [f for _, f in ranked]
    return record


def _skeleton(incident_id: str, first_ts: datetime) -> Incident:
    match = INCIDENT_ID.match(incident_id)
    severity = match.group(3) if match else ""
    return Incident(
        id=incident_id,
        severity=severity,
        title=DEFAULT_TITLE.get(severity, "Incident"),
        status="investigating",
        started_at=first_ts,
        impact=DEFAULT_IMPACT.get(severity, ""),
    )


def _rank(finding: Mapping[str, Any]) -> int:
    try:
        return Severity(str(finding.get("severity"))).rank
    except ValueError:
        return Severity.UNKNOWN.rank


# -- writing ----------------------------------------------------------------------------------


def timeline_for(config: Any) -> AuditLog:
    """The audit timeline the config names (audit_log, audit_database_url), with every
    configured secret registered for scrubbing."""
    from triage_ops.engine.audit import AuditLog, default_path
    from triage_ops.engine.scrub import config_secrets

    mirror = str(getattr(config, "audit_database_url", "") or "") or None
    return AuditLog(default_path(config), mirror_dsn=mirror, secrets=config_secrets(config))


def _write(
    audit: AuditLog,
    kind: str,
    incident_id: str,
    summary: str,
    details: dict[str, Any],
    *,
    dry_run: bool,
) -> Incident:
    """Append one entry and return the record after it. On a dry run nothing is written:
    the record returned is what it would be."""
    fields: dict[str, Any] = {
        "kind": kind,
        "incident": incident_id,
        "summary": summary,
        "outcome": "ok",
        "details": details,
    }
    if not dry_run:
        audit.append(**fields)
        return load_incident(audit, incident_id)
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    would_be = {**fields, "ts": now, "user": "(dry run)", "findings": []}
    record = _fold(incident_id, [*audit.entries(incident=incident_id), would_be])
    assert record is not None
    return record


def open_incident(
    audit: AuditLog,
    severity: str,
    title: str,
    *,
    impact: str = "",
    now: datetime | None = None,
    dry_run: bool = False,
) -> Incident:
    """Append `incident.open` and return the new record. The id is unique in the timeline."""
    _check_severity(severity)
    title = " ".join(title.split())
    if not title:
        raise UsageError("an incident needs a title")
    base = new_incident_id(severity, now or datetime.now(UTC))
    taken = {str(e.get("incident")) for e in audit.entries() if e.get("kind") == OPEN}
    incident_id, n = base, 1
    while incident_id in taken:
        n += 1
        incident_id = f"{base}-{n}"
    details = {
        "severity": severity,
        "title": title,
        "impact": " ".join(impact.split()) or DEFAULT_IMPACT[severity],
    }
    summary = f"[{severity}] {title}"
    return _write(audit, OPEN, incident_id, summary, details, dry_run=dry_run)


def add_note(
    audit: AuditLog,
    incident_id: str,
    text: str,
    *,
    status: str | None = None,
    impact: str | None = None,
    dry_run: bool = False,
) -> Incident:
    """Append `incident.note` (optionally moving the status or restating the impact)."""
    current = load_incident(audit, incident_id)
    text = " ".join(text.split())
    if not text:
        raise UsageError("a note needs text")
    if status is not None:
        if status not in STATUSES:
            raise UsageError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        if status == "resolved":
            raise UsageError(
                f"resolve with: triage-ops incident resolve {incident_id} "
                "--root-cause TEXT --resolution TEXT"
            )
        if current.resolved:
            raise UsageError(f"{incident_id} is resolved: its status no longer changes")
    details: dict[str, Any] = {"text": text, "status": status or ""}
    if impact is not None and impact.strip():
        details["impact"] = " ".join(impact.split())
    summary = f"[{status}] {text}" if status else text
    return _write(audit, NOTE, incident_id, summary, details, dry_run=dry_run)


def resolve_incident(
    audit: AuditLog,
    incident_id: str,
    root_cause: str,
    resolution: str,
    *,
    dry_run: bool = False,
) -> Incident:
    """Append `incident.resolve`. Resolving again amends root cause and resolution (they
    are often understood better an hour later); the resolution time stays the first."""
    load_incident(audit, incident_id)
    root_cause, resolution = " ".join(root_cause.split()), " ".join(resolution.split())
    if not root_cause or not resolution:
        raise UsageError("resolving needs both --root-cause and --resolution (non-empty)")
    details = {"root_cause": root_cause, "resolution": resolution}
    summary = f"resolved: {root_cause}"
    return _write(audit, RESOLVE, incident_id, summary, details, dry_run=dry_run)
