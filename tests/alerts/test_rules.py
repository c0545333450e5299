"""The alerting rules in `alerts/`: valid for Prometheus (`promtool check rules`), behaving
as their unit tests say (`promtool test rules`), annotated for the on-call engineer, and
using only metrics the service exports or an exporter's metrics named here."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from triage_core.service import metrics

ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.rules.yml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*.yml"))

EXPECTED_ALERTS = {
    "ServiceDown": "critical",
    "HighErrorRate": "critical",
    "DatabaseConnections": "warning",
    "HighLatencyP95": "warning",
    "QueueBacklog": "warning",
    "HighFallbackRate": "warning",
    "ConfidenceDrift": "warning",
}
# Sections of the operational runbook (spec/operational-runbooks.md) an alert may point to.
RUNBOOK_SECTIONS = {
    "P0: Complete Service Outage",
    "P1: Performance Degradation",
    "P2: Functional Issues",
    "Database Query Optimization",
    "Capacity Planning and Scaling",
}
# Metrics that other exporters provide, not triage_core.service.metrics.
EXPORTER_METRICS = {
    "up",  # Prometheus itself: 1 when the last scrape of a target succeeded
    "pg_stat_database_numbackends",  # postgres_exporter (pg_stat_database collector)
}
ANNOTATIONS = ("summary", "description", "runbook_url", "runbook")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring"}


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: install the `prometheus` package (make system-deps)"
    return path


def _alerts() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            out.extend(rule for rule in group["rules"] if "alert" in rule)
    return out


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label names and
    durations excluded)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name in _KEYWORDS:
            continue
        names.add(name)
    return names


def _base(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[: -len(suffix)] in metrics.HISTOGRAMS:
            return name[: -len(suffix)]
    return name


def test_promtool_check_rules_accepts_every_rule_file() -> None:
    assert RULE_FILES == [ALERTS / "email-triage.rules.yml"]
    proc = subprocess.run(
        [_promtool(), "check", "rules", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in proc.stdout + proc.stderr


def test_promtool_unit_tests_pass() -> None:
    assert len(TEST_FILES) >= 1
    proc = subprocess.run(
        [_promtool(), "test", "rules", *(p.name for p in TEST_FILES)],
        cwd=ALERTS / "tests",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count("SUCCESS") == len(TEST_FILES), out
    assert "FAILED" not in out


def test_unit_tests_cover_firing_and_not_firing_for_every_alert() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert doc["rule_files"] == ["../email-triage.rules.yml"], path.name
        for test in doc["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    assert firing == set(EXPECTED_ALERTS)
    assert quiet == set(EXPECTED_ALERTS)


def test_every_alert_has_severity_and_runbook_annotations() -> None:
    alerts = _alerts()
    assert {a["alert"]: a["labels"]["severity"] for a in alerts} == EXPECTED_ALERTS
    for alert in alerts:
        name = alert["alert"]
        annotations = alert["annotations"]
        assert set(ANNOTATIONS) <= set(annotations), name
        assert all(str(annotations[k]).strip() for k in ANNOTATIONS), name
        assert re.fullmatch(r"runbooks/[a-z0-9-]+\.md", annotations["runbook_url"]), name
        assert annotations["runbook"] in RUNBOOK_SECTIONS, name
        assert re.fullmatch(r"\d+[smh]", alert["for"]), name


def test_alert_runbooks_match_the_runbook_procedures() -> None:
    urls = {a["alert"]: a["annotations"]["runbook_url"] for a in _alerts()}
    assert urls == {
        "ServiceDown": "runbooks/incident-p0.md",
        "HighErrorRate": "runbooks/incident-p1.md",
        "DatabaseConnections": "runbooks/database.md",
        "HighLatencyP95": "runbooks/incident-p1.md",
        "QueueBacklog": "runbooks/scaling.md",
        "HighFallbackRate": "runbooks/incident-p1.md",
        "ConfidenceDrift": "runbooks/incident-p2.md",
    }


def test_every_metric_an_alert_uses_is_exported_by_the_service_or_allowlisted() -> None:
    defined = set(metrics.METRIC_NAMES)
    used: dict[str, set[str]] = {}
    for alert in _alerts():
        used[alert["alert"]] = {_base(n) for n in metric_names(alert["expr"])}
    unknown = {a: sorted(n - defined - EXPORTER_METRICS) for a, n in used.items()}
    assert {a: n for a, n in unknown.items() if n} == {}
    assert used == {
        "ServiceDown": {"up"},
        "HighErrorRate": {"http_requests_total"},
        "DatabaseConnections": {"pg_stat_database_numbackends"},
        "HighLatencyP95": {"http_request_duration_seconds"},
        "QueueBacklog": {"email_queue_depth"},
        "HighFallbackRate": {"classification_fallback_total", "emails_processed_total"},
        "ConfidenceDrift": {"classification_confidence"},
    }


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('up{job="email-triage"} == 0', {"up"}),
        (
            'sum by (le) (rate(x_bucket{route=~"/v1/.*", le!="+Inf"}[5m] offset 7d)) or y',
            {"x_bucket", "y"},
        ),
        ("histogram_quantile(0.5, sum without (pod) (rate(a[1h]))) < 0.8 * b", {"a", "b"}),
        ('max(c) > bool 3 unless on (instance) d{s="and or"}', {"c", "d"}),
    ],
)
def test_metric_name_extraction(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def test_the_runbook_mistakes_are_not_copied() -> None:
    """The runbook's HighErrorRate compares a per-second rate with 0.05 (ours is a ratio of
    5xx to all requests), and its DatabaseConnections names a metric no exporter has."""
    exprs = {a["alert"]: a["expr"] for a in _alerts()}
    assert " ".join(exprs["HighErrorRate"].split()) == (
        'sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
        " > 0.05"
    )
    assert "postgresql_stat_database_numbackends" not in exprs["DatabaseConnections"]
    assert "pg_stat_database_numbackends" in exprs["DatabaseConnections"]
