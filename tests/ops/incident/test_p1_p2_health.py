"""`incident p1`, `incident p2` and `health` on the sandbox.

The P1 and P2 checks read the sandbox's Prometheus, whose numbers depend on what ran
before in the session (a test that paused Redis leaves slow 503s in the last 5 minutes;
the only traffic is triage-ops' own probes, which the model classifies with a confidence
of ~0.3). So the expected findings are computed from the same Prometheus, with the
runbook's thresholds (P95 2 s, errors 5%, median confidence 0.5, fallback 20%), asked
before and after the run: a finding is required when both answers call for it, and
forbidden when neither does. Every other P1/P2 code is forbidden outright."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.ops.conftest import RunningSandbox
from tests.ops.incident.conftest import Run, assert_clean_stderr, config_copy, triage_ops

P95_LATENCY = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{job="email-triage"}[5m])))'
)
ERROR_RATE = (
    'sum(rate(http_requests_total{job="email-triage",status=~"5.."}[5m]))'
    ' / sum(rate(http_requests_total{job="email-triage"}[5m]))'
)
MEDIAN_CONFIDENCE = (
    "histogram_quantile(0.5, sum by (le) (rate(classification_confidence_bucket[1h])))"
)
FALLBACK_RATE = (
    "sum(rate(classification_fallback_total[15m])) / sum(rate(emails_processed_total[15m]))"
)


def prometheus_value(sandbox: RunningSandbox, promql: str) -> float | None:
    answer = requests.get(
        f"{sandbox.endpoints['prometheus']}/api/v1/query", params={"query": promql}, timeout=10
    )
    answer.raise_for_status()
    result = answer.json()["data"]["result"]
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value


Rule = tuple[str, str, Callable[[float], bool]]


def run_judged(
    sandbox: RunningSandbox, config: Path, runbook: str, rules: list[Rule]
) -> tuple[Run, set[str], set[str]]:
    """The run, the codes that must be there, and those that may be (a threshold crossed
    while it ran)."""
    before = {code: prometheus_value(sandbox, promql) for code, promql, _ in rules}
    run = triage_ops(config, "--output", "json", "incident", runbook)
    after = {code: prometheus_value(sandbox, promql) for code, promql, _ in rules}
    must, may = set(), set()
    for code, _, crossed in rules:
        votes = [v is not None and crossed(v) for v in (before[code], after[code])]
        if all(votes):
            must.add(code)
        elif any(votes):
            may.add(code)
    return run, must, may


@pytest.mark.timeout(60)
def test_p1_on_the_sandbox(sandbox: RunningSandbox, tmp_path: Path) -> None:
    run, must, may = run_judged(
        sandbox,
        config_copy(sandbox, tmp_path),
        "p1",
        [
            ("TRI-PERF-001", P95_LATENCY, lambda v: v > 2.0),
            ("TRI-PERF-002", ERROR_RATE, lambda v: v > 0.05),
        ],
    )

    assert_clean_stderr(run)
    report = run.report()
    codes = set(report.codes())
    assert must <= codes <= must | may, report.findings
    assert run.code == (1 if codes else 0)  # both are warnings; nothing else may show
    statuses = report.steps()
    for step in ("cpu-memory", "pod-memory", "slow-queries", "model-latency", "queue-backlog"):
        assert statuses[step] == "ok", (step, report.step(step))
    for step in ("postgres", "redis", "model-server", "deployments", "validate-latency"):
        assert statuses[step] == "ok", (step, report.step(step))
    # the common fixes are offered only when their findings call for them
    assert statuses["scale-out"] == ("suggested" if "TRI-PERF-001" in codes else "skipped")
    assert statuses["restart-model"] == "skipped"
    assert statuses["flush-cache"] == "suggested"  # never taken by --act alone
    assert report.step("flush-cache")["notes"] == [
        "not taken by --act alone: add --take flush-cache"
    ]


@pytest.mark.timeout(60)
def test_p2_on_the_sandbox(sandbox: RunningSandbox, tmp_path: Path) -> None:
    run, must, may = run_judged(
        sandbox,
        config_copy(sandbox, tmp_path),
        "p2",
        [
            ("TRI-DRIFT-001", MEDIAN_CONFIDENCE, lambda v: v < 0.5),
            ("TRI-DRIFT-002", FALLBACK_RATE, lambda v: v > 0.20),
        ],
    )

    assert_clean_stderr(run)
    report = run.report()
    codes = set(report.codes())
    assert must <= codes <= must | may, report.findings
    assert run.code == (1 if codes else 0)  # drift findings are warnings
    if "TRI-DRIFT-001" in codes:
        drift = report.finding("TRI-DRIFT-001")
        median = drift["evidence"]["median_now"]
        assert drift["summary"] == f"median confidence {median:.2f} is below 0.5"
    statuses = report.steps()
    # a sandbox a few minutes old has no baseline a week back: noted, never judged
    assert report.step("category-mix")["notes"][0].startswith(("no baseline 1w ago", "no emails"))
    for step in ("category-mix", "model-server", "fallback-switch", "model-deployments"):
        assert statuses[step] == "ok", (step, report.step(step))


@pytest.mark.timeout(60)
def test_health_on_the_sandbox(sandbox: RunningSandbox, tmp_path: Path) -> None:
    run = triage_ops(config_copy(sandbox, tmp_path), "--output", "json", "health")

    assert_clean_stderr(run)
    assert run.code == 0, run.out
    report = run.report()
    assert (report.data["runbook"], report.findings) == ("health", [])
    assert report.steps() == dict.fromkeys(
        ["classify", "ready", "queue", "postgres", "redis", "model"], "ok"
    )
    assert report.data["incident"] is None  # a health check opens no incident
    assert run.err == ""
