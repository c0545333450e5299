"""Kubernetes checks of the runbook's P0 "Verify infrastructure health" and "Check
application logs", and of P1/P2 "Review recent deployments".

The runbook's commands (`kubectl get pods`, `kubectl get services`, `kubectl describe
ingress`, `kubectl logs -f deployment/email-triage-api --tail=100`) show raw state and
leave the reading to the person on call. These checks read it the same way an
experienced engineer would and say what they found, with a stable code:

- check_pods: crash loops (init containers too: a failing migration), containers that
  cannot start (image pull, config errors), restarts over a threshold, OOMKilled
  containers, pods that cannot be scheduled (with the scheduler's reason from the
  events), pods not ready;
- check_rollouts: deployments stuck or still rolling out (kubectl's own rollout-status
  logic), deployments short of replicas, and deployments whose pod template changed in
  the last N hours, with the image change (the runbook's "recent deployments");
- check_services: services with no ready endpoint (the ingress answers 503);
- check_ingress: the ingress exists, its backends exist, it has an address;
- check_api_logs: error lines in the API pods' recent logs: a count and the last few
  lines, with secrets scrubbed. Differences from the runbook: no `-f` (a check must end),
  logs of every API pod rather than one pod picked by `deployment/`, and the window is
  bounded (`--since=10m`, as the runbook's `stern` line has it);
- check_resource_limits: containers without limits, and pods near their memory limit
  when metrics-server is installed (the runbook's `kubectl top pods --sort-by=memory`).

A check that cannot reach the API gives one `unknown` finding naming the API server
(TRI-KUBE-090..092), never a traceback. Tunables come from the step's params:
restart_threshold (5), recent_hours (24), log_since_s (600), log_tail (100),
log_lines_shown (5), memory_ratio (0.9).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

# The official client's kubeconfig loader (~0.3 s to import) comes with this module, which
# the engine imports before any check's clock starts. Left to the first
# `clients.kubernetes()`, six concurrent checks imported it at once inside their timeouts
# (imports race, and the checks of a black-holed API server overran and were abandoned).
import kubernetes.config  # noqa: F401

from triage_ops.clients.errors import AuthFailed, BadResponse, ClientError, NotFound, Unreachable
from triage_ops.clients.kubernetes import (
    KubernetesClient,
    parse_quantity,
    rollout_status,
    selector_string,
)
from triage_ops.engine.contract import StepContext
from triage_ops.findings import Finding

Obj = Mapping[str, Any]
Check = Callable[[StepContext], list[Finding]]

REVISION = "deployment.kubernetes.io/revision"
# waiting reasons of a container that will not start by itself (bad image, bad config)
CANNOT_START = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
# Levels as loggers print them (upper case: `uvicorn.error` is a logger name, not a level),
# logfmt `level=error`, JSON `"level": "error"`, and Python tracebacks.
ERROR_LINE = re.compile(
    r"\b(?:ERROR|CRITICAL|FATAL|Traceback)\b"
    r"|(?i:\blevel=(?:error|fatal|critical)\b|\"level\"\s*:\s*\"(?:error|fatal|critical)\")"
)
_SCRUB = (
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE), r"\1***@"),
    (re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), "Bearer ***"),
    (
        re.compile(
            r"\b(password|passwd|pwd|secret|token|api[_-]?key|authorization|routing[_-]?key)"
            r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)",
            re.IGNORECASE,
        ),
        r"\1\2***",
    ),
)


def scrub(line: str) -> str:
    """A log line fit to show: passwords in URLs, bearer tokens, `password=...` gone."""
    for pattern, replacement in _SCRUB:
        line = pattern.sub(replacement, line)
    return line


def _param(ctx: StepContext, name: str, default: float) -> float:
    value = ctx.params.get(name, default)
    return float(value) if value is not None else default


def api_down(ctx: StepContext, exc: ClientError) -> Finding:
    if isinstance(exc, Unreachable):
        code = "TRI-KUBE-090"
    elif isinstance(exc, AuthFailed):
        code = "TRI-KUBE-091"
    else:
        code = "TRI-KUBE-092"
    return ctx.finding(code, str(exc), error=type(exc).__name__)


def guarded(check: Check) -> Check:
    """A Kubernetes failure inside a check becomes its one `unknown` finding."""

    @functools.wraps(check)
    def run(ctx: StepContext) -> list[Finding]:
        try:
            return check(ctx)
        except ClientError as exc:
            return [api_down(ctx, exc)]

    return run


def _kube(ctx: StepContext) -> KubernetesClient:
    return ctx.clients.kubernetes()


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _ago(when: datetime | None) -> str:
    if when is None:
        return "unknown"
    seconds = max(0, int((_now() - when).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def _owner_deployment(pod: Obj) -> str:
    """The deployment a pod belongs to: its ReplicaSet's name minus the template hash."""
    meta = pod["metadata"]
    pod_hash = (meta.get("labels") or {}).get("pod-template-hash")
    for ref in meta.get("ownerReferences", []):
        if ref.get("kind") == "ReplicaSet" and pod_hash:
            return str(ref["name"]).removesuffix(f"-{pod_hash}")
    return ""


