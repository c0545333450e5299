"""`triage-ops security check`: exact findings from real TLS servers (trustme
certificates), a real Prometheus history and a trivy report."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.ops.blackhole import black_hole
from tests.ops.security.conftest import Cluster, trivy_report
from tests.ops.security.tls import serving

pytestmark = pytest.mark.timeout(120)


def check(cluster: Cluster, *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = cluster.invoke("-o", "json", "security", "check", *args)
    return code, json.loads(out), err


def summaries(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["severity"], f["code"], f["summary"]) for f in report["findings"]]


def notes(report: dict[str, Any], step: str) -> list[str]:
    [found] = [s for s in report["steps"] if s["id"] == step]
    notes: list[str] = found["notes"]
    return notes


def test_certificates_valid_soon_expired_untrusted_refused_blackholed(
    cluster: Cluster, ca: trustme.CA, cafile: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    soon_end = now + timedelta(days=5, hours=1)
    valid = ca.issue_cert("127.0.0.1", not_after=now + timedelta(days=365))
    soon = ca.issue_cert("127.0.0.1", not_after=soon_end)
    expired = ca.issue_cert(
        "127.0.0.1", not_before=now - timedelta(days=90), not_after=now - timedelta(days=1)
    )
    stranger = trustme.CA().issue_cert("127.0.0.1")
    wrong_name = ca.issue_cert("api.company.com")
    with (
        serving(valid) as ok,
        serving(soon) as expiring,
        serving(expired) as dead,
        serving(stranger) as untrusted,
        serving(wrong_name) as other_host,
        black_hole() as hole,
    ):
        with black_hole() as gone:
            pass  # a port that refuses
        endpoints = [ok.address, expiring.address, dead.address, untrusted.address]
        endpoints += [other_host.address, f"127.0.0.1:{gone}", f"127.0.0.1:{hole}"]
        started = time.monotonic()
        code, report, err = check(
            cluster, "--cafile", cafile, *(x for e in endpoints for x in ("--endpoint", e))
        )
        elapsed = time.monotonic() - started
    assert code == 2, err
    assert elapsed < 5  # one black hole costs one timeout, not the whole step
    assert summaries(report) == [
        (
            "critical",
            "TRI-SEC-002",
            f"{dead.address}: certificate does not verify (certificate has expired)",
        ),
        (
            "critical",
            "TRI-SEC-002",
            f"{untrusted.address}: certificate does not verify (unable to get local issuer"
            " certificate)",
        ),
        (
            "critical",
            "TRI-SEC-002",
            f"{other_host.address}: certificate does not verify (IP address mismatch,"
            " certificate is not valid for '127.0.0.1'.)",
        ),
        ("unknown", "TRI-SEC-003", f"127.0.0.1:{gone}: connection refused"),
        ("unknown", "TRI-SEC-003", f"127.0.0.1:{hole}: no TLS answer within 2.7 s"),
        (
            "warning",
            "TRI-SEC-001",
            f"{expiring.address}: certificate expires in 5 days ({soon_end.isoformat()})",
        ),
    ]
    assert notes(report, "certificates") == [f"{ok.address}: 365 days left"]
    assert report["findings"][-1]["evidence"]["days_left"] == 5.0


def test_expiring_within_the_configured_warning(
    cluster: Cluster, ca: trustme.CA, cafile: str
) -> None:
    cert = ca.issue_cert("127.0.0.1", not_after=datetime.now(UTC) + timedelta(days=30))
    with serving(cert) as server:
        cluster.configure(tls_endpoints=server.address, cert_warn_days=45)
        code, report, _ = check(cluster, "--cafile", cafile)
        assert code == 1
        assert [f["code"] for f in report["findings"]] == ["TRI-SEC-001"]
        code, report, _ = check(cluster, "--cafile", cafile, "--warn-days", "21")
        assert (code, report["findings"]) == (0, [])


def test_refused_requests_share_from_prometheus(
    cluster: Cluster, prometheus_bad: str, prometheus_good: str
) -> None:
    cluster.configure(prometheus_url=prometheus_bad)
    code, report, _ = check(cluster, "--window", "1h")
    assert code == 1
    assert summaries(report) == [
        (
            "warning",
            "TRI-SEC-004",
            "16.7% of API requests in 1h were refused (401: 16.7%)",
        )
    ]
    assert report["findings"][0]["evidence"] == {"shares": {"401": 0.1667}, "threshold": 0.05}
    # over a day the three bad hours are diluted below the 5% line
    code, report, _ = check(cluster)
    assert (code, report["findings"]) == (0, [])
    # 6 of 246 request-hours (2.44%); the window ends minutes after the history does, and
    # Prometheus extrapolates: the second digit moves with the time the test runs
    [note] = notes(report, "auth-failures")
    assert re.fullmatch(r"401/403/429 share 2\.[45]\d% over 24h", note), note
    code, report, _ = check(cluster, "--auth-threshold", "0.02")
    [finding] = report["findings"]
    assert finding["code"] == "TRI-SEC-004"
    assert 0.024 <= finding["evidence"]["shares"]["401"] < 0.026
    assert re.fullmatch(
        r"2\.[45]% of API requests in 24h were refused \(401: 2\.[45]%\)", finding["summary"]
    )
    cluster.configure(prometheus_url=prometheus_good)
    code, report, _ = check(cluster, "--window", "1h")
    assert (code, report["findings"]) == (0, [])
    assert notes(report, "auth-failures") == ["401/403/429 share 0.00% over 1h"]


def test_prometheus_down_is_unknown(cluster: Cluster) -> None:
    with black_hole() as gone:
        pass
    cluster.configure(prometheus_url=f"http://127.0.0.1:{gone}")
    code, report, _ = check(cluster)
    assert code == 4
    [finding] = report["findings"]
    assert (finding["code"], finding["severity"]) == ("TRI-PROM-001", "unknown")
    assert finding["summary"].startswith(
        f"cannot read metrics: Prometheus at http://127.0.0.1:{gone}"
    )


def test_trivy_report_summary(cluster: Cluster, tmp_path: Path) -> None:
    fresh = trivy_report(tmp_path)
    code, report, _ = check(cluster, "--trivy-report", str(fresh))
    assert code == 1
    [finding] = report["findings"]
    assert (finding["code"], finding["summary"]) == (
        "TRI-SEC-006",
        "email-triage:1.4.2: 1 critical and 2 high vulnerabilities",
    )
    evidence = finding["evidence"]
    assert evidence["counts"] == {"CRITICAL": 1, "HIGH": 2, "LOW": 1, "MEDIUM": 2}
    assert evidence["worst"] == [
        {"id": "CVE-2023-45853", "package": "zlib1g", "severity": "CRITICAL",
         "fixed_in": "no fix yet"},
        {"id": "CVE-2024-6387", "package": "openssh-client", "severity": "HIGH",
         "fixed_in": "1:9.2p1-2+deb12u3"},
        {"id": "CVE-2023-50782", "package": "cryptography", "severity": "HIGH",
         "fixed_in": "42.0.0"},
    ]  # fmt: skip
    assert evidence["age_days"] == 0.0


def test_trivy_report_stale_clean_missing_or_garbage(cluster: Cluster, tmp_path: Path) -> None:
    stale = trivy_report(tmp_path, age_days=10.2, Results=[])
    code, report, _ = check(cluster, "--trivy-report", str(stale))
    assert code == 1
    assert summaries(report) == [("warning", "TRI-SEC-007", "trivy report is 10 days old (max 7)")]
    code, report, _ = check(cluster, "--trivy-report", str(stale), "--report-max-age", "14")
    assert (code, report["findings"]) == (0, [])
    assert notes(report, "vulnerabilities") == [
        "email-triage:1.4.2: no critical or high vulnerabilities"
    ]
    missing = tmp_path / "nope.json"
    code, report, _ = check(cluster, "--trivy-report", str(missing))
    assert (code, summaries(report)) == (
        4,
        [("unknown", "TRI-SEC-005", f"trivy report {missing}: No such file or directory")],
    )
    garbage = tmp_path / "garbage.json"
    garbage.write_text("<html>502 Bad Gateway</html>")
    code, report, _ = check(cluster, "--trivy-report", str(garbage))
    assert summaries(report) == [
        ("unknown", "TRI-SEC-005", f"trivy report {garbage} is not trivy JSON")
    ]


def test_nothing_configured_passes_with_notes(cluster: Cluster) -> None:
    code, out, err = cluster.invoke("security", "check")
    assert (code, err) == (0, "")
    assert "no tls_endpoints configured" in out
    assert "no prometheus_url configured: refused requests not checked" in out
    assert "no trivy_report configured" in out


def test_prometheus_black_holed_is_unknown_within_the_timeout(cluster: Cluster) -> None:
    with black_hole() as hole:
        cluster.configure(prometheus_url=f"http://127.0.0.1:{hole}")
        started = time.monotonic()
        code, report, _ = check(cluster)
        elapsed = time.monotonic() - started
    assert code == 4
    assert elapsed < 6
    [finding] = report["findings"]
    assert finding["severity"] == "unknown"
    assert finding["summary"].startswith(
        f"cannot read metrics: Prometheus at http://127.0.0.1:{hole}"
    )
