"""`triage-ops security isolate NODE` against the emulator's nodes: cordon, evictions
through the Eviction API (DaemonSet pods stay), a PodDisruptionBudget's refusal reported,
confirmation defaulting to no."""

from __future__ import annotations

import json
import time

import pytest
import requests
from click.testing import CliRunner

import triage_ops.cli as cli
from tests.ops.blackhole import black_hole
from tests.ops.security.conftest import Cluster
from triage_ops.commands import reporting

pytestmark = pytest.mark.timeout(60)
NS = "email-triage"
ON_NODE_1 = [
    f"{NS}/email-classifier-model-4llq8ctpgl-5svzn",
    f"{NS}/email-triage-api-rsp9vhg6lf-p422g",
    f"{NS}/email-triage-worker-2rr8s4g9xj-g9rh6",
]
PROXY = "kube-system/kube-proxy-h6ls8"


def pods_on(cluster: Cluster, node: str) -> list[str]:
    pods = cluster.client.list_pods(field_selector=f"spec.nodeName={node}", all_namespaces=True)
    return sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods)


def cordoned(cluster: Cluster, node: str) -> bool:
    return bool(cluster.client.get_node(node)["spec"].get("unschedulable"))


def audit(cluster: Cluster) -> list[dict[str, object]]:
    return [json.loads(x) for x in cluster.audit_path.read_text().splitlines()]


def test_dry_run_previews_every_eviction_and_changes_nothing(cluster: Cluster) -> None:
    code, out, err = cluster.invoke("--dry-run", "security", "isolate", "node-1")
    assert (code, err) == (0, "")
    assert [line.split() for line in out.splitlines()[:6]] == [
        ["Pods", "on", "node-1"],
        ["POD", "RESULT", "DETAIL"],
        [ON_NODE_1[0], "would", "be", "evicted"],
        [ON_NODE_1[1], "would", "be", "evicted"],
        [ON_NODE_1[2], "would", "be", "evicted"],
        [PROXY, "stays", "DaemonSet-managed"],
    ]
    flat = " ".join(out.split())
    assert (
        "isolate node node-1: cordon it and evict 3 pods (1 DaemonSet/mirror pods stay);"
        " evicted pods restart on other nodes, their emptyDir data is lost"
    ) in flat
    assert "kubectl drain node-1 --ignore-daemonsets --delete-emptydir-data" in flat
    assert {(m[0], m[2]) for m in cluster.mutations()} == {("PATCH", "All"), ("POST", "All")}
    assert len([m for m in cluster.mutations() if m[1].endswith("/eviction")]) == 3
    assert not cordoned(cluster, "node-1")
    assert pods_on(cluster, "node-1") == sorted([*ON_NODE_1, PROXY])
    assert [e["outcome"] for e in audit(cluster)] == ["dry-run"]


def test_isolate_cordons_and_evicts(cluster: Cluster) -> None:
    code, out, err = cluster.invoke("security", "isolate", "node-1", "--yes")
    assert (code, err) == (0, "triage-ops: node node-1 is cordoned and holds no evictable pod\n")
    assert cordoned(cluster, "node-1")
    assert pods_on(cluster, "node-1") == [PROXY]
    assert [line.split()[:2] for line in out.splitlines()[2:6]] == [
        [ON_NODE_1[0], "evicted"],
        [ON_NODE_1[1], "evicted"],
        [ON_NODE_1[2], "evicted"],
        [PROXY, "stays"],
    ]
    # the evicted pods came back on the other nodes
    assert len(cluster.client.list_pods("app.kubernetes.io/component=api")) == 3
    [entry] = audit(cluster)
    assert (entry["outcome"], entry["step"]) == ("ok", "security.isolate")
    real = [m for m in cluster.mutations() if m[2] is None]
    assert real[0] == ("PATCH", "nodes/node-1", None)
    assert len([m for m in real if m[1].endswith("/eviction")]) == 3


def test_a_disruption_budget_refusal_is_reported_not_retried_forever(cluster: Cluster) -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "email-triage-worker", "namespace": NS},
        "spec": {
            "maxUnavailable": 0,
            "selector": {"matchLabels": {"app.kubernetes.io/component": "worker"}},
        },
    }
    r = requests.post(
        f"{cluster.emulator.url}/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets",
        json=pdb,
        headers={"Authorization": f"Bearer {cluster.emulator.token}"},
        timeout=5,
    )
    assert r.status_code == 201, r.text
    started = time.monotonic()
    code, out, err = cluster.invoke(
        "security", "isolate", "node-1", "--yes", "--drain-timeout", "1"
    )
    elapsed = time.monotonic() - started
    assert code == 2
    assert elapsed < 6
    assert err == (
        "triage-ops: error: security.isolate-node: unverified: node node-1 is not isolated:"
        " 1 pods still on it: eviction refused after 1 s of retries"
        f" ({ON_NODE_1[2]}: Cannot evict pod as it would violate the pod's disruption"
        " budget.)\n"
    )
    assert f"{ON_NODE_1[2]}     REFUSED  Cannot evict pod" in out
    assert cordoned(cluster, "node-1")
    assert pods_on(cluster, "node-1") == [ON_NODE_1[2], PROXY]
    [entry] = audit(cluster)
    assert entry["outcome"] == "unverified"
    refused = [r for r in cluster.requests() if r["status"] == 429]
    assert 2 <= len(refused) <= 4  # retried about once a second for one second, then given up


@pytest.mark.parametrize(("answer", "code"), [("\n", 1), ("y\n", 0)])
def test_confirmation_defaults_to_no(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, answer: str, code: int
) -> None:
    monkeypatch.setattr(reporting, "stdin_is_terminal", lambda: True)
    result = CliRunner().invoke(
        cli.main,
        ["--config", str(cluster.config_path), "security", "isolate", "node-2"],
        input=answer,
    )
    assert result.exit_code == code, result.stderr
    assert "Apply this plan? [y/N]:" in result.stderr
    assert "Plan: isolate node node-2: cordon it and evict" in result.stderr
    assert cordoned(cluster, "node-2") == (code == 0)
    assert [e["outcome"] for e in audit(cluster)] == ["declined" if code else "ok"]


def test_unknown_node(cluster: Cluster) -> None:
    code, out, err = cluster.invoke("security", "isolate", "node-9", "--yes")
    assert (code, out) == (3, "")
    assert err == "triage-ops: error: node node-9 not found (nodes: node-1, node-2, node-3)\n"


@pytest.mark.parametrize("fault", ["stopped", "black-holed"])
def test_kubernetes_unreachable(cluster: Cluster, fault: str) -> None:
    with black_hole() as port:
        if fault == "stopped":
            cluster.emulator.stop()
        else:
            path = cluster.config.kubeconfig
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text.replace(cluster.emulator.url, f"http://127.0.0.1:{port}"))
        started = time.monotonic()
        code, out, err = cluster.invoke("security", "isolate", "node-1", "--yes")
        elapsed = time.monotonic() - started
    assert (code, out) == (4, "")
    assert err.startswith("triage-ops: error: Kubernetes API at http://127.0.0.1:")
    assert len(err.strip().splitlines()) == 1
    assert elapsed < 6