def _ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


# -- pods ----------------------------------------------------------------------------------


@guarded
def check_pods(ctx: StepContext) -> list[Finding]:
    """Crash loops, restarts, OOMKilled, unschedulable and not-ready pods."""
    kube = _kube(ctx)
    threshold = int(_param(ctx, "restart_threshold", 5))
    pods = kube.list_pods()
    findings: list[Finding] = []
    for pod in pods:
        findings += _pod_findings(ctx, kube, pod, threshold)
    ready = sum(1 for p in pods if _ready(p))
    ctx.note(f"{len(pods)} pods in {kube.namespace}, {ready} ready")
    return findings


def _pod_findings(
    ctx: StepContext, kube: KubernetesClient, pod: Obj, threshold: int
) -> list[Finding]:
    meta, status = pod["metadata"], pod.get("status", {})
    name = str(meta["name"])
    base = {"pod": name, "deployment": _owner_deployment(pod), "node": pod["spec"].get("nodeName")}
    found: list[Finding] = []
    scheduled: Obj = next(
        (c for c in status.get("conditions", []) if c.get("type") == "PodScheduled"), {}
    )
    if status.get("phase") == "Pending" and scheduled.get("status") == "False":
        events = kube.list_events(f"involvedObject.name={name},reason=FailedScheduling")
        last = max(events, key=lambda e: str(e.get("lastTimestamp") or ""), default=None)
        message = str((last or {}).get("message") or scheduled.get("message", ""))
        found.append(
            ctx.finding(
                "TRI-KUBE-004",
                f"pod {name} cannot be scheduled: {message}",
                **base,
                reason=scheduled.get("reason", ""),
                event_reason=(last or {}).get("reason", ""),
                event_count=int((last or {}).get("count") or 0),
                message=message,
                pending_since=scheduled.get("lastTransitionTime"),
            )
        )
        return found
    crash_looping = False
    limits = {
        c["name"]: (c.get("resources") or {}).get("limits") or {}
        for c in pod["spec"].get("containers", [])
    }
    for cs in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
        container = str(cs["name"])
        restarts = int(cs.get("restartCount", 0))
        waiting = (cs.get("state") or {}).get("waiting") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        evidence = {
            **base,
            "container": container,
            "restarts": restarts,
            "last_exit_reason": last.get("reason"),
            "last_exit_code": last.get("exitCode"),
            "last_exit_at": last.get("finishedAt"),
            "image": cs.get("image"),
        }
        if waiting.get("reason") == "CrashLoopBackOff":
            crash_looping = True
            found.append(
                ctx.finding(
                    "TRI-KUBE-001",
                    f"pod {name}: container {container} is in CrashLoopBackOff ({restarts}"
                    f" restarts; last exit: {last.get('reason', '?')}, code"
                    f" {last.get('exitCode', '?')})",
                    **evidence,
                    reason="CrashLoopBackOff",
                    message=waiting.get("message", ""),
                )
            )
        elif waiting.get("reason") in CANNOT_START:
            found.append(
                ctx.finding(
                    "TRI-KUBE-008",
                    f"pod {name}: container {container} cannot start: {waiting['reason']}"
                    + (f" ({waiting['message']})" if waiting.get("message") else ""),
                    **evidence,
                    reason=waiting["reason"],
                    message=waiting.get("message", ""),
                )
            )
        elif restarts >= threshold:
            found.append(
                ctx.finding(
                    "TRI-KUBE-002",
                    f"pod {name}: container {container} restarted {restarts} times"
                    f" (threshold {threshold}; last exit: {last.get('reason', '?')})",
                    **evidence,
                    threshold=threshold,
                )
            )
        if last.get("reason") == "OOMKilled":
            limit = limits.get(container, {}).get("memory")
            found.append(
                ctx.finding(
                    "TRI-KUBE-003",
                    f"pod {name}: container {container} was OOMKilled"
                    f" {_ago(_parse_time(last.get('finishedAt')))}"
                    f" (memory limit {limit or 'none'}; {restarts} restarts)",
                    **evidence,
                    reason="OOMKilled",
                    memory_limit=limit,
                )
            )
    if status.get("phase") == "Running" and not _ready(pod) and not crash_looping:
        unready = [
            str(cs["name"]) for cs in status.get("containerStatuses", []) if not cs.get("ready")
        ]
        events = kube.list_events(f"involvedObject.name={name},reason=Unhealthy")
        last_event = max(events, key=lambda e: str(e.get("lastTimestamp") or ""), default=None)
        probe = str((last_event or {}).get("message", ""))
        found.append(
            ctx.finding(
                "TRI-KUBE-005",
                f"pod {name} is running but not ready"
                + (f": {probe}" if probe else f" (containers: {', '.join(unready)})"),
                **base,
                containers=unready,
                probe_message=probe,
                probe_failures=int((last_event or {}).get("count") or 0),
            )
        )
    return found


