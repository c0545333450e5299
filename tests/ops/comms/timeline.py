"""A fixture incident timeline, written as a real audit file (hash chain included), so the
record, the templates and `audit verify` all read the same thing a run would have written.

Times are fixed, so rendered messages can be compared character for character."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from triage_ops.engine.audit import FIELDS, GENESIS, entry_hash, line_hash

INCIDENT = "INC-20261124-1423-P0"
OTHER = "INC-20261120-0900-P2"


def finding(code: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "code": code,
        "severity": severity,
        "summary": summary,
        "evidence": {},
        "action": "",
        "command": "",
        "step": "",
    }


def _entry(ts: str, kind: str, incident: str | None, summary: str, **rest: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ts": ts,
        "user": rest.pop("user", "alice"),
        "host": "oncall-laptop",
        "incident": incident,
        "kind": kind,
        "runbook": rest.pop("runbook", None),
        "step": rest.pop("step", None),
        "summary": summary,
        "plan": rest.pop("plan", None),
        "before": None,
        "after": None,
        "outcome": rest.pop("outcome", "ok"),
        "findings": rest.pop("findings", []),
        "details": rest.pop("details", None),
    }
    assert not rest, rest
    return entry


OPENED = [
    _entry(
        "2026-11-20T09:00:10.000Z",
        "incident.open",
        OTHER,
        "[P2] Newsletters classified as incidents",
        user="bob",
        details={"severity": "P2", "title": "Newsletters classified as incidents", "impact": ""},
    ),
    _entry(
        "2026-11-24T14:23:05.000Z",
        "incident.open",
        INCIDENT,
        "[P0] API returns 503 on every request",
        details={
            "severity": "P0",
            "title": "API returns 503 on every request",
            "impact": "No email is being triaged: the API answers 503 to every request",
        },
    ),
    _entry(
        "2026-11-24T14:24:40.000Z",
        "runbook.run",
        INCIDENT,
        "p0: critical, exit 2, 3 finding(s)",
        runbook="p0",
        outcome="critical",
        findings=[
            finding("TRI-K8S-004", "warning", "2 of 3 API pods restarted in the last hour"),
            finding("TRI-REDIS-002", "critical", "Redis at 10.0.0.7:6379 did not answer in 2 s"),
            finding("TRI-MODEL-001", "info", "model server ready (12 ms)"),
        ],
    ),
    _entry("2026-11-24T14:25:00.000Z", "runbook.run", None, "health: ok, exit 0, 0 finding(s)"),
]
ACTED = [
    _entry(
        "2026-11-24T14:31:12.000Z",
        "action",
        INCIDENT,
        "model.fallback-on: switch classification to fallback mode -> dry-run",
        runbook="p0",
        step="fallback-on",
        outcome="dry-run",
        plan={"summary": "switch classification to fallback mode"},
        details={"action": "model.fallback-on", "dry_run": True},
    ),
    _entry(
        "2026-11-24T14:32:30.000Z",
        "action",
        INCIDENT,
        "model.fallback-on: switch classification to fallback mode -> ok",
        runbook="p0",
        step="fallback-on",
        plan={"summary": "switch classification to fallback mode"},
        details={"action": "model.fallback-on", "dry_run": False},
    ),
    _entry(
        "2026-11-24T14:35:00.000Z",
        "action",
        INCIDENT,
        "kube.rollout-restart: rollout restart deployment/email-triage-api -> unverified",
        runbook="p0",
        step="restart-api",
        outcome="unverified",
        plan={"summary": "rollout restart deployment/email-triage-api"},
        findings=[finding("TRI-REDIS-002", "critical", "Redis at 10.0.0.7:6379 still silent")],
        details={"action": "kube.rollout-restart", "dry_run": False},
    ),
    _entry(
        "2026-11-24T14:40:00.000Z",
        "incident.note",
        INCIDENT,
        "[identified] Redis primary hung after a kernel upgrade; failing over to the replica",
        details={
            "text": "Redis primary hung after a kernel upgrade; failing over to the replica",
            "status": "identified",
        },
    ),
]
RESOLVED = [
    _entry(
        "2026-11-24T15:30:05.000Z",
        "incident.resolve",
        INCIDENT,
        "resolved: Redis primary hung after a kernel upgrade | no automatic failover",
        user="carol",
        details={
            "root_cause": "Redis primary hung after a kernel upgrade | no automatic failover",
            "resolution": "Promoted the replica, restarted the API pods, fallback mode off",
        },
    ),
]


def write(path: Path, entries: Sequence[dict[str, Any]]) -> Path:
    """Write `entries` as a valid audit chain (seq, prev and hash filled in)."""
    prev = GENESIS
    with path.open("wb") as handle:
        for seq, body in enumerate(entries, 1):
            entry = {"seq": seq, **body, "prev": prev}
            entry["hash"] = entry_hash(entry)
            entry = {k: entry[k] for k in FIELDS}
            line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()
            handle.write(line + b"\n")
            prev = line_hash(line)
    return path
