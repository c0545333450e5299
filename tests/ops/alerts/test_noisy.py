"""`triage-ops alerts noisy`: flapping and noisy alerts from Prometheus' ALERTS and
ALERTS_FOR_STATE history. Two real Prometheus servers: one that evaluates a flapping
rule every second (about 25 s of history: counts are bounded, the clock decides the
rest), and one whose TSDB holds two days of backfilled alert history (exact counts)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.ops.alerts.conftest import (
    HOST,
    Prometheus,
    invoke,
    start_prometheus,
    step_context,
    wait_for,
    write_config,
)
from tests.ops.blackhole import black_hole
from triage_ops.config import OpsConfig
from triage_ops.procedures.alerts import noisy_alerts
from triage_ops.sandbox import processes as proc

pytestmark = pytest.mark.timeout(60)
FLAPPING_RULES = """groups:
  - name: flap
    interval: 1s
    rules:
      - alert: Flapping          # firing 3 s, resolved 3 s, over and over
        expr: vector(time() % 6) < 3
        labels:
          severity: warning
      - alert: FlappingFor       # the same condition behind for: 2s
        expr: vector(time() % 6) < 3
        for: 2s
        labels:
          severity: warning
      - alert: Steady
        expr: vector(1)
        labels:
          severity: info
      - alert: Never
        expr: vector(0) > 1
        labels:
          severity: critical
