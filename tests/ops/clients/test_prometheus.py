"""PrometheusClient against a real Prometheus (scraping itself and the API, one rule that
always fires)."""

from __future__ import annotations

import itertools
import math
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.ops.faults.stack import ALWAYS_FIRING, Stack
from triage_ops.clients.errors import BadResponse
from triage_ops.clients.prometheus import PrometheusClient, selector
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def prometheus(stack: Stack) -> PrometheusClient:
    client = PrometheusClient(stack.prometheus.url, timeout=5)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # one scrape of every target, one rule evaluation
        healthy = [t for t in client.targets() if t["health"] == "up"]
        if len(healthy) == 2 and len(client.query("up")) == 2 and client.query("ALERTS"):
            return client
        time.sleep(0.2)
    raise AssertionError(f"prometheus never scraped everything: {client.targets()}")


def test_ready(prometheus: PrometheusClient) -> None:
    assert prometheus.ready() is True


def test_query_returns_labels_and_float_values(prometheus: PrometheusClient, stack: Stack) -> None:
    rows = prometheus.query('up{job="email-triage"}')
    assert rows == [
        {
            "labels": {
                "__name__": "up",
                "instance": f"127.0.0.1:{stack.api.port}",
                "job": "email-triage",
            },
            "value": 1.0,
        }
    ]
    assert prometheus.query('up{job="no-such-job"}') == []


def test_query_scalar_and_string_results(prometheus: PrometheusClient) -> None:
    assert prometheus.query("scalar(vector(42))") == [{"labels": {}, "value": 42.0}]
    rows = prometheus.query('up{job="prometheus"}[5m]')  # a range vector
    assert len(rows) == 1
    assert rows[0]["values"]
    assert rows[0]["value"] == 1.0


def test_scalar(prometheus: PrometheusClient) -> None:
    assert prometheus.scalar("sum(up)") == 2.0
    assert prometheus.scalar("vector(0.25)") == 0.25
    assert prometheus.scalar("no_such_metric_anywhere") is None
    assert prometheus.scalar("scalar(no_such_metric_anywhere)") is None  # NaN: no data
    with pytest.raises(BadResponse, match=r"returned 2 series where one number was expected"):
        prometheus.scalar("up")


def test_query_keeps_nan(prometheus: PrometheusClient) -> None:
    [row] = prometheus.query("vector(0) / 0 * scalar(no_such_metric_anywhere)")
    assert math.isnan(row["value"])


def test_query_range(prometheus: PrometheusClient) -> None:
    end = datetime.now(UTC)
    start = end - timedelta(seconds=10)
    rows = prometheus.query_range("vector(3)", start=start, end=end, step="2s")
    assert len(rows) == 1
    assert rows[0]["labels"] == {}
    values = rows[0]["values"]
    assert [v for _, v in values] == [3.0] * len(values)
    assert len(values) in (5, 6)  # 10 s at 2 s steps, ends rounded to whole seconds
    assert all(b - a == 2.0 for (a, _), (b, _) in itertools.pairwise(values))
    assert rows == prometheus.query_range("vector(3)", start=start, end=end, step=2)


def test_bad_promql_is_a_bad_response_with_prometheus_text(prometheus: PrometheusClient) -> None:
    with pytest.raises(BadResponse) as caught:
        prometheus.query("sum(up")
    assert caught.value.status == 400
    assert caught.value.system == "prometheus"
    message = str(caught.value)
    assert message.startswith(f"Prometheus at {prometheus.address}: HTTP 400: bad_data: ")
    assert "parse error" in message
    assert message.endswith("(query sum(up)")

    with pytest.raises(BadResponse, match=r"expected type range vector in call to function"):
        prometheus.scalar("rate(up)")


def test_targets(prometheus: PrometheusClient, stack: Stack) -> None:
    targets = sorted(prometheus.targets(), key=lambda t: t["job"])
    assert [(t["job"], t["instance"], t["health"], t["last_error"]) for t in targets] == [
        ("email-triage", f"127.0.0.1:{stack.api.port}", "up", ""),
        ("prometheus", f"127.0.0.1:{stack.prometheus.port}", "up", ""),
    ]
    assert targets[0]["scrape_url"] == f"http://127.0.0.1:{stack.api.port}/metrics"


def test_alerts_and_their_history(prometheus: PrometheusClient) -> None:
    [alert] = prometheus.alerts()
    assert alert["labels"] == {"alertname": ALWAYS_FIRING, "severity": "info"}
    assert alert["annotations"] == {"summary": "always"}
    assert alert["state"] == "firing"

    end = datetime.now(UTC) + timedelta(seconds=1)
    history = prometheus.alerts_history(start=end - timedelta(minutes=5), end=end, step="1s")
    assert [row["labels"] for row in history] == [{"alertname": ALWAYS_FIRING, "severity": "info"}]
    row = history[0]
    assert row["first_seen"] <= row["last_seen"]
    assert row["samples"] >= 1
    assert (
        prometheus.alerts_history(
            start=end - timedelta(minutes=5), end=end, alertname="NoSuchAlert"
        )
        == []
    )


def test_selector_escapes_label_values() -> None:
    assert selector("ALERTS") == "ALERTS"
    assert (
        selector("ALERTS", {"alertname": 'a"b\\c', "x": "y"})
        == 'ALERTS{alertname="a\\"b\\\\c",x="y"}'
    )


def test_from_config_needs_a_url() -> None:
    with pytest.raises(UsageError, match="no prometheus_url configured"):
        PrometheusClient.from_config(OpsConfig(), timeout=1)
    client = PrometheusClient.from_config(
        OpsConfig(prometheus_url="http://127.0.0.1:9090/"), timeout=3
    )
    assert (client.url, client.timeout) == ("http://127.0.0.1:9090", 3)
