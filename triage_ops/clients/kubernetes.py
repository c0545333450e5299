"""Kubernetes for triage-ops, over the official `kubernetes` client: the only module that
imports it (lazily: the package alone takes longer to import than `triage-ops --help`
may take).

Everything returned is plain data: objects as the API server sends them (dicts in the
API's camelCase JSON, `kind`/`metadata`/`spec`/`status`), or small dataclasses for what
is computed here (rollout status, drain result, pod usage). The rest of triage-ops never
touches the client's model classes.

Calls go through the official client's `ApiClient` (kubeconfig and in-cluster loading,
token refresh, TLS, the REST layer) with the API paths written here, not through the
generated `CoreV1Api`-style classes: importing those builds a few hundred pydantic models
and costs 4-7 s per process (measured with kubernetes 37), more than a whole
`triage-ops incident p0` may take. The JSON is read raw, which also keeps fields the
installed client's models do not know.

Every call carries `_request_timeout` (the run's timeout, as a total per request) and
urllib3 retries are off, so a server that accepts the connection and never answers costs
one timeout, not four. Failures become the typed errors of `triage_ops.clients.errors`,
naming the API server's URL and never the credentials.

Changes support SERVER-SIDE dry run (`dryRun=All`): the server validates and computes the
object it would store (admission, defaulting, generation bump) and stores nothing; the
result is what `--dry-run` shows.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

from triage_core.service.settings import Secret
from triage_ops.clients.errors import (
    AuthFailed,
    BadResponse,
    ClientError,
    Conflict,
    NotFound,
    TimedOut,
    Unreachable,
)
from triage_ops.errors import UsageError

SYSTEM = "kubernetes"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"
MIRROR = "kubernetes.io/config.mirror"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"

Obj = dict[str, Any]


@dataclass(frozen=True)
class RolloutStatus:
    """kubectl's `rollout status` for one deployment, computed the same way."""

    deployment: str
    done: bool
    stuck: bool  # Progressing condition says ProgressDeadlineExceeded
    phase: str  # observing | updating | terminating | available | complete | deadline-exceeded
    message: str  # kubectl's words
    generation: int
    observed_generation: int
    desired: int
    updated: int
    total: int
    available: int
    ready: int


@dataclass(frozen=True)
class Usage:
    cpu_millicores: float
    memory_bytes: int


@dataclass(frozen=True)
class PodUsage:
    pod: str
    containers: Mapping[str, Usage]


@dataclass(frozen=True)
class DrainResult:
    node: str
    dry_run: bool
    cordoned: bool
    evicted: tuple[str, ...] = ()  # namespace/name
    skipped: Mapping[str, str] = field(default_factory=dict)  # pod -> why (DaemonSet, mirror)
    blocked: Mapping[str, str] = field(default_factory=dict)  # pod -> the API's refusal (PDB)
    remaining: tuple[str, ...] = ()  # pods still on the node when the drain gave up

    @property
    def complete(self) -> bool:
        return not self.blocked and not self.remaining

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "dry_run": self.dry_run,
            "cordoned": self.cordoned,
            "evicted": list(self.evicted),
            "skipped": dict(self.skipped),
            "blocked": dict(self.blocked),
            "remaining": list(self.remaining),
            "complete": self.complete,
        }


