"""The Kubernetes checks per scenario: the right codes, exact evidence, secrets scrubbed,
and one `unknown` finding naming the API server when it is down, black-holed or refuses
the token."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.ops.kube.conftest import NS, Kube, StartKube, load_catalogue
from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import StepContext
from triage_ops.findings import Finding, Severity
from triage_ops.kube_emulator import CONTEXT
from triage_ops.procedures.kube_checks import (
    CHECKS,
    check_api_logs,
    check_ingress,
    check_pods,
    check_resource_limits,
    check_rollouts,
    check_services,
    scrub,
)

pytestmark = pytest.mark.timeout(60)

CRASHING = "email-triage-api-rsp9vhg6lf-44nkm"
OOM = "email-triage-api-rsp9vhg6lf-lwb2n"
PENDING = "email-triage-api-rkhhr4mljh-krpd9"


def run_all(kube: Kube, **params: object) -> dict[str, list[Finding]]:
    results = {}
    for name, check in CHECKS.items():
        results[name] = check(kube.ctx(**params))
    return results


def codes(results: dict[str, list[Finding]]) -> dict[str, list[str]]:
    return {name: [f.code for f in found] for name, found in results.items() if found}


def test_healthy_cluster_has_no_findings(kube: Kube) -> None:
    ctx = kube.ctx()
    for check in CHECKS.values():
        assert check(ctx) == []
    assert ctx.notes == [
        "7 pods in email-triage, 7 ready",
        "3 deployments",
        "2 services with ready endpoints",
        "ingress email-triage-ingress: api.company.com at 203.0.113.10",
        "no error lines in the last 10 min of 3 API pods",
        "memory checked for 7 pods",
    ]


def test_crashloop(start_kube: StartKube) -> None:
    results = run_all(start_kube("crashloop"))
    assert codes(results) == {
        "kube.pods": ["TRI-KUBE-001"],
        "kube.rollouts": ["TRI-KUBE-007", "TRI-KUBE-012"],
        "kube.api-logs": ["TRI-KUBE-040"],
    }
    crash = results["kube.pods"][0]
    assert crash.severity == Severity.CRITICAL
    assert crash.summary == (
        f"pod {CRASHING}: container api is in CrashLoopBackOff (7 restarts; last exit: Error,"
        " code 1)"
    )
    assert {
        k: crash.evidence[k]
        for k in (
            "pod",
            "deployment",
            "node",
            "container",
            "restarts",
            "last_exit_reason",
            "last_exit_code",
            "reason",
        )
    } == {
        "pod": CRASHING,
        "deployment": "email-triage-api",
        "node": "node-2",
        "container": "api",
        "restarts": 7,
        "last_exit_reason": "Error",
        "last_exit_code": 1,
        "reason": "CrashLoopBackOff",
    }
    assert crash.action.startswith(
        "Runbook P0, pods crash-looping: check resource limits and recent deployments."
    )
    assert crash.command == (
        "kubectl -n email-triage logs deployment/email-triage-api --previous --tail=100"
    )

    degraded, recent = results["kube.rollouts"]
    assert degraded.summary == "deployment email-triage-api has 2 of 3 replicas available"
    assert recent.severity == Severity.INFO
    assert recent.summary == (
        "deployment email-triage-api: revision 2 -> 3, 25 min ago (api: email-triage:1.4.1 ->"
        " email-triage:1.4.2; migrate: email-triage:1.4.1 -> email-triage:1.4.2)"
    )
    assert recent.evidence["image_changes"] == {
        "api": "email-triage:1.4.1 -> email-triage:1.4.2",
        "migrate": "email-triage:1.4.1 -> email-triage:1.4.2",
    }
    assert (recent.evidence["revision_before"], recent.evidence["revision"]) == (2, 3)

    logs = results["kube.api-logs"][0]
    assert logs.summary == (
        "4 error lines in the last 10 min of the email-triage-api logs (1 of 3 pods)"
    )
    assert logs.evidence["per_pod"] == {CRASHING: 4}
    assert logs.evidence["last_lines"] == [
        f"{CRASHING}: ERROR triage_core.service.api: cannot connect to"
        " postgresql://email_triage:***@postgresql-primary:5432/email_triage",
        f"{CRASHING}: Traceback (most recent call last):",
        f"{CRASHING}: psycopg.OperationalError: connection failed: FATAL:  password"
        ' authentication failed for user "email_triage"',
        f"{CRASHING}: ERROR uvicorn.error: Application startup failed. Exiting.",
    ]
    everything = json.dumps([f.to_json() for found in results.values() for f in found])
    assert "s3cr3t-pa55" not in everything


def test_oomkilled(start_kube: StartKube) -> None:
    kube = start_kube("oomkilled")
    results = run_all(kube)
    assert codes(results) == {
        "kube.pods": ["TRI-KUBE-003"],
        "kube.resource-limits": ["TRI-KUBE-050", "TRI-KUBE-051"],
    }
    oom = results["kube.pods"][0]
    assert oom.summary == (
        f"pod {OOM}: container api was OOMKilled 14 min ago (memory limit 2Gi; 3 restarts)"
    )
    assert (oom.evidence["last_exit_code"], oom.evidence["memory_limit"]) == (137, "2Gi")
    no_limits, near = results["kube.resource-limits"]
    assert no_limits.summary == (
        "deployment email-classifier-model: container model-server has no cpu or memory limit"
    )
    assert no_limits.evidence["requests"] == {"cpu": "250m", "memory": "512Mi"}
    assert near.summary == f"pod {OOM}: container api uses 1946Mi of its 2Gi memory limit (95%)"
    assert (near.evidence["memory_used_mib"], near.evidence["ratio"]) == (1946.0, 0.95)
    # restarts over a lowered threshold, and a stricter memory ratio
    results = run_all(kube, restart_threshold=3, memory_ratio=0.5)
    assert codes(results)["kube.pods"] == ["TRI-KUBE-002", "TRI-KUBE-003"]
    assert results["kube.pods"][0].summary == (
        f"pod {OOM}: container api restarted 3 times (threshold 3; last exit: OOMKilled)"
    )
    near_pods = [f.evidence["pod"] for f in results["kube.resource-limits"][1:]]
    assert near_pods == [OOM]  # 620Mi of 2Gi is 30%: the others stay below even 50%


def test_stuck_rollout(start_kube: StartKube) -> None:
    results = run_all(start_kube("stuck-rollout"))
    assert codes(results) == {
        "kube.pods": ["TRI-KUBE-004"],
        "kube.rollouts": ["TRI-KUBE-010", "TRI-KUBE-012"],
    }
    pending = results["kube.pods"][0]
    assert pending.summary == (
        f"pod {PENDING} cannot be scheduled: 0/3 nodes are available: 3 Insufficient memory."
        " preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
    )
    assert (pending.evidence["reason"], pending.evidence["event_reason"]) == (
        "Unschedulable",
        "FailedScheduling",
    )
    stuck, recent = results["kube.rollouts"]
    assert stuck.summary == (
        'rollout of deployment email-triage-api is stuck: ReplicaSet "email-triage-api-rkhhr4mljh"'
        " has timed out progressing. (1/3 updated, 3 available)"
    )
    assert stuck.evidence["reason"] == "ProgressDeadlineExceeded"
    assert stuck.command == "kubectl -n email-triage rollout undo deployment/email-triage-api"
    assert recent.evidence["rollout_complete"] is False
    assert recent.summary.startswith("deployment email-triage-api: revision 2 -> 3, 40 min ago")


def test_no_endpoints(start_kube: StartKube) -> None:
    results = run_all(start_kube("no-endpoints"))
    assert codes(results) == {
        "kube.pods": ["TRI-KUBE-005", "TRI-KUBE-005", "TRI-KUBE-005"],
        "kube.rollouts": ["TRI-KUBE-006"],
        "kube.services": ["TRI-KUBE-020"],
        "kube.api-logs": ["TRI-KUBE-040"],
    }
    service = results["kube.services"][0]
    assert service.summary == "service email-triage-api has no ready endpoint (3 not ready)"
    assert service.evidence["not_ready_pods"] == [
        "email-triage-api-rsp9vhg6lf-44nkm",
        "email-triage-api-rsp9vhg6lf-lwb2n",
        "email-triage-api-rsp9vhg6lf-p422g",
    ]
    not_ready = results["kube.pods"][0]
    assert not_ready.summary == (
        "pod email-triage-api-rsp9vhg6lf-44nkm is running but not ready: Readiness probe failed:"
        " HTTP probe failed with statuscode: 503"
    )
    assert not_ready.evidence["probe_failures"] == 40
    assert results["kube.rollouts"][0].summary == (
        "deployment email-triage-api has no available replica (0 of 3)"
    )


def test_containers_that_cannot_start_and_crashing_init_containers(kube: Kube) -> None:
    pod = kube.client.get_pod("email-triage-api-rsp9vhg6lf-44nkm")
    pod["metadata"] = {"name": "bad-image", "labels": pod["metadata"]["labels"]}
    pod["status"]["phase"] = "Pending"
    pod["status"]["containerStatuses"][0].update(
        ready=False,
        state={
            "waiting": {
                "reason": "ImagePullBackOff",
                "message": 'Back-off pulling image "email-triage:1.4.3"',
            }
        },
    )
    pod["status"]["initContainerStatuses"][0].update(
        restartCount=4,
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
        lastState={"terminated": {"exitCode": 2, "reason": "Error"}},
    )
    headers = {"Authorization": f"Bearer {kube.emulator.token}"}
    r = requests.post(
        f"{kube.url}/api/v1/namespaces/{NS}/pods", json=pod, headers=headers, timeout=5
    )
    assert r.status_code == 201
    found = check_pods(kube.ctx())
    assert [(f.code, f.summary) for f in found] == [
        (
            "TRI-KUBE-001",
            "pod bad-image: container migrate is in CrashLoopBackOff (4 restarts;"
            " last exit: Error, code 2)",
        ),
        (
            "TRI-KUBE-008",
            "pod bad-image: container api cannot start: ImagePullBackOff (Back-off"
            ' pulling image "email-triage:1.4.3")',
        ),
    ]
    assert found[1].severity == Severity.CRITICAL


def test_parameters_narrow_the_checks(start_kube: StartKube) -> None:
    kube = start_kube("crashloop")
    assert [f.code for f in check_rollouts(kube.ctx(recent_hours=0.25))] == ["TRI-KUBE-007"]
    logs = check_api_logs(kube.ctx(log_since_s=60))
    assert logs == []  # the crash was 5 minutes ago
    logs = check_api_logs(kube.ctx(log_lines_shown=1))
    assert logs[0].evidence["last_lines"] == [
        f"{CRASHING}: ERROR uvicorn.error: Application startup failed. Exiting."
    ]


def test_missing_objects(start_kube: StartKube) -> None:
    kube = start_kube("healthy", worker_deployment="email-triage-wrker")
    found = check_rollouts(kube.ctx())
    assert [(f.code, f.summary) for f in found] == [
        ("TRI-KUBE-013", "deployment email-triage-wrker does not exist in namespace email-triage")
    ]
    headers = {"Authorization": f"Bearer {kube.emulator.token}"}
    r = requests.delete(
        f"{kube.url}/api/v1/namespaces/{NS}/services/email-triage-api", headers=headers, timeout=5
    )
    assert r.status_code == 200
    assert [(f.code, f.summary) for f in check_ingress(kube.ctx())] == [
        (
            "TRI-KUBE-031",
            "ingress email-triage-ingress routes to service email-triage-api, which does not exist",
        )
    ]
    assert [f.code for f in check_services(kube.ctx())] == ["TRI-KUBE-021"]
    bare = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "bare"},
        "spec": {
            "ingressClassName": "nginx",
            "defaultBackend": {
                "service": {"name": "email-classifier-model", "port": {"number": 8501}}
            },
        },
    }
    r = requests.post(
        f"{kube.url}/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses",
        json=bare,
        headers=headers,
        timeout=5,
    )
    assert r.status_code == 201
    bare_ctx = start_kube_ctx(kube, ingress_name="bare")
    assert [(f.code, f.summary) for f in check_ingress(bare_ctx)] == [
        ("TRI-KUBE-032", "ingress bare has no address (class nginx)")
    ]
    gone_ctx = start_kube_ctx(kube, ingress_name="gone")
    assert [(f.code, f.summary) for f in check_ingress(gone_ctx)] == [
        ("TRI-KUBE-030", "ingress gone does not exist in namespace email-triage")
    ]


def start_kube_ctx(kube: Kube, **config: Any) -> StepContext:
    from dataclasses import replace

    ctx = kube.ctx()
    ctx.config = replace(kube.config, **config)
    return ctx


def test_api_server_down_gives_one_unknown_finding_per_check(kube: Kube) -> None:
    kube.emulator.stop()
    for name, check in CHECKS.items():
        found = check(kube.ctx())
        assert [(f.code, f.severity) for f in found] == [("TRI-KUBE-090", Severity.UNKNOWN)], name
        assert found[0].summary.startswith(f"Kubernetes API at {kube.url}: unreachable: ")
        assert found[0].evidence == {"error": "Unreachable"}


def test_black_holed_api_server_gives_unknown_within_the_timeout(
    tmp_path: Path, black_hole: int, kube: Kube
) -> None:
    kubeconfig = kube.emulator.kubeconfig()
    kubeconfig["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{black_hole}"
    path = tmp_path / "black-hole-kc"
    import yaml

    path.write_text(yaml.safe_dump(kubeconfig), encoding="utf-8")
    config = OpsConfig(kubeconfig=str(path), kube_context=CONTEXT)
    clients = Clients(config, timeout=0.5)
    ctx = StepContext(
        config=config, clients=clients, timeout=0.5, make_finding=kube.ctx().make_finding
    )
    started = time.monotonic()
    found = check_pods(ctx)
    assert time.monotonic() - started < 1.2
    assert [f.code for f in found] == ["TRI-KUBE-090"]
    assert found[0].summary == (
        f"Kubernetes API at http://127.0.0.1:{black_hole}: no answer within 0.5 s (list pods)"
    )
    assert found[0].evidence == {"error": "TimedOut"}


def test_refused_token_gives_auth_finding(kube: Kube, tmp_path: Path) -> None:
    import yaml

    kubeconfig = kube.emulator.kubeconfig()
    kubeconfig["users"][0]["user"]["token"] = "expired-token-123"
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(kubeconfig), encoding="utf-8")
    config = OpsConfig(kubeconfig=str(path), kube_context=CONTEXT)
    ctx = StepContext(
        config=config,
        clients=Clients(config, timeout=2),
        timeout=2,
        make_finding=kube.ctx().make_finding,
    )
    found = check_resource_limits(ctx)
    assert [(f.code, f.summary) for f in found] == [
        ("TRI-KUBE-091", f"Kubernetes API at {kube.url}: list deployments: Unauthorized (HTTP 401)")
    ]
    assert "expired-token-123" not in json.dumps(found[0].to_json())


def test_scrub() -> None:
    assert scrub("dsn=postgresql://u:pa55@db:5432/x ok") == "dsn=postgresql://u:***@db:5432/x ok"
    assert scrub("Authorization: Bearer abc.def-ghi") == "Authorization: *** ***"
    assert scrub("calling with Bearer abc.def") == "calling with Bearer ***"
    assert scrub('password="hunter 2" user=x') == "password=*** user=x"
    assert scrub("api_key: sk-123 token=t0k") == "api_key: *** token=***"
    assert scrub("password authentication failed") == "password authentication failed"


def test_every_code_used_is_in_the_catalogue() -> None:
    catalogue = load_catalogue()
    source = "".join(
        (Path(__file__).resolve().parents[3] / "triage_ops" / "procedures" / name).read_text()
        for name in ("kube_checks.py", "kube_actions.py")
    )
    import re

    used = set(re.findall(r"TRI-KUBE-\d{3}", source))
    assert used <= set(catalogue)
    assert all(code.startswith("TRI-KUBE-") for code in catalogue)
    assert set(catalogue) - used == set()  # no code declared and never produced
