"""`triage-ops capacity report --since 30d`: the runbook's "Traffic Growth Analysis" and
"Resource utilization trends" (Capacity Planning and Scaling), and the monthly checklist's
"conduct capacity planning analysis".

What the runbook does, and what is done instead:

- Its `query_range` is hard-coded to January 2025 and piped to jq. Here the window is
  relative (`--since`), and the step is chosen so Prometheus never refuses the query (at
  most ~1,000 points per series: a 30-day window is read every 44 minutes).
- It leaves the reading to a person. Here the volume series is summarised the way a
  planning review needs it: emails per calendar day (UTC; only days the series covers
  nearly whole, as a half day would read as a fall), growth per week from a least-squares
  line through them, the fitted daily volume projected 30 and 90 days ahead, and the
  peak hour; with the service's CPU and memory beside it.
- `kubectl top nodes|pods` shows one instant. CPU and memory come from Prometheus over
  the same window: cAdvisor's container metrics for the namespace when Prometheus has
  them, else the service's own `process_*` metrics.
- A PNG chart (matplotlib's object API on the Agg canvas: no display, no pyplot global
  state) and terminal sparklines show the same numbers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage_ops.engine.contract import StepContext
from triage_ops.errors import UsageError

if TYPE_CHECKING:
    from triage_ops.config import OpsConfig

VOLUME = "sum(rate(emails_processed_total[1h])) * 3600"  # emails per hour
CPU = 'sum(rate(process_cpu_seconds_total{job=~"email-triage.*"}[1h]))'  # cores
MEMORY = 'sum(process_resident_memory_bytes{job=~"email-triage.*"}) / 2^20'  # MiB
CONTAINER_CPU = 'sum(rate(container_cpu_usage_seconds_total{{namespace="{ns}",container!=""}}[1h]))'
CONTAINER_MEMORY = (
    'sum(container_memory_working_set_bytes{{namespace="{ns}",container!=""}}) / 2^20'
)
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 60
MAX_POINTS = 1000
MIN_DAYS = 7  # whole days needed before a growth line means anything
WHOLE_DAY = 0.9  # share of a day's samples that makes it a whole day
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int:
    """Seconds in "30d", "12h", "2w", "90m"; bad input is a UsageError (exit 3)."""
    text = text.strip().lower()
    if len(text) < 2 or text[-1] not in _UNITS or not text[:-1].isdigit() or int(text[:-1]) == 0:
        raise UsageError(f"invalid duration {text!r}: use a number and m, h, d or w (e.g. 30d)")
    return int(text[:-1]) * _UNITS[text[-1]]


@dataclass
class Series:
    name: str
    unit: str
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points]

    @property
    def last(self) -> float | None:
        return self.points[-1][1] if self.points else None

    def to_json(self) -> dict[str, Any]:
        values = self.values
        return {
            "name": self.name,
            "unit": self.unit,
            "points": len(values),
            "last": _round(self.last),
            "min": _round(min(values)) if values else None,
            "max": _round(max(values)) if values else None,
            "sparkline": sparkline(values),
        }


@dataclass
class CapacityReport:
    since_s: int
    step_s: int
    start: float
    end: float
    volume: Series
    cpu: Series
    memory: Series
    daily_volume: list[float]  # emails per whole UTC day, oldest first
    growth_per_week: float | None  # relative to today's fitted volume (0.05 = +5% a week)
    projected_daily_30d: float | None
    projected_daily_90d: float | None
    peak_hourly: float | None
    peak_at: float | None = None  # unix time of the peak hour's sample
    chart: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "since_s": self.since_s,
            "step_s": self.step_s,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "daily_volume": self.daily_volume,
            "growth_per_week": self.growth_per_week,
            "projected_daily_30d": self.projected_daily_30d,
            "projected_daily_90d": self.projected_daily_90d,
            "peak_hourly": _round(self.peak_hourly),
            "peak_at": _iso(self.peak_at) if self.peak_at is not None else None,
            "volume": self.volume.to_json(),
            "cpu": self.cpu.to_json(),
            "memory": self.memory.to_json(),
            "chart": self.chart or None,
        }

    def rows(self) -> list[dict[str, str]]:
        """The table `capacity report` prints: metric, value, trend (a sparkline)."""
        days = self.daily_volume
        growth = (
            f"{self.growth_per_week:+.1%} (least squares over {len(days)} days)"
            if self.growth_per_week is not None
            else f"not enough data: {len(days)} whole day(s), {MIN_DAYS} needed"
        )
        rows = [
            {
                "metric": "window",
                "value": f"{_span(self.since_s)} ({_iso(self.start)} to {_iso(self.end)}),"
                f" a sample every {_span(self.step_s)}",
                "trend": "",
            },
            {
                "metric": "emails/day",
                "value": (
                    f"{days[-1]:,.0f} last whole day; mean {sum(days) / len(days):,.0f},"
                    f" min {min(days):,.0f}, max {max(days):,.0f} over {len(days)} days"
                    if days
                    else "no whole day of data"
                ),
                "trend": sparkline(days),
            },
            {"metric": "growth/week", "value": growth, "trend": ""},
            {
                "metric": "projected emails/day",
                "value": (
                    f"{self.projected_daily_30d:,.0f} in 30 days, "
                    f"{self.projected_daily_90d:,.0f} in 90 days"
                    if self.projected_daily_30d is not None and self.projected_daily_90d is not None
                    else "-"
                ),
                "trend": "",
            },
            {
                "metric": "peak emails/hour",
                "value": (
                    f"{self.peak_hourly:,.0f} at {_iso(self.peak_at)}"
                    if self.peak_hourly is not None and self.peak_at is not None
                    else "no data"
                ),
                "trend": "",
            },
        ]
        for series in (self.volume, self.cpu, self.memory):
            rows.append(
                {
                    "metric": f"{series.name} ({series.unit})",
                    "value": "no data" if series.last is None else f"{_number(series.last)} last",
                    "trend": sparkline(series.values),
                }
            )
        if self.chart:
            rows.append({"metric": "chart", "value": self.chart, "trend": ""})
        return rows


def _number(value: float) -> str:
    """22,104 or 0.000374: whole numbers with separators when large, 3 digits when small."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="minutes").replace("+00:00", "Z")


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def step_for(since_s: int) -> int:
    """Whole minutes, at most MAX_POINTS samples over the window, at least one a minute."""
    return max(60, math.ceil(since_s / MAX_POINTS / 60) * 60)


