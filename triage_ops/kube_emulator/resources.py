"""The API resources the emulator serves, and the API server's error objects (`Status`).

One table drives routing, discovery (`/api/v1`, `/apis/<group>/<version>`) and the
`kind`/`apiVersion`/List kind of every response, so a resource added here is served
consistently everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_VERBS = ["create", "delete", "get", "list", "patch", "update"]


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(_VERBS)
    has_generation: bool = False  # metadata.generation counts spec changes
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`deployments.apps`, `pods`: how the API server names it in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = (
    Resource("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",)),
    Resource("", "v1", "nodes", "Node", namespaced=False, short_names=("no",)),
    Resource("", "v1", "pods", "Pod", short_names=("po",), subresources=("log", "eviction")),
    Resource("", "v1", "services", "Service", short_names=("svc",)),
    Resource("", "v1", "endpoints", "Endpoints", singular="endpoints", short_names=("ep",)),
    Resource("", "v1", "events", "Event", short_names=("ev",)),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    Resource(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        has_generation=True,
        subresources=("scale",),
    ),
    Resource("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), has_generation=True),
    Resource("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), has_generation=True),
    Resource(
        "networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",), has_generation=True
    ),
    Resource(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        short_names=("pdb",),
        has_generation=True,
    ),
    Resource(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
    ),
)

# metrics.k8s.io is served by metrics-server, not the API server: optional per scenario.
METRICS = (
    Resource("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", verbs=("get", "list")),
    Resource(
        "metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", namespaced=False, verbs=("get", "list")
    ),
)

BY_KIND = {r.kind: r for r in RESOURCES}


def lookup(group: str, version: str, plural: str, *, metrics: bool) -> Resource | None:
    for r in RESOURCES + (METRICS if metrics else ()):
        if (r.group, r.version, r.plural) == (group, version, plural):
            return r
    return None


@dataclass
class ApiError(Exception):
    """Becomes a `Status` object with the HTTP code, exactly as the API server sends it."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{resource.group_resource} "{name}" not found',
        {"name": name, "group": resource.group, "kind": resource.plural},
    )


def conflict(resource: Resource, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.group_resource} "{name}": the object has'
        " been modified; please apply your changes to the latest version and try again",
        {"name": name, "group": resource.group, "kind": resource.plural},
    )


def invalid(resource: Resource, name: str, field_path: str, problem: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f'{resource.kind} "{name}" is invalid: {field_path}: {problem}',
        {
            "name": name,
            "group": resource.group,
            "kind": resource.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": problem, "field": field_path}],
        },
    )


def success(code: int = 200, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": code,
    }
    if details:
        body["details"] = details
    return body
