"""KubernetesClient over real HTTP against the emulator: every method, every scenario,
exact values (the emulator's names are deterministic: hashes of the pod templates)."""

from __future__ import annotations

import pytest

from tests.ops.kube.conftest import NS, Kube, StartKube, names, pod_names
from triage_core.service.settings import Secret
from triage_ops.clients.errors import BadResponse, NotFound
from triage_ops.clients.kubernetes import RESTARTED_AT, DrainResult, PodUsage, Usage

pytestmark = pytest.mark.timeout(60)

API_PODS = [
    "email-triage-api-rsp9vhg6lf-44nkm",
    "email-triage-api-rsp9vhg6lf-lwb2n",
    "email-triage-api-rsp9vhg6lf-p422g",
]
ALL_PODS = [
    "email-classifier-model-4llq8ctpgl-5svzn",
    "email-classifier-model-4llq8ctpgl-8s76x",
    *API_PODS,
    "email-triage-worker-2rr8s4g9xj-g9rh6",
    "email-triage-worker-2rr8s4g9xj-gh47c",
]
DEPLOYMENTS = ["email-classifier-model", "email-triage-api", "email-triage-worker"]


def test_context_namespace_and_version(kube: Kube) -> None:
    client = kube.client
    assert (client.namespace, client.context, client.host) == (NS, "triage-emulator", kube.url)
    assert client.version()["gitVersion"] == "v1.30.2-emulator"


