"""The actions the incident runbooks may take, built from the run's configuration.

A runbook step names an action by "module:attr" and the engine calls it with no
arguments; the actions themselves (RolloutRestart, Scale, SetFallback...) take the
deployment or the reason. `Deferred` bridges the two: it builds the real action from the
step's context (config, params, findings so far) when the engine asks for the plan, so a
runbook file says "restart the API" and the namespace and deployment name come from the
config, never from the YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from triage_ops.engine.contract import Action, Plan, StepContext
from triage_ops.findings import Finding


class Deferred:
    """An Action whose real action is built from the context on first use."""

    def __init__(self, name: str, build: Callable[[StepContext], Action]) -> None:
        self.name = name
        self._build = build
        self._action: Action | None = None

    def _inner(self, ctx: StepContext) -> Action:
        if self._action is None:
            self._action = self._build(ctx)
        return self._action

    @property
    def deadline_s(self) -> float:
        return float(getattr(self._action, "deadline_s", 0.0) or 0.0)

    def plan(self, ctx: StepContext) -> Plan:
        return self._inner(ctx).plan(ctx)

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return self._inner(ctx).apply(ctx, plan)

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        return self._inner(ctx).verify(ctx, plan)


def _reason(ctx: StepContext, default: str) -> str:
    codes = sorted({f.code for f in ctx.findings if f.severity in ("critical", "warning")})
    given = str(ctx.params.get("reason") or "")
    return given or (f"{default} ({', '.join(codes)})" if codes else default)


def fallback_on() -> Deferred:
    """P0 "if AI models unavailable: switch to fallback classification mode"."""
    from triage_ops.procedures.model import SetFallback

    return Deferred(
        "model.fallback-on",
        lambda ctx: SetFallback(on=True, reason=_reason(ctx, "model server unavailable")),
    )


def restart_api() -> Deferred:
    """P0: pods not ready or no replica available -> a rolling restart of the API."""
    from triage_ops.procedures.kube_actions import RolloutRestart

    return Deferred(
        "kube.rollout-restart",
        lambda ctx: RolloutRestart(deployment=ctx.config.api_deployment),
    )


def restart_model_servers() -> Deferred:
    """P1 "restart AI model servers" (`kubectl rollout restart
    deployment/email-classifier-model`)."""
    from triage_ops.procedures.kube_actions import RolloutRestart

    return Deferred(
        "kube.rollout-restart",
        lambda ctx: RolloutRestart(deployment=ctx.config.model_deployment),
    )


def scale_api_out() -> Deferred:
    """P1 "scale horizontally": to the replicas the scaling triggers recommend (the
    runbook's fixed `--replicas=10` ignores how many run now), within the per-run cap."""
    from triage_ops.procedures.kube_actions import Scale
    from triage_ops.procedures.scaling import evaluate, recommend

    def build(ctx: StepContext) -> Action:
        deployment = ctx.config.api_deployment
        current = int(ctx.clients.kubernetes().get_scale(deployment)["spec"].get("replicas", 0))
        states = [s for s in evaluate(ctx) if s.deployment == "api"]
        advice = recommend(states, deployment=deployment, current_replicas=current)
        target = advice.recommended_replicas or current
        if target <= current:  # the latency finding alone: one more replica
            target = current + 1
        return Scale(deployment=deployment, replicas=target)

    return Deferred("kube.scale", build)
