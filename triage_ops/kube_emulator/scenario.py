"""Scenario files (`scenarios/<name>.yaml`) -> a populated `Cluster`.

A scenario lists real Kubernetes objects (`objects`, as `kubectl get -o yaml` shows them,
without the server-set fields) plus what the controllers would have made of them, told
compactly under `deployments`:

    deployments:
      email-triage-api:
        history:            # oldest first; the last entry is the current pod template
          - {age: 9d, images: {api: "email-triage:1.4.0"}}
          - {age: 3d}
          # `stuck: true` on the last entry: its pods never schedule
        logs: {api: ["9m INFO ...", ...]}     # "AGE TEXT" lines, every pod of it
        usage: {api: {cpu: 250m, memory: 600Mi}}   # metrics-server numbers, per pod
        pods:               # per replica (index in name order): what went wrong
          - index: 0
            ready: false
            containers: {api: {restartCount: 7, state: {...}, lastState: {...}}}
            events: [{type: Warning, reason: BackOff, message: "...", count: 31, age: 30s}]
            logs: {api: ["..."]}

Times are relative to the emulator's start (`age: 40m`; `-6m` in a status field), so a
scenario always looks "current". `{pod}` in a string is the pod's generated name.
A scenario may `extends:` another and then `patch:` its objects (merge patches by kind and
name) and replace entries of `deployments`.
"""

from __future__ import annotations

import copy
import re
import time
from importlib import resources
from typing import Any

import yaml

from triage_ops.kube_emulator.cluster import Cluster, template_hash, timestamp
from triage_ops.kube_emulator.patch import merge_patch, strategic_merge_patch
from triage_ops.kube_emulator.resources import BY_KIND

Obj = dict[str, Any]
_AGE = re.compile(r"^(\d+)([smhd])$")
_RELATIVE = re.compile(r"^-(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def names() -> list[str]:
    folder = resources.files("triage_ops.kube_emulator") / "scenarios"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read(name: str) -> Obj:
    """The scenario's data with `extends` resolved."""
    if name not in names():
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(names())})")
    path = resources.files("triage_ops.kube_emulator") / "scenarios" / f"{name}.yaml"
    data: Obj = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    base = read(base_name)
    for change in data.pop("patch", []):
        target = next(
            o
            for o in base["objects"]
            if o["kind"] == change["kind"] and o["metadata"]["name"] == change["name"]
        )
        if "strategic" in change:
            merged = strategic_merge_patch(target, change["strategic"])
        else:
            merged = merge_patch(target, change["merge"])
        target.clear()
        target.update(merged)
    deployments = base.get("deployments", {})
    for dep, overrides in (data.pop("deployments", None) or {}).items():
        deployments[dep] = {**deployments.get(dep, {}), **overrides}
    base["deployments"] = deployments
    base["objects"] = base.get("objects", []) + data.pop("objects", [])
    base.update(data)
    return base


def seconds(age: str) -> int:
    m = _AGE.match(str(age))
    if not m:
        raise ValueError(f"not an age: {age!r} (want e.g. 30s, 9m, 3h, 2d)")
    return int(m.group(1)) * _UNITS[m.group(2)]


def millicores(value: str) -> int:
    text = str(value)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def size_bytes(value: str) -> int:
    text = str(value)
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def build(name: str, *, now: float | None = None) -> Cluster:
    data = read(name)
    t0 = now or time.time()
    cluster = Cluster(rollouts="complete", metrics=bool(data.get("metrics", True)))
    with cluster.lock:
        for node in data.get("nodes", []):
            cluster.store(BY_KIND["Node"], _node(node, t0), created=t0 - 30 * 86400)
        deployments = []
        for raw in data.get("objects", []):
            obj = copy.deepcopy(raw)
            resource = BY_KIND[obj["kind"]]
            obj = _resolve(obj, t0, {})
            age = seconds(str(obj["metadata"].pop("age", "30d")))
            if obj["kind"] == "Deployment":
                history = data.get("deployments", {}).get(obj["metadata"]["name"], {})
                oldest = max((seconds(h["age"]) for h in history.get("history", [])), default=age)
                age = max(age, oldest)
            stored = cluster.store(resource, obj, created=t0 - age)
            cluster._normalize(resource, stored)
            if obj["kind"] == "Deployment":
                deployments.append(stored)
            elif obj["kind"] == "DaemonSet":
                _daemon_pods(cluster, stored, t0 - age)
        for dep in deployments:
            spec = data.get("deployments", {}).get(dep["metadata"]["name"], {})
            _deployment(cluster, dep, spec, t0)
        cluster.rollouts = str(data.get("rollouts", "complete"))
        for dep in deployments:
            cluster.update_deployment_status(dep, now=t0)
        for namespace in {o["metadata"].get("namespace", "") for o in cluster.objects.values()}:
            cluster.reconcile_endpoints(namespace)
    return cluster