def _range(
    ctx: StepContext, promql: str, *, start: float, end: float, step: int
) -> list[tuple[float, float]]:
    series = ctx.clients.prometheus().query_range(
        promql,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
        step=step,
    )
    if not series:
        return []
    points = [(float(t), float(v)) for t, v in series[0]["values"]]
    return [(t, v) for t, v in points if math.isfinite(v)]


def build(ctx: StepContext, *, since: str, now: float | None = None) -> CapacityReport:
    """Volume, CPU and memory over the last `since`, summarised. Raises the Prometheus
    client's typed error when it does not answer."""
    since_s = parse_duration(since)
    end = math.floor(time.time() if now is None else now)
    start = end - since_s
    step = step_for(since_s)

    def read(*queries: str) -> list[tuple[float, float]]:
        for promql in queries:
            points = _range(ctx, promql, start=start, end=end, step=step)
            if points:
                return points
        return []

    ns = ctx.config.namespace
    volume = Series("email volume", "emails/h", read(VOLUME))
    cpu = Series("CPU", "cores", read(CONTAINER_CPU.format(ns=ns), CPU))
    memory = Series("memory", "MiB", read(CONTAINER_MEMORY.format(ns=ns), MEMORY))
    daily = daily_totals(volume.points, step_s=step)
    growth, in_30, in_90 = project(daily)
    peak = max(volume.points, key=lambda p: p[1]) if volume.points else None
    return CapacityReport(
        since_s=since_s,
        step_s=step,
        start=start,
        end=end,
        volume=volume,
        cpu=cpu,
        memory=memory,
        daily_volume=[round(d, 1) for d in daily],
        growth_per_week=growth,
        projected_daily_30d=in_30,
        projected_daily_90d=in_90,
        peak_hourly=peak[1] if peak else None,
        peak_at=peak[0] if peak else None,
    )


