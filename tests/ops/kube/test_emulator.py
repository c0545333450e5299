"""The emulator speaks the Kubernetes API as the official client expects it: its objects
pass the client's own typed deserializer, errors are `Status` objects, discovery lists
what it serves; plus its control endpoints and its command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client as typed_client
from kubernetes import config as k8s_config

from tests.ops.kube.conftest import NS, Kube, StartKube
from triage_ops.kube_emulator import Emulator, scenario_names
from triage_ops.kube_emulator.patch import json_patch, merge_patch, strategic_merge_patch
from triage_ops.kube_emulator.selectors import label_matcher

pytestmark = pytest.mark.timeout(120)
k8s: Any = typed_client  # the official client's typed API (its models are what is tested)


def _typed(kube: Kube) -> Any:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kube.config.kubeconfig,
        context=kube.config.kube_context,
        client_configuration=configuration,
        persist_config=False,
    )
    return k8s.ApiClient(configuration)


@pytest.mark.parametrize("scenario", scenario_names())
def test_objects_pass_the_official_deserializer(start_kube: StartKube, scenario: str) -> None:
    kube = start_kube(scenario)
    api = _typed(kube)
    core: Any = k8s.CoreV1Api(api)
    apps: Any = k8s.AppsV1Api(api)
    pods = core.list_namespaced_pod(NS)
    assert isinstance(pods, k8s.V1PodList)
    assert all(isinstance(p, k8s.V1Pod) for p in pods.items)
    statuses = {
        p.metadata.name: (
            p.status.phase,
            [c.restart_count for c in p.status.container_statuses or []],
        )
        for p in pods.items
    }
    expected_pods = {
        "healthy": 7,
        "crashloop": 7,
        "oomkilled": 7,
        "stuck-rollout": 8,
        "no-endpoints": 7,
    }
    assert len(statuses) == expected_pods[scenario]
    deployment = apps.read_namespaced_deployment("email-triage-api", NS)
    assert isinstance(deployment, k8s.V1Deployment)
    assert deployment.spec.template.spec.containers[0].name == "api"
    assert deployment.status.observed_generation == deployment.metadata.generation
    assert {c.type for c in deployment.status.conditions} == {"Available", "Progressing"}
    for rs in apps.list_namespaced_replica_set(NS).items:
        assert rs.metadata.owner_references[0].kind == "Deployment"
    events = core.list_namespaced_event(NS).items
    assert all(isinstance(e.involved_object, k8s.V1ObjectReference) for e in events)
    assert [n.metadata.name for n in core.list_node().items] == ["node-1", "node-2", "node-3"]
    assert [s.metadata.name for s in core.list_namespaced_service(NS).items] == [
        "email-classifier-model",
        "email-triage-api",
    ]
    endpoints = core.read_namespaced_endpoints("email-triage-api", NS)
    assert endpoints.subsets[0].ports[0].port == 8000
    ingress = k8s.NetworkingV1Api(api).read_namespaced_ingress("email-triage-ingress", NS)
    assert ingress.status.load_balancer.ingress[0].ip == "203.0.113.10"
    secret = core.read_namespaced_secret("db-credentials", NS)
    assert secret.type == "Opaque" and list(secret.data) == ["password"]
    pdbs = k8s.PolicyV1Api(api).list_namespaced_pod_disruption_budget(NS).items
    assert [p.spec.max_unavailable for p in pdbs] == [1, 1]
    hpa = k8s.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler(
        "email-triage-api", NS
    )
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (3, 15)
    scale = apps.read_namespaced_deployment_scale("email-triage-api", NS)
    assert isinstance(scale, k8s.V1Scale) and scale.spec.replicas == 3
    assert k8s.VersionApi(api).get_code().git_version == "v1.30.2-emulator"
    if scenario == "crashloop":
        crash = pods.items[2].status.container_statuses[0]
        assert crash.state.waiting.reason == "CrashLoopBackOff"
        assert crash.last_state.terminated.exit_code == 1
    if scenario == "stuck-rollout":
        assert deployment.status.conditions[1].reason == "ProgressDeadlineExceeded"


def test_typed_writes_and_errors(kube: Kube) -> None:
    api = _typed(kube)
    core: Any = k8s.CoreV1Api(api)
    apps: Any = k8s.AppsV1Api(api)
    patched = apps.patch_namespaced_deployment(
        "email-triage-api", NS, {"spec": {"replicas": 4}}, dry_run="All"
    )
    assert patched.spec.replicas == 4
    assert apps.read_namespaced_deployment("email-triage-api", NS).spec.replicas == 3
    eviction = k8s.V1Eviction(
        metadata=k8s.V1ObjectMeta(name="email-triage-api-rsp9vhg6lf-44nkm", namespace=NS)
    )
    core.create_namespaced_pod_eviction("email-triage-api-rsp9vhg6lf-44nkm", NS, eviction)
    names = [p.metadata.name for p in core.list_namespaced_pod(NS).items]
    assert "email-triage-api-rsp9vhg6lf-44nkm" not in names and len(names) == 7
    with pytest.raises(k8s.exceptions.ApiException) as err:
        core.read_namespaced_pod("nope", NS)
    assert err.value.status == 404
    assert json.loads(err.value.body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "", "kind": "pods"},
        "code": 404,
    }


def test_status_objects_discovery_and_auth(kube: Kube) -> None:
    url, token = kube.url, kube.emulator.token
    r = requests.get(f"{url}/api/v1/namespaces/{NS}/pods", timeout=5)
    assert (r.status_code, r.json()["reason"], r.json()["code"]) == (401, "Unauthorized", 401)
    assert requests.get(f"{url}/version", timeout=5).json()["gitVersion"] == "v1.30.2-emulator"
    auth = {"Authorization": f"Bearer {token}"}
    groups = requests.get(f"{url}/apis", headers=auth, timeout=5).json()
    assert groups["kind"] == "APIGroupList"
    assert [g["name"] for g in groups["groups"]] == [
        "apps",
        "networking.k8s.io",
        "policy",
        "autoscaling",
        "metrics.k8s.io",
    ]
    core = requests.get(f"{url}/api/v1", headers=auth, timeout=5).json()
    assert {
        "pods",
        "pods/log",
        "pods/eviction",
        "services",
        "endpoints",
        "events",
        "secrets",
        "nodes",
    } <= {r["name"] for r in core["resources"]}
    apps = requests.get(f"{url}/apis/apps/v1", headers=auth, timeout=5).json()
    assert "deployments/scale" in {r["name"] for r in apps["resources"]}
    pods = requests.get(
        f"{url}/api/v1/namespaces/{NS}/pods",
        params={"labelSelector": "app.kubernetes.io/component in (worker,model-server)"},
        headers=auth,
        timeout=5,
    ).json()
    assert pods["kind"] == "PodList" and int(pods["metadata"]["resourceVersion"]) > 1000
    assert [p["metadata"]["name"] for p in pods["items"]] == [
        "email-classifier-model-4llq8ctpgl-5svzn",
        "email-classifier-model-4llq8ctpgl-8s76x",
        "email-triage-worker-2rr8s4g9xj-g9rh6",
        "email-triage-worker-2rr8s4g9xj-gh47c",
    ]
    assert "kind" not in pods["items"][0]  # list items carry no kind of their own
    bad = requests.patch(
        f"{url}/apis/apps/v1/namespaces/{NS}/deployments/email-triage-api",
        params={"dryRun": "Some"},
        json={"spec": {"replicas": 1}},
        headers={**auth, "Content-Type": "application/merge-patch+json"},
        timeout=5,
    )
    assert (bad.status_code, bad.json()["reason"]) == (400, "BadRequest")
    unsupported = requests.patch(
        f"{url}/apis/apps/v1/namespaces/{NS}/deployments/email-triage-api",
        data="{}",
        headers={**auth, "Content-Type": "text/plain"},
        timeout=5,
    )
    assert unsupported.status_code == 415


def test_request_log_and_scenario_switch(kube: Kube) -> None:
    kube.clear_requests()
    kube.client.get_deployment("email-triage-api")
    kube.client.scale("email-triage-api", 4, dry_run=True)
    log = kube.requests()
    assert [(r["method"], r["path"], r["query"], r["status"]) for r in log] == [
        ("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/email-triage-api", {}, 200),
        (
            "PATCH",
            f"/apis/apps/v1/namespaces/{NS}/deployments/email-triage-api/scale",
            {"dryRun": "All"},
            200,
        ),
    ]
    assert log[1]["body"] == {"spec": {"replicas": 4}}
    assert kube.client.rollout_status("email-triage-api").done is True
    kube.load("stuck-rollout")
    assert kube.client.rollout_status("email-triage-api").stuck is True
    kube.load("healthy", rollouts="stuck")
    kube.client.rollout_restart("email-triage-api", dry_run=False)
    assert kube.client.rollout_status("email-triage-api").phase == "deadline-exceeded"
    r = requests.post(f"{kube.url}/_emulator/scenario", json={"scenario": "nope"}, timeout=5)
    assert r.status_code == 400 and "unknown scenario" in r.json()["message"]


def test_command_line_prints_url_and_writes_kubeconfig(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "triage_ops.kube_emulator",
            "--scenario",
            "crashloop",
            "--port",
            "0",
            "--kubeconfig-out",
            str(kubeconfig),
            "--token",
            "t0ken",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["current-context"] == "triage-emulator"
        assert config["clusters"][0]["cluster"]["server"] == url
        assert config["contexts"][0]["context"]["namespace"] == NS
        assert config["users"][0]["user"]["token"] == "t0ken"
        assert kubeconfig.stat().st_mode & 0o777 == 0o600
        pods = requests.get(
            f"{url}/api/v1/namespaces/{NS}/pods",
            headers={"Authorization": "Bearer t0ken"},
            timeout=5,
        ).json()
        assert len(pods["items"]) == 7
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_patch_flavours() -> None:
    target = {
        "spec": {
            "containers": [
                {"name": "a", "image": "x", "env": [{"name": "K", "value": "1"}]},
                {"name": "b", "image": "y"},
            ]
        }
    }
    merged = strategic_merge_patch(
        target, {"spec": {"containers": [{"name": "a", "env": [{"name": "L", "value": "2"}]}]}}
    )
    assert merged["spec"]["containers"] == [
        {
            "name": "a",
            "image": "x",
            "env": [{"name": "K", "value": "1"}, {"name": "L", "value": "2"}],
        },
        {"name": "b", "image": "y"},
    ]
    deleted = strategic_merge_patch(
        target, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}
    )
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["a"]
    assert merge_patch(target, {"spec": {"containers": []}}) == {"spec": {"containers": []}}
    assert merge_patch({"a": 1, "b": 2}, {"a": None}) == {"b": 2}
    assert json_patch({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}]) == {"a": [1, 2]}
    assert target["spec"]["containers"][1] == {"name": "b", "image": "y"}  # inputs untouched
    assert label_matcher("a=1,b!=2,c in (x,y),!d")({"a": "1", "b": "3", "c": "y"}) is True
    assert label_matcher("a=1,!d")({"a": "1", "d": ""}) is False


def test_emulator_object_is_reusable_as_context_manager() -> None:
    with Emulator("healthy") as emulator:
        assert requests.get(f"{emulator.url}/healthz", timeout=5).text == "ok"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emulator.url}/healthz", timeout=2)