class KubernetesClient:
    def __init__(
        self, api_client: Any, *, namespace: str, timeout: float, context: str = ""
    ) -> None:
        self.api = api_client
        self.namespace = namespace
        self.timeout = timeout
        self.context = context
        configuration = api_client.configuration
        self.host: str = str(configuration.host)
        auth = (configuration.api_key or {}).get("authorization") or (
            configuration.api_key or {}
        ).get("BearerToken")
        self._credential = str(auth).split(" ", 1)[-1] if auth else ""

    @classmethod
    def from_config(cls, config: Any, *, timeout: float) -> KubernetesClient:
        """kubeconfig (`config.kubeconfig`, else $KUBECONFIG, else ~/.kube/config) with
        `config.kube_context` (else its current context); in-cluster config when there is
        no kubeconfig. Namespace: `config.namespace`, else the context's, else default."""
        from kubernetes import config as kube_config
        from kubernetes.client.api_client import ApiClient
        from kubernetes.client.configuration import Configuration
        from kubernetes.config.config_exception import ConfigException

        configuration = Configuration()
        explicit = str(config.kubeconfig or "")
        path = explicit or os.environ.get("KUBECONFIG", "") or str(Path("~/.kube/config"))
        files = [str(Path(p).expanduser()) for p in path.split(os.pathsep) if p]
        context = str(config.kube_context or "") or None
        context_namespace = ""
        try:
            if any(Path(f).is_file() for f in files):
                kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=os.pathsep.join(files),
                    context=context,
                    client_configuration=configuration,
                    persist_config=False,
                )
                contexts, active = kube_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                    os.pathsep.join(files)
                )
                chosen = next(
                    (c for c in contexts if c["name"] == (context or active["name"])), active
                )
                context = chosen["name"]
                context_namespace = str(chosen.get("context", {}).get("namespace") or "")
            elif explicit:
                raise UsageError(f"kubeconfig {explicit} does not exist")
            else:
                kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
                context = "in-cluster"
                if SA_NAMESPACE.is_file():
                    context_namespace = SA_NAMESPACE.read_text(encoding="utf-8").strip()
        except ConfigException as exc:
            where = explicit or os.environ.get("KUBECONFIG") or "~/.kube/config or in-cluster"
            raise UsageError(f"no usable Kubernetes configuration ({where}): {exc}") from exc
        configuration.retries = False  # one attempt per call: the timeout is the budget
        namespace = str(config.namespace or "") or context_namespace or "default"
        return cls(
            ApiClient(configuration),
            namespace=namespace,
            timeout=timeout,
            context=context or "",
        )

    # -- plumbing --------------------------------------------------------------------------

    def _request(
        self,
        what: str,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        dry_run: bool = False,
    ) -> Any:
        """One API call with the run's timeout: parsed JSON (text for logs), typed errors."""
        import urllib3.exceptions
        from kubernetes.client.exceptions import ApiException

        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        if dry_run:
            params.append(("dryRun", "All"))
        headers = {"Accept": "application/json, */*"}
        if content_type or body is not None:
            headers["Content-Type"] = content_type or "application/json"
        try:
            request = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=params,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(*request, _request_timeout=self.timeout)
            raw: bytes = response.read()
            status = int(response.status)
            received = str(response.getheader("Content-Type") or "")
        except ApiException as exc:  # the REST layer's TLS failures
            raise self._api_error(int(exc.status or 0), str(exc.reason or ""), what) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._transport_error(exc, what) from exc
        if not 200 <= status <= 299:
            raise self._api_error(status, raw.decode("utf-8", errors="replace"), what)
        if received.startswith("application/json"):
            import json

            try:
                return json.loads(raw)
            except ValueError as exc:
                raise BadResponse(
                    f"{self._where()}: {what}: the answer is not JSON", system=SYSTEM
                ) from exc
        return raw.decode("utf-8", errors="replace")

    def _ns(self, resource: str, name: str = "", sub: str = "", *, group: str = "") -> str:
        """The path of a namespaced resource: /api/v1/namespaces/NS/pods[/NAME[/SUB]]."""
        base = f"/apis/{group}" if group else "/api/v1"
        path = f"{base}/namespaces/{quote(self.namespace, safe='')}/{resource}"
        if name:
            path += "/" + quote(name, safe="")
        if sub:
            path += "/" + sub
        return path

    def _where(self) -> str:
        return f"Kubernetes API at {self.host}"

    def _scrub(self, text: str) -> str:
        return text.replace(self._credential, "***") if self._credential else text

    def _api_error(self, status: int, body: str, what: str) -> ClientError:
        """A `Status` answer -> the typed error; its message is the server's own words."""
        import json

        message = body.strip()[:300]
        try:
            parsed = json.loads(body) if body else {}
            if isinstance(parsed, dict) and parsed.get("message"):
                message = str(parsed["message"])
        except ValueError:
            pass
        message = self._scrub(message)
        text = f"{self._where()}: {what}: {message} (HTTP {status})"
        if status == 0:
            return Unreachable(self._scrub(f"{self._where()}: {what}: {message}"), system=SYSTEM)
        if status == 404:
            return NotFound(text, system=SYSTEM)
        if status == 409:
            return Conflict(text, system=SYSTEM)
        if status in (401, 403):
            return AuthFailed(text, system=SYSTEM)
        return BadResponse(text, system=SYSTEM, status=status)

    def _transport_error(self, exc: BaseException, what: str) -> ClientError:
        import urllib3.exceptions as u3

        reason: BaseException = exc
        while isinstance(reason, u3.MaxRetryError) and reason.reason is not None:
            reason = reason.reason
        if isinstance(reason, u3.NewConnectionError):  # (a subclass of ConnectTimeoutError)
            detail = str(reason).split(": ", 1)[-1]
            return Unreachable(
                self._scrub(f"{self._where()}: unreachable: {detail} ({what})"), system=SYSTEM
            )
        if isinstance(reason, u3.TimeoutError | TimeoutError):
            return TimedOut(
                f"{self._where()}: no answer within {self.timeout:g} s ({what})", system=SYSTEM
            )
        detail = str(reason).split(": ", 1)[-1] or type(reason).__name__
        return Unreachable(
            self._scrub(f"{self._where()}: unreachable: {detail} ({what})"), system=SYSTEM
        )

    # -- reads -----------------------------------------------------------------------------

    def version(self) -> Obj:
        return _obj(self._request("GET /version", "GET", "/version"))

    def list_pods(
        self,
        selector: str | None = None,
        *,
        field_selector: str | None = None,
        all_namespaces: bool = False,
    ) -> list[Obj]:
        what = "list pods" + (f" ({selector})" if selector else "")
        path = "/api/v1/pods" if all_namespaces else self._ns("pods")
        query = {"labelSelector": selector, "fieldSelector": field_selector}
        return _items(self._request(what, "GET", path, query=query))

    def get_pod(self, name: str) -> Obj:
        return _obj(self._request(f"get pod {name}", "GET", self._ns("pods", name)))

    def pod_logs(
        self,
        name: str,
        container: str | None = None,
        tail_lines: int | None = 100,
        since_seconds: int | None = None,
    ) -> str:
        query = {"container": container, "tailLines": tail_lines, "sinceSeconds": since_seconds}
        data = self._request(
            f"logs of pod {name}", "GET", self._ns("pods", name, "log"), query=query
        )
        return data if isinstance(data, str) else ""

    def list_deployments(self) -> list[Obj]:
        return _items(
            self._request("list deployments", "GET", self._ns("deployments", group="apps/v1"))
        )

    def get_deployment(self, name: str) -> Obj:
        path = self._ns("deployments", name, group="apps/v1")
        return _obj(self._request(f"get deployment {name}", "GET", path))

    def get_scale(self, deployment: str) -> Obj:
        path = self._ns("deployments", deployment, "scale", group="apps/v1")
        return _obj(self._request(f"get deployment {deployment} scale", "GET", path))

    def list_replicasets(self, selector: str | None = None) -> list[Obj]:
        path = self._ns("replicasets", group="apps/v1")
        return _items(
            self._request("list replicasets", "GET", path, query={"labelSelector": selector})
        )

    def list_services(self) -> list[Obj]:
        return _items(self._request("list services", "GET", self._ns("services")))

    def get_endpoints(self, name: str) -> Obj:
        return _obj(self._request(f"get endpoints {name}", "GET", self._ns("endpoints", name)))

    def get_ingress(self, name: str) -> Obj:
        path = self._ns("ingresses", name, group="networking.k8s.io/v1")
        return _obj(self._request(f"get ingress {name}", "GET", path))

    def list_events(self, field_selector: str | None = None) -> list[Obj]:
        query = {"fieldSelector": field_selector}
        return _items(self._request("list events", "GET", self._ns("events"), query=query))

    def list_hpas(self) -> list[Obj]:
        path = self._ns("horizontalpodautoscalers", group="autoscaling/v2")
        return _items(self._request("list horizontalpodautoscalers", "GET", path))

    def list_nodes(self) -> list[Obj]:
        return _items(self._request("list nodes", "GET", "/api/v1/nodes"))

    def get_node(self, name: str) -> Obj:
        path = "/api/v1/nodes/" + quote(name, safe="")
        return _obj(self._request(f"get node {name}", "GET", path))

    # -- secrets ---------------------------------------------------------------------------

    def get_secret(self, name: str) -> dict[str, Secret]:
        """The secret's values, decoded; `Secret` strings (their repr is masked)."""
        obj = self._read_secret(name)
        try:
            return {
                k: Secret(base64.b64decode(v).decode("utf-8"))
                for k, v in (obj.get("data") or {}).items()
            }
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadResponse(
                f"{self._where()}: secret {name} holds a value that is not base64 UTF-8",
                system=SYSTEM,
            ) from exc

    def get_secret_metadata(self, name: str) -> Obj:
        """The secret's metadata only (creationTimestamp, resourceVersion, labels...): for
        age and audit, never the values (kubectl's last-applied copy holds them: dropped)."""
        return dict(redact_secret(self._read_secret(name))["metadata"])

    def _read_secret(self, name: str) -> Obj:
        return _obj(self._request(f"get secret {name}", "GET", self._ns("secrets", name)))

    def replace_secret(self, name: str, data: Mapping[str, str], *, dry_run: bool) -> Obj:
        """Replaces the secret's data whole (keys not given are dropped), guarded by the
        resourceVersion just read: a concurrent change gives Conflict, not a lost update.
        Returns the stored object with its values redacted."""
        current = self._read_secret(name)
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                k: v
                for k, v in current["metadata"].items()
                if k in ("name", "namespace", "labels", "annotations", "resourceVersion")
            },
            "type": current.get("type", "Opaque"),
            "data": _encode(data),
        }
        stored = self._request(
            f"replace secret {name}", "PUT", self._ns("secrets", name), body=body, dry_run=dry_run
        )
        return redact_secret(_obj(stored))

    def patch_secret(self, name: str, data: Mapping[str, str], *, dry_run: bool) -> Obj:
        """Sets the given keys (others stay). Returns the stored object, values redacted."""
        stored = self._request(
            f"patch secret {name}",
            "PATCH",
            self._ns("secrets", name),
            body={"data": _encode(data)},
            content_type=MERGE_PATCH,
            dry_run=dry_run,
        )
        return redact_secret(_obj(stored))

    # -- deployments -----------------------------------------------------------------------

    def _patch_deployment(self, name: str, body: Obj, *, what: str, dry_run: bool) -> Obj:
        return _obj(
            self._request(
                what,
                "PATCH",
                self._ns("deployments", name, group="apps/v1"),
                body=body,
                content_type=STRATEGIC_PATCH,
                dry_run=dry_run,
            )
        )

    def rollout_restart(self, deployment: str, *, dry_run: bool, at: str | None = None) -> Obj:
        """`kubectl rollout restart`: stamps the pod template's restartedAt annotation,
        which changes the template and so rolls every pod. `at` (RFC 3339) lets a plan's
        dry run and the apply use the same value."""
        stamp = at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        return self._patch_deployment(
            deployment, body, what=f"rollout restart deployment {deployment}", dry_run=dry_run
        )

    def scale(self, deployment: str, replicas: int, *, dry_run: bool) -> Obj:
        """Through the scale subresource, as `kubectl scale` does; returns the Scale."""
        return _obj(
            self._request(
                f"scale deployment {deployment} to {replicas}",
                "PATCH",
                self._ns("deployments", deployment, "scale", group="apps/v1"),
                body={"spec": {"replicas": int(replicas)}},
                content_type=MERGE_PATCH,
                dry_run=dry_run,
            )
        )

    def set_resources(
        self,
        deployment: str,
        container: str,
        *,
        requests: Mapping[str, str] | None = None,
        limits: Mapping[str, str] | None = None,
        dry_run: bool,
    ) -> Obj:
        """`kubectl set resources`: a strategic merge patch of one container (by name);
        changes the pod template, so every pod is replaced (rolling)."""
        current = self.get_deployment(deployment)
        names = [c["name"] for c in current["spec"]["template"]["spec"].get("containers", [])]
        if container not in names:
            raise NotFound(
                f"{self._where()}: deployment {deployment} has no container {container}"
                f" (containers: {', '.join(names)})",
                system=SYSTEM,
            )
        resources: Obj = {}
        if requests:
            resources["requests"] = dict(requests)
        if limits:
            resources["limits"] = dict(limits)
        body = {
            "spec": {
                "template": {"spec": {"containers": [{"name": container, "resources": resources}]}}
            }
        }
        return self._patch_deployment(
            deployment,
            body,
            what=f"set resources of {deployment}/{container}",
            dry_run=dry_run,
        )

    def rollout_status(self, deployment: str) -> RolloutStatus:
        return rollout_status(self.get_deployment(deployment))

    def patch_hpa(
        self,
        name: str,
        *,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
        dry_run: bool,
    ) -> Obj:
        spec: Obj = {}
        if min_replicas is not None:
            spec["minReplicas"] = int(min_replicas)
        if max_replicas is not None:
            spec["maxReplicas"] = int(max_replicas)
        return _obj(
            self._request(
                f"patch horizontalpodautoscaler {name}",
                "PATCH",
                self._ns("horizontalpodautoscalers", name, group="autoscaling/v2"),
                body={"spec": spec},
                content_type=MERGE_PATCH,
                dry_run=dry_run,
            )
        )

    # -- nodes -----------------------------------------------------------------------------

    def cordon(self, node: str, *, dry_run: bool, unschedulable: bool = True) -> Obj:
        """`kubectl cordon` (or uncordon with unschedulable=False)."""
        verb = "cordon" if unschedulable else "uncordon"
        return _obj(
            self._request(
                f"{verb} node {node}",
                "PATCH",
                "/api/v1/nodes/" + quote(node, safe=""),
                body={"spec": {"unschedulable": unschedulable or None}},
                content_type=STRATEGIC_PATCH,
                dry_run=dry_run,
            )
        )

    def evict(self, pod: str, namespace: str, *, dry_run: bool) -> str | None:
        """Asks the Eviction API to evict one pod: None when it will go, else the API's
        refusal (429: a PodDisruptionBudget would be violated; retry later)."""
        body: Obj = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": namespace},
        }
        if dry_run:
            body["deleteOptions"] = {"dryRun": ["All"]}
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}"
        what = f"evict pod {namespace}/{pod}"
        try:
            self._request(
                what,
                "POST",
                path + "/eviction",
                body=body,
                dry_run=dry_run,
            )
        except BadResponse as exc:
            if exc.status == 429:  # the server's own words, without our prefix
                prefix = f"{self._where()}: {what}: "
                return str(exc).removeprefix(prefix).removesuffix(" (HTTP 429)")
            raise
        except NotFound:
            return None  # already gone
        return None

    def drain(
        self,
        node: str,
        *,
        dry_run: bool,
        ignore_daemonsets: bool = True,
        timeout: float = 60.0,
        poll: float = 1.0,
    ) -> DrainResult:
        """`kubectl drain NODE --ignore-daemonsets --delete-emptydir-data`: cordon, then
        evict every pod on the node through the Eviction API (so PodDisruptionBudgets are
        respected: a 429 is retried every `poll` s until `timeout`), then wait for the
        evicted pods to leave. DaemonSet pods (which would come straight back) and mirror
        pods are skipped. With dry_run everything goes through the server's dry run once."""
        self.cordon(node, dry_run=dry_run)
        pods = self.list_pods(field_selector=f"spec.nodeName={node}", all_namespaces=True)
        skipped: dict[str, str] = {}
        pending: list[tuple[str, str]] = []
        for pod in pods:
            meta = pod["metadata"]
            ident = f"{meta['namespace']}/{meta['name']}"
            owners = [ref.get("kind") for ref in meta.get("ownerReferences", [])]
            if MIRROR in (meta.get("annotations") or {}):
                skipped[ident] = "mirror pod (static, managed by the kubelet)"
            elif "DaemonSet" in owners:
                if not ignore_daemonsets:
                    raise UsageError(
                        f"cannot drain {node}: DaemonSet-managed pod {ident} (ignore_daemonsets)"
                    )
                skipped[ident] = "DaemonSet-managed"
            else:
                pending.append((meta["namespace"], meta["name"]))
        deadline = time.monotonic() + timeout
        evicted: list[str] = []
        blocked: dict[str, str] = {}
        while pending:
            still: list[tuple[str, str]] = []
            for namespace, name in pending:
                refusal = self.evict(name, namespace, dry_run=dry_run)
                if refusal is None:
                    evicted.append(f"{namespace}/{name}")
                    blocked.pop(f"{namespace}/{name}", None)
                else:
                    blocked[f"{namespace}/{name}"] = refusal
                    still.append((namespace, name))
            pending = still
            if not pending or dry_run or time.monotonic() + poll > deadline:
                break
            time.sleep(poll)
        remaining: list[str] = []
        if not dry_run:
            wanted = set(evicted)
            while True:
                on_node = {
                    f"{p['metadata']['namespace']}/{p['metadata']['name']}"
                    for p in self.list_pods(
                        field_selector=f"spec.nodeName={node}", all_namespaces=True
                    )
                }
                remaining = sorted(on_node & wanted)
                if not remaining or time.monotonic() + poll > deadline:
                    break
                time.sleep(poll)
        return DrainResult(
            node=node,
            dry_run=dry_run,
            cordoned=True,
            evicted=tuple(evicted),
            skipped=skipped,
            blocked=blocked,
            remaining=tuple(remaining),
        )

    # -- metrics ---------------------------------------------------------------------------

    def top_pods(self) -> list[PodUsage]:
        """`kubectl top pods` from metrics.k8s.io; NotFound when metrics-server is absent."""
        path = self._ns("pods", group="metrics.k8s.io/v1beta1")
        try:
            data = self._request("list pod metrics", "GET", path)
        except NotFound as exc:
            raise NotFound(
                f"{self._where()}: metrics.k8s.io is not served (metrics-server is not installed)",
                system=SYSTEM,
            ) from exc
        usage = []
        for item in _items(data):
            containers = {
                c["name"]: Usage(
                    cpu_millicores=float(parse_quantity(c["usage"].get("cpu", "0")) * 1000),
                    memory_bytes=int(parse_quantity(c["usage"].get("memory", "0"))),
                )
                for c in item.get("containers", [])
            }
            usage.append(PodUsage(pod=item["metadata"]["name"], containers=containers))
        return usage


