"""The sandbox's Kubernetes component: the emulator as a detached process, reached through
the kubeconfig the sandbox writes, stopped by pid like the other components. (The whole
`sandbox up` is tests/ops/test_sandbox.py's.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from triage_ops.clients.errors import Unreachable
from triage_ops.clients.kubernetes import KubernetesClient
from triage_ops.config import OpsConfig
from triage_ops.kube_emulator import CONTEXT
from triage_ops.sandbox import processes
from triage_ops.sandbox import sandbox as sbx

pytestmark = pytest.mark.timeout(60)


def test_kubernetes_component_starts_serves_and_stops(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    port = processes.free_port()
    component = sbx._start_kubernetes(tmp_path, port, tmp_path / "logs")
    try:
        assert (component.name, component.port, component.url) == (
            "kubernetes",
            port,
            f"http://127.0.0.1:{port}",
        )
        assert component.running()
        config = OpsConfig(kubeconfig=str(tmp_path / "kubeconfig"), kube_context=CONTEXT)
        client = KubernetesClient.from_config(config, timeout=2)
        assert client.rollout_status("email-triage-api").done is True
        assert [d["metadata"]["name"] for d in client.list_deployments()] == [
            "email-classifier-model",
            "email-triage-api",
            "email-triage-worker",
        ]
    finally:
        assert processes.stop(component.pid, expect=component.expect, sig=component.stop_signal)
    with pytest.raises(Unreachable):
        client.list_pods()


def test_ops_config_names_the_kubeconfig_and_context(tmp_path: Path) -> None:
    box = sbx.Sandbox(state_dir=str(tmp_path))
    for name in sbx.ORDER:
        box.components[name] = sbx.Component(name, 1, 1, f"http://{name}", "", name)
    path = sbx._write_ops_config(tmp_path, box)
    written = yaml.safe_load(path.read_text())
    assert written["kubeconfig"] == str(tmp_path / "kubeconfig")
    assert written["kube_context"] == "triage-emulator"
    config = OpsConfig.load(path, env={})
    assert (config.kubeconfig, config.kube_context) == (str(tmp_path / "kubeconfig"), CONTEXT)
    assert sbx.ORDER[0] == "kubernetes"
