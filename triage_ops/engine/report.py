"""What a runbook run gives back: each step's status, the findings worst first, what every
action did, and the exit code CI gates on. `to_json()` is the `--output json` document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from triage_ops.engine.contract import Plan
from triage_ops.exit_codes import ExitCode
from triage_ops.findings import Finding, Severity, exit_code, worst

# A step's status. Checks: ok/warning/critical/unknown (their worst finding; info counts as
# ok), skipped. Actions: suggested (not taken), dry-run, applied, failed, skipped.
STEP_STATUSES = (
    "ok", "warning", "critical", "unknown", "skipped", "suggested", "dry-run", "applied", "failed",
)  # fmt: skip

# An action's outcome, and the exit code a standalone mutating command gives for it.
# `declined` exits WARNINGS: nothing was changed, so whatever needed the change remains; a
# script can tell "done" (0) from "not done" (1) from "broken" (2).
OUTCOME_EXIT = {
    "ok": ExitCode.HEALTHY,
    "noop": ExitCode.HEALTHY,
    "dry-run": ExitCode.HEALTHY,
    "declined": ExitCode.WARNINGS,
    "unplanned": ExitCode.UNREACHABLE,
    "failed": ExitCode.CRITICAL,
    "unverified": ExitCode.CRITICAL,
    "refused": ExitCode.USAGE,  # confirmation needed, but no terminal to ask on
}


def status_of(findings: Sequence[Finding]) -> str:
    severity = worst(findings)
    return "ok" if severity in (Severity.OK, Severity.INFO) else str(severity)


@dataclass
class StepResult:
    id: str
    kind: str
    title: str
    status: str
    duration_ms: float = 0.0
    notes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 1),
            "notes": list(self.notes),
        }


@dataclass
class ActionOutcome:
    """One pass of an action through the engine. `outcome` is one of OUTCOME_EXIT."""

    action: str  # the action's name ("model.fallback-on")
    step: str
    outcome: str
    plan: Plan | None = None
    after: Mapping[str, Any] = field(default_factory=dict)  # what apply() returned
    findings: list[Finding] = field(default_factory=list)  # failure / verification findings
    error: str = ""  # one line, secrets scrubbed
    duration_ms: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        return OUTCOME_EXIT[self.outcome]

    @property
    def step_status(self) -> str:
        return {
            "ok": "applied",
            "noop": "ok",
            "dry-run": "dry-run",
            "declined": "skipped",
            "unplanned": "unknown",
            "failed": "failed",
            "unverified": "failed",
            "refused": "skipped",
        }[self.outcome]

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "action": self.action,
            "outcome": self.outcome,
            "plan": self.plan.to_json() if self.plan is not None else None,
            "after": dict(self.after),
            "findings": [f.to_json() for f in self.findings],
            "error": self.error,
            "duration_ms": round(self.duration_ms, 1),
        }


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Worst first; among equals, the order the steps gave them (stable sort)."""
    return sorted(findings, key=lambda f: -f.severity.rank)


@dataclass
class Report:
    runbook: str
    title: str
    incident: str | None
    started_at: str  # UTC ISO 8601
    duration_ms: float
    steps: list[StepResult]
    findings: list[Finding]  # sorted worst first
    actions: list[ActionOutcome] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        """From the findings (triage_ops.findings.exit_code); an action that failed or did
        not verify makes it CRITICAL whatever the findings say."""
        code = exit_code(self.findings)
        if any(a.outcome in ("failed", "unverified") for a in self.actions):
            return ExitCode.CRITICAL
        return code

    @property
    def status(self) -> str:
        return str(worst(self.findings))

    def to_json(self) -> dict[str, Any]:
        return {
            "runbook": self.runbook,
            "title": self.title,
            "incident": self.incident,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "status": self.status,
            "exit_code": int(self.exit_code),
            "steps": [s.to_json() for s in self.steps],
            "findings": [f.to_json() for f in self.findings],
            "actions": [a.to_json() for a in self.actions],
        }
