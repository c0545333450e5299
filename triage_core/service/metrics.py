"""The service's Prometheus metrics: their names are a contract with `alerts/` and the runbook.

Every name below appears in `alerts/email-triage.rules.yml`, in the runbook's queries or in
the ops CLI, so renaming one silently breaks an alert: `tests/alerts` checks that each
metric an alert uses is defined here. `METRIC_NAMES` is the list the ops CLI imports.

Two modes, chosen by the environment at import time (prometheus-client decides it when it
is first imported, so the environment must be set before the process starts):

* one process: metrics live in memory in the default registry, with the process and
  platform collectors (CPU, RSS, open fds, GC);
* several processes (uvicorn `--workers`, several queue workers on one host):
  `PROMETHEUS_MULTIPROC_DIR` names a directory where each process writes its values to
  memory-mapped files, and one scrape of any process sums them (`render_metrics`). Process
  metrics are not reported in this mode: per-process figures cannot be merged meaningfully.
  Empty the directory before the processes start (`reset_multiprocess_dir`), and call
  `process_exited(pid)` when a worker dies so its live gauges are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final, Generic, TypeVar

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from triage_core.result import TriageResult

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format every Prometheus 2.x reads (the client's newer 1.0.0 label only
# matters for UTF-8 metric names, which this service does not use).
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4

# Pipeline stages take tens of microseconds each; an HTTP request or a remote model call
# takes milliseconds to seconds. 2.0 is a bucket bound so the P95 > 2 s alert is exact.
_STAGE_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
_INFERENCE_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.0,
    5.0,
)
# Deciles: the drift alert reads the median off these buckets.
CONFIDENCE_BUCKETS: Final = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

# Values of the `status` label of emails_processed_total.
STATUS_OK: Final = "ok"
STATUS_DEGRADED: Final = "degraded"  # the fallback classifier answered
STATUS_FAILED: Final = "failed"  # no result at all (the worker gave up on the email)

EMAILS_PROCESSED = Counter(
    "emails_processed_total",
    "Emails triaged, by outcome.",
    ["category", "priority", "status"],
)
PROCESSING_DURATION = Histogram(
    "email_processing_duration_seconds",
    "Time spent per pipeline stage for one email; stage=total is the sum of the stages.",
    ["stage"],
    buckets=_STAGE_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route template (not raw path: bounded cardinality).",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency, by route template.",
    ["route"],
    buckets=_HTTP_BUCKETS,
)
# Queue gauges are sampled by whichever process looks at the queue; the latest sample from
# a live process is the truth, hence `livemostrecent` rather than a sum over processes.
QUEUE_DEPTH = Gauge(
    "email_queue_depth",
    "Emails in the queue stream not yet delivered to a worker.",
    multiprocess_mode="livemostrecent",
)
QUEUE_PENDING = Gauge(
    "email_queue_pending",
    "Emails delivered to a worker and not yet acknowledged.",
    multiprocess_mode="livemostrecent",
)
MODEL_INFERENCE_DURATION = Histogram(
    "model_inference_duration_seconds",
    "Classification time per email, by the backend that answered.",
    ["backend"],
    buckets=_INFERENCE_BUCKETS,
)
CLASSIFICATION_FALLBACK = Counter(
    "classification_fallback_total",
    "Emails classified by the fallback backend (primary down, or fallback mode forced).",
)
CLASSIFICATION_CONFIDENCE = Histogram(
    "classification_confidence",
    "Confidence of the chosen category; a falling median is model or data drift.",
    ["category"],
    buckets=CONFIDENCE_BUCKETS,
)

# The names as they appear in PromQL (histograms also expose _bucket, _sum and _count).
METRIC_NAMES: Final = (
    "emails_processed_total",
    "email_processing_duration_seconds",
    "http_requests_total",
    "http_request_duration_seconds",
    "email_queue_depth",
    "email_queue_pending",
    "model_inference_duration_seconds",
    "classification_fallback_total",
    "classification_confidence",
)
HISTOGRAMS: Final = frozenset(
    {
        "email_processing_duration_seconds",
        "http_request_duration_seconds",
        "model_inference_duration_seconds",
        "classification_confidence",
    }
)


M = TypeVar("M", Counter, Histogram)


class _Children(Generic[M]):
    """`metric.labels(...)` takes a lock and validates the labels on every call (~2 us);
    a result touches eight children, so the hot path looks them up in a plain dict. The
    cache holds no more than the metric itself does."""

    __slots__ = ("_cache", "_metric")

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._cache: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        child = self._cache.get(values)
        if child is None:
            child = self._cache[values] = self._metric.labels(*values)
        return child


_processed = _Children(EMAILS_PROCESSED)
_stage = _Children(PROCESSING_DURATION)
_inference = _Children(MODEL_INFERENCE_DURATION)
_confidence = _Children(CLASSIFICATION_CONFIDENCE)
_requests = _Children(HTTP_REQUESTS)
_request_duration = _Children(HTTP_DURATION)


def multiprocess_enabled() -> bool:
    """Whether this process writes its values to `PROMETHEUS_MULTIPROC_DIR`. Asks
    prometheus-client rather than the environment: it decided once, at its import."""
    return values.ValueClass is not values.MutexValue


def render_metrics() -> tuple[bytes, str]:
    """The exposition for a scrape: (body, content type). In multiprocess mode, the sum
    over every process writing to the directory, whichever process is scraped."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE
    return generate_latest(REGISTRY), CONTENT_TYPE


def observe_result(result: TriageResult) -> None:
    """Records one triaged email: outcome, per-stage timings, confidence, fallback use."""
    status = STATUS_DEGRADED if result.degraded else STATUS_OK
    _processed(result.category, result.priority, status).inc()
    total = 0.0
    for stage, ms in result.timings_ms.items():
        seconds = ms / 1000.0
        total += seconds
        _stage(stage).observe(seconds)
        if stage == "classify":
            _inference(result.backend).observe(seconds)
    _stage("total").observe(total)
    _confidence(result.category).observe(result.category_confidence)
    if result.degraded:
        CLASSIFICATION_FALLBACK.inc()


def observe_failure() -> None:
    """An email that produced no result (dead-lettered): counted so the processed rate
    and the error ratio include it."""
    _processed("none", "none", STATUS_FAILED).inc()


def observe_request(*, method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request. `route` must be the route template (`/v1/emails/{id}`), never the
    raw path, or every email id becomes a time series."""
    _requests(method, route, str(status)).inc()
    _request_duration(route).observe(seconds)


def observe_inference(backend: str, seconds: float) -> None:
    _inference(backend).observe(seconds)


def set_queue(*, depth: int, pending: int) -> None:
    QUEUE_DEPTH.set(depth)
    QUEUE_PENDING.set(pending)


def reset_multiprocess_dir(path: str | Path | None = None) -> int:
    """Deletes the value files a previous run left (stale values would be summed into the
    new run's counters); returns how many. Call before starting the processes."""
    directory = Path(path) if path is not None else _env_dir()
    if directory is None:
        return 0
    removed = 0
    for file in directory.glob("*.db"):
        file.unlink(missing_ok=True)
        removed += 1
    return removed


def process_exited(pid: int) -> None:
    """Drops a dead process's live gauges (its counters keep counting in the sum)."""
    directory = _env_dir()
    if directory is not None:
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _env_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV, "")
    return Path(value) if value else None