def test_healthy_reads(kube: Kube) -> None:
    client = kube.client
    assert names(client.list_pods()) == ALL_PODS
    assert pod_names(kube, "api") == API_PODS
    pod = client.get_pod(API_PODS[0])
    assert (pod["status"]["phase"], pod["spec"]["nodeName"], pod["status"]["podIP"]) == (
        "Running",
        "node-2",
        "10.244.2.15",
    )
    assert [
        (c["name"], c["ready"], c["restartCount"]) for c in pod["status"]["containerStatuses"]
    ] == [("api", True, 0)]

    assert names(client.list_deployments()) == DEPLOYMENTS
    api = client.get_deployment("email-triage-api")
    assert api["metadata"]["generation"] == 2
    assert api["spec"]["replicas"] == 3
    status = {k: v for k, v in api["status"].items() if k != "conditions"}
    assert status == {
        "observedGeneration": 2,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    assert client.get_scale("email-triage-api")["status"] == {
        "replicas": 3,
        "selector": "app.kubernetes.io/component=api,app.kubernetes.io/name=email-triage",
    }

    sets = client.list_replicasets("app.kubernetes.io/component=api")
    assert [
        (
            rs["metadata"]["name"],
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            rs["spec"]["replicas"],
            rs["spec"]["template"]["spec"]["containers"][0]["image"],
        )
        for rs in sets
    ] == [
        ("email-triage-api-j6fblft4tl", "1", 0, "email-triage:1.4.1"),
        ("email-triage-api-rsp9vhg6lf", "2", 3, "email-triage:1.4.2"),
    ]

    assert names(client.list_services()) == ["email-classifier-model", "email-triage-api"]
    endpoints = client.get_endpoints("email-triage-api")
    assert [(a["ip"], a["targetRef"]["name"]) for a in endpoints["subsets"][0]["addresses"]] == [
        ("10.244.2.15", API_PODS[0]),
        ("10.244.3.16", API_PODS[1]),
        ("10.244.1.14", API_PODS[2]),
    ]
    assert endpoints["subsets"][0]["ports"] == [{"name": "http", "port": 8000, "protocol": "TCP"}]

    ingress = client.get_ingress("email-triage-ingress")
    assert ingress["status"]["loadBalancer"]["ingress"] == [{"ip": "203.0.113.10"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "email-triage-api", "port": {"name": "http"}}}

    assert client.list_events() == []
    assert [
        (n["metadata"]["name"], n["status"]["addresses"][0]["address"]) for n in client.list_nodes()
    ] == [("node-1", "10.0.0.11"), ("node-2", "10.0.0.12"), ("node-3", "10.0.0.13")]
    hpas = client.list_hpas()
    assert [
        (h["metadata"]["name"], h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) for h in hpas
    ] == [("email-triage-api", 3, 15)]


def test_pod_logs_tail_and_since(kube: Kube) -> None:
    client = kube.client
    assert client.pod_logs(API_PODS[0], "api") == (
        "INFO uvicorn.error: Started server process [7]\n"
        "INFO triage_core.service.api: ready: classifier tfserving (fallback rules)\n"
        "INFO triage_core.service.api: POST /v1/triage 200 38ms\n"
    )
    assert client.pod_logs(API_PODS[0], "api", tail_lines=1) == (
        "INFO triage_core.service.api: POST /v1/triage 200 38ms\n"
    )
    assert client.pod_logs(API_PODS[0], "api", since_seconds=300) == (
        "INFO triage_core.service.api: POST /v1/triage 200 38ms\n"
    )
    with pytest.raises(BadResponse, match="container nope is not valid"):
        client.pod_logs(API_PODS[0], "nope")


def test_secret_values_decoded_and_masked(kube: Kube) -> None:
    values = kube.client.get_secret("db-credentials")
    assert values == {"password": "emulator-db-password-0"}
    meta = kube.client.get_secret_metadata("db-credentials")
    assert (meta["name"], meta["labels"]) == (
        "db-credentials",
        {"app.kubernetes.io/part-of": "email-triage"},
    )
    assert meta["creationTimestamp"].endswith("Z")
    assert "emulator-db-password-0" not in str(meta)
    assert isinstance(values["password"], Secret)
    assert "emulator-db-password-0" not in repr(values)


def test_secret_patch_and_replace_dry_run_then_real(kube: Kube) -> None:
    client = kube.client
    before = kube.raw(f"/api/v1/namespaces/{NS}/secrets/db-credentials")["metadata"]
    shown = client.patch_secret("db-credentials", {"password": "rotated-1"}, dry_run=True)
    assert shown["data"] == {"password": "<redacted>"}
    assert "rotated-1" not in str(shown)
    assert client.get_secret("db-credentials") == {"password": "emulator-db-password-0"}
    assert kube.raw(f"/api/v1/namespaces/{NS}/secrets/db-credentials")["metadata"] == before

    client.patch_secret(
        "db-credentials", {"password": "rotated-1", "user": "triage"}, dry_run=False
    )
    assert client.get_secret("db-credentials") == {"password": "rotated-1", "user": "triage"}

    shown = client.replace_secret("db-credentials", {"password": "rotated-2"}, dry_run=True)
    assert shown["data"] == {"password": "<redacted>"}
    assert client.get_secret("db-credentials") == {"password": "rotated-1", "user": "triage"}
    client.replace_secret("db-credentials", {"password": "rotated-2"}, dry_run=False)
    assert client.get_secret("db-credentials") == {"password": "rotated-2"}  # replaced whole
    mutating = [r for r in kube.requests() if r["method"] in ("PATCH", "PUT")]
    assert [(r["method"], r["query"].get("dryRun")) for r in mutating] == [
        ("PATCH", "All"),
        ("PATCH", None),
        ("PUT", "All"),
        ("PUT", None),
    ]
    assert mutating[0]["content_type"] == "application/merge-patch+json"


def test_rollout_restart_dry_run_changes_nothing_then_rolls(kube: Kube) -> None:
    client = kube.client
    preview = client.rollout_restart("email-triage-api", dry_run=True, at="2030-01-02T03:04:05Z")
    assert preview["metadata"]["generation"] == 3
    assert preview["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] == (
        "2030-01-02T03:04:05Z"
    )
    stored = client.get_deployment("email-triage-api")
    assert stored["metadata"]["generation"] == 2
    assert RESTARTED_AT not in stored["spec"]["template"]["metadata"]["annotations"]
    assert pod_names(kube, "api") == API_PODS
    patch = next(r for r in kube.requests() if r["method"] == "PATCH")
    assert patch["content_type"] == "application/strategic-merge-patch+json"
    assert patch["body"] == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2030-01-02T03:04:05Z"}}}}
    }

    after = client.rollout_restart("email-triage-api", dry_run=False, at="2030-01-02T03:04:05Z")
    assert after["metadata"]["generation"] == 3
    new_pods = pod_names(kube, "api")
    assert len(new_pods) == 3 and not set(new_pods) & set(API_PODS)
    status = client.rollout_status("email-triage-api")
    assert (status.done, status.phase, status.generation, status.observed_generation) == (
        True,
        "complete",
        3,
        3,
    )
    assert status.message == 'deployment "email-triage-api" successfully rolled out'
    revisions = [
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for rs in client.list_replicasets("app.kubernetes.io/component=api")
    ]
    assert sorted(revisions) == ["1", "2", "3"]


def test_scale_dry_run_then_real(kube: Kube) -> None:
    client = kube.client
    preview = client.scale("email-triage-api", 5, dry_run=True)
    assert (preview["kind"], preview["spec"]) == ("Scale", {"replicas": 5})
    assert client.get_scale("email-triage-api")["spec"] == {"replicas": 3}
    assert len(pod_names(kube, "api")) == 3
    client.scale("email-triage-api", 5, dry_run=False)
    assert client.get_scale("email-triage-api")["spec"] == {"replicas": 5}
    assert len(pod_names(kube, "api")) == 5
    assert client.rollout_status("email-triage-api").done is True
    with pytest.raises(BadResponse) as err:
        client.scale("email-triage-api", -1, dry_run=True)
    assert err.value.status == 422


def test_set_resources_dry_run_then_real(kube: Kube) -> None:
    client = kube.client
    preview = client.set_resources(
        "email-triage-api", "api", limits={"memory": "3Gi"}, dry_run=True
    )
    container = preview["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2000m", "memory": "3Gi"},
    }
    assert client.get_deployment("email-triage-api")["metadata"]["generation"] == 2
    client.set_resources(
        "email-triage-api",
        "api",
        requests={"memory": "2Gi"},
        limits={"memory": "3Gi"},
        dry_run=False,
    )
    stored = client.get_deployment("email-triage-api")
    assert stored["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "500m", "memory": "2Gi"},
        "limits": {"cpu": "2000m", "memory": "3Gi"},
    }
    assert stored["metadata"]["generation"] == 3
    assert not set(pod_names(kube, "api")) & set(API_PODS)  # a new template: new pods
    with pytest.raises(NotFound, match="has no container nope"):
        client.set_resources("email-triage-api", "nope", limits={"cpu": "1"}, dry_run=True)


def test_hpa_patch(kube: Kube) -> None:
    preview = kube.client.patch_hpa("email-triage-api", min_replicas=5, dry_run=True)
    assert preview["spec"]["minReplicas"] == 5
    assert kube.client.list_hpas()[0]["spec"]["minReplicas"] == 3
    kube.client.patch_hpa("email-triage-api", min_replicas=5, max_replicas=20, dry_run=False)
    spec = kube.client.list_hpas()[0]["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (5, 20)


def test_cordon_dry_run_then_real_then_uncordon(kube: Kube) -> None:
    client = kube.client
    assert client.cordon("node-1", dry_run=True)["spec"]["unschedulable"] is True
    assert "unschedulable" not in client.get_node("node-1")["spec"]
    client.cordon("node-1", dry_run=False)
    spec = client.get_node("node-1")["spec"]
    assert spec["unschedulable"] is True
    assert [t["key"] for t in spec["taints"]] == ["node.kubernetes.io/unschedulable"]
    client.cordon("node-1", dry_run=False, unschedulable=False)
    assert "unschedulable" not in client.get_node("node-1")["spec"]


def test_drain_evicts_through_the_eviction_api(kube: Kube) -> None:
    client = kube.client
    preview = client.drain("node-1", dry_run=True, timeout=5, poll=0.1)
    expected = (
        f"{NS}/email-classifier-model-4llq8ctpgl-5svzn",
        f"{NS}/email-triage-api-rsp9vhg6lf-p422g",
        f"{NS}/email-triage-worker-2rr8s4g9xj-g9rh6",
    )
    assert preview == DrainResult(
        node="node-1",
        dry_run=True,
        cordoned=True,
        evicted=expected,
        skipped={"kube-system/kube-proxy-h6ls8": "DaemonSet-managed"},
    )
    assert "unschedulable" not in client.get_node("node-1")["spec"]
    assert names(client.list_pods()) == ALL_PODS

    result = client.drain("node-1", dry_run=False, timeout=5, poll=0.1)
    assert (result.evicted, result.complete, result.remaining) == (expected, True, ())
    on_node_1 = client.list_pods(field_selector="spec.nodeName=node-1", all_namespaces=True)
    assert names(on_node_1) == ["kube-proxy-h6ls8"]
    # the controllers replaced the evicted pods on the other nodes
    api = client.list_pods("app.kubernetes.io/component=api")
    assert len(api) == 3 and {p["spec"]["nodeName"] for p in api} == {"node-2", "node-3"}
    evictions = [r for r in kube.requests() if r["path"].endswith("/eviction")]
    assert len(evictions) == 6
    assert evictions[0]["body"]["deleteOptions"] == {"dryRun": ["All"]}


def test_drain_respects_pod_disruption_budget(start_kube: StartKube) -> None:
    kube = start_kube("stuck-rollout")  # no capacity: an evicted pod's replacement pends
    client = kube.client
    first = client.drain("node-1", dry_run=False, timeout=2, poll=0.1)
    assert first.complete is True
    assert f"{NS}/email-triage-api-ccknvghv74-f7xtv" in first.evicted
    second = client.drain("node-2", dry_run=False, timeout=1.0, poll=0.2)
    assert second.complete is False
    assert second.evicted == (f"{NS}/email-triage-worker-2rr8s4g9xj-gh47c",)
    assert list(second.blocked) == [f"{NS}/email-triage-api-ccknvghv74-g762h"]
    assert (
        "Cannot evict pod as it would violate the pod's disruption budget."
        in (second.blocked[f"{NS}/email-triage-api-ccknvghv74-g762h"])
    )
    refused = [r for r in kube.requests() if r["status"] == 429]
    assert len(refused) >= 3  # retried until the timeout


def test_top_pods_with_and_without_metrics_server(start_kube: StartKube) -> None:
    kube = start_kube("healthy")
    usage = {u.pod: u for u in kube.client.top_pods()}
    assert usage[API_PODS[0]] == PodUsage(
        pod=API_PODS[0], containers={"api": Usage(cpu_millicores=250.0, memory_bytes=620 * 2**20)}
    )
    assert sorted(usage) == ALL_PODS
    kube.load("crashloop")
    with pytest.raises(NotFound, match="metrics-server is not installed"):
        kube.client.top_pods()


def test_crashloop_scenario(start_kube: StartKube) -> None:
    client = start_kube("crashloop").client
    pod = client.get_pod(API_PODS[0])
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == 7
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["lastState"]["terminated"]["exitCode"] == 1
    events = client.list_events(f"involvedObject.name={API_PODS[0]}")
    assert [(e["reason"], e["type"], e["count"]) for e in events] == [("BackOff", "Warning", 31)]
    assert client.pod_logs(API_PODS[0], "api").splitlines()[-1] == (
        "ERROR uvicorn.error: Application startup failed. Exiting."
    )
    status_ = client.rollout_status("email-triage-api")
    assert (status_.done, status_.phase, status_.message) == (
        False,
        "available",
        'Waiting for deployment "email-triage-api" rollout to finish: 2 of 3 updated replicas'
        " are available...",
    )
    revisions = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs["spec"]["template"][
            "spec"
        ]["containers"][0]["image"]
        for rs in client.list_replicasets("app.kubernetes.io/component=api")
    }
    assert revisions == {
        "1": "email-triage:1.4.0",
        "2": "email-triage:1.4.1",
        "3": "email-triage:1.4.2",
    }