def _node(spec: Obj, t0: float) -> Obj:
    ready_since = timestamp(t0 - 30 * 86400)
    return {
        "metadata": {
            "name": spec["name"],
            "labels": {
                "kubernetes.io/hostname": spec["name"],
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": spec.get("type", "m5.xlarge"),
            },
        },
        "spec": {"podCIDR": spec.get("podCIDR", ""), "providerID": f"emulator://{spec['name']}"},
        "status": {
            "capacity": {"cpu": spec["cpu"], "memory": spec["memory"], "pods": "110"},
            "allocatable": {"cpu": spec["cpu"], "memory": spec["memory"], "pods": "110"},
            "conditions": [
                {
                    "type": t,
                    "status": "True" if t == "Ready" else "False",
                    "lastHeartbeatTime": timestamp(t0 - 10),
                    "lastTransitionTime": ready_since,
                    "reason": reason,
                    "message": message,
                }
                for t, reason, message in (
                    (
                        "MemoryPressure",
                        "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available",
                    ),
                    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    (
                        "PIDPressure",
                        "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available",
                    ),
                    ("Ready", "KubeletReady", "kubelet is posting ready status"),
                )
            ],
            "addresses": [
                {"type": "InternalIP", "address": spec["ip"]},
                {"type": "Hostname", "address": spec["name"]},
            ],
            "nodeInfo": {
                "kubeletVersion": spec.get("version", "v1.30.2"),
                "containerRuntimeVersion": "containerd://1.7.18",
                "kernelVersion": "6.1.0-21-amd64",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kubeProxyVersion": spec.get("version", "v1.30.2"),
            },
        },
    }


def _daemon_pods(cluster: Cluster, ds: Obj, created: float) -> None:
    nodes = cluster.schedulable_nodes()
    for node in nodes:
        cluster.new_pod(ds, now=created, node=node["metadata"]["name"], owner_kind="DaemonSet")
    n = len(nodes)
    ds["status"] = {
        "currentNumberScheduled": n,
        "desiredNumberScheduled": n,
        "numberAvailable": n,
        "numberMisscheduled": 0,
        "numberReady": n,
        "observedGeneration": 1,
        "updatedNumberScheduled": n,
    }