# -- rollouts ------------------------------------------------------------------------------


@guarded
def check_rollouts(ctx: StepContext) -> list[Finding]:
    """Stuck or unfinished rollouts, deployments short of replicas, recent deployments."""
    kube = _kube(ctx)
    config = ctx.config
    deployments = kube.list_deployments()
    replicasets = kube.list_replicasets()
    findings: list[Finding] = []
    present = {str(d["metadata"]["name"]) for d in deployments}
    for expected in (config.api_deployment, config.worker_deployment, config.model_deployment):
        if expected and expected not in present:
            findings.append(
                ctx.finding(
                    "TRI-KUBE-013",
                    f"deployment {expected} does not exist in namespace {kube.namespace}",
                    deployment=expected,
                    namespace=kube.namespace,
                )
            )
    recent_hours = _param(ctx, "recent_hours", 24)
    for dep in deployments:
        findings += _rollout_findings(ctx, dep)
        recent = _recent_change(ctx, dep, replicasets, recent_hours)
        if recent is not None:
            findings.append(recent)
    ctx.note(f"{len(deployments)} deployments")
    return findings


def _rollout_findings(ctx: StepContext, dep: Obj) -> list[Finding]:
    name = str(dep["metadata"]["name"])
    st = rollout_status(dep)
    conditions = {c.get("type"): c for c in dep.get("status", {}).get("conditions", [])}
    progressing = conditions.get("Progressing", {})
    evidence = {
        "deployment": name,
        "desired": st.desired,
        "updated": st.updated,
        "available": st.available,
        "total": st.total,
        "generation": st.generation,
        "observed_generation": st.observed_generation,
        "rollout": st.message,
    }
    found: list[Finding] = []
    if st.stuck:
        found.append(
            ctx.finding(
                "TRI-KUBE-010",
                f"rollout of deployment {name} is stuck: {progressing.get('message', st.message)}"
                f" ({st.updated}/{st.desired} updated, {st.available} available)",
                **evidence,
                reason=progressing.get("reason"),
                condition=progressing.get("message"),
                since=progressing.get("lastUpdateTime"),
            )
        )
    elif st.phase in ("observing", "updating", "terminating"):
        found.append(ctx.finding("TRI-KUBE-011", st.message, **evidence))
    if st.desired > 0 and st.available == 0:
        found.append(
            ctx.finding(
                "TRI-KUBE-006",
                f"deployment {name} has no available replica (0 of {st.desired})",
                **evidence,
            )
        )
    elif st.available < st.desired:
        found.append(
            ctx.finding(
                "TRI-KUBE-007",
                f"deployment {name} has {st.available} of {st.desired} replicas available",
                **evidence,
            )
        )
    return found


def _images(template: Obj) -> dict[str, str]:
    spec = template.get("spec", {})
    return {
        str(c["name"]): str(c.get("image", ""))
        for c in spec.get("containers", []) + spec.get("initContainers", [])
    }


