"""The classifier model servers and the fallback switch: `triage-ops model
status|fallback on|off|restart` (the runbook's P0 "if AI models unavailable: switch to
fallback classification mode" and P1 "restart AI model servers").

The runbook has no command for the fallback switch. Ours is the key the service already
polls (`triage_core.service.keys.FALLBACK_SWITCH`, on the queue's Redis): every running API
process and worker obeys within its poll interval (2 s by default), without a restart.
Switching is verified the way a user would see it: a fresh email (never cached) sent to
`POST /v1/classify` comes back `degraded` (on) or not (off) within the poll interval.

A restart is `kubectl rollout restart deployment/email-classifier-model` through the
Kubernetes API, verified by the rollout completing and the model server reporting the
model AVAILABLE again.
"""

from __future__ import annotations

import getpass
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from triage_core.service import keys
from triage_core.service.control import ControlUnavailable, FallbackSwitch
from triage_ops.clients.errors import ClientError
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.findings import Finding

# The service re-reads the switch every 2 s (ServiceSettings.fallback_poll_s); allow for
# a busy machine before calling the switch ignored.
OBEY_WITHIN_S = 8.0


def _switch(ctx: StepContext) -> FallbackSwitch:
    client = ctx.clients.redis().client(queue=True)
    return FallbackSwitch(client, poll_s=0)


def switch_state(ctx: StepContext) -> dict[str, Any]:
    try:
        return _switch(ctx).status()
    except ControlUnavailable as exc:
        raise ctx.clients.redis().translate(exc, "read the fallback switch") from None


def model_status(ctx: StepContext) -> list[dict[str, Any]]:
    """One row per thing an on-call engineer asks about the model: the served model's
    versions, the deployment's replicas, and the fallback switch. A part that cannot be
    read says why in its row instead of failing the whole status."""
    rows: list[dict[str, Any]] = []
    try:
        status = ctx.clients.model_server().status()
        versions = status.get("model_version_status") or []
        for version in versions:
            rows.append(
                {
                    "component": "model-server",
                    "name": ctx.config.model_name,
                    "state": version.get("state", "?"),
                    "detail": f"version {version.get('version', '?')}",
                }
            )
        if not versions:
            rows.append(
                {
                    "component": "model-server",
                    "name": ctx.config.model_name,
                    "state": "NONE",
                    "detail": "no version loaded",
                }
            )
    except ClientError as exc:
        rows.append(
            {
                "component": "model-server",
                "name": ctx.config.model_name,
                "state": "UNREACHABLE",
                "detail": str(exc),
            }
        )
    if ctx.config.kubeconfig or ctx.config.kube_context:
        try:
            deployment = ctx.clients.kubernetes().get_deployment(ctx.config.model_deployment)
            status_of = deployment.get("status") or {}
            ready = status_of.get("readyReplicas") or 0
            rows.append(
                {
                    "component": "deployment",
                    "name": ctx.config.model_deployment,
                    "state": f"{ready}/{deployment.get('spec', {}).get('replicas', '?')} ready",
                    "detail": "",
                }
            )
        except ClientError as exc:
            rows.append(
                {
                    "component": "deployment",
                    "name": ctx.config.model_deployment,
                    "state": "UNKNOWN",
                    "detail": str(exc),
                }
            )
    try:
        switch = switch_state(ctx)
        rows.append(
            {
                "component": "fallback-switch",
                "name": keys.FALLBACK_SWITCH,
                "state": "ON" if switch["on"] else "OFF",
                "detail": (
                    f"by {switch['actor']} at {switch['at']}: {switch['reason']}"
                    if switch["on"]
                    else ""
                ),
            }
        )
    except ClientError as exc:
        rows.append(
            {
                "component": "fallback-switch",
                "name": keys.FALLBACK_SWITCH,
                "state": "UNKNOWN",
                "detail": str(exc),
            }
        )
    return rows


def _probe_degraded(ctx: StepContext) -> bool:
    """Whether the API answers a never-seen email with the fallback (a unique body, so no
    cached answer hides the switch)."""
    nonce = uuid.uuid4().hex
    answer = ctx.clients.service_api().classify(
        subject=f"triage-ops fallback probe {nonce}",
        body=f"Fallback switch verification {nonce}. Please ignore.",
    )
    return bool(answer.get("degraded"))


@dataclass
class SetFallback:
    """Turn fallback classification mode on or off."""

    on: bool
    reason: str
    verify_api: bool = True
    name: str = "model.fallback"
    deadline_s: float = OBEY_WITHIN_S + 5.0

    def __post_init__(self) -> None:
        self.name = "model.fallback-on" if self.on else "model.fallback-off"

    def plan(self, ctx: StepContext) -> Plan:
        before = switch_state(ctx)
        word = "ON" if self.on else "OFF"
        change = {
            "target": f"redis key {keys.FALLBACK_SWITCH}",
            "before": "ON" if before["on"] else "OFF",
            "after": word,
        }
        return Plan(
            summary=f"switch fallback classification mode {word} (reason: {self.reason})",
            changes=[change],
            commands=[f"triage-ops model fallback {'on' if self.on else 'off'}"],
            noop=bool(before["on"]) == self.on,
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        try:
            return _switch(ctx).set(self.on, reason=self.reason, actor=_actor())
        except ControlUnavailable as exc:
            raise ctx.clients.redis().translate(exc, "set the fallback switch") from None

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        stored = switch_state(ctx)
        if bool(stored["on"]) != self.on:
            return [
                ctx.finding(
                    "TRI-MODEL-101",
                    f"fallback switch reads {'ON' if stored['on'] else 'OFF'} after setting it",
                    stored=stored,
                )
            ]
        if not self.verify_api or not ctx.config.api_url:
            return []
        deadline = time.monotonic() + OBEY_WITHIN_S
        seen: bool | None = None
        last_error = ""
        while time.monotonic() < deadline:
            try:
                seen = _probe_degraded(ctx)
            except ClientError as exc:
                last_error = str(exc)
                seen = None
            if seen == self.on:
                ctx.note(f"the API answers {'degraded' if self.on else 'from the model'}")
                return []
            time.sleep(0.5)
        if seen is None:
            return [
                ctx.finding(
                    "TRI-MODEL-102",
                    f"switch set, but the API could not be asked: {last_error}",
                    api_url=ctx.config.api_url,
                )
            ]
        if not self.on:
            # Off but still degraded: the model server itself may be down (the fallback
            # answers because the primary fails, not because of the switch).
            return [
                ctx.finding(
                    "TRI-MODEL-103",
                    "switch is OFF but the API still answers degraded: is the model server up?",
                    waited_s=OBEY_WITHIN_S,
                )
            ]
        return [
            ctx.finding(
                "TRI-MODEL-104",
                f"switch is ON but the API did not answer degraded within {OBEY_WITHIN_S:g} s",
                waited_s=OBEY_WITHIN_S,
            )
        ]


def _actor() -> str:
    try:
        return f"triage-ops:{getpass.getuser()}"
    except (KeyError, OSError):
        return "triage-ops"


@dataclass
class RestartModelServers:
    """`kubectl rollout restart deployment/email-classifier-model`, verified by the rollout
    completing AND the model server reporting the model AVAILABLE again."""

    name: str = "model.restart"
    deadline_s: float = 300.0

    def _restart(self, ctx: StepContext) -> Any:
        from triage_ops.procedures.kube_actions import RolloutRestart

        return RolloutRestart(deployment=ctx.config.model_deployment)

    def plan(self, ctx: StepContext) -> Plan:
        return self._restart(ctx).plan(ctx)  # type: ignore[no-any-return]

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return self._restart(ctx).apply(ctx, plan)  # type: ignore[no-any-return]

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        found: list[Finding] = self._restart(ctx).verify(ctx, plan)
        if found or not ctx.config.model_server_url:
            return found
        deadline = time.monotonic() + max(ctx.timeout, 30.0)
        last = ""
        while time.monotonic() < deadline:
            try:
                state = ctx.clients.model_server().state()
                if state.available:
                    ctx.note(f"model {ctx.config.model_name} AVAILABLE (version {state.version})")
                    return []
                last = state.state
            except ClientError as exc:
                last = str(exc)
            time.sleep(1.0)
        return [
            ctx.finding(
                "TRI-MODEL-105",
                f"restarted, but the model is not AVAILABLE: {last}",
                model=ctx.config.model_name,
            )
        ]