def _deployment(cluster: Cluster, dep: Obj, spec: Obj, t0: float) -> None:
    name = dep["metadata"]["name"]
    namespace = dep["metadata"]["namespace"]
    for container, lines in (spec.get("logs") or {}).items():
        cluster.default_logs[(name, container)] = [_log_text(line) for line in lines]
    if spec.get("usage"):
        cluster.default_usage[name] = _usage(spec["usage"])
    history = spec.get("history") or [{"age": "30d"}]
    template = dep["spec"]["template"]
    sets = []
    for number, entry in enumerate(history, start=1):
        revision = copy.deepcopy(template)
        pod_spec = revision["spec"]
        for container in pod_spec["containers"] + pod_spec.get("initContainers", []):
            image = (entry.get("images") or {}).get(container["name"])
            if image:
                container["image"] = image
        if number == len(history):
            dep["spec"]["template"] = revision
        sets.append(
            cluster.new_replicaset(
                dep, revision, revision=number, created=t0 - seconds(entry["age"])
            )
        )
    dep["metadata"]["generation"] = len(history)
    desired = int(dep["spec"].get("replicas", 1))
    current, created = sets[-1], t0 - seconds(history[-1]["age"])
    stuck = bool(history[-1].get("stuck")) and len(sets) > 1
    running = sets[-2] if stuck else current
    started = created if not stuck else t0 - seconds(history[-2]["age"])
    running["spec"]["replicas"] = desired
    for _ in range(desired):
        cluster.new_pod(running, now=started + 10, schedulable=True)
    if stuck:
        current["spec"]["replicas"] = 1
        cluster.new_pod(current, now=created + 5, schedulable=False)
    assert template_hash(dep["spec"]["template"]) in current["metadata"]["name"]
    cluster.update_deployment_status(dep, now=created + 60)
    pods = sorted(cluster.owned("pods", running), key=lambda p: p["metadata"]["name"])
    for pod in pods:  # the scenario's log lines keep their ages
        for container, lines in (spec.get("logs") or {}).items():
            key = (namespace, pod["metadata"]["name"], container)
            cluster.logs[key] = [_log_line(line, t0) for line in lines]
    for override in spec.get("pods") or []:
        _override(cluster, pods[int(override["index"])], override, t0)


def _override(cluster: Cluster, pod: Obj, override: Obj, t0: float) -> None:
    name = pod["metadata"]["name"]
    override = _resolve(
        copy.deepcopy(override), t0, {"pod": name, "node": pod["spec"].get("nodeName", "")}
    )
    status = pod["status"]
    if "phase" in override:
        status["phase"] = override["phase"]
    by_name = {c["name"]: c for c in status.get("containerStatuses", [])}
    for container, changes in (override.get("containers") or {}).items():
        entry = by_name[container]
        for key, value in changes.items():
            entry[key] = value  # state/lastState are replaced whole, as the kubelet reports
    if override.get("ready") is False:
        unready = sorted(c for c, e in by_name.items() if not e.get("ready")) or sorted(by_name)
        for entry in by_name.values():
            if entry["name"] in unready:
                entry["ready"] = False
        for condition in status["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady"):
                condition["status"] = "False"
                condition["reason"] = "ContainersNotReady"
                condition["message"] = f"containers with unready status: [{' '.join(unready)}]"
                condition["lastTransitionTime"] = timestamp(t0 - 300)
    for event in override.get("events") or []:
        age = seconds(event.get("age", "1m"))
        first = seconds(event.get("first", event.get("age", "1m")))
        cluster.event(
            pod,
            reason=event["reason"],
            message=event["message"],
            component=event.get("component", "kubelet"),
            type_=event.get("type", "Warning"),
            count=int(event.get("count", 1)),
            now=t0 - age,
            first=t0 - first,
        )
    namespace = pod["metadata"]["namespace"]
    for container, lines in (override.get("logs") or {}).items():
        cluster.logs[(namespace, name, container)] = [_log_line(line, t0) for line in lines]
    if override.get("usage"):
        cluster.usage[(namespace, name)] = _usage(override["usage"])
    pod["metadata"]["resourceVersion"] = cluster._next_rv()


def _usage(spec: Obj) -> dict[str, tuple[int, int]]:
    return {
        container: (millicores(u["cpu"]), size_bytes(u["memory"])) for container, u in spec.items()
    }


def _log_text(line: str) -> str:
    return line.split(" ", 1)[1] if _AGE.match(line.split(" ", 1)[0]) else line


def _log_line(line: str, t0: float) -> tuple[float, str]:
    age, _, text = line.partition(" ")
    return (t0 - seconds(age), text) if _AGE.match(age) else (t0, line)


def _resolve(value: Any, t0: float, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve(v, t0, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, t0, names) for v in value]
    if isinstance(value, str):
        m = _RELATIVE.match(value)
        if m:
            return timestamp(t0 - int(m.group(1)) * _UNITS[m.group(2)])
        for key, replacement in names.items():
            value = value.replace("{" + key + "}", replacement)
    return value
