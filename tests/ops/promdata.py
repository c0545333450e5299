"""A real Prometheus holding a history we choose: series are written as OpenMetrics,
backfilled with `promtool tsdb create-blocks-from openmetrics`, and served by the
`prometheus` binary. Days of history in about a second, so checks that compare with "a
week ago" or evaluate "for 10 minutes" run against the real query engine."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from triage_ops.sandbox import processes as proc

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Series:
    name: str
    kind: str  # "counter" or "gauge"
    labels: Labels
    value: Callable[[float], float]  # value at unix time t (a counter: cumulative)


def write_openmetrics(
    path: Path,
    series: list[Series],
    *,
    start: float,
    end: float,
    step: float,
    coarse_step: float | None = None,
    fine_from: float | None = None,
) -> None:
    """Samples every `step` seconds from `fine_from` on, every `coarse_step` before it
    (old history need not be fine-grained, and ten times fewer samples load faster)."""
    fine_from = start if fine_from is None else fine_from
    coarse = coarse_step or step
    times: list[float] = []
    t = start
    while t <= end:
        times.append(t)
        t += step if t >= fine_from else coarse
    by_name: dict[str, list[Series]] = {}
    for s in series:
        by_name.setdefault(s.name, []).append(s)
    lines: list[str] = []
    for name, group in by_name.items():
        lines.append(f"# TYPE {name.removesuffix('_total')} {group[0].kind}")
        for s in group:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            lines.extend(f"{name}{{{labels}}} {s.value(t):.10g} {t:.0f}" for t in times)
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextmanager
def prometheus_with(
    tmp: Path,
    series: list[Series],
    *,
    days: float,
    step: float = 60.0,
    now: float | None = None,
    ahead: float = 1800.0,
) -> Iterator[str]:
    """A Prometheus on a free loopback port whose TSDB holds `series` sampled every `step`
    seconds over the last `days` days, and on for `ahead` seconds (so that a test running
    minutes after the fixture started still sees full rate windows); yields its URL."""
    end = (time.time() if now is None else now) + ahead
    data = tmp / "data"
    source = tmp / "history.om"
    write_openmetrics(
        source,
        series,
        start=end - days * 86400,
        end=end,
        step=step,
        coarse_step=10 * step,
        fine_from=end - 86400,
    )
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=240h",  # two blocks instead of a hundred: 10x faster
            str(source),
            str(data),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    config = tmp / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n", encoding="utf-8")
    port = proc.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "prometheus.log"
    pid = proc.spawn(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            f"--storage.tsdb.retention.time={int(days) + 30}d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log=log,
        die_with_parent=True,
    )
    try:
        proc.wait_until(lambda: proc.http_ok(f"{url}/-/ready"), timeout=30, what="prometheus")
        yield url
    finally:
        proc.stop(pid, expect="prometheus")