# -- pure helpers (no I/O): also used by the checks and actions ------------------------------


def rollout_status(deployment: Mapping[str, Any]) -> RolloutStatus:
    """kubectl's DeploymentStatusViewer, step for step."""
    meta, spec, status = (
        deployment["metadata"],
        deployment.get("spec", {}),
        deployment.get("status", {}),
    )
    name = str(meta["name"])
    generation = int(meta.get("generation", 0))
    observed = int(status.get("observedGeneration", 0))
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    total = int(status.get("replicas", 0))
    available = int(status.get("availableReplicas", 0))
    ready = int(status.get("readyReplicas", 0))

    def result(done: bool, phase: str, message: str, *, stuck: bool = False) -> RolloutStatus:
        return RolloutStatus(
            deployment=name,
            done=done,
            stuck=stuck,
            phase=phase,
            message=message,
            generation=generation,
            observed_generation=observed,
            desired=desired,
            updated=updated,
            total=total,
            available=available,
            ready=ready,
        )

    if generation > observed:
        return result(False, "observing", "Waiting for deployment spec update to be observed...")
    progressing: Mapping[str, Any] = next(
        (c for c in status.get("conditions", []) if c.get("type") == "Progressing"), {}
    )
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return result(
            False,
            "deadline-exceeded",
            f'deployment "{name}" exceeded its progress deadline',
            stuck=True,
        )
    if updated < desired:
        return result(
            False,
            "updating",
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of {desired}'
            " new replicas have been updated...",
        )
    if total > updated:
        return result(
            False,
            "terminating",
            f'Waiting for deployment "{name}" rollout to finish: {total - updated} old replicas'
            " are pending termination...",
        )
    if available < updated:
        return result(
            False,
            "available",
            f'Waiting for deployment "{name}" rollout to finish: {available} of {updated}'
            " updated replicas are available...",
        )
    return result(True, "complete", f'deployment "{name}" successfully rolled out')


