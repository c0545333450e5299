"""`triage-ops alerts reload` against a real Prometheus: promtool first, POST /-/reload,
then the loaded rule groups checked against the files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.ops.alerts.conftest import (
    RULES,
    Prometheus,
    invoke,
    start_prometheus,
    write_config,
)
from triage_ops.sandbox import processes as proc

pytestmark = pytest.mark.timeout(60)
REPO_GROUPS = {
    "email-triage.availability": ["ServiceDown", "HighErrorRate"],
    "email-triage.database": ["DatabaseConnections"],
    "email-triage.performance": ["HighLatencyP95", "QueueBacklog"],
    "email-triage.model": ["HighFallbackRate", "ConfidenceDrift"],
}
EXTRA = """groups:
  - name: extra
    rules:
      - alert: ExtraOne
        expr: vector(1) > 2
        for: 1m
        labels:
          severity: info
        annotations:
          summary: never fires
      - alert: ExtraTwo
        expr: vector(1) > 3
        for: 1m
        labels:
          severity: info
"""
BROKEN = """groups:
  - name: broken
    rules:
      - alert: Broken
        expr: up{job="x" == 0
"""


@pytest.fixture
def prometheus(tmp_path: Path, rules_dir: Path) -> Iterator[Prometheus]:
    prom = start_prometheus(tmp_path / "prometheus", rules_dir=rules_dir)
    try:
        yield prom
    finally:
        proc.stop(prom.pid, expect="prometheus")


@pytest.fixture
def config(tmp_path: Path, prometheus: Prometheus) -> Path:
    return write_config(
        tmp_path / "ops.yaml",
        prometheus_url=prometheus.url,
        audit_log=str(tmp_path / "audit.jsonl"),
    )


def _audit(config: Path) -> list[dict[str, Any]]:
    path = config.parent / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _reload(config: Path, *args: str) -> Any:
    return invoke("--config", str(config), "-o", "json", *args)


def test_dry_run_then_reload_loads_the_new_group(prometheus: Prometheus, config: Path) -> None:
    assert prometheus.groups() == REPO_GROUPS
    (prometheus.rules_dir / "extra.rules.yml").write_text(EXTRA, encoding="utf-8")
    rules = str(prometheus.rules_dir)

    dry = _reload(config, "--dry-run", "alerts", "reload", rules)
    assert dry.code == 0, dry.err
    plan = dry.json()["plan"]
    assert dry.json()["outcome"] == "dry-run"
    assert plan["summary"] == (
        f"reload Prometheus at {prometheus.url}: 5 rule group(s), 9 alert(s) from 2 file(s)"
        " checked by promtool"
    )
    changes = {c["target"].split(" (")[0]: (c["before"], c["after"]) for c in plan["changes"]}
    assert changes["rule group extra"] == ("not loaded", "2 alert(s), 0 record(s)")
    assert changes["rule group email-triage.availability"] == (
        "2 alert(s), 0 record(s)",
        "2 alert(s), 0 record(s)",
    )
    assert plan["commands"][1] == f"curl -fsS -X POST {prometheus.url}/-/reload"
    assert prometheus.groups() == REPO_GROUPS  # nothing sent

    done = _reload(config, "--yes", "alerts", "reload", rules)
    assert done.code == 0, done.out + done.err
    assert done.json()["outcome"] == "ok"
    assert done.json()["findings"] == []
    assert prometheus.groups() == {**REPO_GROUPS, "extra": ["ExtraOne", "ExtraTwo"]}
    runtime = prometheus.get("/api/v1/status/runtimeinfo")
    assert runtime["reloadConfigSuccess"] is True
    assert [(e["details"]["action"], e["outcome"]) for e in _audit(config)] == [
        ("alerts.reload", "dry-run"),
        ("alerts.reload", "ok"),
    ]


def test_broken_rules_are_refused_and_the_old_rules_keep_running(
    prometheus: Prometheus, config: Path
) -> None:
    broken = prometheus.rules_dir / "broken.rules.yml"
    broken.write_text(BROKEN, encoding="utf-8")
    result = _reload(config, "--yes", "alerts", "reload", str(prometheus.rules_dir))
    assert result.code == 2
    report = result.json()
    assert (report["outcome"], report["plan"]) == ("refused", None)
    assert [(f["code"], f["evidence"]["file"]) for f in report["findings"]] == [
        ("TRI-ALERT-001", str(broken.resolve()))
    ]
    assert "could not parse expression" in report["findings"][0]["summary"]
    # Nothing was sent: Prometheus still runs the old rules, and its last reload is fine.
    assert prometheus.groups() == REPO_GROUPS
    assert prometheus.get("/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is True
    assert [e["outcome"] for e in _audit(config)] == ["refused"]

    table = invoke("--config", str(config), "--yes", "alerts", "reload", str(prometheus.rules_dir))
    assert table.code == 2
    assert table.out.splitlines()[0] == "reload refused"
    assert table.out.splitlines()[2].split()[:2] == ["critical", "TRI-ALERT-001"]


def test_a_reload_prometheus_rejects_fails(prometheus: Prometheus, config: Path) -> None:
    """The files checked are fine, but Prometheus loads others (here a broken one beside
    them): Prometheus answers 500, keeps its old rules, and the action fails."""
    good = prometheus.rules_dir.parent / "checked.rules.yml"
    shutil.copy(RULES, good)
    (prometheus.rules_dir / "broken.rules.yml").write_text(BROKEN, encoding="utf-8")
    result = _reload(config, "--yes", "alerts", "reload", str(good))
    assert result.code == 2
    outcome = result.json()
    assert outcome["outcome"] == "failed"
    assert outcome["error"] == (
        f"Prometheus at {prometheus.url}: reload refused: HTTP 500: failed to reload config:"
        " one or more errors occurred while applying the new configuration"
        f' (--config.file="{prometheus.rules_dir.parent / "prometheus" / "prometheus.yml"}")'
    )
    assert [f["code"] for f in outcome["findings"]] == ["TRI-ACTION-001"]
    assert prometheus.groups() == REPO_GROUPS
    assert prometheus.get("/api/v1/status/runtimeinfo")["reloadConfigSuccess"] is False


def test_files_prometheus_does_not_load_do_not_verify(
    prometheus: Prometheus, config: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "extra.rules.yml").write_text(EXTRA, encoding="utf-8")
    result = _reload(config, "--yes", "alerts", "reload", str(elsewhere))
    assert result.code == 2
    outcome = result.json()
    assert outcome["outcome"] == "unverified"
    assert outcome["plan"]["summary"].endswith(
        f"(its rule_files {prometheus.rules_dir}/*.rules.yml do not name"
        f" {(elsewhere / 'extra.rules.yml').resolve()}: it loads its own copies)"
    )
    findings = {f["code"]: f for f in outcome["findings"]}
    assert set(findings) == {"TRI-ACTION-002", "TRI-ALERT-051"}
    assert findings["TRI-ALERT-051"]["evidence"]["missing"] == ["extra"]
    assert findings["TRI-ALERT-051"]["command"] == (
        f"curl -s {prometheus.url}/api/v1/status/config"
    )


def test_without_the_lifecycle_api(tmp_path: Path, rules_dir: Path) -> None:
    prom = start_prometheus(tmp_path / "prometheus", rules_dir=rules_dir, lifecycle=False)
    try:
        config = write_config(
            tmp_path / "ops.yaml", prometheus_url=prom.url, audit_log=str(tmp_path / "a.jsonl")
        )
        result = _reload(config, "--yes", "alerts", "reload", str(rules_dir))
        assert result.code == 2
        assert result.json()["error"] == (
            f"Prometheus at {prom.url}: Lifecycle API is not enabled.: start Prometheus with"
            " --web.enable-lifecycle"
        )
    finally:
        proc.stop(prom.pid, expect="prometheus")


def test_stopped_prometheus_exits_4(tmp_path: Path, rules_dir: Path) -> None:
    port = proc.free_port()
    config = write_config(
        tmp_path / "ops.yaml",
        prometheus_url=f"http://127.0.0.1:{port}",
        audit_log=str(tmp_path / "audit.jsonl"),
    )
    result = _reload(config, "--yes", "alerts", "reload", str(rules_dir))
    assert result.code == 4
    assert result.json()["outcome"] == "unplanned"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=1)
