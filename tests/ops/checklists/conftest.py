"""What the checklist tests share: the `check` and `capacity` commands registered the way
cli.py will register them, config files, raw audit timelines, a step context with the real
catalogue, and a Prometheus whose history holds what the daily checks look for (alerts
that fired overnight, a target down, CPU tripled against a week ago, idle pods)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from tests.ops import prometheus_history
from tests.ops.promdata import Series, write_openmetrics
from triage_ops import cli
from triage_ops.cli import main
from triage_ops.config import OpsConfig
from triage_ops.engine import standalone
from triage_ops.engine.contract import StepContext
from triage_ops.sandbox import processes as proc

# The lines cli.py's _COMMANDS gets (the lead adds them; until then the tests do).
COMMANDS = {
    "check": "triage_ops.commands.check:check",
    "capacity": "triage_ops.commands.capacity:capacity",
}
DAY = 86400.0
HISTORY_DAYS = 9


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, target in COMMANDS.items():
        monkeypatch.setitem(cli._COMMANDS, name, target)


def invoke(*args: str) -> Result:
    """`triage-ops ARGS`, as a user types it."""
    return CliRunner().invoke(main, list(args))


def report_of(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def write_config(path: Path, *, base: Path | None = None, **settings: Any) -> Path:
    """A config file: `base`'s settings (a sandbox's), overridden by `settings`."""
    data: dict[str, Any] = yaml.safe_load(base.read_text(encoding="utf-8")) if base else {}
    data.update({k: v for k, v in settings.items()})
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def step_ctx(config: OpsConfig, *, timeout: float = 5.0, **params: Any) -> StepContext:
    return standalone.step_context(config, timeout=timeout, step_id="test", params=params)


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


def write_timeline(path: Path, entries: list[dict[str, Any]]) -> Path:
    """An audit timeline with entries back-dated as given (`ts` as unix seconds): what
    `triage-ops incident ...` and `secrets rotate` would have written at those times.
    Only readers are tested here, and they do not check the hash chain."""
    lines = []
    for seq, entry in enumerate(entries, 1):
        body = {"seq": seq, "user": "oncall", "findings": [], "details": {}, **entry}
        body["ts"] = iso(float(entry["ts"]))
        lines.append(json.dumps(body))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- a Prometheus with the history the daily and weekly checks judge ----------------------


def shifted(series: list[Series], by: float) -> list[Series]:
    """The same history, `by` seconds later: prometheus_history's series were computed for
    the time its module was imported; shifted, it ends when this fixture starts, so the
    instant queries of a test that runs minutes later still see it (Prometheus looks back
    only 5 minutes for the latest sample). Before its start every counter is 0."""

    def later(value: Callable[[float], float]) -> Callable[[float], float]:
        return lambda t: max(0.0, value(t - by))

    return [Series(s.name, s.kind, s.labels, later(s.value)) for s in series]


def _window(start: float, end: float) -> Any:
    return lambda t: 1.0 if start <= t <= end else 0.0


def _episodes(starts: list[float], seconds: float) -> Any:
    return lambda t: 1.0 if any(s <= t < s + seconds for s in starts) else 0.0


def _counter(origin: float, before: float, after: float, change: float) -> Any:
    """Cumulative count at `before` per second from `origin` until `change`, `after` per
    second since."""
    return lambda t: before * (min(t, change) - origin) + after * max(0.0, t - change)


def checklist_series(now: float) -> list[Series]:
    """What only the checklists look at: alerts that fired (one overnight and resolved,
    one still firing, one five times for 20 minutes, one three days ago), a target of the
    service down for 30 minutes, and two pods whose CPU use tripled two days ago (0.02 ->
    0.06 and 0.2 -> 0.6 cores of a 1-core request: over a week, 3% and 31%); memory flat.

    History older than a day is sampled every 10 minutes (promdata), which Prometheus
    sees as 5-minute blips (it looks back 5 minutes for a sample): the alert three days
    ago is one sample long, so it is one short firing, neither noisy nor flapping."""
    origin = now - HISTORY_DAYS * DAY
    out = [
        Series(
            "ALERTS",
            "gauge",
            {"alertname": "QueueBacklog", "alertstate": "firing", "severity": "warning"},
            _window(now - 10 * 3600, now - 8 * 3600),
        ),
        Series(
            "ALERTS",
            "gauge",
            {
                "alertname": "ServiceDown",
                "alertstate": "firing",
                "severity": "critical",
                "instance": "api-2:8000",
            },
            _window(now - 1800, now + 3600),
        ),
        Series(
            "ALERTS",
            "gauge",
            {"alertname": "HighLatencyP95", "alertstate": "firing", "severity": "warning"},
            _window(now - 3 * DAY, now - 3 * DAY + 600),
        ),
        Series(
            "ALERTS",
            "gauge",
            {"alertname": "HighFallbackRate", "alertstate": "firing", "severity": "warning"},
            _episodes([now - h * 3600 for h in (20, 18, 16, 14, 12)], 1200),
        ),
        Series("up", "gauge", {"job": "email-triage", "instance": "api-1:8000"}, lambda t: 1.0),
        Series(
            "up",
            "gauge",
            {"job": "email-triage", "instance": "api-2:8000"},
            lambda t: 0.0 if t >= now - 1800 else 1.0,
        ),
        Series(
            "up", "gauge", {"job": "email-triage-worker", "instance": "w-1:9000"}, lambda t: 1.0
        ),
        Series(
            "process_resident_memory_bytes",
            "gauge",
            {"job": "email-triage", "instance": "api-1:8000"},
            lambda t: 100 * 2**20,
        ),
    ]
    for pod, used in (("email-triage-api-a", 0.02), ("email-triage-api-b", 0.2)):
        labels = {"namespace": "email-triage", "pod": pod, "container": "api"}
        out.append(
            Series(
                "container_cpu_usage_seconds_total",
                "counter",
                labels,
                _counter(origin, used, 3 * used, now - 2 * DAY),
            )
        )
        out.append(
            Series(
                "kube_pod_container_resource_requests",
                "gauge",
                {**labels, "resource": "cpu", "unit": "core"},
                lambda t: 1.0,
            )
        )
    return out


@contextlib.contextmanager
def prometheus_serving(
    tmp: Path, series: list[Series], *, days: float, now: float
) -> Iterator[str]:
    """promdata.prometheus_with, with the history written as a few large blocks: promtool
    cuts 2-hour blocks by default, and nine days of them (109 blocks) cost some 6 s to
    write and more for Prometheus to open."""
    data, source = tmp / "data", tmp / "history.om"
    write_openmetrics(
        source,
        series,
        start=now - days * DAY,
        end=now,
        step=60.0,
        coarse_step=600.0,
        fine_from=now - DAY,
    )
    subprocess.run(
        [
            *("promtool", "tsdb", "create-blocks-from", "openmetrics"),
            *("--max-block-duration=240h", str(source), str(data)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = tmp / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n", encoding="utf-8")
    port = proc.free_port()
    url = f"http://127.0.0.1:{port}"
    pid = proc.spawn(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--storage.tsdb.retention.time={int(days) + 30}d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log=tmp / "prometheus.log",
        die_with_parent=True,
    )
    try:
        proc.wait_until(lambda: proc.http_ok(f"{url}/-/ready"), timeout=30, what="prometheus")
        yield url
    finally:
        proc.stop(pid, expect="prometheus")


@pytest.fixture(scope="session")
def prometheus_daily(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """prometheus_history's bad service history (latency, errors, backlog, fallback, slow
    model, growing volume), ending now, plus `checklist_series`, over nine days: "a week
    ago" then has a whole day of history with an hour before it (the first hour of a
    history reads low in every rate())."""
    now = time.time()
    bad = shifted(prometheus_history.series(True), now - prometheus_history.NOW)
    history = bad + checklist_series(now)
    with prometheus_serving(
        tmp_path_factory.mktemp("prom-daily"), history, days=HISTORY_DAYS, now=now
    ) as url:
        yield url


@pytest.fixture(scope="session")
def prometheus_calm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """prometheus_history's healthy service history, ending now: no alert, no target (nothing
    scrapes here), steady volume (5 emails a second), flat CPU and memory."""
    now = time.time()
    history = shifted(prometheus_history.series(False), now - prometheus_history.NOW)
    with prometheus_serving(
        tmp_path_factory.mktemp("prom-calm"), history, days=HISTORY_DAYS, now=now
    ) as url:
        yield url
