"""Tiny checks and actions for the engine's tests: they sleep, hang, fail in each way the
engine must survive, and change a file (the "system") so dry-run and verify can be seen."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from triage_ops.clients.errors import BadResponse, Unreachable
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.errors import UsageError
from triage_ops.findings import Finding, Severity

FOREVER = threading.Event()


def sleep_ok(ctx: StepContext) -> list[Finding]:
    seconds = float(ctx.params.get("seconds", 0))
    time.sleep(seconds)
    ctx.note(f"slept {seconds:g} s")
    return []


def hang(ctx: StepContext) -> list[Finding]:
    FOREVER.wait()  # a socket that accepted and never answers
    return []


def refused(ctx: StepContext) -> list[Finding]:
    raise Unreachable("Redis at 127.0.0.1:1: connection refused", system="redis")


def crashes(ctx: StepContext) -> list[Finding]:
    return [ctx.finding("TRI-FIXTURE-002", "never reached", value=1 // 0)]


def leaks(ctx: StepContext) -> list[Finding]:
    raise RuntimeError("cannot connect to postgresql://triage:hunter2-secret@db:5432/triage")


def not_configured(ctx: StepContext) -> list[Finding]:
    raise UsageError("no redis_url configured (config file or TRIAGE_OPS_REDIS_URL)")


def bad_response(ctx: StepContext) -> list[Finding]:
    raise BadResponse(
        "Prometheus at http://127.0.0.1:9090: HTTP 503", system="prometheus", status=503
    )


def returns_none(ctx: StepContext) -> Any:
    return None


def gives(ctx: StepContext) -> list[Finding]:
    """One finding per code in params["codes"], with a pod name as evidence."""
    return [
        ctx.finding(
            code,
            f"saw {code} on {ctx.params.get('pod', 'api-0')}",
            pod=ctx.params.get("pod", "api-0"),
        )
        for code in ctx.params.get("codes", [])
    ]


def hand_made(ctx: StepContext) -> list[Finding]:
    """A finding built without the catalogue and with a code the step does not declare."""
    return [Finding("TRI-FIXTURE-003", Severity.CRITICAL, "made by hand")]


def switch_state(ctx: StepContext) -> list[Finding]:
    path = Path(ctx.params["state_dir"]) / "switch"
    if path.exists():
        ctx.note("switch is on")
        return []
    return [ctx.finding("TRI-FIXTURE-001", f"the switch is off ({path.name} missing)", pod="api-0")]


def _switch(ctx: StepContext) -> Path:
    return Path(ctx.params["state_dir"]) / "switch"


class SwitchOn:
    """Turns the switch on by creating a file; verified by the file existing."""

    name = "fixture.switch-on"

    def plan(self, ctx: StepContext) -> Plan:
        path = _switch(ctx)
        return Plan(
            summary=f"switch on ({path.name})",
            changes=[{"target": path.name, "before": "off", "after": "on"}],
            commands=[f"touch {path.name}"],
            noop=path.exists(),
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        _switch(ctx).write_text("on")
        return {"switch": "on"}

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        if _switch(ctx).exists():
            return []
        return [
            ctx.finding(
                "TRI-FIXTURE-004", "the switch is still off", state_dir=ctx.params["state_dir"]
            )
        ]


class Restart:
    """An unsafe action: writes a marker file."""

    name = "fixture.restart"

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(summary="restart everything", destructive=True)

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        (Path(ctx.params["state_dir"]) / "restarted").write_text("yes")
        return {"restarted": True}

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        return []


class ApplyFails(SwitchOn):
    name = "fixture.apply-fails"

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        raise Unreachable(
            "Kubernetes at https://127.0.0.1:6443: connection refused", system="kubernetes"
        )


class DoesNotTake(SwitchOn):
    name = "fixture.does-not-take"

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return {"switch": "on", "password": "hunter2-secret"}


class PlanHangs(SwitchOn):
    name = "fixture.plan-hangs"

    def plan(self, ctx: StepContext) -> Plan:
        FOREVER.wait()
        raise AssertionError("unreachable")


class RotatesPassword:
    """A plan and result that carry secrets: the audit entry must not."""

    name = "fixture.rotate"

    def plan(self, ctx: StepContext) -> Plan:
        return Plan(
            summary="rotate the password of postgresql://triage:old-pass-123@db/triage",
            changes=[
                {
                    "target": "role triage",
                    "before": {"password": "old-pass-123"},
                    "after": {"password": "new-pass-456"},
                }
            ],
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return {"token": "tok-abcdef", "webhook": "https://hooks.slack.com/services/T0/B0/XYZ"}

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        return []
