"""The runbook's scaling triggers, evaluated: `triage-ops scale recommend` ("Capacity
Planning and Scaling": CPU > 70% for 10 min, memory > 80% for 5 min, queue depth > 1000
for 15 min, P95 > 2 s for 10 min).

"For N minutes" is evaluated as Prometheus evaluates an alert's `for:`: the condition held
at every sample of the window, i.e. `min_over_time((expr)[N:step])` is above the
threshold. A trigger whose metric has no samples is reported as "no data", never as "fine".

The recommendation uses the Horizontal Pod Autoscaler's formula, desired = ceil(current x
observed / target), with the trigger's threshold as target; one run never recommends more
than `max_factor` times the current replicas nor more than `max_replicas` (the runbook
jumps straight to 10 or 15 replicas; a database behind the API may not take that).

`triage-ops scale api|worker` runs the Kubernetes actions of triage_ops.procedures.
kube_actions (Scale, SetResources) through the engine, with the same cap on a hand-made
scale: one run goes at most x`max_step` up or down and never above `max_replicas` unless
forced; scaling to zero needs --force too. When an autoscaler manages the deployment the
plan says so: a plain `kubectl scale` is undone by the HPA within a minute, so its
minReplicas moves instead of fighting it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from triage_ops.clients import Clients
from triage_ops.clients.errors import ClientError, NotFound
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import Action, Plan, StepContext
from triage_ops.engine.report import ActionOutcome
from triage_ops.errors import DependencyUnreachable, UsageError
from triage_ops.findings import Finding
from triage_ops.procedures import service_metrics as q

DEFAULT_MAX_STEP = 2.0
DEFAULT_MAX_REPLICAS = 20
# What the engine allows a Kubernetes action besides waiting for its rollout: a handful of
# calls, each bounded by the client timeout.
_OVERHEAD_S = 30.0


@dataclass(frozen=True)
class Trigger:
    name: str
    deployment: str  # "api" or "worker": which deployment scaling fixes it
    expr: str  # PromQL giving one value (the worst pod / the whole service)
    threshold: float
    minutes: int
    unit: str


def triggers(ctx: StepContext) -> list[Trigger]:
    names = {"ns": ctx.config.namespace, "deployment": ctx.config.api_deployment}
    return [
        Trigger(
            "cpu", "api", f"max({q.CONTAINER_CPU.format(**names)})", 0.70, 10, "ratio of limit"
        ),
        Trigger(
            "memory",
            "api",
            f"max({q.CONTAINER_MEMORY.format(**names)})",
            0.80,
            5,
            "ratio of limit",
        ),
        Trigger("queue_depth", "worker", q.QUEUE_DEPTH, 1000, 15, "emails"),
        Trigger("p95_latency", "api", q.P95_LATENCY, 2.0, 10, "seconds"),
    ]


@dataclass(frozen=True)
class TriggerState:
    name: str
    deployment: str
    threshold: float
    minutes: int
    unit: str
    sustained_min: float | None  # the lowest value over the window (None: no data)
    current: float | None
    firing: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(ctx: StepContext) -> list[TriggerState]:
    prometheus = ctx.clients.prometheus()
    states = []
    for trigger in triggers(ctx):
        sustained = prometheus.scalar(f"min_over_time(({trigger.expr})[{trigger.minutes}m:30s])")
        current = prometheus.scalar(trigger.expr)
        states.append(
            TriggerState(
                name=trigger.name,
                deployment=trigger.deployment,
                threshold=trigger.threshold,
                minutes=trigger.minutes,
                unit=trigger.unit,
                sustained_min=sustained,
                current=current,
                firing=sustained is not None and sustained > trigger.threshold,
            )
        )
    return states


@dataclass(frozen=True)
class Recommendation:
    deployment: str
    current_replicas: int | None
    recommended_replicas: int | None
    reasons: list[str]
    command: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def recommend(
    states: list[TriggerState],
    *,
    deployment: str,
    current_replicas: int | None,
    max_factor: float = 2.0,
    max_replicas: int = 20,
) -> Recommendation:
    firing = [s for s in states if s.firing]
    if not firing:
        return Recommendation(deployment, current_replicas, current_replicas, [], "")
    reasons = [
        f"{s.name} above {s.threshold:g} {s.unit} for {s.minutes} min "
        f"(lowest {s.sustained_min:.4g})"
        for s in firing
    ]
    if current_replicas is None:
        return Recommendation(deployment, None, None, reasons, "")
    ratio = max((s.current or s.sustained_min or 0.0) / s.threshold for s in firing)
    desired = max(current_replicas + 1, math.ceil(current_replicas * ratio))
    cap = min(max_replicas, max(current_replicas + 1, math.floor(current_replicas * max_factor)))
    capped = min(desired, cap)
    if capped < desired:
        reasons.append(f"capped at {capped} (x{max_factor:g} per run, max {max_replicas})")
    return Recommendation(
        deployment,
        current_replicas,
        capped,
        reasons,
        f"triage-ops scale {'api' if deployment.endswith('api') else 'worker'} --replicas {capped}",
    )


def check_scaling_triggers(ctx: StepContext) -> list[Finding]:
    """The four triggers as findings (for `check daily` and the scaling runbook)."""
    try:
        states = evaluate(ctx)
    except ClientError as exc:
        return [ctx.finding("TRI-PROM-001", f"cannot read metrics: {exc}", system=exc.system)]
    findings = []
    for s in states:
        if s.firing:
            findings.append(
                ctx.finding(
                    "TRI-SCALE-001",
                    f"scaling trigger {s.name}: above {s.threshold:g} {s.unit}"
                    f" for {s.minutes} min (lowest {s.sustained_min:.3g})",
                    trigger=s.name,
                    deployment=s.deployment,
                    sustained_min=s.sustained_min,
                    threshold=s.threshold,
                )
            )
    nodata = [s.name for s in states if s.sustained_min is None]
    if nodata:
        ctx.note("no data for: " + ", ".join(nodata))
    return findings


# -- `triage-ops scale recommend` --------------------------------------------------------


@dataclass(frozen=True)
class RecommendReport:
    triggers: list[TriggerState]
    recommendations: list[Recommendation]
    notes: list[str] = field(default_factory=list)

    @property
    def firing(self) -> bool:
        return any(t.firing for t in self.triggers)

    def to_json(self) -> dict[str, Any]:
        return {
            "triggers": [t.to_json() for t in self.triggers],
            "recommendations": [r.to_json() for r in self.recommendations],
            "notes": list(self.notes),
            "firing": self.firing,
        }

    def trigger_rows(self) -> list[dict[str, Any]]:
        def shown(value: float | None) -> str:
            return "no data" if value is None else f"{value:.4g}"

        def status(t: TriggerState) -> str:
            return "FIRING" if t.firing else "no data" if t.sustained_min is None else "ok"

        return [
            {
                "trigger": t.name,
                "deployment": t.deployment,
                "threshold": f"> {t.threshold:g} {t.unit}",
                "for": f"{t.minutes} min",
                "sustained": shown(t.sustained_min),
                "current": shown(t.current),
                "status": status(t),
            }
            for t in self.triggers
        ]

    def recommendation_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "deployment": r.deployment,
                "replicas": "?" if r.current_replicas is None else r.current_replicas,
                "recommended": "?" if r.recommended_replicas is None else r.recommended_replicas,
                "command": r.command or "-",
                "why": "; ".join(r.reasons) or "no trigger fires",
            }
            for r in self.recommendations
        ]


def recommend_report(
    config: OpsConfig,
    *,
    timeout: float,
    max_step: float = DEFAULT_MAX_STEP,
    max_replicas: int = DEFAULT_MAX_REPLICAS,
) -> RecommendReport:
    """The four triggers from Prometheus and, per deployment, the HPA-formula
    recommendation capped like a hand-made scale. Prometheus not answering is an error
    (nothing to recommend from); Kubernetes not answering leaves the replica counts
    unknown (said in the notes)."""
    check_cap_settings(max_step=max_step, max_replicas=max_replicas)
    ctx = StepContext(config=config, clients=Clients(config, timeout=timeout), timeout=timeout)
    states = evaluate(ctx)
    notes: list[str] = []
    recommendations = []
    for role, deployment in (("api", config.api_deployment), ("worker", config.worker_deployment)):
        current: int | None = None
        try:
            current = int(ctx.clients.kubernetes().get_scale(deployment)["spec"].get("replicas", 0))
        except (ClientError, UsageError) as exc:
            notes.append(f"replicas of {deployment} unknown: {exc}")
        recommendations.append(
            recommend(
                [s for s in states if s.deployment == role],
                deployment=deployment,
                current_replicas=current,
                max_factor=max_step,
                max_replicas=max_replicas,
            )
        )
    missing = [s.name for s in states if s.sustained_min is None]
    if missing:
        notes.append("no data for: " + ", ".join(missing) + " (not judged)")
    return RecommendReport(states, recommendations, notes)


# -- `triage-ops scale api|worker`: the cap, and the actions through the engine ------------


def check_cap_settings(*, max_step: float, max_replicas: int) -> None:
    if not max_step > 1:
        raise UsageError(f"--max-step must be above 1 (a factor), not {max_step:g}")
    if max_replicas < 1:
        raise UsageError(f"--max-replicas must be at least 1, not {max_replicas}")


def replica_range(current: int, *, max_step: float, max_replicas: int) -> tuple[int, int]:
    """The (lowest, highest) replica count one run may set from `current`: a factor of
    `max_step` either way (at least one replica up), never above `max_replicas`."""
    low = math.ceil(current / max_step) if current else 0
    high = min(max_replicas, max(current + 1, math.floor(current * max_step)))
    return low, high


def check_cap(
    deployment: str, *, current: int, replicas: int, max_step: float, max_replicas: int
) -> None:
    check_cap_settings(max_step=max_step, max_replicas=max_replicas)
    if replicas == 0:
        raise UsageError(
            f"refusing to scale deployment/{deployment} to 0 replicas: that stops it"
            " (--force to mean it)"
        )
    low, high = replica_range(current, max_step=max_step, max_replicas=max_replicas)
    if not low <= replicas <= high:
        raise UsageError(
            f"refusing to scale deployment/{deployment} from {current} to {replicas}: one run"
            f" may set {low} to {high} (--max-step x{max_step:g}, --max-replicas"
            f" {max_replicas}); scale in steps, or --force"
        )


@dataclass
class ScaleReplicas:
    """kube_actions.Scale, its plan saying so when an autoscaler manages the deployment
    (scaling by hand fights the HPA: its floor moves instead)."""

    inner: Any  # kube_actions.Scale
    name: str = "kube.scale"

    def plan(self, ctx: StepContext) -> Plan:
        plan: Plan = self.inner.plan(ctx)
        hpa = plan.dry_run.get("hpa")
        if not hpa:
            return plan
        return replace(
            plan,
            summary=f"{plan.summary}; HorizontalPodAutoscaler {hpa['name']} manages it: a"
            f" plain scale would be undone within a minute, so its minReplicas moves to"
            f" {self.inner.replicas} instead (it may still scale above)",
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self.inner.apply(ctx, plan)
        return result

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        found: list[Finding] = self.inner.verify(ctx, plan)
        return found


@dataclass
class _PlanErrors:
    """Remembers what `plan` raised, so a usage error (a refused change, a name that does
    not exist) reaches the user as one line and exit 3 instead of "unplanned"."""

    action: Any
    error: BaseException | None = None
    name: str = ""

    def __post_init__(self) -> None:
        self.name = str(self.action.name)

    def plan(self, ctx: StepContext) -> Plan:
        try:
            plan: Plan = self.action.plan(ctx)
        except BaseException as exc:
            self.error = exc
            raise
        return plan

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self.action.apply(ctx, plan)
        return result

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        found: list[Finding] = self.action.verify(ctx, plan)
        return found


def run_kube_action(
    action: Action,
    config: OpsConfig,
    *,
    clients: Clients,
    wait_s: float,
    step_id: str,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: Any,
    incident: str | None,
    log: Callable[[str], None],
) -> ActionOutcome:
    """A Kubernetes action through the engine (plan, dry-run, confirm, apply, verify, one
    audit entry) with time for its rollout or drain: the engine's deadline is the wait
    plus the calls around it, each call bounded by the client timeout."""
    from triage_ops.engine import standalone

    ctx = standalone.step_context(
        config,
        timeout=clients.timeout,
        clients=clients,
        deadline_s=wait_s + _OVERHEAD_S + 10 * clients.timeout,
        step_id=step_id,
        log=log,
    )
    wrapped = _PlanErrors(action)
    outcome = standalone.run_action(
        wrapped, ctx, dry_run=dry_run, yes=yes, confirm=confirm, audit=audit, incident=incident
    )
    if outcome.outcome == "unplanned" and isinstance(wrapped.error, UsageError):
        raise wrapped.error
    if outcome.outcome == "ok":
        for note in ctx.notes:  # what verifying saw ("successfully rolled out")
            log(note)
    return outcome


def deployment_of(config: OpsConfig, role: str) -> str:
    return config.api_deployment if role == "api" else config.worker_deployment


def current_replicas(clients: Clients, deployment: str) -> int:
    """The deployment's replicas; a deployment that does not exist is a usage error."""
    kube = clients.kubernetes()
    try:
        return int(kube.get_scale(deployment)["spec"].get("replicas", 0))
    except NotFound:
        raise UsageError(
            f"deployment {deployment} not found in namespace {kube.namespace}"
        ) from None
    except ClientError as exc:  # refused credentials, odd answers: cannot use it (exit 4)
        if isinstance(exc, DependencyUnreachable):
            raise
        raise DependencyUnreachable(str(exc)) from None


