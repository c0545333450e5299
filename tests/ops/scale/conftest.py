"""The scale commands against the Kubernetes API emulator over real HTTP (one per test,
with a kubeconfig as a user has one) and, for `scale recommend`, the two real
Prometheus servers with backfilled history (tests/ops/prometheus_history.py, registered in
tests/ops/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

import triage_ops.cli as cli
from triage_ops.clients import Clients
from triage_ops.clients.kubernetes import KubernetesClient
from triage_ops.config import OpsConfig
from triage_ops.kube_emulator import CONTEXT, Emulator

COMMAND = ("scale", "triage_ops.commands.scale:scale")


@pytest.fixture(autouse=True)
def scale_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._COMMANDS, *COMMAND)


@dataclass
class Cluster:
    emulator: Emulator
    config_path: Path
    audit_path: Path

    @property
    def config(self) -> OpsConfig:
        return OpsConfig.load(self.config_path, env={})

    @property
    def client(self) -> KubernetesClient:
        return Clients(self.config, timeout=3).kubernetes()

    def configure(self, **settings: Any) -> None:
        data = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        self.config_path.write_text(yaml.safe_dump({**data, **settings}), encoding="utf-8")

    def requests(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = requests.get(
            f"{self.emulator.url}/_emulator/requests", timeout=5
        ).json()
        return data

    def mutations(self) -> list[tuple[str, str, str | None]]:
        """(method, kind/name, dryRun) of every request that is not a read."""
        return [
            (
                r["method"],
                "/".join(r["path"].split("/")[-2:]),
                r["query"].get("dryRun"),
            )
            for r in self.requests()
            if r["method"] != "GET"
        ]

    def invoke(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(
            cli.main, ["--config", str(self.config_path), "--timeout", "3", *args]
        )
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    emulator = Emulator("healthy")
    emulator.start()
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    audit = tmp_path / "audit.jsonl"
    path = tmp_path / "triage-ops.yaml"
    settings = {"kubeconfig": str(kubeconfig), "kube_context": CONTEXT, "audit_log": str(audit)}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    yield Cluster(emulator, path, audit)
    emulator.stop()
