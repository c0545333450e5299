"""Security checks against real servers on loopback: TLS servers with trustme
certificates, the two real Prometheus servers of tests/ops/prometheus_history.py (the bad
history has 401s), a trivy JSON report; node isolation against the Kubernetes API
emulator."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

import triage_ops.cli as cli
from tests.ops.scale.conftest import Cluster, cluster

__all__ = ["Cluster", "cluster"]

COMMAND = ("security", "triage_ops.commands.security:security")
TRIVY = Path(__file__).with_name("trivy-report.json")


@pytest.fixture(autouse=True)
def security_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._COMMANDS, *COMMAND)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def cafile(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def trivy_report(directory: Path, *, age_days: float = 0.0, **changes: Any) -> Path:
    """The fixture report as CI would have written it `age_days` ago."""
    data = json.loads(TRIVY.read_text(encoding="utf-8"))
    scanned = datetime.fromtimestamp(time.time() - age_days * 86400, UTC)
    data["CreatedAt"] = scanned.isoformat().replace("+00:00", "Z")
    data.update(changes)
    path = directory / "trivy.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
