"""Two real Prometheus servers with eight days of backfilled history: one where the
service is healthy, one where every P1/P2 signal is bad (from three hours ago). Checks run
against both, so each test sees its check pass AND fail.

The fixtures are session-scoped and registered once, in tests/ops/conftest.py: every test
directory that uses them (procedures, capacity, scale, security) shares the one pair of
servers. The series builders are also what tests/ops/checklists shifts to "ending now"."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.ops.promdata import Series, prometheus_with

NOW = time.time()
START = NOW - 8 * 86400
CHANGE = NOW - 3 * 3600  # the bad server turns bad three hours ago
BUCKETS = ("0.1", "0.5", "1", "2", "5", "+Inf")
CONF_BUCKETS = ("0.2", "0.4", "0.6", "0.8", "1", "+Inf")


def counter(before: float, after: float = -1.0) -> Callable[[float], float]:
    """Cumulative count of an event happening `before` times a second until CHANGE and
    `after` times a second from then on (after < 0: unchanged)."""
    after = before if after < 0 else after

    def value(t: float) -> float:
        return before * (min(t, CHANGE) - START) + after * max(0.0, t - CHANGE)

    return value


def histogram(
    name: str,
    labels: dict[str, str],
    buckets: tuple[str, ...],
    before: dict[str, float],
    after: dict[str, float] | None = None,
) -> list[Series]:
    """`before`/`after`: events per second landing in each bucket (not cumulative)."""
    after = after or before
    out = []
    running_before = running_after = 0.0
    for le in buckets:
        running_before += before.get(le, 0.0)
        running_after += after.get(le, 0.0)
        out.append(
            Series(
                f"{name}_bucket",
                "counter",
                {**labels, "le": le},
                counter(running_before, running_after),
            )
        )
    return out


def growing_volume(per_second_start: float, weekly_growth: float) -> Callable[[float], float]:
    """Cumulative emails for a rate growing linearly by `weekly_growth` a week."""
    k = weekly_growth / (7 * 86400)

    def value(t: float) -> float:
        x = t - START
        return per_second_start * (x + k * x * x / 2)

    return value


def series(bad: bool) -> list[Series]:
    api = {"job": "email-triage", "route": "/v1/classify"}
    out: list[Series] = []
    out += histogram(
        "http_request_duration_seconds",
        api,
        BUCKETS,
        {"0.1": 10.0},
        {"0.5": 8.0, "5": 2.0} if bad else None,
    )
    out.append(
        Series(
            "http_requests_total",
            "counter",
            {**api, "method": "POST", "status": "200"},
            counter(10.0, 9.0 if bad else 10.0),
        )
    )
    out.append(
        Series(
            "http_requests_total",
            "counter",
            {**api, "method": "POST", "status": "500"},
            counter(0.0, 1.0 if bad else 0.0),
        )
    )
    out.append(
        Series(
            "http_requests_total",
            "counter",
            {**api, "method": "POST", "status": "401"},
            counter(0.0, 2.0 if bad else 0.0),
        )
    )
    out.append(
        Series(
            "email_queue_depth",
            "gauge",
            {"job": "email-triage-worker"},
            lambda t: 1500.0 if bad and t >= CHANGE else 3.0,
        )
    )
    for category, share in (("request", 0.5), ("incident", 0.3), ("newsletter", 0.2)):
        now_share = {"request": 0.1, "incident": 0.1, "newsletter": 0.8}[category] if bad else share
        out.append(
            Series(
                "emails_processed_total",
                "counter",
                {
                    "job": "email-triage-worker",
                    "category": category,
                    "priority": "P2",
                    "status": "ok",
                },
                counter(4.0 * share, 4.0 * now_share),
            )
        )
    out.append(
        Series(
            "classification_fallback_total",
            "counter",
            {"job": "email-triage-worker"},
            counter(0.0, 2.0 if bad else 0.0),
        )
    )
    out += histogram(
        "classification_confidence",
        {"job": "email-triage-worker", "category": "request"},
        CONF_BUCKETS,
        {"1": 4.0},
        {"0.4": 4.0} if bad else None,
    )
    out += histogram(
        "model_inference_duration_seconds",
        {"job": "email-triage-worker", "backend": "tfserving"},
        ("0.01", "0.1", "1", "+Inf"),
        {"0.01": 4.0},
        {"1": 4.0} if bad else None,
    )
    out.append(
        Series(
            "process_cpu_seconds_total",
            "counter",
            {"job": "email-triage", "instance": "api:8000"},
            counter(0.25),
        )
    )
    out.append(
        Series(
            "process_resident_memory_bytes",
            "gauge",
            {"job": "email-triage", "instance": "api:8000"},
            lambda t: 120 * 2**20,
        )
    )
    out.append(
        Series(
            "emails_processed_total",
            "counter",
            {
                "job": "email-triage-worker",
                "category": "notification",
                "priority": "P3",
                "status": "ok",
            },
            growing_volume(1.0, 1.0 if bad else 0.0),
        )
    )
    return out


@pytest.fixture(scope="session")
def prometheus_good(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prometheus_with(
        tmp_path_factory.mktemp("prom-good"), series(False), days=8, now=NOW
    ) as url:
        yield url


@pytest.fixture(scope="session")
def prometheus_bad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with prometheus_with(tmp_path_factory.mktemp("prom-bad"), series(True), days=8, now=NOW) as url:
        yield url
