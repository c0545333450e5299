"""The emulator's HTTP face: Kubernetes API paths on a real socket, a bearer token checked
like the API server does, and a small control API for tests under `/_emulator/`:

- `GET /_emulator/requests` (the request log: method, path, query, content type, status),
  `DELETE /_emulator/requests` (clear it);
- `POST /_emulator/scenario` `{"scenario": "crashloop"}`: load another scenario now;
- `POST /_emulator/rollouts` `{"rollouts": "stuck"}`: how the next rollouts end.

`/version`, `/healthz`, `/readyz` and `/livez` answer without a token, as a cluster's
public-info endpoints do; everything else wants `Authorization: Bearer <token>` (else 401).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from triage_ops.kube_emulator import scenario as scenarios
from triage_ops.kube_emulator.cluster import Cluster
from triage_ops.kube_emulator.resources import (
    METRICS,
    RESOURCES,
    ApiError,
    Resource,
    lookup,
)

CONTEXT = "triage-emulator"
NAMESPACE = "email-triage"
VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.2-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-06-11T00:00:00Z",
    "goVersion": "go1.22.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}
PUBLIC = {"/version", "/healthz", "/readyz", "/livez"}


class Emulator:
    """One emulated API server on loopback. `start()` returns its URL; `stop()` closes the
    socket and every open connection (a stopped emulator refuses, as a dead server would)."""

    def __init__(
        self,
        scenario: str = "healthy",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.host = host
        self.port = port
        self.token = token or secrets.token_urlsafe(24)
        self.cluster: Cluster = scenarios.build(scenario)
        self.requests: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def load(self, scenario: str, *, rollouts: str | None = None) -> None:
        cluster = scenarios.build(scenario)
        if rollouts:
            cluster.rollouts = rollouts
        self.cluster, self.scenario = cluster, scenario

    def start(self) -> str:
        server = _Server((self.host, self.port), _Handler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, *, context: str = CONTEXT, namespace: str = NAMESPACE) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-admin", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {
                        "cluster": context,
                        "user": f"{context}-admin",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": context,
            "preferences": {},
        }

    def write_kubeconfig(self, path: Path, **kwargs: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(yaml.safe_dump(self.kubeconfig(**kwargs), sort_keys=False), "utf-8")
        tmp.chmod(0o600)  # it holds the token
        tmp.replace(path)  # whole or absent: a waiting reader never sees half of it
        return path

    def record(self, entry: dict[str, Any]) -> None:
        with self._log_lock:
            self.requests.append(entry)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    emulator: Emulator

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            open_sockets, self._open = list(self._open), set()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "kube-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log endpoint is the record."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing ----------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        emulator = self.server.emulator
        url = urllib.parse.urlsplit(self.path)
        url = url._replace(path=url.path.rstrip("/") or "/")  # `/version/` is `/version`
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type")
        status = 500
        try:
            if url.path.startswith("/_emulator/"):
                status, body = self._control(method, url.path, raw)
            else:
                if url.path not in PUBLIC and not self._authorized():
                    raise ApiError(401, "Unauthorized", "Unauthorized")
                status, body = self._api(method, url.path, query, raw, content_type)
        except ApiError as exc:
            status, body = exc.code, exc.status()
        except (ValueError, KeyError, TypeError) as exc:
            status, body = 400, ApiError(400, "BadRequest", f"bad request: {exc}").status()
        if not url.path.startswith("/_emulator/"):
            emulator.record(
                {
                    "method": method,
                    "path": url.path,
                    "query": {k: v if len(v) > 1 else v[0] for k, v in query.items()},
                    "content_type": content_type,
                    "status": status,
                    "body": _parse(raw) if raw else None,
                }
            )
        self._send(status, body)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        expected = f"Bearer {self.server.emulator.token}"
        return secrets.compare_digest(header.encode(), expected.encode())

    def _send(self, status: int, body: Any) -> None:
        if isinstance(body, str):
            data, kind = body.encode(), "text/plain"
        else:
            data, kind = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", secrets.token_hex(8))
        self.end_headers()
        self.wfile.write(data)

    def _control(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        emulator = self.server.emulator
        if path == "/_emulator/requests":
            if method == "DELETE":
                with emulator._log_lock:
                    emulator.requests.clear()
                return 200, {"cleared": True}
            with emulator._log_lock:
                return 200, list(emulator.requests)
        if path == "/_emulator/scenario" and method == "POST":
            data = _parse(raw) or {}
            try:
                emulator.load(str(data["scenario"]), rollouts=data.get("rollouts"))
            except ValueError as exc:
                raise ApiError(400, "BadRequest", str(exc)) from exc
            return 200, {"scenario": emulator.scenario, "rollouts": emulator.cluster.rollouts}
        if path == "/_emulator/scenario" and method == "GET":
            return 200, {"scenario": emulator.scenario, "rollouts": emulator.cluster.rollouts}
        if path == "/_emulator/rollouts" and method == "POST":
            mode = str((_parse(raw) or {}).get("rollouts"))
            if mode not in ("complete", "stuck"):
                raise ApiError(400, "BadRequest", "rollouts: complete or stuck")
            emulator.cluster.rollouts = mode
            return 200, {"rollouts": mode}
        raise ApiError(404, "NotFound", f"no emulator control endpoint {method} {path}")

    # -- the Kubernetes API ------------------------------------------------------------

    def _api(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw: bytes,
        content_type: str | None,
    ) -> tuple[int, Any]:
        cluster = self.server.emulator.cluster
        if path == "/version":
            return 200, VERSION
        if path in ("/healthz", "/readyz", "/livez"):
            return 200, "ok"
        parts = [p for p in path.split("/") if p]
        if parts == ["api"]:
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {
                        "clientCIDR": "0.0.0.0/0",
                        "serverAddress": f"{self.server.emulator.host}:{self.server.emulator.port}",
                    }
                ],
            }
        if parts == ["apis"]:
            return 200, _group_list(cluster.metrics)
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return 200, _resource_list(group, version, cluster.metrics)
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name, sub = (
            rest[0],
            (rest[1] if len(rest) > 1 else None),
            (rest[2] if len(rest) > 2 else None),
        )
        resource = lookup(group, version, plural, metrics=cluster.metrics)
        if resource is None or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        dry_run = _dry_run(query)
        body = _parse(raw) if raw else None
        one = _one(query)
        if resource.group == "metrics.k8s.io":
            return self._metrics(resource, namespace, name)
        ns = namespace or ""
        if name is None:
            if method == "GET":
                items = cluster.select(
                    resource,
                    namespace,
                    label_selector=one.get("labelSelector"),
                    field_selector=one.get("fieldSelector"),
                )
                return 200, _list(resource, items, cluster.resource_version)
            if method == "POST":
                return 201, cluster.create(resource, ns, body or {}, dry_run=dry_run)
            raise _not_allowed(method)
        if sub is None:
            if method == "GET":
                return 200, cluster.get(resource, ns, name)
            if method == "PUT":
                return 200, cluster.update(
                    resource, ns, name, body=body, content_type=None, dry_run=dry_run
                )
            if method == "PATCH":
                return 200, cluster.update(
                    resource, ns, name, body=body, content_type=content_type, dry_run=dry_run
                )
            if method == "DELETE":
                return 200, cluster.delete(resource, ns, name, dry_run=dry_run)
            raise _not_allowed(method)
        if (resource.plural, sub) == ("deployments", "scale"):
            if method == "GET":
                return 200, cluster.scale(ns, name)
            if method in ("PUT", "PATCH"):
                return 200, cluster.update_scale(
                    ns,
                    name,
                    body=body,
                    content_type=content_type if method == "PATCH" else None,
                    dry_run=dry_run,
                )
            raise _not_allowed(method)
        if (resource.plural, sub) == ("pods", "log") and method == "GET":
            return 200, cluster.pod_log(
                ns,
                name,
                container=one.get("container"),
                tail_lines=int(one["tailLines"]) if "tailLines" in one else None,
                since_seconds=int(one["sinceSeconds"]) if "sinceSeconds" in one else None,
            )
        if (resource.plural, sub) == ("pods", "eviction") and method == "POST":
            options = (body or {}).get("deleteOptions") or {}
            evict_dry = dry_run or "All" in (options.get("dryRun") or [])
            return 201, cluster.evict(ns, name, dry_run=evict_dry)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _metrics(
        self, resource: Resource, namespace: str | None, name: str | None
    ) -> tuple[int, Any]:
        cluster = self.server.emulator.cluster
        items = (
            cluster.pod_metrics(namespace)
            if resource.plural == "pods"
            else (cluster.node_metrics())
        )
        if name is not None:
            found = next((i for i in items if i["metadata"]["name"] == name), None)
            if found is None:
                raise ApiError(
                    404, "NotFound", f'{resource.plural}.metrics.k8s.io "{name}" not found'
                )
            return 200, found
        return 200, {
            "kind": f"{resource.kind}List",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {},
            "items": items,
        }


def _one(query: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in query.items()}


def _dry_run(query: dict[str, list[str]]) -> bool:
    values = query.get("dryRun", [])
    for value in values:
        if value != "All":
            raise ApiError(
                400,
                "BadRequest",
                f'Unsupported dryRun directive "{value}": supported values: "All"',
            )
    return bool(values)


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ApiError(400, "BadRequest", f"the body is not JSON or YAML: {exc}") from exc


def _not_allowed(method: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", f"the server does not allow this method ({method})")


def _list(resource: Resource, items: list[dict[str, Any]], rv: str) -> dict[str, Any]:
    for item in items:  # list items carry no kind/apiVersion of their own
        item.pop("kind", None)
        item.pop("apiVersion", None)
    return {
        "kind": f"{resource.kind}List",
        "apiVersion": resource.api_version,
        "metadata": {"resourceVersion": rv},
        "items": items,
    }


def _served(metrics: bool) -> tuple[Resource, ...]:
    return RESOURCES + (METRICS if metrics else ())


def _group_list(metrics: bool) -> dict[str, Any]:
    groups: dict[str, list[str]] = {}
    for r in _served(metrics):
        if r.group and r.version not in groups.setdefault(r.group, []):
            groups[r.group].append(r.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": name,
                "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                "preferredVersion": {
                    "groupVersion": f"{name}/{versions[0]}",
                    "version": versions[0],
                },
            }
            for name, versions in groups.items()
        ],
    }


def _resource_list(group: str, version: str, metrics: bool) -> dict[str, Any]:
    served = [r for r in _served(metrics) if (r.group, r.version) == (group, version)]
    if not served:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    entries: list[dict[str, Any]] = []
    for r in served:
        entries.append(
            {
                "name": r.plural,
                "singularName": r.singular or r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": list(r.verbs),
                **({"shortNames": list(r.short_names)} if r.short_names else {}),
            }
        )
        for sub in r.subresources:
            kind, verbs = {
                "scale": ("Scale", ["get", "patch", "update"]),
                "log": ("Pod", ["get"]),
                "eviction": ("Eviction", ["create"]),
            }[sub]
            entries.append(
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": kind,
                    "verbs": verbs,
                    **({"group": "autoscaling", "version": "v1"} if sub == "scale" else {}),
                    **({"group": "policy", "version": "v1"} if sub == "eviction" else {}),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }
