"""The Kubernetes manifests in deploy/: valid objects, the names the runbook and the ops CLI
use, probes on routes the servers really have, selectors that select, and no secret value."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT
from tests.deploy.kustomize import (
    CLUSTER_SCOPED,
    KUSTOMIZATION_FILE,
    KustomizeError,
    Object,
    build,
    containers,
    key,
    load_documents,
)
from triage_core.classify.embedded import EmbeddedClassifier
from triage_core.config import PipelineConfig
from triage_core.service.model_server import ServedModel, create_app

DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
OVERLAYS = sorted(p.parent for p in (DEPLOY / "overlays").glob(f"*/{KUSTOMIZATION_FILE}"))
NAMESPACE = "email-triage"
API, WORKER, MODEL = "email-triage-api", "email-triage-worker", "email-classifier-model"
INGRESS = "email-triage-ingress"
SECRET = "db-credentials"

EXPECTED_BASE = {
    ("Namespace", "", NAMESPACE),
    ("ServiceAccount", NAMESPACE, "email-triage"),
    ("ConfigMap", NAMESPACE, "email-triage-config"),
    ("ConfigMap", NAMESPACE, "email-triage-pipeline"),
    ("Deployment", NAMESPACE, API),
    ("Deployment", NAMESPACE, WORKER),
    ("Deployment", NAMESPACE, MODEL),
    ("Service", NAMESPACE, API),
    ("Service", NAMESPACE, MODEL),
    ("HorizontalPodAutoscaler", NAMESPACE, API),
    ("PodDisruptionBudget", NAMESPACE, API),
    ("PodDisruptionBudget", NAMESPACE, MODEL),
    ("Ingress", NAMESPACE, INGRESS),
}
API_VERSIONS = {
    "Namespace": "v1",
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "Deployment": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "Ingress": "networking.k8s.io/v1",
}
# The runbook's figures for the API container (its `kubectl patch` right-sizing step).
API_RESOURCES = {
    "requests": {"cpu": "500m", "memory": "1Gi"},
    "limits": {"cpu": "2000m", "memory": "2Gi"},
}
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_PASSWORD_IN_URL = re.compile(r"://[^/@\s:]+:[^/@\s]+@")


@pytest.fixture(scope="module")
def base() -> dict[tuple[str, str, str], Object]:
    return {key(o): o for o in build(BASE)}


def _one(objects: dict[tuple[str, str, str], Object], kind: str, name: str) -> Object:
    return objects[(kind, "" if kind in CLUSTER_SCOPED else NAMESPACE, name)]


def _container(deployment: Object, name: str) -> Object:
    (found,) = [c for c in containers(deployment) if c["name"] == name]
    return found


def _port(container: Object, name_or_number: Any) -> int:
    if isinstance(name_or_number, int):
        return name_or_number
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == name_or_number]
    return int(port)


# -- files -------------------------------------------------------------------------------------


def _manifest_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*.y*ml") if p.name != KUSTOMIZATION_FILE)


def test_every_yaml_file_is_kubernetes_objects_with_names_and_namespaces() -> None:
    files = _manifest_files()
    assert len(files) == 12
    for path in files:
        docs = load_documents(path)
        assert docs, path
        for doc in docs:
            kind = doc["kind"]
            assert doc["apiVersion"] == API_VERSIONS[kind], path
            name = doc["metadata"]["name"]
            assert _DNS_LABEL.fullmatch(name) and len(name) <= 63, (path, name)
            if kind not in CLUSTER_SCOPED:
                assert doc["metadata"]["namespace"] == NAMESPACE, (path, name)
            assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "email-triage"


def test_every_manifest_is_listed_in_a_kustomization_and_every_listed_file_exists() -> None:
    listed: set[Path] = set()
    for kustomization in [BASE, *OVERLAYS]:
        (spec,) = load_documents(kustomization / KUSTOMIZATION_FILE)
        assert spec["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
        assert spec["kind"] == "Kustomization"
        for resource in spec.get("resources", []):
            target = (kustomization / resource).resolve()
            assert target.exists(), f"{kustomization}: {resource}"
            if target.is_file():
                listed.add(target)
    assert {p.resolve() for p in _manifest_files()} == listed


def test_the_python_build_gives_the_runbooks_objects(base: dict[Any, Object]) -> None:
    assert set(base) == EXPECTED_BASE
    assert _one(base, "Namespace", NAMESPACE)["metadata"]["name"] == NAMESPACE


@pytest.mark.parametrize("directory", [BASE, *OVERLAYS], ids=lambda p: p.name)
def test_the_python_build_equals_kustomize_where_installed(directory: Path) -> None:
    """kubectl ships kustomize (`kubectl kustomize`); a bare `kustomize` works too. Without
    either, the Python build above is the check (its own rules are tested there)."""
    mine = {key(o): o for o in build(directory)}
    assert mine
    commands = []
    if shutil.which("kubectl"):
        commands.append(["kubectl", "kustomize", str(directory)])
    if shutil.which("kustomize"):
        commands.append(["kustomize", "build", str(directory)])
    for command in commands:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        theirs = {key(o): o for o in yaml.safe_load_all(proc.stdout) if o}
        assert set(theirs) == set(mine)
        assert theirs == mine


def test_the_image_is_the_one_the_runbook_scans_and_patches(base: dict[Any, Object]) -> None:
    for name in (API, WORKER, MODEL):
        for container in containers(_one(base, "Deployment", name)):
            assert container["image"] == "email-triage:latest"


# -- deployments -------------------------------------------------------------------------------


def test_selectors_match_their_pod_templates(base: dict[Any, Object]) -> None:
    deployments = [o for o in base.values() if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {API, WORKER, MODEL}
    for d in deployments:
        selector = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector and selector.items() <= labels.items(), d["metadata"]["name"]
    # Selectors do not overlap: each selects its own pods only.
    for d in deployments:
        selector = d["spec"]["selector"]["matchLabels"]
        selected = [
            o["metadata"]["name"]
            for o in deployments
            if selector.items() <= o["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert selected == [d["metadata"]["name"]]


def test_every_container_has_requests_and_limits(base: dict[Any, Object]) -> None:
    count = 0
    for obj in base.values():
        for container in containers(obj):
            count += 1
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, container["name"]
            assert set(resources["limits"]) == {"cpu", "memory"}, container["name"]
    assert count == 4  # api + its migrate init container, worker, model-server
    assert _container(_one(base, "Deployment", API), "api")["resources"] == API_RESOURCES


def test_every_container_runs_unprivileged_on_a_read_only_root(base: dict[Any, Object]) -> None:
    for obj in base.values():
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in containers(obj):
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"]["drop"] == ["ALL"]


def test_api_probes_use_the_apis_own_liveness_and_readiness_routes(
    base: dict[Any, Object],
) -> None:
    from triage_core.service.api.app import create_app as create_api
    from triage_core.service.settings import ServiceSettings

    api = _container(_one(base, "Deployment", API), "api")
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert _port(api, api[probe]["httpGet"]["port"]) == 8000
    assert "--port=8000" in api["command"]
    routes = set(create_api(ServiceSettings()).openapi()["paths"])
    assert {"/healthz", "/readyz", "/metrics", "/classify"} <= routes


def test_model_server_runs_serve_model_and_its_probe_answers_available(
    base: dict[Any, Object],
) -> None:
    server = _container(_one(base, "Deployment", MODEL), "model-server")
    assert server["command"][:2] == ["triage", "serve-model"]
    assert "--model-name=email-classifier" in server["command"]
    assert "--port=8501" in server["command"]
    assert "--host=0.0.0.0" in server["command"]
    readiness = server["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/v1/models/email-classifier"
    assert _port(server, readiness["port"]) == 8501
    assert server["livenessProbe"]["httpGet"]["path"] == readiness["path"]
    app = create_app(ServedModel(name="email-classifier", classifier=EmbeddedClassifier()))

    async def probe() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://model") as client:
            return await client.get(readiness["path"])

    answer = asyncio.run(probe())
    assert answer.status_code == 200
    assert answer.json()["model_version_status"][0]["state"] == "AVAILABLE"


def test_worker_runs_the_worker_with_its_metrics_port(base: dict[Any, Object]) -> None:
    worker = _container(_one(base, "Deployment", WORKER), "worker")
    assert worker["command"][:2] == ["triage", "worker"]
    assert "--metrics-port=8001" in worker["command"]
    assert _port(worker, worker["livenessProbe"]["httpGet"]["port"]) == 8001


def test_prometheus_scrapes_each_deployment_on_a_port_it_listens_on(
    base: dict[Any, Object],
) -> None:
    expected = {API: "8000", WORKER: "8001", MODEL: "8501"}
    for name, port in expected.items():
        deployment = _one(base, "Deployment", name)
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": port,
            "prometheus.io/path": "/metrics",
        }
        ports = {p["containerPort"] for c in containers(deployment) for p in c.get("ports", [])}
        assert int(port) in ports


def test_api_metrics_from_several_uvicorn_workers_are_summed(base: dict[Any, Object]) -> None:
    deployment = _one(base, "Deployment", API)
    api = _container(deployment, "api")
    env = {e["name"]: e.get("value") for e in api["env"]}
    directory = env["PROMETHEUS_MULTIPROC_DIR"]
    assert "--workers=2" in api["command"]
    mounts = {m["mountPath"]: m["name"] for m in api["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts[directory]]


# -- configuration and secrets -----------------------------------------------------------------


def test_database_password_comes_only_from_the_secret(base: dict[Any, Object]) -> None:
    assert not [k for k in base if k[0] == "Secret"]  # never applied over a rotated password
    config = _one(base, "ConfigMap", "email-triage-config")["data"]
    for name in (API, WORKER):
        deployment = _one(base, "Deployment", name)
        for container in containers(deployment):
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", [])]
            assert refs == ["email-triage-config"]
            (password,) = [e for e in container["env"] if e["name"] == "PGPASSWORD"]
            assert password["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "password"}
    assert config["TRIAGE_DATABASE_URL"].startswith("postgresql://email_triage@")
    for text in [
        *config.values(),
        *_one(base, "ConfigMap", "email-triage-pipeline")["data"].values(),
    ]:
        assert not _PASSWORD_IN_URL.search(text)
        assert "password" not in text.lower()


def test_the_local_overlay_generates_a_placeholder_secret_under_the_runbooks_name() -> None:
    (local,) = [o for o in OVERLAYS if o.name == "local"]
    objects = {key(o): o for o in build(local)}
    secret = objects[("Secret", NAMESPACE, SECRET)]
    assert set(secret["data"]) == {"password"}
    assert secret["data"]["password"] == "bG9jYWwtcGxhY2Vob2xkZXItbm90LWEtc2VjcmV0"
    assert objects[("HorizontalPodAutoscaler", NAMESPACE, API)]["spec"]["minReplicas"] == 1


def test_settings_keys_are_service_settings(base: dict[Any, Object]) -> None:
    from triage_core.service.settings import ServiceSettings

    data = _one(base, "ConfigMap", "email-triage-config")["data"]
    settings = ServiceSettings.from_env(data)
    assert settings.redis_cluster is True
    assert settings.pipeline_config == "/etc/email-triage/pipeline.yaml"
    fields = {"TRIAGE_" + f.upper() for f in ServiceSettings.__dataclass_fields__}
    assert set(data) <= fields


def test_pipeline_config_points_at_the_model_server_with_its_label_order(
    base: dict[Any, Object],
) -> None:
    raw = yaml.safe_load(_one(base, "ConfigMap", "email-triage-pipeline")["data"]["pipeline.yaml"])
    config = PipelineConfig.from_dict(raw)
    tf = config.classifier.tfserving
    assert config.classifier.backend == "tfserving"
    assert config.classifier.fallback == "rules"
    assert tf.labels == EmbeddedClassifier().labels
    assert tf.url == f"http://{MODEL}:8501"
    assert tf.model_name == "email-classifier"
    service = _one(base, "Service", MODEL)
    assert [p["port"] for p in service["spec"]["ports"]] == [8501]
    # The config file is mounted where TRIAGE_PIPELINE_CONFIG says, in API and worker.
    for name, container in ((API, "api"), (WORKER, "worker")):
        mounts = _container(_one(base, "Deployment", name), container)["volumeMounts"]
        assert {"name": "pipeline", "mountPath": "/etc/email-triage", "readOnly": True} in mounts


# -- services, ingress, autoscaling, disruption --------------------------------------------------


def test_services_select_their_deployments_pods_and_ports(base: dict[Any, Object]) -> None:
    for name in (API, MODEL):
        service = _one(base, "Service", name)
        deployment = _one(base, "Deployment", name)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        names = {p["name"] for p in container["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in names


def test_ingress_routes_the_email_triage_path_to_the_api(base: dict[Any, Object]) -> None:
    ingress = _one(base, "Ingress", INGRESS)
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"].startswith("/email-triage")
    assert re.fullmatch(path["path"], "/email-triage/classify")
    assert re.fullmatch(path["path"], "/email-triage")
    rewrite = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"]
    match = re.fullmatch(path["path"], "/email-triage/v1/triage")
    assert match is not None
    assert rewrite.replace("$2", match.group(2)) == "/v1/triage"
    backend = path["backend"]["service"]
    assert backend["name"] == API
    service_ports = {p["name"] for p in _one(base, "Service", API)["spec"]["ports"]}
    assert backend["port"]["name"] in service_ports


def test_hpa_scales_the_api_on_cpu_at_70_percent(base: dict[Any, Object]) -> None:
    hpa = _one(base, "HorizontalPodAutoscaler", API)["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": API}
    cpu = [m for m in hpa["metrics"] if m["resource"]["name"] == "cpu"]
    assert cpu == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70},
            },
        }
    ]
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    # The HPA owns the replica count: a `replicas` here would reset it on every apply.
    assert "replicas" not in _one(base, "Deployment", API)["spec"]


def test_pod_disruption_budgets_select_the_api_and_model_server_pods(
    base: dict[Any, Object],
) -> None:
    for name in (API, MODEL):
        pdb = _one(base, "PodDisruptionBudget", name)["spec"]
        template = _one(base, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert pdb["selector"]["matchLabels"].items() <= template.items()
        assert pdb["maxUnavailable"] == 1


# -- the Python build's own rules ----------------------------------------------------------------


def _kustomization(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / KUSTOMIZATION_FILE).write_text(text, encoding="utf-8")
    return directory


def test_python_build_applies_namespace_images_generators_and_patches(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 3\n"
        "  template:\n    spec:\n      containers: [{name: c, image: 'app:1'}]\n",
        encoding="utf-8",
    )
    (tmp_path / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n", encoding="utf-8"
    )
    _kustomization(
        tmp_path,
        "namespace: x\nresources: [ns.yaml, d.yaml]\nimages: [{name: app, newTag: '2'}]\n"
        "secretGenerator:\n- name: s\n  literals: [k=v=w]\n"
        "  options: {disableNameSuffixHash: true}\n"
        "patches:\n- target: {kind: Deployment, name: d}\n"
        "  patch: '[{op: replace, path: /spec/replicas, value: 1}]'\n",
    )
    objects = {key(o): o for o in build(tmp_path)}
    assert set(objects) == {("Namespace", "", "x"), ("Deployment", "x", "d"), ("Secret", "x", "s")}
    deployment = objects[("Deployment", "x", "d")]
    assert deployment["spec"]["replicas"] == 1
    assert containers(deployment)[0]["image"] == "app:2"
    assert objects[("Secret", "x", "s")]["data"] == {"k": "dj13"}  # base64 of "v=w"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resources: [missing.yaml]\n", "resource 'missing.yaml' does not exist"),
        ("commonLabels: {a: b}\n", "unsupported fields ['commonLabels']"),
        ("configMapGenerator: [{name: c, literals: [a=b]}]\n", "name hashes not supported"),
        (
            "patches: [{target: {kind: Service}, patch: '[{op: add, path: /a, value: 1}]'}]\n",
            "matches nothing",
        ),
    ],
)
def test_python_build_refuses_what_it_cannot_do(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(KustomizeError, match=re.escape(message)):
        build(_kustomization(tmp_path / "k", text))