def _recent_change(
    ctx: StepContext, dep: Obj, replicasets: list[dict[str, Any]], hours: float
) -> Finding | None:
    uid = dep["metadata"].get("uid")
    owned = sorted(
        (
            rs
            for rs in replicasets
            if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences", []))
        ),
        key=lambda rs: int((rs["metadata"].get("annotations") or {}).get(REVISION, 0)),
    )
    if len(owned) < 2:
        return None
    newest, previous = owned[-1], owned[-2]
    created = _parse_time(newest["metadata"].get("creationTimestamp"))
    if created is None or (_now() - created).total_seconds() > hours * 3600:
        return None
    name = str(dep["metadata"]["name"])
    before, after = _images(previous["spec"]["template"]), _images(newest["spec"]["template"])
    changes = {
        c: f"{before.get(c, '(none)')} -> {image}"
        for c, image in after.items()
        if before.get(c) != image
    }
    restarted = (newest["spec"]["template"]["metadata"].get("annotations") or {}).get(
        "kubectl.kubernetes.io/restartedAt"
    )
    what = (
        "; ".join(f"{c}: {change}" for c, change in changes.items())
        if changes
        else ("a restart" if restarted else "no image change")
    )
    rev_before = (previous["metadata"].get("annotations") or {}).get(REVISION)
    rev_after = (newest["metadata"].get("annotations") or {}).get(REVISION)
    st = rollout_status(dep)
    return ctx.finding(
        "TRI-KUBE-012",
        f"deployment {name}: revision {rev_before} -> {rev_after}, {_ago(created)} ({what})",
        deployment=name,
        revision_before=int(rev_before or 0),
        revision=int(rev_after or 0),
        replicaset=newest["metadata"]["name"],
        created=newest["metadata"].get("creationTimestamp"),
        image_changes=changes,
        rollout_complete=st.done,
    )


# -- services and ingress --------------------------------------------------------------------


@guarded
def check_services(ctx: StepContext) -> list[Finding]:
    """Every service with a selector must have at least one ready endpoint."""
    kube = _kube(ctx)
    services = kube.list_services()
    findings: list[Finding] = []
    api_service = ctx.config.api_deployment
    if api_service and api_service not in {s["metadata"]["name"] for s in services}:
        findings.append(
            ctx.finding(
                "TRI-KUBE-021",
                f"service {api_service} does not exist in namespace {kube.namespace}",
                service=api_service,
                namespace=kube.namespace,
            )
        )
    healthy = 0
    for svc in services:
        if not svc.get("spec", {}).get("selector"):
            continue  # endpoints kept by hand (an external database...): nothing to judge
        name = str(svc["metadata"]["name"])
        try:
            subsets = kube.get_endpoints(name).get("subsets") or []
        except NotFound:
            subsets = []
        ready = [a for s in subsets for a in s.get("addresses") or []]
        not_ready = [a for s in subsets for a in s.get("notReadyAddresses") or []]
        if ready:
            healthy += 1
            continue
        findings.append(
            ctx.finding(
                "TRI-KUBE-020",
                f"service {name} has no ready endpoint ({len(not_ready)} not ready)",
                service=name,
                selector=selector_string({"matchLabels": svc["spec"]["selector"]}),
                ready=0,
                not_ready=len(not_ready),
                not_ready_pods=sorted(
                    str((a.get("targetRef") or {}).get("name", a.get("ip"))) for a in not_ready
                ),
            )
        )
    ctx.note(f"{healthy} services with ready endpoints")
    return findings


