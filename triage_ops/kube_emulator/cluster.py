"""The emulated cluster: objects in memory, the API server's storage rules and a small
deployment controller, so clients see what they would see on a real cluster.

Storage rules kept: `resourceVersion` from one counter (a stale one on update -> 409),
`generation` bumped on spec changes, `uid`/`creationTimestamp` set on create, status not
writable through the main resource, `dryRun=All` computing the result without storing it.

The controller plays the deployment + ReplicaSet controllers, the scheduler and the
endpoints controller in one step after each change: a changed pod template makes a new
ReplicaSet (revision + 1, `pod-template-hash`), scaling adjusts pods, endpoints follow
pod readiness. How a rollout ends is the scenario's `rollouts` setting: `complete` (new
pods are ready at once) or `stuck` (no capacity: new pods stay Pending with a
FailedScheduling event and the deployment reports ProgressDeadlineExceeded).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from triage_ops.kube_emulator import patch as patching
from triage_ops.kube_emulator.resources import (
    BY_KIND,
    ApiError,
    Resource,
    conflict,
    invalid,
    not_found,
    success,
)
from triage_ops.kube_emulator.selectors import field_matcher, label_matcher, match_labels

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (plural, namespace or "", name)

HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
UNSCHEDULABLE = (
    "0/{n} nodes are available: {n} Insufficient memory. preemption: 0/{n} nodes are"
    " available: {n} No preemption victims found for incoming pod."
)
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def safe_hash(text: str, length: int) -> str:
    """Names like the controllers make them (their alphabet avoids vowels and lookalikes)."""
    number = int.from_bytes(hashlib.sha256(text.encode()).digest()[:12], "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, len(HASH_ALPHABET))
        chars.append(HASH_ALPHABET[digit])
    return "".join(chars)


def template_hash(template: Mapping[str, Any]) -> str:
    return safe_hash(json.dumps(template, sort_keys=True), 10)


class Cluster:
    """All state of one emulated cluster. Every public method takes the lock: the HTTP
    server is threaded."""

    def __init__(self, *, rollouts: str = "complete", metrics: bool = True) -> None:
        self.lock = threading.RLock()
        self.objects: dict[Key, Obj] = {}
        self.rollouts = rollouts
        self.metrics = metrics
        self.logs: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
        self.default_logs: dict[tuple[str, str], list[str]] = {}  # (deployment, container)
        self.usage: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}  # (ns, pod)
        self.default_usage: dict[str, dict[str, tuple[int, int]]] = {}  # deployment
        self._rv = 1000
        self._seq: dict[str, int] = {}
        self._ip = 10

    # -- storage ---------------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    @staticmethod
    def key(resource: Resource, namespace: str, name: str) -> Key:
        return (resource.plural, namespace if resource.namespaced else "", name)

    def store(self, resource: Resource, obj: Obj, *, created: float | None = None) -> Obj:
        """Stores a new object as the API server would on create (no checks)."""
        meta = obj.setdefault("metadata", {})
        namespace = meta.get("namespace", "") if resource.namespaced else ""
        if not resource.namespaced:
            meta.pop("namespace", None)
        obj["apiVersion"] = resource.api_version
        obj["kind"] = resource.kind
        meta["uid"] = str(
            uuid.uuid5(
                uuid.NAMESPACE_URL, f"{resource.plural}/{namespace}/{meta['name']}/{self._rv}"
            )
        )
        meta["resourceVersion"] = self._next_rv()
        meta.setdefault("creationTimestamp", timestamp(created if created else time.time()))
        if resource.has_generation:
            meta["generation"] = 1
        self.objects[self.key(resource, namespace, meta["name"])] = obj
        return obj

    def get(self, resource: Resource, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self.objects.get(self.key(resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def select(
        self,
        resource: Resource,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        labels_ok = label_matcher(label_selector)
        fields_ok = field_matcher(field_selector)
        with self.lock:
            found = [
                copy.deepcopy(obj)
                for (plural, ns, _), obj in sorted(self.objects.items())
                if plural == resource.plural
                and (namespace is None or not resource.namespaced or ns == namespace)
                and labels_ok(obj["metadata"].get("labels") or {})
                and fields_ok(obj)
            ]
        return found

    def create(self, resource: Resource, namespace: str, body: Obj, *, dry_run: bool) -> Obj:
        with self.lock:
            obj = copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            if not meta.get("name"):
                raise invalid(resource, "", "metadata.name", "Required value: name is required")
            if resource.namespaced:
                meta["namespace"] = namespace
            if self.key(resource, namespace, meta["name"]) in self.objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource.group_resource} "{meta["name"]}" already exists',
                    {"name": meta["name"], "group": resource.group, "kind": resource.plural},
                )
            for drop in ("uid", "resourceVersion", "creationTimestamp", "generation"):
                meta.pop(drop, None)
            self._normalize(resource, obj)
            if dry_run:
                preview = copy.deepcopy(obj)
                preview["apiVersion"], preview["kind"] = resource.api_version, resource.kind
                if resource.has_generation:
                    preview["metadata"]["generation"] = 1
                preview["metadata"]["creationTimestamp"] = timestamp(time.time())
                return preview
            stored = self.store(resource, obj)
            self._after_change(resource, stored)
            return copy.deepcopy(stored)

    def update(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        *,
        body: Any,
        content_type: str | None,
        dry_run: bool,
    ) -> Obj:
        """PUT (content_type None: `body` is the whole object) or PATCH."""
        with self.lock:
            key = self.key(resource, namespace, name)
            current = self.objects.get(key)
            if current is None:
                raise not_found(resource, name)
            if content_type is None:
                new = copy.deepcopy(body)
            else:
                new = self._patched(resource, name, copy.deepcopy(current), body, content_type)
            if not isinstance(new, dict):
                raise ApiError(400, "BadRequest", "the body is not an object")
            meta = new.setdefault("metadata", {})
            wanted_rv = meta.get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise conflict(resource, name)
            if meta.get("name", name) != name:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"the name of the object ({meta.get('name')}) does not match the name on"
                    f" the URL ({name})",
                )
            # Server-owned fields come from the stored object; status is its own subresource.
            for owned in ("uid", "creationTimestamp", "generation", "resourceVersion"):
                if owned in current["metadata"]:
                    meta[owned] = current["metadata"][owned]
                else:
                    meta.pop(owned, None)
            meta["name"] = name
            if resource.namespaced:
                meta["namespace"] = namespace
            new["apiVersion"], new["kind"] = resource.api_version, resource.kind
            if "status" in current and resource.kind not in ("Node",):
                new["status"] = copy.deepcopy(current["status"])
            self._normalize(resource, new)
            self._validate(resource, name, new)
            if resource.has_generation and new.get("spec") != current.get("spec"):
                meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
            if dry_run:
                return new
            if new == current:
                return copy.deepcopy(current)  # a no-op update keeps its resourceVersion
            meta["resourceVersion"] = self._next_rv()
            self.objects[key] = new
            self._after_change(resource, new, old=current)
            return copy.deepcopy(self.objects[key])

    def delete(self, resource: Resource, namespace: str, name: str, *, dry_run: bool) -> Obj:
        with self.lock:
            key = self.key(resource, namespace, name)
            obj = self.objects.get(key)
            if obj is None:
                raise not_found(resource, name)
            if dry_run:
                return copy.deepcopy(obj)
            del self.objects[key]
            if resource.kind == "Pod":
                self._pod_gone(obj)
            return success(
                name=name, group=resource.group, kind=resource.plural, uid=obj["metadata"]["uid"]
            )

    def _patched(
        self, resource: Resource, name: str, current: Obj, body: Any, content_type: str
    ) -> Any:
        kind = content_type.split(";")[0].strip()
        try:
            if kind == MERGE:
                return patching.merge_patch(current, body)
            if kind == STRATEGIC:
                return patching.strategic_merge_patch(current, body)
            if kind == JSON_PATCH:
                return patching.json_patch(current, body)
        except (patching.PatchError, KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(422, "Invalid", f'{resource.kind} "{name}" is invalid: {exc}') from exc
        raise ApiError(
            415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {kind}"
        )

    def _normalize(self, resource: Resource, obj: Obj) -> None:
        if resource.kind == "Secret":
            data = obj.setdefault("data", {}) or {}
            for k, v in (obj.pop("stringData", None) or {}).items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
            obj.setdefault("type", "Opaque")

    def _validate(self, resource: Resource, name: str, obj: Obj) -> None:
        if resource.kind == "Deployment":
            replicas = obj.get("spec", {}).get("replicas", 1)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise invalid(
                    resource, name, "spec.replicas", f"Invalid value: {replicas!r}: must be >= 0"
                )
        if resource.kind == "Secret":
            for k, v in (obj.get("data") or {}).items():
                try:
                    base64.b64decode(v, validate=True)
                except (ValueError, TypeError) as exc:
                    raise invalid(resource, name, f"data[{k}]", "not base64") from exc

    def _after_change(self, resource: Resource, obj: Obj, *, old: Obj | None = None) -> None:
        if resource.kind == "Deployment":
            self.reconcile_deployment(obj)
        elif resource.kind == "Node":
            self._sync_unschedulable_taint(obj)
        elif resource.kind in ("Service", "Pod"):
            self.reconcile_endpoints(obj["metadata"].get("namespace", ""))

    # -- subresources ------------------------------------------------------------------------

    def scale(self, namespace: str, name: str) -> Obj:
        with self.lock:
            dep = self.get(BY_KIND["Deployment"], namespace, name)
            return self._scale_object(dep)

    def update_scale(
        self, namespace: str, name: str, *, body: Any, content_type: str | None, dry_run: bool
    ) -> Obj:
        with self.lock:
            dep_res = BY_KIND["Deployment"]
            dep = self.get(dep_res, namespace, name)
            current = self._scale_object(dep)
            if content_type is None:
                new = body
            else:
                new = self._patched(dep_res, name, copy.deepcopy(current), body, content_type)
            replicas = (new.get("spec") or {}).get("replicas") if isinstance(new, dict) else None
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise ApiError(
                    422,
                    "Invalid",
                    f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value:'
                    f" {replicas!r}: must be greater than or equal to 0",
                )
            wanted_rv = (new.get("metadata") or {}).get("resourceVersion")
            if wanted_rv and wanted_rv != dep["metadata"]["resourceVersion"]:
                raise conflict(dep_res, name)
            updated = self.update(
                dep_res,
                namespace,
                name,
                body={"spec": {"replicas": replicas}},
                content_type=MERGE,
                dry_run=dry_run,
            )
            return self._scale_object(updated)

    def _scale_object(self, dep: Obj) -> Obj:
        meta = dep["metadata"]
        selector = dep["spec"].get("selector", {}).get("matchLabels", {})
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta["resourceVersion"],
                "creationTimestamp": meta["creationTimestamp"],
            },
            "spec": {"replicas": dep["spec"].get("replicas", 1)},
            "status": {
                "replicas": dep.get("status", {}).get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
            },
        }

    def pod_log(
        self,
        namespace: str,
        name: str,
        *,
        container: str | None,
        tail_lines: int | None,
        since_seconds: int | None,
    ) -> str:
        with self.lock:
            pod = self.get(BY_KIND["Pod"], namespace, name)
            names = [c["name"] for c in pod["spec"].get("containers", [])]
            if container is None:
                if len(names) != 1:
                    raise ApiError(
                        400,
                        "BadRequest",
                        f"a container name must be specified for pod {name}, choose one of:"
                        f" [{' '.join(names)}]",
                    )
                container = names[0]
            if container not in names:
                raise ApiError(
                    400, "BadRequest", f"container {container} is not valid for pod {name}"
                )
            if pod["status"].get("phase") == "Pending":
                raise ApiError(
                    400,
                    "BadRequest",
                    f'container "{container}" in pod "{name}" is waiting to start:'
                    " ContainerCreating",
                )
            lines = list(self.logs.get((namespace, name, container), []))
        if since_seconds is not None:
            cutoff = time.time() - since_seconds
            lines = [entry for entry in lines if entry[0] >= cutoff]
        if tail_lines is not None:
            lines = lines[-tail_lines:] if tail_lines > 0 else []
        return "".join(text + "\n" for _, text in lines)

    def evict(self, namespace: str, name: str, *, dry_run: bool) -> Obj:
        """The Eviction API: refuses (429) when a PodDisruptionBudget would be violated."""
        with self.lock:
            pod = self.get(BY_KIND["Pod"], namespace, name)
            if _ready(pod):
                for pdb in self.select(BY_KIND["PodDisruptionBudget"], namespace):
                    if not match_labels(pdb["spec"].get("selector", {}))(
                        pod["metadata"].get("labels") or {}
                    ):
                        continue
                    healthy, needed = self._budget(pdb)
                    if healthy - needed <= 0:
                        raise ApiError(
                            429,
                            "TooManyRequests",
                            "Cannot evict pod as it would violate the pod's disruption budget.",
                            {
                                "causes": [
                                    {
                                        "reason": "DisruptionBudget",
                                        "message": f"The disruption budget"
                                        f" {pdb['metadata']['name']} needs {needed} healthy"
                                        f" pods and has {healthy} currently",
                                    }
                                ]
                            },
                        )
            if not dry_run:
                self.delete(BY_KIND["Pod"], namespace, name, dry_run=False)
            return success(201)

    def _budget(self, pdb: Obj) -> tuple[int, int]:
        """(healthy pods, pods that must stay healthy) for a PodDisruptionBudget."""
        namespace = pdb["metadata"]["namespace"]
        selects = match_labels(pdb["spec"].get("selector", {}))
        pods = [
            p
            for p in self.select(BY_KIND["Pod"], namespace)
            if selects(p["metadata"].get("labels") or {})
        ]
        healthy = sum(1 for p in pods if _ready(p))
        expected = sum(
            int(d["spec"].get("replicas", 1))
            for d in self.select(BY_KIND["Deployment"], namespace)
            if selects(d["spec"]["template"]["metadata"].get("labels") or {})
        )
        spec = pdb["spec"]
        if "minAvailable" in spec:
            needed = _count(spec["minAvailable"], expected, round_up=True)
        else:
            needed = expected - _count(spec.get("maxUnavailable", 1), expected, round_up=True)
        return healthy, needed

    def pod_metrics(self, namespace: str | None) -> list[Obj]:
        with self.lock:
            pods = self.select(BY_KIND["Pod"], namespace)
        now = timestamp(time.time())
        items = []
        for pod in pods:
            meta = pod["metadata"]
            usage = self.usage.get((meta["namespace"], meta["name"]))
            if usage is None or pod["status"].get("phase") != "Running":
                continue
            items.append(
                {
                    "kind": "PodMetrics",
                    "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "creationTimestamp": now,
                        "labels": meta.get("labels", {}),
                    },
                    "timestamp": now,
                    "window": "15.009s",
                    "containers": [
                        {
                            "name": c,
                            # metrics-server's own units: nanocores and KiB
                            "usage": {"cpu": f"{cpu * 1_000_000}n", "memory": f"{mem // 1024}Ki"},
                        }
                        for c, (cpu, mem) in usage.items()
                    ],
                }
            )
        return items

    def node_metrics(self) -> list[Obj]:
        with self.lock:
            nodes = self.select(BY_KIND["Node"], None)
            per_node: dict[str, list[int]] = {n["metadata"]["name"]: [0, 0] for n in nodes}
            for pod in self.select(BY_KIND["Pod"], None):
                node = pod["spec"].get("nodeName")
                usage = self.usage.get((pod["metadata"]["namespace"], pod["metadata"]["name"]))
                if node in per_node and usage:
                    for cpu, mem in usage.values():
                        per_node[node][0] += cpu
                        per_node[node][1] += mem
        now = timestamp(time.time())
        return [
            {
                "kind": "NodeMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": name, "creationTimestamp": now},
                "timestamp": now,
                "window": "20.05s",
                "usage": {"cpu": f"{cpu * 1_000_000}n", "memory": f"{mem // 1024}Ki"},
            }
            for name, (cpu, mem) in sorted(per_node.items())
        ]

    # -- controllers ------------------------------------------------------------------------

    def owned(self, plural: str, owner: Obj) -> list[Obj]:
        uid = owner["metadata"]["uid"]
        namespace = owner["metadata"].get("namespace", "")
        return [
            obj
            for (p, ns, _), obj in sorted(self.objects.items())
            if p == plural
            and ns == namespace
            and any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences", []))
        ]

    def new_replicaset(
        self, dep: Obj, template: Obj, *, revision: int, created: float | None = None
    ) -> Obj:
        meta = dep["metadata"]
        pod_hash = template_hash(template)
        template = copy.deepcopy(template)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(dep["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        rs: Obj = {
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "labels": copy.deepcopy(template["metadata"]["labels"]),
                "annotations": {
                    REVISION: str(revision),
                    "deployment.kubernetes.io/desired-replicas": str(
                        dep["spec"].get("replicas", 1)
                    ),
                    "deployment.kubernetes.io/max-replicas": str(dep["spec"].get("replicas", 1)),
                },
                "ownerReferences": [_owner_ref(dep)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0, "observedGeneration": 1},
        }
        return self.store(BY_KIND["ReplicaSet"], rs, created=created)

    def reconcile_deployment(self, dep: Obj, *, now: float | None = None) -> None:
        now = now or time.time()
        template = dep["spec"]["template"]
        pod_hash = template_hash(template)
        sets = self.owned("replicasets", dep)
        current = next(
            (rs for rs in sets if rs["metadata"]["labels"].get(HASH_LABEL) == pod_hash), None
        )
        top = max((int(rs["metadata"]["annotations"].get(REVISION, 0)) for rs in sets), default=0)
        if current is None:
            current = self.new_replicaset(dep, template, revision=top + 1, created=now)
        elif int(current["metadata"]["annotations"][REVISION]) < top:  # a rollback
            current["metadata"]["annotations"][REVISION] = str(top + 1)
        desired = int(dep["spec"].get("replicas", 1))
        old = [rs for rs in sets if rs is not current]
        if self.rollouts == "complete":
            for rs in old:
                self._scale_replicaset(dep, rs, 0, now=now)
            self._scale_replicaset(dep, current, desired, now=now)
        else:
            has_pods = bool(self._pods_of(current))
            surge = _count(
                dep["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", "25%"),
                desired,
                round_up=True,
            )
            target = desired if (has_pods or not old) else min(desired, max(surge, 1))
            self._scale_replicaset(dep, current, target, now=now)
        self.update_deployment_status(dep, now=now)
        self.reconcile_endpoints(dep["metadata"]["namespace"])

    def _pods_of(self, rs: Obj) -> list[Obj]:
        return self.owned("pods", rs)

    def _scale_replicaset(self, dep: Obj, rs: Obj, replicas: int, *, now: float) -> None:
        pods = self._pods_of(rs)
        before = int(rs["spec"].get("replicas", 0))
        rs["spec"]["replicas"] = replicas
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = str(
            dep["spec"].get("replicas", 1)
        )
        for _ in range(replicas - len(pods)):
            self.new_pod(rs, now=now, schedulable=self.rollouts == "complete")
        if len(pods) > replicas:
            # the controller removes not-ready pods first, then the newest
            doomed = sorted(
                pods, key=lambda p: (_ready(p), p["metadata"]["creationTimestamp"]), reverse=False
            )[: len(pods) - replicas]
            for pod in doomed:
                key = self.key(
                    BY_KIND["Pod"], pod["metadata"]["namespace"], pod["metadata"]["name"]
                )
                self.objects.pop(key, None)
        if before != replicas:
            verb = "up" if replicas > before else "down"
            self.event(
                dep,
                reason="ScalingReplicaSet",
                message=f"Scaled {verb} replica set {rs['metadata']['name']} to {replicas}",
                component="deployment-controller",
                now=now,
            )
        self._replicaset_status(rs)

    def _replicaset_status(self, rs: Obj) -> None:
        pods = self._pods_of(rs)
        ready = sum(1 for p in pods if _ready(p))
        rs["status"] = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if not ready:
            del rs["status"]["readyReplicas"], rs["status"]["availableReplicas"]
        rs["metadata"]["resourceVersion"] = self._next_rv()

    def new_pod(
        self,
        rs: Obj,
        *,
        now: float,
        schedulable: bool = True,
        node: str | None = None,
        owner_kind: str = "ReplicaSet",
    ) -> Obj:
        """A pod as its controller, the scheduler and the kubelet would leave it: Running and
        Ready on a node, or Pending with the scheduler's FailedScheduling event."""
        rs_name = rs["metadata"]["name"]
        seq = self._seq.get(rs_name, 0)
        self._seq[rs_name] = seq + 1
        template = rs["spec"]["template"]
        name = f"{rs_name}-{safe_hash(f'{rs_name}:{seq}', 5)}"
        spec = copy.deepcopy(template["spec"])
        pod: Obj = {
            "metadata": {
                "name": name,
                "generateName": f"{rs_name}-",
                "namespace": rs["metadata"]["namespace"],
                "labels": copy.deepcopy(template["metadata"].get("labels", {})),
                "annotations": copy.deepcopy(template["metadata"].get("annotations", {})),
                "ownerReferences": [_owner_ref(rs, kind=owner_kind)],
            },
            "spec": spec,
        }
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("schedulerName", "default-scheduler")
        nodes = self.schedulable_nodes()
        chosen = node or (self._pick_node(rs, nodes) if schedulable and nodes else None)
        if chosen is None:
            pod["status"] = self._pending_status(len(self._all_nodes()), now)
        else:
            spec["nodeName"] = chosen
            pod["status"] = self._running_status(pod, chosen, now)
        stored = self.store(BY_KIND["Pod"], pod, created=now)
        if chosen is None:
            self.event(
                stored,
                reason="FailedScheduling",
                message=pod["status"]["conditions"][0]["message"],
                component="default-scheduler",
                type_="Warning",
                now=now,
            )
        deployment = _deployment_name(rs)
        namespace = rs["metadata"]["namespace"]
        for container in (c["name"] for c in spec.get("containers", [])):
            lines = self.default_logs.get((deployment, container), [])
            self.logs[(namespace, name, container)] = [(now, line) for line in lines]
        if deployment in self.default_usage:
            self.usage[(namespace, name)] = dict(self.default_usage[deployment])
        return stored

    def _all_nodes(self) -> list[Obj]:
        return [o for (p, _, _), o in sorted(self.objects.items()) if p == "nodes"]

    def schedulable_nodes(self) -> list[Obj]:
        return [
            n
            for n in self._all_nodes()
            if not n.get("spec", {}).get("unschedulable")
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]

    def _pick_node(self, rs: Obj, nodes: list[Obj]) -> str:
        """Spread: fewest pods of this ReplicaSet, then fewest pods, then by name."""
        pods = [o for (p, _, _), o in self.objects.items() if p == "pods"]
        mine = {p["spec"].get("nodeName") for p in self._pods_of(rs)}

        def load(node: Obj) -> tuple[int, int, str]:
            name = node["metadata"]["name"]
            on_node = [p for p in pods if p["spec"].get("nodeName") == name]
            return (
                sum(1 for p in self._pods_of(rs) if p["spec"].get("nodeName") == name)
                if name in mine
                else 0,
                len(on_node),
                name,
            )

        chosen: str = min(nodes, key=load)["metadata"]["name"]
        return chosen

    def _running_status(self, pod: Obj, node_name: str, now: float) -> Obj:
        self._ip += 1
        names = [n["metadata"]["name"] for n in self._all_nodes()]
        index = names.index(node_name)
        node = self._all_nodes()[index]
        host_ip = next(
            (
                a["address"]
                for a in node["status"].get("addresses", [])
                if a["type"] == "InternalIP"
            ),
            "",
        )
        started = timestamp(now)
        spec = pod["spec"]

        def status_of(container: Obj, *, init: bool) -> Obj:
            image = container.get("image", "")
            digest = hashlib.sha256(image.encode()).hexdigest()
            cid = hashlib.sha256(f"{pod['metadata']['name']}/{container['name']}".encode())
            entry: Obj = {
                "name": container["name"],
                "image": image,
                "imageID": f"docker.io/library/{image.split(':')[0]}@sha256:{digest}",
                "containerID": f"containerd://{cid.hexdigest()}",
                "ready": not init,
                "started": not init,
                "restartCount": 0,
                "lastState": {},
            }
            if init:
                entry["state"] = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": started,
                        "finishedAt": started,
                        "containerID": entry["containerID"],
                    }
                }
            else:
                entry["state"] = {"running": {"startedAt": started}}
            return entry

        status: Obj = {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": started}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": f"10.244.{index + 1}.{self._ip}",
            "podIPs": [{"ip": f"10.244.{index + 1}.{self._ip}"}],
            "startTime": started,
            "containerStatuses": [status_of(c, init=False) for c in spec.get("containers", [])],
            "qosClass": _qos(spec),
        }
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [
                status_of(c, init=True) for c in spec["initContainers"]
            ]
        return status

    @staticmethod
    def _pending_status(nodes: int, now: float) -> Obj:
        return {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": timestamp(now),
                    "reason": "Unschedulable",
                    "message": UNSCHEDULABLE.format(n=nodes),
                }
            ],
            "qosClass": "Burstable",
        }

    def update_deployment_status(self, dep: Obj, *, now: float | None = None) -> None:
        now = now or time.time()
        sets = self.owned("replicasets", dep)
        pod_hash = template_hash(dep["spec"]["template"])
        current = next(rs for rs in sets if rs["metadata"]["labels"].get(HASH_LABEL) == pod_hash)
        for rs in sets:
            self._replicaset_status(rs)
        pods = [p for rs in sets for p in self._pods_of(rs)]
        updated = len(self._pods_of(current))
        ready = sum(1 for p in pods if _ready(p))
        desired = int(dep["spec"].get("replicas", 1))
        max_unavailable = _count(
            dep["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable", "25%"),
            desired,
            round_up=False,
        )
        old = dep.get("status", {})
        conditions = {c["type"]: c for c in old.get("conditions", [])}
        rs_name = current["metadata"]["name"]
        complete = updated == desired and len(pods) == updated and ready >= updated
        if complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif self.rollouts == "stuck":
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            previous = conditions.get("Progressing", {})
            if previous.get("reason") == "NewReplicaSetAvailable" and rs_name in previous.get(
                "message", ""
            ):  # the rollout had finished; a pod failing later does not reopen it
                progressing = ("True", "NewReplicaSetAvailable", previous["message"])
            else:
                progressing = (
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                )
        available = (
            ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            if ready >= desired - max_unavailable
            else (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        )
        new_conditions = []
        for kind, (status, reason, message) in (
            ("Available", available),
            ("Progressing", progressing),
        ):
            before = conditions.get(kind, {})
            same = (before.get("status"), before.get("reason"), before.get("message")) == (
                status,
                reason,
                message,
            )
            new_conditions.append(
                {
                    "type": kind,
                    "status": status,
                    "lastUpdateTime": before["lastUpdateTime"] if same else timestamp(now),
                    "lastTransitionTime": before.get("lastTransitionTime", timestamp(now))
                    if before.get("status") == status
                    else timestamp(now),
                    "reason": reason,
                    "message": message,
                }
            )
        status_obj: Obj = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(0, len(pods) - ready)
            if len(pods) > desired
            else max(0, desired - ready),
            "conditions": new_conditions,
        }
        for zero in (
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "updatedReplicas",
        ):
            if status_obj[zero] == 0:
                del status_obj[zero]  # the API server omits zero counts
        dep["status"] = status_obj
        dep["metadata"]["resourceVersion"] = self._next_rv()

    def reconcile_endpoints(self, namespace: str) -> None:
        svc_res, ep_res = BY_KIND["Service"], BY_KIND["Endpoints"]
        pods = [p for p in self.select(BY_KIND["Pod"], namespace) if p["status"].get("podIP")]
        for svc in self.select(svc_res, namespace):
            selector = svc["spec"].get("selector")
            if not selector:
                continue  # endpoints of a selector-less service are managed by hand
            name = svc["metadata"]["name"]
            chosen = [
                p
                for p in pods
                if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
            ]
            subset: Obj = {}
            ready = [_address(p) for p in chosen if _ready(p)]
            not_ready = [_address(p) for p in chosen if not _ready(p)]
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            if subset:
                subset["ports"] = [
                    {
                        "name": port.get("name", ""),
                        "port": _target_port(port, chosen[0]),
                        "protocol": port.get("protocol", "TCP"),
                    }
                    for port in svc["spec"].get("ports", [])
                ]
            key = self.key(ep_res, namespace, name)
            existing = self.objects.get(key)
            body: Obj = {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": copy.deepcopy(svc["metadata"].get("labels", {})),
                },
            }
            if subset:
                body["subsets"] = [subset]
            if existing is None:
                self.store(ep_res, body)
            elif existing.get("subsets") != body.get("subsets"):
                if subset:
                    existing["subsets"] = body["subsets"]
                else:
                    existing.pop("subsets", None)
                existing["metadata"]["resourceVersion"] = self._next_rv()

    def event(
        self,
        obj: Obj,
        *,
        reason: str,
        message: str,
        component: str,
        type_: str = "Normal",
        count: int = 1,
        now: float | None = None,
        first: float | None = None,
    ) -> Obj:
        now = now or time.time()
        meta = obj["metadata"]
        self._seq["event"] = self._seq.get("event", 0) + 1
        suffix = hashlib.sha256(f"{meta['name']}{reason}{self._seq['event']}".encode()).hexdigest()
        event: Obj = {
            "metadata": {"name": f"{meta['name']}.{suffix[:16]}", "namespace": meta["namespace"]},
            "involvedObject": {
                "kind": obj["kind"],
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": obj["apiVersion"],
                "resourceVersion": meta["resourceVersion"],
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": timestamp(first or now),
            "lastTimestamp": timestamp(now),
            "count": count,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": "",
        }
        return self.store(BY_KIND["Event"], event, created=first or now)

    def _pod_gone(self, pod: Obj) -> None:
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for container in list(self.logs):
            if container[:2] == (namespace, name):
                del self.logs[container]
        self.usage.pop((namespace, name), None)
        for ref in pod["metadata"].get("ownerReferences", []):
            if ref.get("kind") != "ReplicaSet":
                continue
            rs = self.objects.get(("replicasets", namespace, ref["name"]))
            dep_name = _deployment_name(rs) if rs else ""
            dep = self.objects.get(("deployments", namespace, dep_name))
            if rs is not None and dep is not None:
                self._scale_replicaset(dep, rs, int(rs["spec"]["replicas"]), now=time.time())
                self.update_deployment_status(dep)
        self.reconcile_endpoints(namespace)

    def _sync_unschedulable_taint(self, node: Obj) -> None:
        taints = [
            t
            for t in node["spec"].get("taints", [])
            if t.get("key") != "node.kubernetes.io/unschedulable"
        ]
        if node["spec"].get("unschedulable"):
            taints.append(
                {
                    "key": "node.kubernetes.io/unschedulable",
                    "effect": "NoSchedule",
                    "timeAdded": timestamp(time.time()),
                }
            )
        if taints:
            node["spec"]["taints"] = taints
        else:
            node["spec"].pop("taints", None)


# -- small helpers ----------------------------------------------------------------------------


def _owner_ref(owner: Obj, *, kind: str | None = None) -> Obj:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": kind or owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _deployment_name(rs: Obj) -> str:
    for ref in rs["metadata"].get("ownerReferences", []):
        if ref.get("kind") == "Deployment":
            return str(ref["name"])
    return ""


def _ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def _address(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {
        "ip": pod["status"]["podIP"],
        "nodeName": pod["spec"].get("nodeName", ""),
        "targetRef": {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
    }


def _target_port(port: Obj, pod: Obj) -> int:
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    for container in pod["spec"].get("containers", []):
        for p in container.get("ports", []):
            if p.get("name") == target:
                return int(p["containerPort"])
    return int(port["port"])


def _count(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString such as `25%` or `1`, resolved against `total`."""
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def _qos(spec: Obj) -> str:
    containers = spec.get("containers", [])
    if not any(c.get("resources") for c in containers):
        return "BestEffort"
    if all(
        c.get("resources", {}).get("limits")
        and c["resources"].get("requests", c["resources"]["limits"]) == c["resources"]["limits"]
        for c in containers
    ):
        return "Guaranteed"
    return "Burstable"
