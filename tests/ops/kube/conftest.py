"""Kubernetes tests run the real client over real HTTP against the emulator on loopback.

`kube` starts one emulator per test (a scenario builds in milliseconds), writes its
kubeconfig and builds the client the way triage-ops does (`Clients(config).kubernetes()`).
`make_finding` reads runbooks/findings.d/kube.yaml, as the engine's catalogue will.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from triage_ops.clients import Clients
from triage_ops.clients.kubernetes import KubernetesClient
from triage_ops.config import OpsConfig
from triage_ops.engine.contract import StepContext
from triage_ops.findings import Finding, Severity
from triage_ops.kube_emulator import CONTEXT, Emulator

REPO = Path(__file__).resolve().parents[3]
CATALOGUE = REPO / "runbooks" / "findings.d" / "kube.yaml"
NS = "email-triage"


def load_catalogue() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))
    return data


def make_finding(code: str, summary: str, *, evidence: Any = None, step: str = "") -> Finding:
    entry = load_catalogue()[code]  # KeyError: a check used an undeclared code
    return Finding(
        code=code,
        severity=Severity(entry["severity"]),
        summary=summary,
        evidence=dict(evidence or {}),
        action=" ".join(entry["action"].split()),
        command=entry["command"],
        step=step,
    )


@dataclass
class Kube:
    emulator: Emulator
    config: OpsConfig
    client: KubernetesClient
    clients: Clients

    @property
    def url(self) -> str:
        return self.emulator.url

    def ctx(self, **params: Any) -> StepContext:
        return StepContext(
            config=self.config,
            clients=self.clients,
            timeout=self.clients.timeout,
            step_id="test",
            params=params,
            make_finding=make_finding,
        )

    def requests(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = requests.get(
            f"{self.url}/_emulator/requests", timeout=5
        ).json()
        return data

    def clear_requests(self) -> None:
        requests.delete(f"{self.url}/_emulator/requests", timeout=5)

    def load(self, scenario: str, rollouts: str | None = None) -> None:
        body: dict[str, Any] = {"scenario": scenario}
        if rollouts:
            body["rollouts"] = rollouts
        r = requests.post(f"{self.url}/_emulator/scenario", json=body, timeout=5)
        assert r.status_code == 200, r.text

    def raw(self, path: str) -> Any:
        r = requests.get(
            self.url + path, headers={"Authorization": f"Bearer {self.emulator.token}"}, timeout=5
        )
        return r.json()


StartKube = Callable[..., Kube]


@pytest.fixture
def start_kube(tmp_path: Path) -> Iterator[StartKube]:
    started: list[Emulator] = []

    def start(scenario: str = "healthy", *, timeout: float = 3.0, **config: Any) -> Kube:
        emulator = Emulator(scenario)
        emulator.start()
        started.append(emulator)
        path = emulator.write_kubeconfig(tmp_path / f"kubeconfig-{len(started)}")
        settings = OpsConfig(kubeconfig=str(path), kube_context=CONTEXT, **config)
        clients = Clients(settings, timeout=timeout)
        return Kube(emulator, settings, clients.kubernetes(), clients)

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def kube(start_kube: StartKube) -> Kube:
    return start_kube("healthy")


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts TCP (the kernel completes the handshake into the backlog) and
    never answers a byte: the worst kind of dead server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [str(o["metadata"]["name"]) for o in objects]


def pod_names(kube: Kube, component: str) -> list[str]:
    return names(kube.client.list_pods(f"app.kubernetes.io/component={component}"))