def test_oomkilled_scenario(start_kube: StartKube) -> None:
    client = start_kube("oomkilled").client
    pod = client.get_pod(API_PODS[1])
    status = pod["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert status["lastState"]["terminated"]["exitCode"] == 137
    assert status["restartCount"] == 3
    usage = {u.pod: u.containers["api"].memory_bytes for u in client.top_pods() if "api" in u.pod}
    assert usage[API_PODS[1]] == 1946 * 2**20
    model = client.get_deployment("email-classifier-model")
    assert model["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"}
    }


def test_stuck_rollout_scenario(start_kube: StartKube) -> None:
    client = start_kube("stuck-rollout").client
    status = client.rollout_status("email-triage-api")
    assert (status.done, status.stuck, status.phase, status.updated, status.total) == (
        False,
        True,
        "deadline-exceeded",
        1,
        4,
    )
    assert status.message == 'deployment "email-triage-api" exceeded its progress deadline'
    pending = [p for p in client.list_pods() if p["status"]["phase"] == "Pending"]
    assert names(pending) == ["email-triage-api-rkhhr4mljh-krpd9"]
    events = client.list_events("reason=FailedScheduling")
    assert [(e["involvedObject"]["name"], e["type"]) for e in events] == [
        ("email-triage-api-rkhhr4mljh-krpd9", "Warning")
    ]
    assert events[0]["message"].startswith("0/3 nodes are available: 3 Insufficient memory.")


def test_no_endpoints_scenario(start_kube: StartKube) -> None:
    client = start_kube("no-endpoints").client
    subsets = client.get_endpoints("email-triage-api")["subsets"]
    assert "addresses" not in subsets[0]
    assert [a["targetRef"]["name"] for a in subsets[0]["notReadyAddresses"]] == API_PODS
    status = client.rollout_status("email-triage-api")
    assert (status.available, status.phase) == (0, "available")
