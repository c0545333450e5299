"""The Kubernetes client, checks and actions against a REAL cluster (opt-in).

Skipped unless TRIAGE_OPS_KIND_CONTEXT names a kubeconfig context. With kind
(https://kind.sigs.k8s.io) on a machine with Docker:

    kind create cluster --name triage                       # context: kind-triage
    docker build -t email-triage:latest .                   # the service image
    kind load docker-image email-triage:latest --name triage
    kubectl --context kind-triage apply -k deploy/overlays/local
    kubectl --context kind-triage -n email-triage rollout status deploy/email-triage-api
    # optional, for `top pods`: metrics-server with --kubelet-insecure-tls
    TRIAGE_OPS_KIND_CONTEXT=kind-triage .venv/bin/pytest tests/ops/kind -v

Settings: KUBECONFIG (default ~/.kube/config), TRIAGE_OPS_KIND_NAMESPACE (default
email-triage). Read-only and server-side dry-run tests run by default; the tests that
change the cluster (a real rollout restart, cordon/uncordon of a node) run only with
TRIAGE_OPS_KIND_MUTATE=1 — use a throwaway cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from triage_ops.clients import Clients
from triage_ops.clients.errors import NotFound
from triage_ops.clients.kubernetes import KubernetesClient
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import StepContext
from triage_ops.findings import Finding, Severity
from triage_ops.procedures.kube_actions import Cordon, Drain, RolloutRestart, Scale
from triage_ops.procedures.kube_checks import CHECKS

CONTEXT = os.environ.get("TRIAGE_OPS_KIND_CONTEXT", "")
NAMESPACE = os.environ.get("TRIAGE_OPS_KIND_NAMESPACE", "email-triage")
MUTATE = os.environ.get("TRIAGE_OPS_KIND_MUTATE") == "1"
CATALOGUE = Path(__file__).resolve().parents[3] / "runbooks" / "findings.d" / "kube.yaml"

pytestmark = [
    pytest.mark.skipif(
        not CONTEXT,
        reason="no real cluster configured: set TRIAGE_OPS_KIND_CONTEXT to a kubeconfig"
        " context (e.g. kind-triage; see this module's docstring)",
    ),
    pytest.mark.timeout(300),
]


def _finding(code: str, summary: str, *, evidence: object = None, step: str = "") -> Finding:
    entry = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))[code]
    return Finding(
        code=code,
        severity=Severity(entry["severity"]),
        summary=summary,
        evidence=dict(evidence) if isinstance(evidence, dict) else {},
        action=entry["action"],
        command=entry["command"],
        step=step,
    )


@pytest.fixture(scope="module")
def config() -> OpsConfig:
    return OpsConfig(
        kubeconfig=os.environ.get("KUBECONFIG", ""), kube_context=CONTEXT, namespace=NAMESPACE
    )


@pytest.fixture(scope="module")
def client(config: OpsConfig) -> KubernetesClient:
    return KubernetesClient.from_config(config, timeout=10)


def _ctx(config: OpsConfig) -> StepContext:
    return StepContext(
        config=config, clients=Clients(config, timeout=10), timeout=10, make_finding=_finding
    )


def test_reads(client: KubernetesClient, config: OpsConfig) -> None:
    assert client.version()["gitVersion"].startswith("v1.")
    assert client.list_nodes()
    names = [d["metadata"]["name"] for d in client.list_deployments()]
    assert config.api_deployment in names
    api = client.get_deployment(config.api_deployment)
    status = client.rollout_status(config.api_deployment)
    assert status.generation == api["metadata"]["generation"]
    pods = client.list_pods()
    assert pods and all(p["metadata"]["namespace"] == NAMESPACE for p in pods)
    running = [p for p in pods if p["status"].get("phase") == "Running"]
    if running:
        container = running[0]["spec"]["containers"][0]["name"]
        assert isinstance(client.pod_logs(running[0]["metadata"]["name"], container), str)
    assert isinstance(client.list_events(), list)
    assert client.get_secret(config.db_secret_name)  # deploy/overlays/local creates it
    try:
        client.top_pods()
    except NotFound as exc:
        assert "metrics-server is not installed" in str(exc)


def test_checks_run_and_use_declared_codes(config: OpsConfig) -> None:
    declared = set(yaml.safe_load(CATALOGUE.read_text(encoding="utf-8")))
    for name, check in CHECKS.items():
        found = check(_ctx(config))
        assert {f.code for f in found} <= declared, name
        assert not [f for f in found if f.severity == Severity.UNKNOWN], name


def test_plans_are_server_side_dry_runs(client: KubernetesClient, config: OpsConfig) -> None:
    before = client.get_deployment(config.api_deployment)
    ctx = _ctx(config)
    plan = RolloutRestart(config.api_deployment).plan(ctx)
    assert plan.changes[1]["after"] == before["metadata"]["generation"] + 1
    current = int(client.get_scale(config.api_deployment)["spec"]["replicas"])
    Scale(config.api_deployment, current + 1).plan(ctx)
    first = client.list_nodes()[0]
    node, was_cordoned = first["metadata"]["name"], first.get("spec", {}).get("unschedulable")
    Cordon(node).plan(ctx)
    Drain(node).plan(ctx)
    after = client.get_deployment(config.api_deployment)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["replicas"] == before["spec"]["replicas"]
    assert client.get_node(node).get("spec", {}).get("unschedulable") == was_cordoned


@pytest.mark.skipif(not MUTATE, reason="changes the cluster: set TRIAGE_OPS_KIND_MUTATE=1")
def test_rollout_restart_and_cordon_for_real(config: OpsConfig, client: KubernetesClient) -> None:
    ctx = _ctx(config)
    action = RolloutRestart(config.api_deployment, wait_s=240, poll_s=2)
    plan = action.plan(ctx)
    action.apply(ctx, plan)
    assert action.verify(ctx, plan) == []
    node = client.list_nodes()[-1]["metadata"]["name"]
    cordon = Cordon(node)
    plan = cordon.plan(ctx)
    if not plan.noop:
        cordon.apply(ctx, plan)
        assert cordon.verify(ctx, plan) == []
        client.cordon(node, dry_run=False, unschedulable=False)