@guarded
def check_ingress(ctx: StepContext) -> list[Finding]:
    """The runbook's `kubectl describe ingress email-triage-ingress`, judged."""
    kube = _kube(ctx)
    name = ctx.config.ingress_name
    try:
        ingress = kube.get_ingress(name)
    except NotFound:
        return [
            ctx.finding(
                "TRI-KUBE-030",
                f"ingress {name} does not exist in namespace {kube.namespace}",
                ingress=name,
                namespace=kube.namespace,
            )
        ]
    spec = ingress.get("spec", {})
    backends = []
    default = (spec.get("defaultBackend") or {}).get("service")
    if default:
        backends.append(str(default["name"]))
    for rule in spec.get("rules", []):
        for path in (rule.get("http") or {}).get("paths", []):
            service = (path.get("backend") or {}).get("service")
            if service and service["name"] not in backends:
                backends.append(str(service["name"]))
    services = {str(s["metadata"]["name"]) for s in kube.list_services()}
    findings = [
        ctx.finding(
            "TRI-KUBE-031",
            f"ingress {name} routes to service {backend}, which does not exist",
            ingress=name,
            service=backend,
        )
        for backend in backends
        if backend not in services
    ]
    addresses = [
        str(lb.get("ip") or lb.get("hostname"))
        for lb in (ingress.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
    ]
    hosts = [str(r.get("host", "*")) for r in spec.get("rules", [])]
    if not addresses:
        findings.append(
            ctx.finding(
                "TRI-KUBE-032",
                f"ingress {name} has no address (class {spec.get('ingressClassName', '-')})",
                ingress=name,
                ingress_class=spec.get("ingressClassName"),
                hosts=hosts,
            )
        )
    else:
        ctx.note(f"ingress {name}: {', '.join(hosts)} at {', '.join(addresses)}")
    return findings


# -- logs ----------------------------------------------------------------------------------


@guarded
def check_api_logs(ctx: StepContext) -> list[Finding]:
    """Error lines in the API pods' recent logs (count, and the last few, scrubbed)."""
    kube = _kube(ctx)
    deployment = ctx.config.api_deployment
    try:
        dep = kube.get_deployment(deployment)
    except NotFound:
        ctx.note(f"deployment {deployment} not found: no logs to read")
        return []
    since = int(_param(ctx, "log_since_s", 600))
    tail = int(_param(ctx, "log_tail", 100))
    shown = int(_param(ctx, "log_lines_shown", 5))
    containers = [c["name"] for c in dep["spec"]["template"]["spec"].get("containers", [])]
    container = containers[0] if containers else None
    pods = kube.list_pods(selector_string(dep["spec"]["selector"]))
    per_pod: dict[str, int] = {}
    lines: list[str] = []
    read = 0
    for pod in pods:
        if pod.get("status", {}).get("phase") not in ("Running", "Succeeded", "Failed"):
            continue
        name = str(pod["metadata"]["name"])
        try:
            text = kube.pod_logs(name, container, tail_lines=tail, since_seconds=since)
        except (NotFound, BadResponse):
            continue  # a container not started yet has no logs: the pod checks say why
        read += 1
        errors = [line for line in text.splitlines() if ERROR_LINE.search(line)]
        if errors:
            per_pod[name] = len(errors)
            lines += [f"{name}: {scrub(line)}" for line in errors]
    total = sum(per_pod.values())
    if not total:
        ctx.note(f"no error lines in the last {since // 60} min of {read} API pods")
        return []
    return [
        ctx.finding(
            "TRI-KUBE-040",
            f"{total} error lines in the last {since // 60} min of the {deployment} logs"
            f" ({len(per_pod)} of {read} pods)",
            deployment=deployment,
            container=container,
            since_s=since,
            error_lines=total,
            per_pod=per_pod,
            last_lines=lines[-shown:] if shown > 0 else [],
        )
    ]


# -- resources -----------------------------------------------------------------------------


@guarded
def check_resource_limits(ctx: StepContext) -> list[Finding]:
    """Containers without limits; pods above `memory_ratio` of their memory limit."""
    kube = _kube(ctx)
    findings: list[Finding] = []
    for dep in kube.list_deployments():
        name = str(dep["metadata"]["name"])
        for c in dep["spec"]["template"]["spec"].get("containers", []):
            resources = c.get("resources") or {}
            limits = resources.get("limits") or {}
            missing = [r for r in ("cpu", "memory") if r not in limits]
            if missing:
                findings.append(
                    ctx.finding(
                        "TRI-KUBE-050",
                        f"deployment {name}: container {c['name']} has no {' or '.join(missing)}"
                        " limit",
                        deployment=name,
                        container=str(c["name"]),
                        missing=missing,
                        requests=dict(resources.get("requests") or {}),
                        limits=dict(limits),
                    )
                )
    try:
        usage = kube.top_pods()
    except NotFound:
        ctx.note("metrics-server is not installed: memory use against limits not checked")
        return findings
    ratio = _param(ctx, "memory_ratio", 0.9)
    limits_of = {
        (str(p["metadata"]["name"]), str(c["name"])): (
            (c.get("resources") or {}).get("limits") or {}
        ).get("memory")
        for p in kube.list_pods()
        for c in p["spec"].get("containers", [])
    }
    for pod in usage:
        for container, used in pod.containers.items():
            limit = limits_of.get((pod.pod, container))
            if not limit:
                continue
            limit_bytes = int(parse_quantity(limit))
            share = used.memory_bytes / limit_bytes if limit_bytes else 0.0
            if share >= ratio:
                findings.append(
                    ctx.finding(
                        "TRI-KUBE-051",
                        f"pod {pod.pod}: container {container} uses"
                        f" {used.memory_bytes / 2**20:.0f}Mi of its {limit} memory limit"
                        f" ({share:.0%})",
                        pod=pod.pod,
                        container=container,
                        memory_used_mib=round(used.memory_bytes / 2**20, 1),
                        memory_limit=limit,
                        ratio=round(share, 3),
                        threshold=ratio,
                    )
                )
    ctx.note(f"memory checked for {len(usage)} pods")
    return findings


CHECKS: dict[str, Check] = {
    "kube.pods": check_pods,
    "kube.rollouts": check_rollouts,
    "kube.services": check_services,
    "kube.ingress": check_ingress,
    "kube.api-logs": check_api_logs,
    "kube.resource-limits": check_resource_limits,
}
