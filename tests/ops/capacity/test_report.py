"""`triage-ops capacity report` as a user runs it, against real Prometheus histories: the
growth and its direction, the projections, sparklines of the terminal's width, the PNG.

The bad history's volume is 4 emails a second plus one that grows by itself every week
(r(t) = 5 + x / 1 week emails a second, x = time since the history starts); the good
history's is a steady 5 a second (432,000 a day)."""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.ops import prometheus_history as history
from tests.ops.blackhole import black_hole
from triage_ops.cli import main
from triage_ops.procedures.capacity import SPARK, project

pytestmark = pytest.mark.timeout(120)

WEEK = 7 * 86400
PNG = b"\x89PNG\r\n\x1a\n"


def report(url: str, *args: str, output: str = "table") -> Result:
    """`triage-ops --output OUTPUT capacity report ARGS` with Prometheus at `url`."""
    return CliRunner(env={"TRIAGE_OPS_PROMETHEUS_URL": url}).invoke(
        main, ["--output", output, "capacity", "report", *args]
    )


def as_json(url: str, *args: str) -> dict[str, Any]:
    result = report(url, *args, output="json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _whole_days(data: dict[str, Any]) -> list[int]:
    """The UTC days (unix day numbers) the window covers whole."""
    start = calendar.timegm(time.strptime(data["start"], "%Y-%m-%dT%H:%MZ"))
    end = calendar.timegm(time.strptime(data["end"], "%Y-%m-%dT%H:%MZ"))
    return list(range(-(-start // 86400), end // 86400))


def test_growing_volume_json(prometheus_bad: str) -> None:
    data = as_json(prometheus_bad, "--since", "8d")
    assert (data["since_s"], data["step_s"]) == (8 * 86400, 720)
    days = _whole_days(data)
    assert len(data["daily_volume"]) == len(days) == 7
    # each whole day: 86,400 x the rate at its middle (rate() over 1 h reads 30 min late)
    ideal = [86400 * (5 + ((d + 0.5) * 86400 - 1800 - history.START) / WEEK) for d in days]
    assert data["daily_volume"] == pytest.approx(ideal, rel=0.01)
    assert data["daily_volume"] == sorted(data["daily_volume"])  # it only grows
    growth, in_30, in_90 = project(ideal)
    assert growth is not None and in_30 is not None and in_90 is not None
    assert data["growth_per_week"] == pytest.approx(growth, abs=0.005)
    assert data["growth_per_week"] > 0.1  # up
    assert data["projected_daily_30d"] == pytest.approx(in_30, rel=0.01)
    assert data["projected_daily_90d"] == pytest.approx(in_90, rel=0.01)
    volume = data["volume"]
    assert (volume["name"], volume["unit"]) == ("email volume", "emails/h")
    assert len(volume["sparkline"]) == 60
    assert set(volume["sparkline"]) <= set(SPARK)
    assert (volume["sparkline"][0], volume["sparkline"][-1]) == ("▁", "█")
    assert data["memory"]["last"] == pytest.approx(120.0)  # MiB
    assert data["cpu"]["last"] == pytest.approx(0.25)  # cores
    assert data["chart"] is None


def test_steady_volume_json(prometheus_good: str) -> None:
    data = as_json(prometheus_good, "--since", "8d")
    assert data["daily_volume"] == pytest.approx([432000.0] * 7, rel=0.01)
    assert abs(data["growth_per_week"]) < 0.01
    assert data["projected_daily_90d"] == pytest.approx(432000.0, rel=0.1)


def test_table_sparklines_and_chart(tmp_path: Path, prometheus_bad: str) -> None:
    chart = tmp_path / "charts" / "capacity.png"
    result = report(prometheus_bad, "--since", "8d", "--chart", str(chart))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Capacity report"
    assert lines[1].split() == ["METRIC", "VALUE", "TREND"]
    rows = {line[: lines[1].index("VALUE")].strip(): line for line in lines[2:]}
    assert list(rows) == [
        "window",
        "emails/day",
        "growth/week",
        "projected emails/day",
        "peak emails/hour",
        "email volume (emails/h)",
        "CPU (cores)",
        "memory (MiB)",
        "chart",
    ]
    trend = lines[1].index("TREND")
    assert rows["growth/week"][lines[1].index("VALUE") :].startswith("+")
    assert "(least squares over 7 days)" in rows["growth/week"]
    volume = rows["email volume (emails/h)"][trend:]
    assert len(volume) == 60 and set(volume) <= set(SPARK)
    assert (volume[0], volume[-1]) == ("▁", "█")
    daily = rows["emails/day"][trend:]
    assert len(daily) == 7 and daily[0] == "▁" and daily[-1] == "█"
    assert rows["chart"].split()[-1] == str(chart)
    assert chart.read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "30"], "invalid duration '30': use a number and m, h, d or w (e.g. 30d)"),
        (["--since", "0d"], "invalid duration '0d': use a number and m, h, d or w (e.g. 30d)"),
    ],
)
def test_bad_window_is_a_usage_error(prometheus_good: str, args: list[str], message: str) -> None:
    result = report(prometheus_good, *args)
    assert (result.exit_code, result.stderr) == (3, f"triage-ops: error: {message}\n")
    assert result.stdout == ""


def test_an_unwritable_chart_is_a_usage_error(tmp_path: Path, prometheus_good: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    result = report(prometheus_good, "--since", "2d", "--chart", str(blocker / "c.png"))
    assert result.exit_code == 3
    assert result.stderr.startswith(f"triage-ops: error: cannot write the chart {blocker}/c.png:")


def test_no_prometheus_configured() -> None:
    result = CliRunner(env={"TRIAGE_OPS_PROMETHEUS_URL": ""}).invoke(main, ["capacity", "report"])
    assert (result.exit_code, result.stderr) == (
        3,
        "triage-ops: error: no prometheus_url configured (config file or"
        " TRIAGE_OPS_PROMETHEUS_URL)\n",
    )


def test_a_black_holed_prometheus_fails_within_the_timeout() -> None:
    with black_hole() as port:
        started = time.monotonic()
        result = CliRunner(env={"TRIAGE_OPS_PROMETHEUS_URL": f"http://127.0.0.1:{port}"}).invoke(
            main, ["--timeout", "1", "capacity", "report"]
        )
        elapsed = time.monotonic() - started
    assert result.exit_code == 4
    assert result.stderr.startswith("triage-ops: error: ")
    assert f"127.0.0.1:{port}" in result.stderr
    assert elapsed < 3