_SUFFIXES = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes resource quantity (`250m`, `1.5`, `512Mi`, `123456789n`, `1e3`)."""
    text = str(value).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            number = text[: -len(suffix)]
            try:
                return Decimal(number) * _SUFFIXES[suffix]
            except InvalidOperation:
                break
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a Kubernetes quantity: {value!r}") from exc


def redact_secret(obj: Obj) -> Obj:
    """A Secret fit to show: keys kept, values (and kubectl's last-applied copy) gone."""
    shown = dict(obj)
    shown["data"] = {k: "<redacted>" for k in (obj.get("data") or {})}
    shown.pop("stringData", None)
    meta = dict(obj.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    meta.pop("managedFields", None)
    shown["metadata"] = meta
    return shown


def selector_string(selector: Mapping[str, Any]) -> str:
    """A LabelSelector's matchLabels as `?labelSelector=` text."""
    labels = selector.get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _encode(data: Mapping[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(str(v).encode("utf-8")).decode("ascii") for k, v in data.items()}


def _items(data: Any) -> list[Obj]:
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise BadResponse("Kubernetes API: a list answer without items", system=SYSTEM)
    return [item for item in data["items"] if isinstance(item, dict)]


def _obj(data: Any) -> Obj:
    if not isinstance(data, dict):
        raise BadResponse("Kubernetes API: the answer is not an object", system=SYSTEM)
    return data


def names(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(o["metadata"]["name"]) for o in objects]
