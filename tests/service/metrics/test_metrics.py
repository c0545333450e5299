"""The service's metrics: exact names, labels and buckets (alerts depend on them), what one
result records, and the multiprocess mode where several processes write and one scrape sums
them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from triage_core.result import TriageResult
from triage_core.service import metrics

EXPECTED = {
    # name: (type, label names)
    "emails_processed": ("counter", ("category", "priority", "status")),
    "email_processing_duration_seconds": ("histogram", ("stage",)),
    "http_requests": ("counter", ("method", "route", "status")),
    "http_request_duration_seconds": ("histogram", ("route",)),
    "email_queue_depth": ("gauge", ()),
    "email_queue_pending": ("gauge", ()),
    "model_inference_duration_seconds": ("histogram", ("backend",)),
    "classification_fallback": ("counter", ()),
    "classification_confidence": ("histogram", ("category",)),
}


def _result(
    *,
    category: str = "incident",
    priority: str = "P0",
    confidence: float = 0.73,
    degraded: bool = False,
    backend: str = "embedded",
) -> TriageResult:
    return TriageResult(
        message_id="<m1@example.com>",
        category=category,
        category_confidence=confidence,
        priority=priority,
        priority_score=90,
        priority_reasons=["outage"],
        summary="Prod is down.",
        needs_reply=True,
        draft="On it.",
        backend=backend,
        degraded=degraded,
        timings_ms={"parse": 0.04, "classify": 0.03, "priority": 0.01, "summarize": 0.02},
    )


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    value = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def test_every_metric_has_its_exact_name_type_and_labels() -> None:
    families = {
        f.name: f for f in text_string_to_metric_families(metrics.render_metrics()[0].decode())
    }
    for name, (kind, _) in EXPECTED.items():
        assert families[name].type == kind, name
    objects = [
        metrics.EMAILS_PROCESSED,
        metrics.PROCESSING_DURATION,
        metrics.HTTP_REQUESTS,
        metrics.HTTP_DURATION,
        metrics.QUEUE_DEPTH,
        metrics.QUEUE_PENDING,
        metrics.MODEL_INFERENCE_DURATION,
        metrics.CLASSIFICATION_FALLBACK,
        metrics.CLASSIFICATION_CONFIDENCE,
    ]
    assert {o._name: o._labelnames for o in objects} == {n: lab for n, (_, lab) in EXPECTED.items()}
    exposed = {n + "_total" if k == "counter" else n for n, (k, _) in EXPECTED.items()}
    assert set(metrics.METRIC_NAMES) == exposed
    assert {n for n, (k, _) in EXPECTED.items() if k == "histogram"} == metrics.HISTOGRAMS


def test_confidence_buckets_are_deciles_and_latency_has_a_two_second_bound() -> None:
    assert metrics.CLASSIFICATION_CONFIDENCE._upper_bounds == [
        0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, float("inf")
    ]  # fmt: skip
    assert 2.0 in metrics.HTTP_DURATION._upper_bounds


def test_single_process_mode_is_the_default_and_renders_process_metrics() -> None:
    assert os.environ.get(metrics.MULTIPROC_ENV) is None
    assert metrics.multiprocess_enabled() is False
    body, content_type = metrics.render_metrics()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    text = body.decode()
    assert "# TYPE emails_processed_total counter" in text
    assert "process_resident_memory_bytes" in text


def test_observe_result_records_outcome_stages_confidence_and_inference() -> None:
    ok = {"category": "incident", "priority": "P0", "status": "ok"}
    before = {
        "processed": _value("emails_processed_total", ok),
        "parse": _value("email_processing_duration_seconds_count", {"stage": "parse"}),
        "parse_sum": _value("email_processing_duration_seconds_sum", {"stage": "parse"}),
        "total_sum": _value("email_processing_duration_seconds_sum", {"stage": "total"}),
        "conf_08": _value(
            "classification_confidence_bucket", {"category": "incident", "le": "0.8"}
        ),
        "conf_07": _value(
            "classification_confidence_bucket", {"category": "incident", "le": "0.7"}
        ),
        "infer": _value("model_inference_duration_seconds_count", {"backend": "embedded"}),
        "fallback": _value("classification_fallback_total"),
    }
    metrics.observe_result(_result())
    assert _value("emails_processed_total", ok) == before["processed"] + 1
    assert (
        _value("email_processing_duration_seconds_count", {"stage": "parse"}) == before["parse"] + 1
    )
    assert _value("email_processing_duration_seconds_sum", {"stage": "parse"}) == pytest.approx(
        before["parse_sum"] + 0.00004
    )
    assert _value("email_processing_duration_seconds_sum", {"stage": "total"}) == pytest.approx(
        before["total_sum"] + 0.0001
    )
    # 0.73 falls in the (0.7, 0.8] bucket.
    conf = {"category": "incident"}
    assert (
        _value("classification_confidence_bucket", {**conf, "le": "0.8"}) == before["conf_08"] + 1
    )
    assert _value("classification_confidence_bucket", {**conf, "le": "0.7"}) == before["conf_07"]
    assert _value("model_inference_duration_seconds_count", {"backend": "embedded"}) == (
        before["infer"] + 1
    )
    assert _value("classification_fallback_total") == before["fallback"]


def test_a_degraded_result_counts_as_fallback_under_the_answering_backend() -> None:
    degraded = {"category": "spam", "priority": "P3", "status": "degraded"}
    before = _value("emails_processed_total", degraded)
    fallback = _value("classification_fallback_total")
    rules = _value("model_inference_duration_seconds_count", {"backend": "rules"})
    metrics.observe_result(
        _result(category="spam", priority="P3", degraded=True, backend="rules", confidence=0.4)
    )
    assert _value("emails_processed_total", degraded) == before + 1
    assert _value("classification_fallback_total") == fallback + 1
    assert _value("model_inference_duration_seconds_count", {"backend": "rules"}) == rules + 1


def test_failure_request_inference_and_queue_helpers() -> None:
    failed = {"category": "none", "priority": "none", "status": "failed"}
    req = {"method": "POST", "route": "/v1/triage", "status": "503"}
    before_failed = _value("emails_processed_total", failed)
    before_req = _value("http_requests_total", req)
    before_le = _value("http_request_duration_seconds_bucket", {"route": "/v1/triage", "le": "2.0"})
    before_tf = _value("model_inference_duration_seconds_count", {"backend": "tfserving"})
    metrics.observe_failure()
    metrics.observe_request(method="POST", route="/v1/triage", status=503, seconds=1.5)
    metrics.observe_inference("tfserving", 0.02)
    metrics.set_queue(depth=1234, pending=17)
    assert _value("emails_processed_total", failed) == before_failed + 1
    assert _value("http_requests_total", req) == before_req + 1
    assert _value("http_request_duration_seconds_bucket", {"route": "/v1/triage", "le": "2.0"}) == (
        before_le + 1
    )
    assert (
        _value("model_inference_duration_seconds_count", {"backend": "tfserving"}) == before_tf + 1
    )
    assert _value("email_queue_depth") == 1234
    assert _value("email_queue_pending") == 17


# -- multiprocess mode -------------------------------------------------------------------

_WRITER = """
import sys
from triage_core.result import TriageResult
from triage_core.service import metrics

