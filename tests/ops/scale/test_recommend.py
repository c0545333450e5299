"""`triage-ops scale recommend` against real Prometheus histories (healthy and bad, see
tests/ops/prometheus_history.py) and the emulator's replica counts."""

from __future__ import annotations

import json
import time

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.scale.conftest import Cluster

pytestmark = pytest.mark.timeout(120)


def test_bad_history_fires_two_triggers_with_exact_recommendations(
    cluster: Cluster, prometheus_bad: str
) -> None:
    cluster.configure(prometheus_url=prometheus_bad)
    code, out, err = cluster.invoke("scale", "recommend")
    assert code == 1
    assert err == "triage-ops: no data for: cpu, memory (not judged)\n"
    assert out.splitlines() == [
        "Scaling triggers",
        "TRIGGER      DEPLOYMENT  THRESHOLD             FOR     SUSTAINED  CURRENT  STATUS",
        "cpu          api         > 0.7 ratio of limit  10 min  no data    no data  no data",
        "memory       api         > 0.8 ratio of limit  5 min   no data    no data  no data",
        "queue_depth  worker      > 1000 emails         15 min  1500       1500     FIRING",
        "p95_latency  api         > 2 seconds           10 min  4.25       4.25     FIRING",
        "",
        "Recommendation",
        "DEPLOYMENT           REPLICAS  RECOMMENDED  COMMAND                               WHY",
        "email-triage-api     3         6            triage-ops scale api --replicas 6    "
        " p95_latency above 2 seconds for 10 min (lowest 4.25); capped at 6 (x2 per run,"
        " max 20)",
        "email-triage-worker  2         3            triage-ops scale worker --replicas 3 "
        " queue_depth above 1000 emails for 15 min (lowest 1500)",
    ]


def test_json_and_a_tighter_cap(cluster: Cluster, prometheus_bad: str) -> None:
    cluster.configure(prometheus_url=prometheus_bad)
    code, out, _ = cluster.invoke(
        "-o", "json", "scale", "recommend", "--max-step", "1.5", "--max-replicas", "4"
    )
    assert code == 1
    report = json.loads(out)
    assert report["firing"] is True
    assert [(t["name"], t["firing"], t["sustained_min"]) for t in report["triggers"]] == [
        ("cpu", False, None),
        ("memory", False, None),
        ("queue_depth", True, 1500.0),
        ("p95_latency", True, 4.25),
    ]
    assert [
        (r["deployment"], r["current_replicas"], r["recommended_replicas"], r["command"])
        for r in report["recommendations"]
    ] == [
        ("email-triage-api", 3, 4, "triage-ops scale api --replicas 4"),
        ("email-triage-worker", 2, 3, "triage-ops scale worker --replicas 3"),
    ]


def test_healthy_history_recommends_nothing(cluster: Cluster, prometheus_good: str) -> None:
    cluster.configure(prometheus_url=prometheus_good)
    code, out, _ = cluster.invoke("scale", "recommend")
    assert code == 0
    assert "queue_depth  worker      > 1000 emails         15 min  3          3        ok" in out
    assert out.splitlines()[-2:] == [
        "email-triage-api     3         3            -        no trigger fires",
        "email-triage-worker  2         2            -        no trigger fires",
    ]


def test_kubernetes_down_leaves_replicas_unknown(cluster: Cluster, prometheus_bad: str) -> None:
    cluster.configure(prometheus_url=prometheus_bad)
    cluster.emulator.stop()
    code, out, err = cluster.invoke("scale", "recommend")
    assert code == 1
    assert out.splitlines()[-2].split()[:4] == ["email-triage-api", "?", "?", "-"]
    assert err.startswith("triage-ops: replicas of email-triage-api unknown: Kubernetes API at")


@pytest.mark.parametrize("fault", ["stopped", "black-holed"])
def test_prometheus_unreachable(cluster: Cluster, fault: str) -> None:
    with black_hole() as port:
        if fault == "stopped":
            with black_hole() as gone:
                pass
            port = gone
        cluster.configure(prometheus_url=f"http://127.0.0.1:{port}")
        started = time.monotonic()
        code, out, err = cluster.invoke("scale", "recommend")
        elapsed = time.monotonic() - started
    assert (code, out) == (4, "")
    assert err.startswith(f"triage-ops: error: Prometheus at http://127.0.0.1:{port}")
    assert len(err.strip().splitlines()) == 1
    assert elapsed < 6
