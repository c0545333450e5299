"""What runbook steps are written against: the context a step receives, the plan an action
makes, and the protocol an action follows (plan -> confirm -> apply -> verify).

A check is a function `check(ctx: StepContext) -> list[Finding]`: an empty list means the
check passed (it may say what it saw with `ctx.note(...)`). It must never hang: every
client it calls is built with `ctx.timeout`; the engine also abandons a check that
overruns its step timeout and reports it as `unknown`.

An action is a class with the methods of `Action`. The engine prints its plan, stops there
on `--dry-run`, asks before applying unless `--yes`, applies, verifies and writes one audit
entry whatever happened. Actions never print: they return data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.findings import Finding


@dataclass
class StepContext:
    config: OpsConfig
    clients: Clients
    timeout: float  # seconds this step may take; clients are built with the run's timeout
    step_id: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)  # runbook step params + CLI options
    findings: Sequence[Finding] = ()  # findings of the checks before (actions, verify)
    make_finding: Callable[..., Finding] | None = None  # set by the engine (catalogue lookup)
    log: Callable[[str], None] = lambda message: None
    notes: list[str] = field(default_factory=list)

    def finding(self, code: str, summary: str, **evidence: Any) -> Finding:
        """A finding whose severity, action and command come from the catalogue."""
        if self.make_finding is None:
            raise RuntimeError("StepContext.finding needs the engine's catalogue")
        return self.make_finding(code, summary, evidence=evidence, step=self.step_id)

    def note(self, text: str) -> None:
        """What a passing check saw ("PING 0.4 ms"): shown beside the step's status."""
        self.notes.append(text)

    def has(self, *codes: str) -> bool:
        return any(f.code in codes for f in self.findings)


@dataclass(frozen=True)
class Plan:
    summary: str  # one line: "rollout restart deployment/email-triage-api (ns email-triage)"
    changes: Sequence[Mapping[str, Any]] = ()  # each: {"target":..., "before":..., "after":...}
    commands: Sequence[str] = ()  # the equivalent manual commands, for the human reading it
    dry_run: Mapping[str, Any] = field(default_factory=dict)  # server-side dry-run evidence
    noop: bool = False  # nothing needs to change: the engine skips confirm/apply
    destructive: bool = False  # confirmation defaults to "no"

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "changes": [dict(c) for c in self.changes],
            "commands": list(self.commands),
            "dry_run": dict(self.dry_run),
            "noop": self.noop,
            "destructive": self.destructive,
        }


class Action(Protocol):
    """A change to a system. `plan` must not change anything (it may run server-side
    dry-runs); `apply` returns what it did ("after" state); `verify` returns findings
    when the change did not take (empty: verified)."""

    name: str  # "model.fallback-on", "kube.rollout-restart": used in the audit timeline

    def plan(self, ctx: StepContext) -> Plan: ...

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]: ...

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]: ...
