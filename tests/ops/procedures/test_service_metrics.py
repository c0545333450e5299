"""P1/P2 signal checks against a real Prometheus holding a healthy history and one where
every signal went bad three hours ago."""

from __future__ import annotations

import pytest

from tests.ops.procedures.conftest import step_context
from triage_ops.config import OpsConfig
from triage_ops.findings import Severity
from triage_ops.procedures import service_metrics as m

pytestmark = pytest.mark.timeout(120)


def ctx(url: str, **params: object):  # type: ignore[no-untyped-def]
    return step_context(OpsConfig(prometheus_url=url), **params)


CHECKS = [
    (m.check_latency, "TRI-PERF-001", Severity.CRITICAL),
    (m.check_error_rate, "TRI-PERF-002", Severity.CRITICAL),
    (m.check_model_latency, "TRI-PERF-005", Severity.WARNING),
    (m.check_queue_backlog, "TRI-PERF-006", Severity.WARNING),
    (m.check_fallback_rate, "TRI-DRIFT-002", Severity.WARNING),
    (m.check_confidence_drift, "TRI-DRIFT-001", Severity.WARNING),
    (m.check_category_mix, "TRI-DRIFT-003", Severity.WARNING),
]


@pytest.mark.parametrize(("check", "code", "severity"), CHECKS)
def test_each_check_passes_on_healthy_history(check, code, severity, prometheus_good: str) -> None:  # type: ignore[no-untyped-def]
    context = ctx(prometheus_good)
    assert check(context) == []
    assert context.notes, "a passing check says what it saw"


@pytest.mark.parametrize(("check", "code", "severity"), CHECKS)
def test_each_check_fires_on_bad_history(check, code, severity, prometheus_bad: str) -> None:  # type: ignore[no-untyped-def]
    findings = check(ctx(prometheus_bad))
    assert [(f.code, f.severity) for f in findings] == [(code, severity)]
    assert findings[0].command, "every finding carries the command to take next"


def test_latency_figure_is_the_histogram_quantile(prometheus_bad: str) -> None:
    (finding,) = m.check_latency(ctx(prometheus_bad))
    # 80% of requests under 0.5 s, 20% in (2, 5]: P95 = 2 + 3 * 0.15 / 0.2 = 4.25 s
    assert finding.evidence["p95_seconds"] == pytest.approx(4.25, abs=0.01)
    assert finding.summary == "P95 latency 4.25 s is above 2 s"


def test_error_rate_figure(prometheus_bad: str) -> None:
    (finding,) = m.check_error_rate(ctx(prometheus_bad))
    # 9 x 200 + 1 x 500 + 2 x 401 per second: 1/12 answered 5xx
    assert finding.evidence["error_ratio"] == pytest.approx(1 / 12, abs=0.002)


def test_thresholds_come_from_params(prometheus_bad: str) -> None:
    assert m.check_latency(ctx(prometheus_bad, p95_seconds=5.0)) == []
    assert m.check_queue_backlog(ctx(prometheus_bad, queue_depth=2000)) == []


def test_confidence_compared_with_a_week_ago(prometheus_bad: str) -> None:
    (finding,) = m.check_confidence_drift(ctx(prometheus_bad, confidence_floor=0.1))
    assert finding.evidence["median_baseline"] == pytest.approx(0.9, abs=0.01)
    assert finding.evidence["median_now"] == pytest.approx(0.3, abs=0.01)
    assert "fell 67% against 1w ago" in finding.summary


def test_cpu_memory_without_container_metrics_is_reported_not_judged(
    prometheus_good: str,
) -> None:
    context = ctx(prometheus_good)
    assert m.check_cpu_memory(context) == []
    assert context.notes == [
        "no container limits known; process usage: api:8000 0.25 cores 120 MiB"
    ]


def test_unreachable_prometheus_is_unknown_not_fine() -> None:
    (finding,) = m.check_latency(ctx("http://127.0.0.1:9"))
    assert (finding.code, finding.severity) == ("TRI-PROM-001", Severity.UNKNOWN)