def scale_replicas(
    config: OpsConfig,
    *,
    role: str,
    replicas: int,
    timeout: float,
    max_step: float = DEFAULT_MAX_STEP,
    max_replicas: int = DEFAULT_MAX_REPLICAS,
    force: bool = False,
    wait_s: float = 180.0,
    poll_s: float = 1.0,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: Any,
    incident: str | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> ActionOutcome:
    """`triage-ops scale api|worker --replicas N`: refuses beyond the cap (UsageError, one
    line, nothing asked or changed) unless `force`; verified when the rollout completes
    with N replicas available."""
    from triage_ops.procedures.kube_actions import Scale

    deployment = deployment_of(config, role)
    clients = Clients(config, timeout=timeout)
    current = current_replicas(clients, deployment)
    if not force:
        check_cap(
            deployment,
            current=current,
            replicas=replicas,
            max_step=max_step,
            max_replicas=max_replicas,
        )
    inner = Scale(
        deployment,
        replicas,
        max_step=max(1, abs(replicas - current)),
        allow_zero=force,
        wait_s=wait_s,
        poll_s=poll_s,
    )
    return run_kube_action(
        ScaleReplicas(inner),
        config,
        clients=clients,
        wait_s=wait_s,
        step_id=f"scale.{role}",
        dry_run=dry_run,
        yes=yes,
        confirm=confirm,
        audit=audit,
        incident=incident,
        log=log,
    )


def set_resources(
    config: OpsConfig,
    *,
    role: str,
    container: str | None,
    requests: Mapping[str, str],
    limits: Mapping[str, str],
    timeout: float,
    wait_s: float = 180.0,
    poll_s: float = 1.0,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: Any,
    incident: str | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> ActionOutcome:
    """`triage-ops scale api --cpu 500m --memory 1Gi`: requests (and limits) of one
    container; the plan warns that every pod restarts (rolling)."""
    from triage_ops.procedures.kube_actions import SetResources

    deployment = deployment_of(config, role)
    clients = Clients(config, timeout=timeout)
    current_replicas(clients, deployment)  # a missing deployment: one line, exit 3
    action = SetResources(
        deployment,
        container or role,
        requests={k: v for k, v in requests.items() if v},
        limits={k: v for k, v in limits.items() if v},
        wait_s=wait_s,
        poll_s=poll_s,
    )
    return run_kube_action(
        action,
        config,
        clients=clients,
        wait_s=wait_s,
        step_id=f"scale.{role}",
        dry_run=dry_run,
        yes=yes,
        confirm=confirm,
        audit=audit,
        incident=incident,
        log=log,
    )
