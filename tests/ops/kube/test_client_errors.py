"""Every failure is a typed error naming the API server, within the timeout, without the
token: stopped, black-holed, wrong token, 404, 409, 422; configuration lookup."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tests.ops.kube.conftest import NS, Kube
from triage_ops.clients import Clients
from triage_ops.clients.errors import (
    AuthFailed,
    BadResponse,
    Conflict,
    NotFound,
    TimedOut,
    Unreachable,
)
from triage_ops.clients.kubernetes import KubernetesClient
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError
from triage_ops.kube_emulator import CONTEXT, Emulator

pytestmark = pytest.mark.timeout(60)


def _kubeconfig(path: Path, server: str, token: str, namespace: str = NS) -> Path:
    emulator = Emulator("healthy")  # only for its kubeconfig shape; never started
    config = emulator.kubeconfig(namespace=namespace)
    config["clusters"][0]["cluster"]["server"] = server
    config["users"][0]["user"]["token"] = token
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_stopped_api_server_is_unreachable(kube: Kube) -> None:
    kube.client.list_pods()  # a pooled keep-alive connection exists
    kube.emulator.stop()
    started = time.monotonic()
    with pytest.raises(Unreachable) as err:
        kube.client.list_pods()
    assert time.monotonic() - started < 1.0
    assert not isinstance(err.value, TimedOut)
    assert str(err.value).startswith(f"Kubernetes API at {kube.url}: unreachable: ")
    assert str(err.value).endswith("(list pods)")
    assert err.value.system == "kubernetes"
    assert kube.emulator.token not in str(err.value)
    fresh = Clients(kube.config, timeout=1.0).kubernetes()
    with pytest.raises(Unreachable, match="Connection refused"):
        fresh.get_deployment("email-triage-api")


@pytest.mark.parametrize("call", ["list_pods", "rollout_restart"])
def test_black_holed_api_server_times_out_within_the_timeout(
    tmp_path: Path, black_hole: int, call: str
) -> None:
    path = _kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{black_hole}", "tok-abc123")
    client = KubernetesClient.from_config(
        OpsConfig(kubeconfig=str(path), kube_context=CONTEXT), timeout=0.8
    )
    started = time.monotonic()
    with pytest.raises(TimedOut) as err:
        if call == "list_pods":
            client.list_pods()
        else:
            client.rollout_restart("email-triage-api", dry_run=True)
    elapsed = time.monotonic() - started
    assert 0.7 <= elapsed < 1.5  # one attempt, not urllib3's default four
    assert str(err.value).startswith(
        f"Kubernetes API at http://127.0.0.1:{black_hole}: no answer within 0.8 s"
    )
    assert "tok-abc123" not in str(err.value)


def test_wrong_token_is_auth_failed_without_the_token(kube: Kube, tmp_path: Path) -> None:
    path = _kubeconfig(tmp_path / "kc", kube.url, "not-the-token-xyz")
    client = KubernetesClient.from_config(
        OpsConfig(kubeconfig=str(path), kube_context=CONTEXT), timeout=2
    )
    with pytest.raises(AuthFailed) as err:
        client.list_deployments()
    assert str(err.value) == (
        f"Kubernetes API at {kube.url}: list deployments: Unauthorized (HTTP 401)"
    )
    assert "not-the-token-xyz" not in str(err.value)
    sent = kube.requests()[-1]
    assert (sent["path"], sent["status"]) == (f"/apis/apps/v1/namespaces/{NS}/deployments", 401)


def test_not_found_conflict_and_invalid(kube: Kube) -> None:
    client = kube.client
    with pytest.raises(NotFound) as err:
        client.get_deployment("nope")
    assert str(err.value) == (
        f'Kubernetes API at {kube.url}: get deployment nope: deployments.apps "nope" not found'
        " (HTTP 404)"
    )
    with pytest.raises(NotFound, match=r'ingresses\.networking\.k8s\.io "nope" not found'):
        client.get_ingress("nope")

    stale = client._read_secret("db-credentials")
    client.patch_secret("db-credentials", {"password": "changed-meanwhile"}, dry_run=False)
    client._read_secret = lambda name: stale  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="the object has been modified"):
        client.replace_secret("db-credentials", {"password": "lost-update"}, dry_run=False)
    del client._read_secret
    assert client.get_secret("db-credentials") == {"password": "changed-meanwhile"}

    with pytest.raises(BadResponse) as bad:
        client.scale("email-triage-api", -2, dry_run=False)
    assert bad.value.status == 422
    assert "spec.replicas: Invalid value: -2" in str(bad.value)


def test_configuration_lookup(kube: Kube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = kube.config.kubeconfig
    # $KUBECONFIG when the config names none; the context's namespace when it names none
    other = kube.emulator.write_kubeconfig(tmp_path / "other-kc", namespace="other-ns")
    monkeypatch.setenv("KUBECONFIG", str(other))
    client = KubernetesClient.from_config(OpsConfig(kubeconfig="", namespace=""), timeout=2)
    assert (client.namespace, client.context, client.host) == (
        "other-ns",
        CONTEXT,
        kube.url,
    )
    assert client.version()["gitVersion"] == "v1.30.2-emulator"
    # the config's namespace wins over the context's
    client = KubernetesClient.from_config(OpsConfig(kubeconfig=str(other)), timeout=2)
    assert client.namespace == NS

    with pytest.raises(UsageError, match="kubeconfig /nonexistent/kc does not exist"):
        KubernetesClient.from_config(OpsConfig(kubeconfig="/nonexistent/kc"), timeout=2)
    with pytest.raises(UsageError, match="context"):
        KubernetesClient.from_config(
            OpsConfig(kubeconfig=path, kube_context="no-such-context"), timeout=2
        )
    # no kubeconfig anywhere and not in a pod: a usage error, not a traceback
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(UsageError, match="no usable Kubernetes configuration"):
        KubernetesClient.from_config(OpsConfig(kubeconfig=""), timeout=2)
