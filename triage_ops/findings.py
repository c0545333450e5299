"""Findings: what a check saw, in a shape CI can gate on and an engineer can act on.

A finding carries a stable code (`TRI-REDIS-001`), a severity, one line saying what was
seen (with the numbers), the evidence behind it, and the runbook's next action with the
exact command that takes it. Codes, severities, actions and commands live in the finding
catalogue (`runbooks/findings.yaml`): checks name a code and describe what they saw; the
catalogue supplies the rest, so the docs and the CLI never disagree.

Severity `unknown` means the check could not be performed (the system it needed did not
answer): it is not "fine", and it is not the same as a confirmed failure either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from triage_ops.exit_codes import ExitCode


class Severity(StrEnum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    UNKNOWN = "unknown"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Worse is higher: sorting reports puts what matters first."""
        return _RANK[self]


_RANK = {
    Severity.OK: 0,
    Severity.INFO: 1,
    Severity.WARNING: 2,
    Severity.UNKNOWN: 3,
    Severity.CRITICAL: 4,
}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    action: str = ""  # the runbook's next step, in words
    command: str = ""  # the exact command that takes it ("" when none)
    step: str = ""  # the runbook step that produced it (filled by the engine)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "action": self.action,
            "command": self.command,
            "step": self.step,
        }


def exit_code(findings: Iterable[Finding]) -> ExitCode:
    """The exit code CI gates on: any critical finding -> CRITICAL; otherwise a check that
    could not run -> UNREACHABLE; otherwise any warning -> WARNINGS; else HEALTHY."""
    seen = {f.severity for f in findings}
    if Severity.CRITICAL in seen:
        return ExitCode.CRITICAL
    if Severity.UNKNOWN in seen:
        return ExitCode.UNREACHABLE
    if Severity.WARNING in seen:
        return ExitCode.WARNINGS
    return ExitCode.HEALTHY


def worst(findings: Iterable[Finding]) -> Severity:
    return max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.OK)
