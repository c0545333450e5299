"""`triage-ops check daily` as CI cron runs it: against the whole sandbox (healthy, then
without a backup), against a Prometheus whose history is bad, and with every dependency
black-holed. JSON report, exit codes, and every step within --timeout."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ops.blackhole import BlackHole
from tests.ops.checklists.conftest import invoke, report_of, write_config, write_timeline
from tests.ops.conftest import RunningSandbox
from triage_ops.sandbox.postgres import pg_bin

pytestmark = pytest.mark.timeout(120)

STEPS = [
    "firing-alerts",
    "overnight-alerts",
    "incidents",
    "service-up",
    "latency",
    "error-rate",
    "model-latency",
    "queue-backlog",
    "fallback-rate",
    "backup",
    "replica",
    "cpu-memory",
    "scaling-triggers",
    "resource-trends",
    "vulnerabilities",
    "auth-failures",
    "pods",
    "services",
    "ingress",
    "database",
    "cache",
    "cache-eviction",
]
REPORT_KEYS = [
    "runbook", "title", "incident", "started_at", "duration_ms", "status", "exit_code",
    "steps", "findings", "actions",
]  # fmt: skip
FINDING_KEYS = ["code", "severity", "summary", "evidence", "action", "command", "step"]


PASSWORD = "Pw-d4ily-5ecret"


def daily(config: Path, *, timeout: float = 5.0) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    result = invoke(
        "--config", str(config), "--output", "json", "--timeout", f"{timeout:g}", "check", "daily"
    )
    elapsed = time.monotonic() - started
    assert result.stdout, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return result.exit_code, report_of(result), elapsed


def by_step(report: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for finding in report["findings"]:
        out.setdefault(finding["step"], []).append(finding["code"])
    return {step: sorted(codes) for step, codes in sorted(out.items())}


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["status"] for s in report["steps"]}


def assert_within(report: dict[str, Any], timeout: float) -> None:
    """Every step ended by itself within the timeout (none abandoned by the engine)."""
    for step in report["steps"]:
        assert step["kind"] == "check"
        assert step["duration_ms"] < timeout * 1000 + 250, step
    assert not [f for f in report["findings"] if f["code"] == "TRI-ENGINE-001"]


@pytest.fixture(scope="module")
def sandbox_backup(sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """backup_dir with one fresh base backup of the sandbox's PostgreSQL, as the nightly
    backup job takes it."""
    backups = tmp_path_factory.mktemp("sandbox-backups")
    subprocess.run(
        [
            str(pg_bin() / "pg_basebackup"),
            "-d",
            sandbox.endpoints["postgres"],
            "-D",
            str(backups / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())),
            "-Fp",
            "-X",
            "stream",
            "--manifest-checksums=SHA256",
            "-c",
            "fast",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return backups


def test_daily_on_the_healthy_sandbox(
    sandbox: RunningSandbox, sandbox_backup: Path, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    config = write_config(
        tmp_path / "ops.yaml",
        base=sandbox.config_path,
        audit_log=str(audit),
        backup_dir=str(sandbox_backup),
    )
    code, report, elapsed = daily(config)
    assert code == 0, report["findings"]
    assert list(report) == REPORT_KEYS
    assert (report["runbook"], report["title"]) == ("check-daily", "Daily operations checklist")
    assert (report["status"], report["exit_code"], report["incident"]) == ("ok", 0, None)
    assert report["findings"] == [] and report["actions"] == []
    assert [s["id"] for s in report["steps"]] == STEPS
    assert statuses(report) == {step: "ok" for step in STEPS}
    assert_within(report, 5.0)
    assert elapsed < 10
    notes = {s["id"]: s["notes"] for s in report["steps"]}
    assert notes["service-up"] == ['up{job="email-triage"}: 1 target(s) up']
    assert notes["incidents"] == ["no incident in the last 24 h and none open"]
    assert notes["database"][0].startswith("PostgreSQL primary 127.0.0.1:")
    assert "(v15." in notes["database"][0]  # the runbook's SELECT version()
    assert notes["backup"][0].startswith("latest base backup ")
    assert notes["backup"][1].startswith("pg_verifybackup: ")
    assert notes["vulnerabilities"] == ["no trivy_report configured"]
    # the run is on the audit timeline, as every runbook run is
    [entry] = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    assert (entry["kind"], entry["runbook"], entry["outcome"]) == (
        "runbook.run",
        "check-daily",
        "healthy",
    )


def test_daily_without_a_backup_dir_warns(sandbox: RunningSandbox, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "ops.yaml", base=sandbox.config_path, audit_log=str(tmp_path / "a.jsonl")
    )
    code, report, _ = daily(config)
    assert (code, report["exit_code"], report["status"]) == (1, 1, "warning")
    [finding] = report["findings"]
    assert list(finding) == FINDING_KEYS
    assert (finding["code"], finding["severity"], finding["step"]) == (
        "TRI-BACKUP-008",
        "warning",
        "backup",
    )
    assert statuses(report) == {s: "warning" if s == "backup" else "ok" for s in STEPS}


def test_daily_with_a_bad_history(
    sandbox: RunningSandbox, prometheus_daily: str, tmp_path: Path
) -> None:
    """The sandbox, but read through a Prometheus whose history went bad three hours ago
    (latency, errors, backlog, fallback, slow model), with alerts overnight, a target
    down and CPU tripled; an open incident; a trivy report with a critical CVE."""
    now = time.time()
    incident = f"INC-{time.strftime('%Y%m%d-%H%M', time.gmtime(now - 3600))}-P1"
    audit = write_timeline(
        tmp_path / "audit.jsonl",
        [
            {
                "ts": now - 3600,
                "kind": "incident.open",
                "incident": incident,
                "summary": "opened",
                "details": {"severity": "P1", "title": "Slow classify"},
            }
        ],
    )
    trivy = tmp_path / "trivy.json"
    trivy.write_text(
        json.dumps(
            {
                "ArtifactName": "email-triage:latest",
                "Results": [
                    {
                        "Vulnerabilities": [
                            {
                                "VulnerabilityID": "CVE-2026-0001",
                                "PkgName": "openssl",
                                "Severity": "CRITICAL",
                                "FixedVersion": "3.0.99",
                            },
                            {
                                "VulnerabilityID": "CVE-2026-0002",
                                "PkgName": "zlib",
                                "Severity": "LOW",
                            },
                        ]
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    config = write_config(
        tmp_path / "ops.yaml",
        base=sandbox.config_path,
        prometheus_url=prometheus_daily,
        audit_log=str(audit),
        trivy_report=str(trivy),
    )
    code, report, _ = daily(config)
    assert (code, report["exit_code"], report["status"]) == (2, 2, "critical")
    assert by_step(report) == {
        "backup": ["TRI-BACKUP-008"],
        "error-rate": ["TRI-PERF-002"],
        "fallback-rate": ["TRI-DRIFT-002"],
        "incidents": ["TRI-CHECK-001"],
        "latency": ["TRI-PERF-001"],
        "model-latency": ["TRI-PERF-005"],
        "overnight-alerts": ["TRI-CHECK-006"],
        "queue-backlog": ["TRI-PERF-006"],
        "resource-trends": ["TRI-CHECK-011"],
        "scaling-triggers": ["TRI-SCALE-001", "TRI-SCALE-001"],
        "service-up": ["TRI-CHECK-007"],
        "vulnerabilities": ["TRI-SEC-006"],
    }
    # worst first: the three critical ones lead
    assert [f["severity"] for f in report["findings"][:3]] == ["critical"] * 3
    assert {f["code"] for f in report["findings"][:3]} == {
        "TRI-CHECK-007",
        "TRI-PERF-001",
        "TRI-PERF-002",
    }
    found = {f["code"]: f for f in report["findings"]}
    assert found["TRI-CHECK-001"]["evidence"]["incidents"][0]["id"] == incident
    assert found["TRI-SEC-006"]["summary"] == (
        "email-triage:latest: 1 critical and 0 high vulnerabilities"
    )
    assert found["TRI-PERF-006"]["summary"] == ("1500 emails waiting in the queue (threshold 1000)")
    assert found["TRI-CHECK-007"]["command"] == "triage-ops incident p0"
    assert_within(report, 5.0)
    assert statuses(report)["pods"] == "ok"  # the rest is the healthy sandbox


@pytest.fixture
def holes() -> Iterator[dict[str, BlackHole]]:
    names = ("prometheus", "alertmanager", "redis", "postgres", "kubernetes", "api")
    started = {name: BlackHole().start() for name in names}
    try:
        yield started
    finally:
        for hole in started.values():
            hole.close()


def _black_holed(tmp_path: Path, holes: dict[str, BlackHole], **settings: Any) -> Path:
    kube = holes["kubernetes"].address
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: hole\n"
        f"clusters: [{{name: hole, cluster: {{server: 'http://{kube}'}}}}]\n"
        "users: [{name: me, user: {token: t}}]\n"
        "contexts: [{name: hole, context: {cluster: hole, user: me, namespace: email-triage}}]\n",
        encoding="utf-8",
    )
    return write_config(
        tmp_path / "ops.yaml",
        prometheus_url=f"http://{holes['prometheus'].address}",
        alertmanager_url=f"http://{holes['alertmanager'].address}",
        redis_url=f"redis://:{PASSWORD}@{holes['redis'].address}/0",
        api_url=f"http://{holes['api'].address}",
        kubeconfig=str(kubeconfig),
        kube_context="hole",
        audit_log=str(tmp_path / "audit.jsonl"),
        **settings,
    )


def test_daily_never_hangs_and_says_what_it_could_not_check(
    tmp_path: Path, holes: dict[str, BlackHole]
) -> None:
    """Every dependency accepts TCP and never answers: each item ends within --timeout as
    `unknown`, naming its system; nothing critical was found, so the exit code is 4."""
    config = _black_holed(tmp_path, holes)  # no database_url: that check cannot run either
    code, report, elapsed = daily(config, timeout=1.0)
    assert (code, report["exit_code"], report["status"]) == (4, 4, "unknown")
    assert elapsed < 4
    assert_within(report, 1.0)
    prometheus = ["TRI-PROM-001"]
    kube = ["TRI-KUBE-090"]
    assert by_step(report) == {
        "auth-failures": prometheus,
        "backup": ["TRI-BACKUP-008"],
        "cache": ["TRI-ENGINE-002"],
        "cache-eviction": ["TRI-ENGINE-002"],
        "cpu-memory": prometheus,
        "database": ["TRI-DEP-001"],
        "error-rate": prometheus,
        "fallback-rate": prometheus,
        "firing-alerts": ["TRI-ENGINE-002"],
        "ingress": kube,
        "latency": prometheus,
        "model-latency": prometheus,
        "overnight-alerts": prometheus,
        "pods": kube,
        "queue-backlog": prometheus,
        "resource-trends": prometheus,
        "scaling-triggers": prometheus,
        "service-up": prometheus,
        "services": kube,
    }
    found = {f["step"]: f for f in report["findings"]}
    assert holes["redis"].address in found["cache"]["summary"]
    assert found["cache"]["evidence"]["system"] == "redis"
    assert found["firing-alerts"]["evidence"]["system"] == "alertmanager"
    assert holes["prometheus"].address in found["latency"]["summary"]
    assert {s["id"] for s in report["steps"] if s["status"] == "ok"} == {
        "incidents",
        "replica",
        "vulnerabilities",
    }


def test_a_critical_finding_wins_over_what_could_not_be_checked(
    tmp_path: Path, holes: dict[str, BlackHole]
) -> None:
    """The same, with the database black-holed too: a primary that does not answer is
    critical (TRI-DB-002), so the exit code is 2, not 4."""
    config = _black_holed(
        tmp_path,
        holes,
        database_url=f"postgresql://triage:{PASSWORD}@{holes['postgres'].address}/triage",
    )
    # libpq's connect_timeout is whole seconds, 2 at least: --timeout 2
    code, report, elapsed = daily(config, timeout=2.0)
    assert (code, report["exit_code"], report["status"]) == (2, 2, "critical")
    assert elapsed < 5
    assert_within(report, 2.0)
    assert by_step(report)["database"] == ["TRI-DB-002"]
    assert report["findings"][0]["code"] == "TRI-DB-002"
    assert "unknown" in {s["status"] for s in report["steps"]}
    # the passwords of the database and Redis URLs: not in the output (checked by `daily`),
    # not in the audit timeline
    assert PASSWORD not in (tmp_path / "audit.jsonl").read_text(encoding="utf-8")


def test_a_bad_param_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ops.yaml", audit_log=str(tmp_path / "a.jsonl"))
    result = invoke("--config", str(config), "check", "daily", "--param", "hours=48")
    assert result.exit_code == 3
    assert result.stderr == (
        "triage-ops: error: runbook check-daily has no parameter 'hours'"
        " (known: since_hours, trend_growth)\n"
    )
    result = invoke("--config", str(config), "check", "daily", "--param", "since_hours=soon")
    assert (result.exit_code, result.stderr) == (
        3,
        "triage-ops: error: --param since_hours: 'soon' is not a int\n",
    )
    assert not (tmp_path / "a.jsonl").exists()  # refused before anything ran


def test_since_hours_widens_the_window(
    sandbox: RunningSandbox, prometheus_daily: str, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "ops.yaml",
        base=sandbox.config_path,
        prometheus_url=prometheus_daily,
        audit_log=str(tmp_path / "a.jsonl"),
    )
    result = invoke(
        "--config", str(config), "-o", "json", "check", "daily", "--param", "since_hours=96"
    )
    report = report_of(result)
    [alerts] = [f for f in report["findings"] if f["code"] == "TRI-CHECK-006"]
    assert sorted(a["alertname"] for a in alerts["evidence"]["alerts"]) == [
        "HighFallbackRate",
        "HighLatencyP95",  # three days ago: inside 96 hours
        "QueueBacklog",
        "ServiceDown",
    ]
    assert alerts["summary"].startswith("4 alert series fired in the last 96 h")