assert metrics.multiprocess_enabled()
n, category, degraded, depth = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
for _ in range(n):
    metrics.observe_result(TriageResult(
        message_id="", category=category, category_confidence=0.95, priority="P2",
        priority_score=50, priority_reasons=[], summary="", needs_reply=False, draft=None,
        backend="embedded", degraded=degraded, timings_ms={"parse": 0.5, "classify": 2.0},
    ))
metrics.observe_request(method="GET", route="/healthz", status=200, seconds=0.003)
metrics.set_queue(depth=depth, pending=depth // 10)
"""

_RENDER = """
import json, sys
from triage_core.service import metrics
for pid in sys.argv[1:]:
    metrics.process_exited(int(pid))
body, content_type = metrics.render_metrics()
print(json.dumps({"body": body.decode(), "content_type": content_type,
                  "multiprocess": metrics.multiprocess_enabled()}))
"""


def _run(code: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def multiproc_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "prometheus_multiproc_dir"}
    env[metrics.MULTIPROC_ENV] = str(tmp_path)
    return env


def test_two_processes_write_and_one_scrape_sums_them(
    multiproc_env: dict[str, str], tmp_path: Path
) -> None:
    first = subprocess.Popen(
        [sys.executable, "-c", _WRITER, "3", "billing", "0", "1500"], env=multiproc_env, cwd=ROOT
    )
    assert first.wait(timeout=60) == 0
    # Sequential on purpose: the queue gauge keeps the most recent sample, the second one.
    _run(_WRITER, ["4", "billing", "1", "40"], multiproc_env)
    assert len(list(tmp_path.glob("*.db"))) >= 4  # counter, histogram, gauge files per pid

    out = json.loads(_run(_RENDER, [], multiproc_env).stdout)
    assert out["multiprocess"] is True
    assert out["content_type"] == "text/plain; version=0.0.4; charset=utf-8"
    s = _samples(out["body"])
    ok = (("category", "billing"), ("priority", "P2"), ("status", "ok"))
    degraded = (("category", "billing"), ("priority", "P2"), ("status", "degraded"))
    assert s[("emails_processed_total", ok)] == 3.0
    assert s[("emails_processed_total", degraded)] == 4.0
    assert s[("classification_fallback_total", ())] == 4.0
    assert s[("email_processing_duration_seconds_count", (("stage", "total"),))] == 7.0
    assert s[("email_processing_duration_seconds_sum", (("stage", "classify"),))] == pytest.approx(
        0.014
    )
    assert s[("classification_confidence_bucket", (("category", "billing"), ("le", "0.9")))] == 0.0
    assert s[("classification_confidence_bucket", (("category", "billing"), ("le", "1.0")))] == 7.0
    assert s[("model_inference_duration_seconds_count", (("backend", "embedded"),))] == 7.0
    route = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert s[("http_requests_total", route)] == 2.0
    # Gauges are not summed and carry no pid label: the latest sample wins.
    assert s[("email_queue_depth", ())] == 40.0
    assert s[("email_queue_pending", ())] == 4.0
    assert not [k for k in s if k[0] == "email_queue_depth" and k[1]]


def test_a_dead_process_gauges_are_dropped_and_its_counters_kept(
    multiproc_env: dict[str, str],
) -> None:
    first = subprocess.Popen(
        [sys.executable, "-c", _WRITER, "2", "meeting", "0", "1500"], env=multiproc_env, cwd=ROOT
    )
    assert first.wait(timeout=60) == 0
    second = subprocess.Popen(
        [sys.executable, "-c", _WRITER, "1", "meeting", "0", "40"], env=multiproc_env, cwd=ROOT
    )
    assert second.wait(timeout=60) == 0
    out = json.loads(_run(_RENDER, [str(second.pid)], multiproc_env).stdout)
    s = _samples(out["body"])
    assert s[("email_queue_depth", ())] == 1500.0
    ok = (("category", "meeting"), ("priority", "P2"), ("status", "ok"))
    assert s[("emails_processed_total", ok)] == 3.0


def test_reset_multiprocess_dir_removes_only_value_files(tmp_path: Path) -> None:
    (tmp_path / "counter_1.db").write_bytes(b"x")
    (tmp_path / "gauge_livemostrecent_1.db").write_bytes(b"x")
    (tmp_path / "keep.txt").write_text("not ours")
    assert metrics.reset_multiprocess_dir(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    assert metrics.reset_multiprocess_dir(tmp_path) == 0