def daily_totals(points: list[tuple[float, float]], *, step_s: int) -> list[float]:
    """Emails per calendar day (UTC) from an emails-per-hour series sampled every step:
    the day's mean hourly rate x 24 (a step that does not divide a day gives days of 32
    and 33 samples: a sum would wobble by 3%). Only days with WHOLE_DAY of their samples
    count: the window's first and last days are partial."""
    sums: dict[int, float] = {}
    samples: dict[int, int] = {}
    for t, per_hour in points:
        day = int(t // 86400)
        sums[day] = sums.get(day, 0.0) + per_hour
        samples[day] = samples.get(day, 0) + 1
    whole = WHOLE_DAY * 86400 / step_s
    return [sums[d] / samples[d] * 24 for d in sorted(sums) if samples[d] >= whole]


def project(daily: list[float]) -> tuple[float | None, float | None, float | None]:
    """Least-squares line through daily volume: growth per week relative to today's
    fitted value, and the fitted daily volume 30 and 90 days ahead (never below 0).
    Needs MIN_DAYS days; no growth is given when today's fitted volume is not positive."""
    if len(daily) < MIN_DAYS:
        return None, None, None
    n = len(daily)
    mean_x = (n - 1) / 2
    mean_y = sum(daily) / n
    var = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(daily)) / var
    today = mean_y + slope * (n - 1 - mean_x)
    growth = round(slope * 7 / today, 4) if today > 0 else None
    return (
        growth,
        round(max(0.0, today + slope * 30), 1),
        round(max(0.0, today + slope * 90), 1),
    )


def sparkline(values: list[float], *, width: int = SPARK_WIDTH) -> str:
    """One character per value, or per bucket of values averaged when there are more
    than `width`; the lowest value is ▁ and the highest █ (all equal: ▁)."""
    if not values:
        return ""
    if len(values) > width:
        size = len(values) / width
        buckets = [values[round(i * size) : round((i + 1) * size)] for i in range(width)]
        values = [sum(b) / len(b) for b in buckets]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    top = len(SPARK) - 1
    return "".join(SPARK[min(top, int((v - low) / span * len(SPARK)))] for v in values)


def write_chart(report: CapacityReport, path: Path) -> Path:
    """Volume, CPU and memory over the window, one panel each, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, 1, sharex=True)
    for ax, series in zip(axes, (report.volume, report.cpu, report.memory), strict=True):
        times = [datetime.fromtimestamp(t, UTC) for t, _ in series.points]
        ax.plot(times, series.values, linewidth=1)
        ax.set_ylabel(series.unit)
        ax.set_title(series.name if series.points else f"{series.name}: no data", fontsize=10)
        ax.grid(alpha=0.3)
    growth = (
        f", growth {report.growth_per_week:+.1%}/week" if report.growth_per_week is not None else ""
    )
    fig.suptitle(f"email triage capacity, last {_span(report.since_s)}{growth}")
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=100)
    except OSError as exc:
        raise UsageError(f"cannot write the chart {path}: {exc.strerror}") from None
    report.chart = str(path)
    return path


def capacity_report(
    config: OpsConfig, *, since: str, timeout: float, chart: Path | None = None
) -> CapacityReport:
    """`triage-ops capacity report`: `build` over the configured Prometheus, and the PNG
    chart when `chart` is given."""
    from triage_ops.clients import Clients

    parse_duration(since)  # a bad --since is a usage error before anything is asked
    ctx = StepContext(
        config=config,
        clients=Clients(config, timeout=timeout),
        timeout=timeout,
        step_id="capacity.report",
    )
    report = build(ctx, since=since)
    if chart is not None:
        write_chart(report, chart)
    return report
