"""Kubernetes actions of the runbook: P0/P1 "rollout restart" (the model servers, the API
after a secret rotation), P1 and capacity "scale horizontally" and "vertical scaling",
and Security "isolate compromised pod" (cordon and drain the node).

Each is an `Action` (plan -> confirm -> apply -> verify; see engine/contract.py). Plans
come from SERVER-SIDE dry runs, so `--dry-run` shows what the API server would store
(validation, defaulting and admission included), not a client-side guess. Apply does
exactly what was planned (a restart reuses the planned restartedAt stamp). Verify waits
for the result the runbook only hopes for: a finished rollout, the replicas available,
the node empty.

Differences from the runbook, and why:
- `kubectl scale deployment/email-triage-api --replicas=10`: the API has a
  HorizontalPodAutoscaler (deploy/base/api-hpa.yaml), which undoes a plain scale within
  a minute. Scale also moves the autoscaler's minReplicas (and maxReplicas if needed) so
  the new size holds, and refuses to move more than `max_step` replicas in one run, or
  to scale to zero unless asked.
- `kubectl patch ... resources`: SetResources says in its plan that every pod restarts,
  and refuses requests above limits before asking the server.
- `kubectl drain NODE --ignore-daemonsets`: evictions go through the Eviction API, so
  PodDisruptionBudgets hold (a refused eviction is retried until the timeout, then
  reported, never forced); emptyDir data of evicted pods is dropped (what
  `--delete-emptydir-data` means), which is expected when isolating a node.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from triage_ops.clients.errors import ClientError
from triage_ops.clients.kubernetes import (
    RESTARTED_AT,
    KubernetesClient,
    parse_quantity,
    rollout_status,
)
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.errors import UsageError
from triage_ops.findings import Finding
from triage_ops.procedures.kube_checks import api_down

Obj = Mapping[str, Any]
_HPA_FIELDS = (("min_replicas", "minReplicas"), ("max_replicas", "maxReplicas"))


def _kube(ctx: StepContext) -> KubernetesClient:
    return ctx.clients.kubernetes()


def _container(deployment: Obj, name: str) -> Obj:
    for c in deployment["spec"]["template"]["spec"].get("containers", []):
        if c["name"] == name:
            return dict(c)
    raise UsageError(f"deployment {deployment['metadata']['name']} has no container {name}")


def wait_for_rollout(
    ctx: StepContext,
    deployment: str,
    *,
    wait_s: float,
    poll_s: float,
    code: str = "TRI-KUBE-060",
    replicas: int | None = None,
) -> list[Finding]:
    """Polls kubectl's rollout status until complete ([]), stuck, or `wait_s` is over
    (one finding with `code`). With `replicas`, complete also means that many desired."""
    kube = _kube(ctx)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            dep = kube.get_deployment(deployment)
            st = rollout_status(dep)
            reached = replicas is None or (st.desired == replicas and st.available >= replicas)
            if st.done and reached:
                ctx.note(st.message)
                return []
            if st.stuck or time.monotonic() + poll_s > deadline:
                break
            time.sleep(poll_s)
        pending = [
            str(p["metadata"]["name"])
            for p in kube.list_pods(_selector(dep))
            if p.get("status", {}).get("phase") == "Pending"
        ]
    except ClientError as exc:
        return [api_down(ctx, exc)]
    why = st.message if st.stuck else f"not complete after {wait_s:g} s: {st.message}"
    return [
        ctx.finding(
            code,
            f"deployment {deployment}: {why}",
            deployment=deployment,
            phase=st.phase,
            desired=st.desired,
            updated=st.updated,
            available=st.available,
            total=st.total,
            pending_pods=pending,
            waited_s=wait_s,
        )
    ]


def _selector(dep: Obj) -> str:
    labels = dep["spec"]["selector"].get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RolloutRestart:
    """`kubectl rollout restart deployment/NAME`, then wait for the rollout."""

    deployment: str
    wait_s: float = 180.0
    poll_s: float = 1.0
    name = "kube.rollout-restart"

    @property
    def deadline_s(self) -> float:
        """How long apply + verify may take: the rollout wait, plus slack."""
        return self.wait_s + 30.0

    def plan(self, ctx: StepContext) -> Plan:
        kube = _kube(ctx)
        before = kube.get_deployment(self.deployment)
        stamp = _stamp()
        preview = kube.rollout_restart(self.deployment, dry_run=True, at=stamp)
        annotations = before["spec"]["template"]["metadata"].get("annotations") or {}
        replicas = int(before["spec"].get("replicas", 1))
        return Plan(
            summary=f"rollout restart deployment/{self.deployment} (ns {kube.namespace}):"
            f" its {replicas} pods are replaced one by one",
            changes=[
                {
                    "target": f"deployment/{self.deployment}",
                    "field": f"spec.template.metadata.annotations[{RESTARTED_AT}]",
                    "before": annotations.get(RESTARTED_AT),
                    "after": stamp,
                },
                {
                    "target": f"deployment/{self.deployment}",
                    "field": "metadata.generation",
                    "before": before["metadata"].get("generation"),
                    "after": preview["metadata"].get("generation"),
                },
            ],
            commands=[f"kubectl -n {kube.namespace} rollout restart deployment/{self.deployment}"],
            dry_run={
                "server": "dryRun=All",
                "restartedAt": stamp,
                "generation": preview["metadata"].get("generation"),
                "replicas": replicas,
            },
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        stamp = str(plan.dry_run.get("restartedAt") or _stamp())
        after = _kube(ctx).rollout_restart(self.deployment, dry_run=False, at=stamp)
        return {
            "deployment": self.deployment,
            "restartedAt": stamp,
            "generation": after["metadata"].get("generation"),
        }

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        return wait_for_rollout(ctx, self.deployment, wait_s=self.wait_s, poll_s=self.poll_s)


@dataclass
class Scale:
    """Set a deployment's replicas (and its autoscaler's floor), at most `max_step` away
    from where it is."""

    deployment: str
    replicas: int
    max_step: int = 5
    allow_zero: bool = False
    wait_s: float = 180.0
    poll_s: float = 1.0
    name = "kube.scale"

    @property
    def deadline_s(self) -> float:
        return self.wait_s + 30.0

    def plan(self, ctx: StepContext) -> Plan:
        kube = _kube(ctx)
        if self.replicas < 0 or (self.replicas == 0 and not self.allow_zero):
            raise UsageError(
                f"refusing to scale deployment/{self.deployment} to {self.replicas}"
                " replicas (zero stops the service: allow_zero to mean it)"
            )
        current = int(kube.get_scale(self.deployment)["spec"].get("replicas", 0))
        if abs(self.replicas - current) > self.max_step:
            raise UsageError(
                f"refusing to scale deployment/{self.deployment} from {current} to"
                f" {self.replicas}: more than {self.max_step} replicas in one run"
                " (scale in steps, or raise the step cap)"
            )
        hpa = self._autoscaler(kube)
        hpa_change = self._hpa_change(hpa)
        if current == self.replicas and hpa_change is None:
            return Plan(
                summary=f"deployment/{self.deployment} already has {current} replicas",
                noop=True,
            )
        preview = kube.scale(self.deployment, self.replicas, dry_run=True)
        changes: list[dict[str, Any]] = [
            {
                "target": f"deployment/{self.deployment}",
                "field": "spec.replicas",
                "before": current,
                "after": preview["spec"]["replicas"],
            }
        ]
        commands = [
            f"kubectl -n {kube.namespace} scale deployment/{self.deployment}"
            f" --replicas={self.replicas}"
        ]
        dry_run: dict[str, Any] = {"server": "dryRun=All", "scale": preview["spec"]}
        if hpa is not None and hpa_change is not None:
            hpa_name = str(hpa["metadata"]["name"])
            hpa_preview = kube.patch_hpa(hpa_name, **hpa_change, dry_run=True)
            for key, spec_field in _HPA_FIELDS:
                if key in hpa_change:
                    changes.append(
                        {
                            "target": f"horizontalpodautoscaler/{hpa_name}",
                            "field": f"spec.{spec_field}",
                            "before": hpa["spec"].get(spec_field),
                            "after": hpa_preview["spec"][spec_field],
                            "why": "the autoscaler would undo a plain scale within a minute",
                        }
                    )
            patch = {v: hpa_change[k] for k, v in _HPA_FIELDS if k in hpa_change}
            commands.insert(
                0,
                f"kubectl -n {kube.namespace} patch hpa {hpa_name} --type=merge"
                f" -p '{{\"spec\": {_json(patch)}}}'",
            )
            dry_run["hpa"] = {"name": hpa_name, **hpa_change}
        verb = "out" if self.replicas > current else "in"
        return Plan(
            summary=f"scale {verb} deployment/{self.deployment} (ns {kube.namespace}):"
            f" {current} -> {self.replicas} replicas",
            changes=changes,
            commands=commands,
            dry_run=dry_run,
            destructive=self.replicas < current,
        )

    def _autoscaler(self, kube: KubernetesClient) -> Obj | None:
        for hpa in kube.list_hpas():
            ref = hpa["spec"].get("scaleTargetRef", {})
            if ref.get("kind") == "Deployment" and ref.get("name") == self.deployment:
                return hpa
        return None

    def _hpa_change(self, hpa: Obj | None) -> dict[str, int] | None:
        if hpa is None:
            return None
        change: dict[str, int] = {}
        if int(hpa["spec"].get("minReplicas", 1)) != self.replicas:
            change["min_replicas"] = max(1, self.replicas)
        if self.replicas > int(hpa["spec"]["maxReplicas"]):
            change["max_replicas"] = self.replicas
        return change or None

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        kube = _kube(ctx)
        done: dict[str, Any] = {"deployment": self.deployment}
        hpa = plan.dry_run.get("hpa")
        if hpa:  # first, so the autoscaler does not scale back in between
            change = {k: v for k, v in hpa.items() if k in ("min_replicas", "max_replicas")}
            after = kube.patch_hpa(str(hpa["name"]), **change, dry_run=False)
            done["hpa"] = {
                "name": hpa["name"],
                "minReplicas": after["spec"].get("minReplicas"),
                "maxReplicas": after["spec"].get("maxReplicas"),
            }
        scale = kube.scale(self.deployment, self.replicas, dry_run=False)
        done["replicas"] = scale["spec"]["replicas"]
        return done

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        return wait_for_rollout(
            ctx,
            self.deployment,
            wait_s=self.wait_s,
            poll_s=self.poll_s,
            code="TRI-KUBE-061",
            replicas=self.replicas,
        )


def _json(data: Any) -> str:
    import json

    return json.dumps(data, sort_keys=True)


@dataclass
class SetResources:
    """Requests/limits of one container: a pod template change, so a rolling restart."""

    deployment: str
    container: str
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)
    wait_s: float = 180.0
    poll_s: float = 1.0
    name = "kube.set-resources"

    @property
    def deadline_s(self) -> float:
        return self.wait_s + 30.0

    def plan(self, ctx: StepContext) -> Plan:
        kube = _kube(ctx)
        if not self.requests and not self.limits:
            raise UsageError("set resources: give requests and/or limits")
        before_dep = kube.get_deployment(self.deployment)
        before = dict(_container(before_dep, self.container).get("resources") or {})
        merged_requests = {**(before.get("requests") or {}), **self.requests}
        merged_limits = {**(before.get("limits") or {}), **self.limits}
        for resource, request in merged_requests.items():
            limit = merged_limits.get(resource)
            if limit is not None and parse_quantity(request) > parse_quantity(limit):
                raise UsageError(
                    f"{self.deployment}/{self.container}: {resource} request {request} is above"
                    f" its limit {limit}"
                )
        preview = kube.set_resources(
            self.deployment,
            self.container,
            requests=self.requests,
            limits=self.limits,
            dry_run=True,
        )
        after = dict(_container(preview, self.container).get("resources") or {})
        replicas = int(before_dep["spec"].get("replicas", 1))
        if after == before:
            return Plan(
                summary=f"{self.deployment}/{self.container} already has these resources",
                noop=True,
            )
        flags = " ".join(
            f"--{kind}=" + ",".join(f"{k}={v}" for k, v in sorted(values.items()))
            for kind, values in (("requests", self.requests), ("limits", self.limits))
            if values
        )
        return Plan(
            summary=f"set resources of deployment/{self.deployment} container {self.container}"
            f" (ns {kube.namespace}): RESTARTS all {replicas} pods (rolling)",
            changes=[
                {
                    "target": f"deployment/{self.deployment}",
                    "field": f"spec.template.spec.containers[{self.container}].resources",
                    "before": before,
                    "after": after,
                    "warning": f"changes the pod template: every pod of"
                    f" deployment/{self.deployment} is replaced",
                }
            ],
            commands=[
                f"kubectl -n {kube.namespace} set resources deployment/{self.deployment}"
                f" -c {self.container} {flags}"
            ],
            dry_run={
                "server": "dryRun=All",
                "generation": preview["metadata"].get("generation"),
                "resources": after,
            },
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        after = _kube(ctx).set_resources(
            self.deployment,
            self.container,
            requests=self.requests,
            limits=self.limits,
            dry_run=False,
        )
        return {
            "deployment": self.deployment,
            "container": self.container,
            "resources": _container(after, self.container).get("resources"),
            "generation": after["metadata"].get("generation"),
        }

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        return wait_for_rollout(ctx, self.deployment, wait_s=self.wait_s, poll_s=self.poll_s)


@dataclass
class Cordon:
    """`kubectl cordon NODE`: no new pod lands on it; the running ones stay."""

    node: str
    name = "kube.cordon"

    def plan(self, ctx: StepContext) -> Plan:
        kube = _kube(ctx)
        before = bool(kube.get_node(self.node).get("spec", {}).get("unschedulable"))
        if before:
            return Plan(summary=f"node {self.node} is already cordoned", noop=True)
        preview = kube.cordon(self.node, dry_run=True)
        return Plan(
            summary=f"cordon node {self.node}: no new pods are scheduled on it",
            changes=[
                {
                    "target": f"node/{self.node}",
                    "field": "spec.unschedulable",
                    "before": before,
                    "after": bool(preview["spec"].get("unschedulable")),
                }
            ],
            commands=[f"kubectl cordon {self.node}"],
            dry_run={"server": "dryRun=All", "unschedulable": preview["spec"].get("unschedulable")},
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        after = _kube(ctx).cordon(self.node, dry_run=False)
        return {"node": self.node, "unschedulable": bool(after["spec"].get("unschedulable"))}

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        try:
            node = _kube(ctx).get_node(self.node)
        except ClientError as exc:
            return [api_down(ctx, exc)]
        if node.get("spec", {}).get("unschedulable"):
            return []
        return [
            ctx.finding(
                "TRI-KUBE-062",
                f"node {self.node} is not cordoned",
                node=self.node,
                unschedulable=False,
            )
        ]


@dataclass
class Drain:
    """Security isolation: cordon, then evict every pod (PDBs respected) and wait until
    the node holds only DaemonSet and mirror pods."""

    node: str
    ignore_daemonsets: bool = True
    wait_s: float = 120.0
    poll_s: float = 1.0
    name = "kube.drain"

    @property
    def deadline_s(self) -> float:
        return self.wait_s + 30.0

    def plan(self, ctx: StepContext) -> Plan:
        kube = _kube(ctx)
        before = bool(kube.get_node(self.node).get("spec", {}).get("unschedulable"))
        preview = kube.drain(
            self.node, dry_run=True, ignore_daemonsets=self.ignore_daemonsets, timeout=self.wait_s
        )
        changes: list[dict[str, Any]] = [
            {
                "target": f"node/{self.node}",
                "field": "spec.unschedulable",
                "before": before,
                "after": True,
            }
        ]
        changes += [
            {"target": f"pod/{pod}", "before": f"running on {self.node}", "after": "evicted"}
            for pod in preview.evicted
        ]
        changes += [
            {
                "target": f"pod/{pod}",
                "before": f"running on {self.node}",
                "after": "eviction refused now (would be retried)",
                "why": why,
            }
            for pod, why in preview.blocked.items()
        ]
        return Plan(
            summary=f"drain node {self.node}: cordon it and evict"
            f" {len(preview.evicted) + len(preview.blocked)} pods"
            f" ({len(preview.skipped)} DaemonSet/mirror pods stay)",
            changes=changes,
            commands=[
                f"kubectl cordon {self.node}",
                f"kubectl drain {self.node} --ignore-daemonsets --delete-emptydir-data"
                f" --timeout={self.wait_s:g}s",
            ],
            dry_run={"server": "dryRun=All", **preview.to_json()},
            destructive=True,
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        result = _kube(ctx).drain(
            self.node,
            dry_run=False,
            ignore_daemonsets=self.ignore_daemonsets,
            timeout=self.wait_s,
            poll=self.poll_s,
        )
        return result.to_json()

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        kube = _kube(ctx)
        try:
            node = kube.get_node(self.node)
            pods = kube.list_pods(field_selector=f"spec.nodeName={self.node}", all_namespaces=True)
            blocked: dict[str, str] = {}
            left = []
            for pod in pods:
                meta = pod["metadata"]
                kinds = {ref.get("kind") for ref in meta.get("ownerReferences", [])}
                if "DaemonSet" in kinds or "kubernetes.io/config.mirror" in (
                    meta.get("annotations") or {}
                ):
                    continue
                ident = f"{meta['namespace']}/{meta['name']}"
                left.append(ident)
                refusal = kube.evict(meta["name"], meta["namespace"], dry_run=True)
                if refusal:
                    blocked[ident] = refusal
        except ClientError as exc:
            return [api_down(ctx, exc)]
        cordoned = bool(node.get("spec", {}).get("unschedulable"))
        if cordoned and not left:
            return []
        problem = "not cordoned" if not cordoned else f"{len(left)} pods still on it"
        return [
            ctx.finding(
                "TRI-KUBE-062",
                f"node {self.node} is not isolated: {problem}",
                node=self.node,
                unschedulable=cordoned,
                remaining=left,
                blocked=blocked,
            )
        ]


ACTIONS = {
    "kube.rollout-restart": RolloutRestart,
    "kube.scale": Scale,
    "kube.set-resources": SetResources,
    "kube.cordon": Cordon,
    "kube.drain": Drain,
}
