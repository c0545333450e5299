"""`triage-ops security isolate NODE`: the runbook's Security "Incident Response" first two
lines, `kubectl cordon node-name` and `kubectl drain node-name --ignore-daemonsets`.

What differs from the runbook, and why:
- one command, one plan: the cordon and every eviction are previewed through the API
  server's dry run, and the confirmation defaults to NO (the plan is destructive: every
  pod on the node is evicted and its emptyDir data dropped);
- evictions go through the Eviction API (kube_actions.Drain), so PodDisruptionBudgets
  hold: an eviction the budget refuses is retried until `wait_s`, then REPORTED with the
  API's words (which pod, which budget), never forced and never retried forever;
- verified: the node is unschedulable and no evictable pod is left on it (DaemonSet and
  mirror pods stay, as `--ignore-daemonsets` means).
The runbook's next lines (forensics with `kubectl cp`, patching the image) stay manual:
they need judgement about the pod, not a procedure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from triage_ops.clients import Clients
from triage_ops.clients.errors import ClientError, NotFound
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.engine.report import ActionOutcome
from triage_ops.errors import DependencyUnreachable, UsageError
from triage_ops.findings import Finding
from triage_ops.procedures.kube_actions import Drain
from triage_ops.procedures.scaling import run_kube_action

ACTION_NAME = "security.isolate-node"
DEFAULT_WAIT_S = 120.0


@dataclass
class IsolateNode:
    """Cordon and drain one node (kube_actions.Drain), with the refusals spelled out."""

    node: str
    wait_s: float = DEFAULT_WAIT_S
    poll_s: float = 1.0
    name: str = ACTION_NAME
    drain: Drain = field(init=False)

    def __post_init__(self) -> None:
        self.drain = Drain(
            self.node, ignore_daemonsets=True, wait_s=self.wait_s, poll_s=self.poll_s
        )

    def plan(self, ctx: StepContext) -> Plan:
        plan = self.drain.plan(ctx)
        blocked = plan.dry_run.get("blocked") or {}
        note = (
            f"; {len(blocked)} eviction(s) refused by a PodDisruptionBudget right now: retried"
            f" for {self.wait_s:g} s, then reported (never forced)"
            if blocked
            else ""
        )
        return replace(
            plan,
            summary=f"isolate node {self.node}:"
            f" {plan.summary.removeprefix(f'drain node {self.node}: ')}; evicted pods restart"
            f" on other nodes, their emptyDir data is lost{note}",
            destructive=True,
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        return self.drain.apply(ctx, plan)

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        findings = self.drain.verify(ctx, plan)
        out = []
        for finding in findings:
            blocked = finding.evidence.get("blocked") or {}
            if blocked:
                refusals = "; ".join(f"{pod}: {why}" for pod, why in sorted(blocked.items()))
                finding = replace(
                    finding,
                    summary=f"{finding.summary}: eviction refused after {self.wait_s:g} s of"
                    f" retries ({refusals})",
                )
            out.append(finding)
        if not out:
            ctx.note(f"node {self.node} is cordoned and holds no evictable pod")
        return out


def pod_rows(outcome: ActionOutcome) -> list[dict[str, str]]:
    """What happened to each pod of the node (from apply's drain result, else the plan's
    dry run): evicted, skipped (DaemonSet, mirror), refused (PodDisruptionBudget)."""
    source = outcome.after or (outcome.plan.dry_run if outcome.plan is not None else {})
    word = "evicted" if outcome.after else "would be evicted"
    rows = [{"pod": pod, "result": word, "detail": ""} for pod in source.get("evicted") or ()]
    rows += [
        {"pod": pod, "result": "stays", "detail": why}
        for pod, why in sorted((source.get("skipped") or {}).items())
    ]
    rows += [
        {"pod": pod, "result": "REFUSED", "detail": why}
        for pod, why in sorted((source.get("blocked") or {}).items())
    ]
    return rows


def isolate_node(
    config: OpsConfig,
    *,
    node: str,
    timeout: float,
    wait_s: float = DEFAULT_WAIT_S,
    poll_s: float = 1.0,
    dry_run: bool,
    yes: bool,
    confirm: Callable[[Plan], bool],
    audit: Any,
    incident: str | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> ActionOutcome:
    """`triage-ops security isolate NODE` through the engine. A node that does not exist is
    a usage error naming the nodes there are."""
    clients = Clients(config, timeout=timeout)
    kube = clients.kubernetes()
    try:
        kube.get_node(node)
    except NotFound:
        known = ", ".join(str(n["metadata"]["name"]) for n in kube.list_nodes())
        raise UsageError(f"node {node} not found (nodes: {known or 'none'})") from None
    except ClientError as exc:  # refused credentials, odd answers: cannot use it (exit 4)
        if isinstance(exc, DependencyUnreachable):
            raise
        raise DependencyUnreachable(str(exc)) from None
    return run_kube_action(
        IsolateNode(node, wait_s=wait_s, poll_s=poll_s),
        config,
        clients=clients,
        wait_s=wait_s,
        step_id="security.isolate",
        dry_run=dry_run,
        yes=yes,
        confirm=confirm,
        audit=audit,
        incident=incident,
        log=log,
    )
