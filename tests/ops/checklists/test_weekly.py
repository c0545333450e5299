"""`triage-ops check weekly` against the sandbox (its Kubernetes API emulator holds the
db-credentials secret, created 20 days ago), the checklist Prometheus history (a noisy
alert, idle CPU requests, growing volume), a trivy report, and a real TLS endpoint whose
certificate (trustme) expires in 5 days."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.ops.checklists.conftest import invoke, report_of, write_config
from tests.ops.conftest import RunningSandbox

pytestmark = pytest.mark.timeout(120)

STEPS = ["secret-age", "certificates", "noisy-alerts", "cost", "capacity", "vulnerabilities"]


class TlsEndpoint:
    """A TLS server on loopback presenting `cert`: it completes each handshake, then
    closes (all a certificate check needs)."""

    def __init__(self, cert: trustme.LeafCert) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.context)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with contextlib.suppress(OSError), self.context.wrap_socket(conn, server_side=True):
                pass  # the handshake happened in wrap_socket

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(timeout=2)


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    cafile = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(cafile))
    return authority, cafile


@pytest.fixture
def expiring(ca: tuple[trustme.CA, Path]) -> Iterator[TlsEndpoint]:
    cert = ca[0].issue_cert("127.0.0.1", not_after=datetime.now(UTC) + timedelta(days=5))
    server = TlsEndpoint(cert)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def weekly_config(
    tmp_path: Path, sandbox: RunningSandbox, prometheus_daily: str, expiring: TlsEndpoint
) -> Path:
    trivy = tmp_path / "trivy.json"
    trivy.write_text(
        json.dumps(
            {
                "ArtifactName": "email-triage:latest",
                "Results": [
                    {
                        "Vulnerabilities": [
                            {
                                "VulnerabilityID": "CVE-2026-0003",
                                "PkgName": "libxml2",
                                "Severity": "HIGH",
                                "FixedVersion": "2.12.9",
                            },
                        ]
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    return write_config(
        tmp_path / "ops.yaml",
        base=sandbox.config_path,
        prometheus_url=prometheus_daily,
        audit_log=str(tmp_path / "audit.jsonl"),
        tls_endpoints=f"127.0.0.1:{expiring.port}",
        trivy_report=str(trivy),
        secret_max_age_days=14,
    )


def weekly(config: Path, *params: str) -> tuple[int, dict[str, Any]]:
    args = ["--config", str(config), "--output", "json", "check", "weekly"]
    for param in params:
        args += ["--param", param]
    result = invoke(*args)
    assert result.stdout, result.stderr
    return result.exit_code, report_of(result)


def codes(report: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in report["findings"]:
        out.setdefault(finding["step"], []).append(finding["code"])
    return {step: sorted(c) for step, c in sorted(out.items())}


def test_weekly_finds_what_is_due(
    weekly_config: Path, expiring: TlsEndpoint, ca: tuple[trustme.CA, Path]
) -> None:
    started = time.monotonic()
    code, report = weekly(weekly_config, f"cafile={ca[1]}")
    assert time.monotonic() - started < 20
    assert (code, report["exit_code"], report["status"]) == (1, 1, "warning")
    assert report["runbook"] == "check-weekly"
    assert [s["id"] for s in report["steps"]] == STEPS
    assert codes(report) == {
        "capacity": ["TRI-CHECK-004"],
        "certificates": ["TRI-SEC-001"],
        "cost": ["TRI-CHECK-005"],
        "noisy-alerts": ["TRI-ALERT-060"],
        "secret-age": ["TRI-SECRET-002"],
        "vulnerabilities": ["TRI-SEC-006"],
    }
    found = {f["code"]: f for f in report["findings"]}
    cert = found["TRI-SEC-001"]
    assert cert["summary"].startswith(f"127.0.0.1:{expiring.port}: certificate expires in 5 days")
    assert cert["evidence"]["days_left"] == pytest.approx(5.0, abs=0.1)
    assert found["TRI-SECRET-002"]["summary"] == (
        "secret db-credentials: 20 days since its creation (no rotation in the audit"
        " timeline) (rotate every 14 days)"
    )
    noisy = found["TRI-ALERT-060"]
    assert noisy["evidence"]["alert"] == "HighFallbackRate"
    assert noisy["evidence"]["firings"] == 5
    assert found["TRI-CHECK-005"]["evidence"]["pods"] == {"email-triage-api-a": 0.031}
    assert found["TRI-CHECK-004"]["evidence"]["growth_per_week"] > 0.10
    assert found["TRI-SEC-006"]["summary"] == (
        "email-triage:latest: 0 critical and 1 high vulnerabilities"
    )


def test_a_certificate_that_does_not_verify_is_critical(weekly_config: Path) -> None:
    """Without the private CA (no --param cafile) the same endpoint does not verify."""
    code, report = weekly(weekly_config)
    assert (code, report["exit_code"], report["status"]) == (2, 2, "critical")
    assert codes(report)["certificates"] == ["TRI-SEC-002"]
    assert report["findings"][0]["code"] == "TRI-SEC-002"
    assert "certificate does not verify" in report["findings"][0]["summary"]


def test_an_endpoint_that_does_not_answer_is_unknown(
    tmp_path: Path, weekly_config: Path, ca: tuple[trustme.CA, Path]
) -> None:
    """Refused: the certificate could not be checked (unknown, exit 4), while the rest of
    the week's findings are warnings."""
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    config = write_config(
        tmp_path / "refused.yaml", base=weekly_config, tls_endpoints=f"127.0.0.1:{port}"
    )
    code, report = weekly(config, f"cafile={ca[1]}")
    assert (code, report["exit_code"], report["status"]) == (4, 4, "unknown")
    [finding] = [f for f in report["findings"] if f["step"] == "certificates"]
    assert (finding["code"], finding["severity"]) == ("TRI-SEC-003", "unknown")
    assert finding["summary"].startswith(f"127.0.0.1:{port}: ")  # names the endpoint