"""
HISTORY_S = 22  # seconds of evaluations before asking for the last 20 s


@pytest.fixture(scope="module")
def flapping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    tmp = tmp_path_factory.mktemp("flapping")
    rules = tmp / "rules"
    rules.mkdir()
    (rules / "flap.rules.yml").write_text(FLAPPING_RULES, encoding="utf-8")
    prom = start_prometheus(tmp / "prometheus", rules_dir=rules)
    try:
        wait_for(
            lambda: bool(prom.get("/api/v1/query", query='ALERTS{alertname="Steady"}')["result"]),
            timeout=10,
            what="first evaluation",
        )
        time.sleep(HISTORY_S)
        yield prom
    finally:
        proc.stop(prom.pid, expect="prometheus")


def _by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alertname"]: r for r in rows}


def test_flapping_rule_evaluated_by_prometheus(flapping: Prometheus, tmp_path: Path) -> None:
    config = write_config(tmp_path / "ops.yaml", prometheus_url=flapping.url)
    result = invoke(
        "--config", str(config), "-o", "json", "alerts", "noisy", "--since", "20s",
        "--threshold", "3",
    )  # fmt: skip
    assert result.code == 1, result.err  # warnings
    report = result.json()
    assert (report["since"], report["step_s"], report["threshold"]) == ("20s", 1.0, 3)
    rows = _by_name(report["alerts"])
    assert set(rows) == {"Flapping", "FlappingFor", "Steady"}  # Never never fired

    flap = rows["Flapping"]
    assert flap["firings"] >= 3
    assert flap["flaps"] >= 5
    assert flap["activations"] >= 3
    assert 6 <= flap["firing_s"] <= 14
    assert flap["median_episode"] in ("2s", "3s", "4s")
    assert flap["verdict"] == "flapping+noisy"
    assert flap["advice"].startswith("add keep_firing_for or a longer for:")

    held_back = rows["FlappingFor"]  # for: 2s lets one evaluation in three fire
    assert held_back["activations"] >= 3
    assert held_back["firing_s"] < flap["firing_s"]

    steady = rows["Steady"]
    assert (steady["firings"], steady["flaps"], steady["activations"]) == (1, 0, 1)
    assert steady["firing_s"] >= 19
    assert steady["verdict"] == "always-firing"

    codes = sorted((f["code"], f["evidence"]["alert"]) for f in report["findings"])
    assert ("TRI-ALERT-060", "Flapping") in codes
    assert ("TRI-ALERT-061", "Flapping") in codes
    assert ("TRI-ALERT-062", "Steady") in codes
    assert {c for c, _ in codes} == {"TRI-ALERT-060", "TRI-ALERT-061", "TRI-ALERT-062"}

    table = invoke("--config", str(config), "alerts", "noisy", "--since", "20s")
    lines = table.out.splitlines()
    assert lines[0] == "Alerts in the last 20s (resolution 1s, noisy at 5 firings)"
    assert lines[1].split() == [
        "ALERTNAME", "SEVERITY", "FIRINGS", "FLAPS", "ACTIVATIONS", "FIRING_TIME",
        "MEDIAN_EPISODE", "VERDICT", "ADVICE",
    ]  # fmt: skip
    assert lines[2].split()[0] in ("Flapping", "FlappingFor")


# -- two days of history, backfilled --------------------------------------------------

END = (int(time.time()) // 3600 - 1) * 3600  # an hour boundary, safely in the past
DAY = 86400


def _openmetrics(path: Path) -> None:
    """ALERTS / ALERTS_FOR_STATE as Prometheus writes them, one sample a minute:
    Backfilled fires 6 times for 20 min, 6 h apart; Chronic fires throughout; PendingOnly
    becomes active 4 times and never fires."""
    samples: dict[str, list[tuple[int, str]]] = {"ALERTS": [], "ALERTS_FOR_STATE": []}

    def active(name: str, severity: str, state: str, since: int, times: range) -> None:
        labels = f'alertname="{name}",severity="{severity}"'
        for t in times:
            samples["ALERTS"].append((t, f'ALERTS{{{labels},alertstate="{state}"}} 1 {t}'))
            samples["ALERTS_FOR_STATE"].append((t, f"ALERTS_FOR_STATE{{{labels}}} {since} {t}"))

    start = END - 2 * DAY
    for k in range(6):
        begin = start + 3600 + k * 6 * 3600
        active("Backfilled", "warning", "firing", begin, range(begin, begin + 20 * 60, 60))
    active("Chronic", "critical", "firing", start - 3600, range(start - 3600, END + 1, 60))
    for k in range(4):
        begin = start + 7200 + k * 8 * 3600
        active("PendingOnly", "info", "pending", begin, range(begin, begin + 180, 60))
    lines = []
    for name, rows in samples.items():
        lines.append(f"# TYPE {name} gauge")
        lines += [line for _, line in sorted(rows, key=lambda r: (r[1].split("}")[0], r[0]))]
    path.write_text("\n".join([*lines, "# EOF"]) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("backfilled")
    source = tmp / "alerts.om"
    _openmetrics(source)
    data = tmp / "data"
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    config = tmp / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n", encoding="utf-8")
    port = proc.free_port()
    log = tmp / "prometheus.log"
    pid = proc.spawn(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address={HOST}:{port}",
        ],
        log=log,
        die_with_parent=True,
    )
    url = f"http://{HOST}:{port}"
    try:
        proc.wait_until(
            lambda: proc.http_ok(f"{url}/-/ready"), timeout=30, what="prometheus", pid=pid, log=log
        )
        yield url
    finally:
        proc.stop(pid, expect="prometheus")


def test_two_days_of_history_exact_counts(backfilled: str) -> None:
    ctx = step_context(OpsConfig(prometheus_url=backfilled))
    report = noisy_alerts(ctx, since="2d", now=datetime.fromtimestamp(END, UTC))
    assert report.step_s == 15  # no rule groups: the default; 11,521 points in 2 queries
    rows = _by_name(report.rows())
    assert set(rows) == {"Backfilled", "Chronic", "PendingOnly"}
    backfill = rows["Backfilled"]
    assert (backfill["firings"], backfill["flaps"], backfill["activations"]) == (6, 12, 6)
    # Each episode: 20 min of samples, then Prometheus' 5 min lookback (no staleness
    # markers in backfilled data).
    assert 6 * 24 * 60 <= backfill["firing_s"] <= 6 * 25 * 60
    assert backfill["verdict"] == "noisy"
    chronic = rows["Chronic"]
    assert (chronic["firings"], chronic["flaps"], chronic["activations"]) == (1, 0, 1)
    assert chronic["firing_s"] >= 2 * DAY
    assert chronic["verdict"] == "always-firing"
    pending = rows["PendingOnly"]
    assert (pending["firings"], pending["activations"], pending["verdict"]) == (0, 4, "ok")
    assert (
        pending["advice"]
        == "became active 4 times but fired 0: its for: filters a flapping condition"
    )
    assert [(f.code, f.summary) for f in report.findings] == [
        ("TRI-ALERT-060", "Backfilled fired 6 times in 2d (threshold 5)"),
        ("TRI-ALERT-062", "Chronic was firing 100% of the last 2d"),
    ]

    fewer = noisy_alerts(
        ctx, since="2d", step="1m", threshold=7, now=datetime.fromtimestamp(END, UTC)
    )
    assert fewer.step_s == 60
    assert [f.code for f in fewer.findings] == ["TRI-ALERT-062"]
    assert _by_name(fewer.rows())["Backfilled"]["firings"] == 6


def test_prometheus_stopped_or_black_holed_exits_4(tmp_path: Path) -> None:
    port = proc.free_port()
    config = write_config(tmp_path / "down.yaml", prometheus_url=f"http://{HOST}:{port}")
    result = invoke("--config", str(config), "alerts", "noisy")
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"triage-ops: error: Prometheus at http://{HOST}:{port}: connection refused"
        " (GET /api/v1/rules)\n"
    )
    with black_hole() as hole:
        config = write_config(tmp_path / "hole.yaml", prometheus_url=f"http://{HOST}:{hole}")
        started = time.monotonic()
        result = invoke("--config", str(config), "--timeout", "1", "alerts", "noisy")
        elapsed = time.monotonic() - started
    assert result.code == 4
    assert 0.9 < elapsed < 2.5
    assert result.err == (
        f"triage-ops: error: Prometheus at http://{HOST}:{hole}: no answer within 1 s"
        " (GET /api/v1/rules)\n"
    )


def test_bad_options(tmp_path: Path) -> None:
    config = write_config(tmp_path / "ops.yaml", prometheus_url="http://127.0.0.1:9")
    result = invoke("--config", str(config), "alerts", "noisy", "--since", "a week")
    assert (result.code, result.err) == (
        3,
        "triage-ops: error: invalid --since 'a week': use a number and a unit (s, m, h, d, w),"
        " e.g. 2h or 1h30m\n",
    )
