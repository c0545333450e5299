"""Running a check the way the engine will: a StepContext whose `make_finding` reads the
finding catalogue of the dependency checks (runbooks/findings.d/dependencies.yaml), so a
check that names an undeclared code fails here, as it would in the engine."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.ops.faults.stack import API_KEY, PG_PASSWORD
from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import StepContext
from triage_ops.findings import Finding, Severity

REPO = Path(__file__).resolve().parents[3]
CATALOGUE = REPO / "runbooks" / "findings.d" / "dependencies.yaml"
# What "within its timeout" allows on top of the timeout: scheduling, process start-up of
# the check's own work, a second PING run in parallel.
SLACK_S = 1.5

SECRETS = (PG_PASSWORD, API_KEY)

Check = Callable[[StepContext], list[Finding]]


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    return data


def make_finding(
    code: str, summary: str, *, evidence: Mapping[str, Any], step: str = ""
) -> Finding:
    entry = catalogue()[code]  # KeyError: the check uses a code the catalogue lacks
    return Finding(
        code=code,
        severity=Severity(entry["severity"]),
        summary=summary,
        evidence=dict(evidence),
        action=str(entry["action"]),
        command=str(entry["command"]),
        step=step,
    )


def context(
    config: OpsConfig, *, timeout: float = 2.0, params: Mapping[str, Any] | None = None
) -> StepContext:
    return StepContext(
        config=config,
        clients=Clients(config, timeout=timeout),
        timeout=timeout,
        step_id="test",
        params=dict(params or {}),
        make_finding=make_finding,
    )


@dataclass
class Outcome:
    findings: list[Finding]
    notes: list[str]
    elapsed_s: float

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def only(self) -> Finding:
        assert len(self.findings) == 1, self.findings
        return self.findings[0]

    def text(self) -> str:
        """Everything a user could see of this run: findings as JSON, and the notes."""
        return json.dumps([f.to_json() for f in self.findings], default=str) + "\n".join(self.notes)


def run(
    check: Check,
    config: OpsConfig,
    *,
    timeout: float = 2.0,
    params: Mapping[str, Any] | None = None,
) -> Outcome:
    ctx = context(config, timeout=timeout, params=params)
    started = time.monotonic()
    findings = check(ctx)
    return Outcome(findings, list(ctx.notes), time.monotonic() - started)


def expect(outcome: Outcome, code: str, severity: Severity, *, timeout: float) -> Finding:
    """The one finding, in time, with no traceback and no secret in anything shown."""
    finding = outcome.only()
    assert (finding.code, finding.severity) == (code, severity), finding
    assert outcome.elapsed_s <= timeout + SLACK_S, f"{outcome.elapsed_s:.2f} s"
    shown = outcome.text()
    assert "Traceback" not in shown
    for secret in SECRETS:
        assert secret not in shown
    assert finding.action
    return finding
