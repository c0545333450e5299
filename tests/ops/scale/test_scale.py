"""`triage-ops scale api|worker` as a user runs it, against the Kubernetes API emulator:
replicas change, the cap refuses, dry runs change nothing, the autoscaler is moved."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.ops.blackhole import black_hole
from tests.ops.scale.conftest import Cluster
from triage_ops.commands import scale as scale_command
from triage_ops.procedures import scaling

pytestmark = pytest.mark.timeout(60)
API = "email-triage-api"
WORKER = "email-triage-worker"


def rolled(deployment: str) -> str:
    """What a verified change says on stderr."""
    return f'triage-ops: deployment "{deployment}" successfully rolled out\n'


def test_defaults_shown_in_help_are_the_library_defaults() -> None:
    assert scale_command.DEFAULT_MAX_STEP == scaling.DEFAULT_MAX_STEP
    assert scale_command.DEFAULT_MAX_REPLICAS == scaling.DEFAULT_MAX_REPLICAS


def test_scale_worker_out(cluster: Cluster) -> None:
    code, out, err = cluster.invoke("scale", "worker", "--replicas", "4", "--yes")
    assert (code, err) == (0, rolled(WORKER))
    assert cluster.client.get_scale(WORKER)["spec"]["replicas"] == 4
    status = cluster.client.get_deployment(WORKER)["status"]
    assert (status["readyReplicas"], status["updatedReplicas"]) == (4, 4)
    assert cluster.mutations() == [
        ("PATCH", f"{WORKER}/scale", "All"),
        ("PATCH", f"{WORKER}/scale", None),
    ]
    assert f"scale out deployment/{WORKER} (ns email-triage): 2 -> 4 replicas" in out
    assert "kube.scale  ok" in out
    [entry] = [json.loads(x) for x in cluster.audit_path.read_text().splitlines()]
    assert (entry["outcome"], entry["step"], entry["after"]) == (
        "ok",
        "scale.worker",
        {"deployment": WORKER, "replicas": 4},
    )


def test_dry_run_changes_nothing_and_names_the_autoscaler(cluster: Cluster) -> None:
    code, out, err = cluster.invoke("--dry-run", "scale", "api", "--replicas", "5")
    assert (code, err) == (0, "")
    assert cluster.mutations() == [
        ("PATCH", f"{API}/scale", "All"),
        ("PATCH", f"horizontalpodautoscalers/{API}", "All"),
    ]
    assert cluster.client.get_scale(API)["spec"]["replicas"] == 3
    assert cluster.client.list_hpas()[0]["spec"]["minReplicas"] == 3
    flat = " ".join(out.split())
    assert (
        f"scale out deployment/{API} (ns email-triage): 3 -> 5 replicas;"
        f" HorizontalPodAutoscaler {API} manages it: a plain scale would be undone within a"
        " minute, so its minReplicas moves to 5 instead (it may still scale above)"
    ) in flat
    assert f"kubectl -n email-triage patch hpa {API} --type=merge" in out
    [entry] = [json.loads(x) for x in cluster.audit_path.read_text().splitlines()]
    assert entry["outcome"] == "dry-run"


def test_scale_api_moves_the_autoscaler_floor_first(cluster: Cluster) -> None:
    code, _, err = cluster.invoke("scale", "api", "--replicas", "5", "-y")
    assert (code, err) == (0, rolled(API))
    assert cluster.client.list_hpas()[0]["spec"]["minReplicas"] == 5
    assert cluster.client.get_deployment(API)["status"]["readyReplicas"] == 5
    real = [m for m in cluster.mutations() if m[2] is None]
    assert real == [
        ("PATCH", f"horizontalpodautoscalers/{API}", None),
        ("PATCH", f"{API}/scale", None),
    ]


@pytest.mark.parametrize(
    ("args", "low", "high", "wanted"),
    [
        (("--replicas", "7"), 2, 6, 7),
        (("--replicas", "1"), 2, 6, 1),
        (("--replicas", "5", "--max-replicas", "4"), 2, 4, 5),
        (("--replicas", "5", "--max-step", "1.5"), 2, 4, 5),
    ],
)
def test_the_cap_refuses_in_one_line(
    cluster: Cluster, args: tuple[str, ...], low: int, high: int, wanted: int
) -> None:
    code, out, err = cluster.invoke("scale", "api", *args, "--yes")
    step = "2" if "--max-step" not in args else "1.5"
    most = "20" if "--max-replicas" not in args else "4"
    assert (code, out) == (3, "")
    assert err == (
        f"triage-ops: error: refusing to scale deployment/{API} from 3 to {wanted}: one run"
        f" may set {low} to {high} (--max-step x{step}, --max-replicas {most}); scale in"
        " steps, or --force\n"
    )
    assert cluster.mutations() == []
    assert not cluster.audit_path.exists()


def test_zero_needs_force(cluster: Cluster) -> None:
    code, _, err = cluster.invoke("scale", "worker", "--replicas", "0", "--yes")
    assert code == 3
    assert err == (
        f"triage-ops: error: refusing to scale deployment/{WORKER} to 0 replicas: that stops"
        " it (--force to mean it)\n"
    )
    code, _, err = cluster.invoke("scale", "worker", "--replicas", "0", "--yes", "--force")
    assert (code, err) == (0, rolled(WORKER))
    assert cluster.client.get_scale(WORKER)["spec"]["replicas"] == 0


def test_force_goes_beyond_the_cap(cluster: Cluster) -> None:
    code, _, err = cluster.invoke("scale", "api", "--replicas", "9", "--yes", "--force")
    assert (code, err) == (0, rolled(API))
    assert cluster.client.get_deployment(API)["status"]["readyReplicas"] == 9
    assert cluster.client.list_hpas()[0]["spec"]["minReplicas"] == 9


def test_scale_in_asks_with_no_as_default_and_needs_a_terminal(cluster: Cluster) -> None:
    code, out, err = cluster.invoke("scale", "api", "--replicas", "2")
    assert (code, out) == (3, "")
    assert err.endswith(
        "triage-ops: error: this change needs --yes when not run from a terminal"
        " (--dry-run shows the plan)\n"
    )
    assert "Plan: scale in deployment/email-triage-api" in err
    assert cluster.client.get_scale(API)["spec"]["replicas"] == 3
    [entry] = [json.loads(x) for x in cluster.audit_path.read_text().splitlines()]
    assert (entry["outcome"], entry["plan"]["destructive"]) == ("refused", True)


def test_resources_warn_that_pods_restart(cluster: Cluster) -> None:
    code, out, err = cluster.invoke(
        "--dry-run", "scale", "api", "--cpu", "750m", "--memory", "1536Mi"
    )
    assert (code, err) == (0, "")
    flat = " ".join(out.split())
    assert (
        f"set resources of deployment/{API} container api (ns email-triage): RESTARTS all 3"
        " pods (rolling)"
    ) in flat
    assert (
        f"kubectl -n email-triage set resources deployment/{API} -c api"
        " --requests=cpu=750m,memory=1536Mi"
    ) in flat
    assert cluster.mutations() == [("PATCH", f"deployments/{API}", "All")]
    code, out, err = cluster.invoke(
        "scale", "api", "--cpu", "750m", "--memory", "1536Mi", "--limit-memory", "3Gi", "-y"
    )
    assert (code, err) == (0, rolled(API))
    dep = cluster.client.get_deployment(API)
    [container] = [c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "api"]
    assert container["resources"] == {
        "requests": {"cpu": "750m", "memory": "1536Mi"},
        "limits": {"cpu": "2000m", "memory": "3Gi"},
    }
    assert dep["metadata"]["generation"] == 3
    assert dep["status"]["updatedReplicas"] == dep["status"]["readyReplicas"] == 3


def test_request_above_limit_is_refused(cluster: Cluster) -> None:
    code, out, err = cluster.invoke("scale", "worker", "--cpu", "3", "--yes")
    assert (code, out) == (3, "")
    assert err == (f"triage-ops: error: {WORKER}/worker: cpu request 3 is above its limit 2000m\n")
    assert cluster.mutations() == []


@pytest.mark.parametrize(
    "args",
    [("--replicas", "3", "--cpu", "1"), ()],
)
def test_replicas_or_resources(cluster: Cluster, args: tuple[str, ...]) -> None:
    code, _, err = cluster.invoke("scale", "api", *args)
    assert code == 3
    assert err == (
        "triage-ops: error: scale api: give --replicas N, or resources (--cpu/--memory/"
        "--limit-cpu/--limit-memory), not both\n"
    )


def test_unknown_deployment(cluster: Cluster) -> None:
    cluster.configure(worker_deployment="nope")
    code, _, err = cluster.invoke("scale", "worker", "--replicas", "3", "--yes")
    assert (code, err) == (
        3,
        "triage-ops: error: deployment nope not found in namespace email-triage\n",
    )


def test_rollout_that_does_not_complete_is_not_verified(cluster: Cluster) -> None:
    requests.post(
        f"{cluster.emulator.url}/_emulator/rollouts", json={"rollouts": "stuck"}, timeout=5
    )
    code, out, err = cluster.invoke("scale", "worker", "--replicas", "3", "--yes", "--wait", "2")
    assert (code, out) == (2, "")
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"triage-ops: error: kube.scale: unverified: deployment {WORKER}:")
    [entry] = [json.loads(x) for x in cluster.audit_path.read_text().splitlines()]
    assert entry["outcome"] == "unverified"
    assert [f["code"] for f in entry["findings"]] == ["TRI-ACTION-002", "TRI-KUBE-061"]


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
        code, out, err = cluster.invoke("scale", "api", "--replicas", "4", "--yes")
        elapsed = time.monotonic() - started
    assert (code, out) == (4, "")
    assert err.startswith("triage-ops: error: Kubernetes API at http://127.0.0.1:")
    assert len(err.strip().splitlines()) == 1
    assert ("no answer within 3 s" in err) == (fault == "black-holed")
    assert elapsed < 6
