"""Scaling triggers and the capacity report against the real Prometheus histories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.procedures.conftest import step_context
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError
from triage_ops.procedures import capacity, scaling

pytestmark = pytest.mark.timeout(120)


def test_triggers_fire_only_when_sustained(prometheus_good: str, prometheus_bad: str) -> None:
    good = {
        s.name: s for s in scaling.evaluate(step_context(OpsConfig(prometheus_url=prometheus_good)))
    }
    bad = {
        s.name: s for s in scaling.evaluate(step_context(OpsConfig(prometheus_url=prometheus_bad)))
    }
    assert not any(s.firing for s in good.values())
    assert bad["queue_depth"].firing and bad["queue_depth"].sustained_min == 1500
    assert bad["p95_latency"].firing
    # no container metrics in either history: no data is not "fine", and not firing
    assert bad["cpu"].sustained_min is None and not bad["cpu"].firing


def test_check_gives_one_finding_per_firing_trigger(prometheus_bad: str) -> None:
    context = step_context(OpsConfig(prometheus_url=prometheus_bad))
    findings = scaling.check_scaling_triggers(context)
    assert sorted(f.evidence["trigger"] for f in findings) == ["p95_latency", "queue_depth"]
    assert {f.code for f in findings} == {"TRI-SCALE-001"}
    assert context.notes == ["no data for: cpu, memory"]


def _state(name: str, current: float, threshold: float) -> scaling.TriggerState:
    return scaling.TriggerState(
        name, "api", threshold, 10, "x", current, current, current > threshold
    )


def test_recommendation_uses_the_hpa_formula_and_its_cap() -> None:
    rec = scaling.recommend(
        [_state("p95_latency", 3.0, 2.0)], deployment="email-triage-api", current_replicas=3
    )
    assert rec.recommended_replicas == 5  # ceil(3 x 3.0 / 2.0)
    assert rec.command == "triage-ops scale api --replicas 5"
    capped = scaling.recommend(
        [_state("cpu", 7.0, 0.7)], deployment="email-triage-api", current_replicas=3
    )
    assert capped.recommended_replicas == 6  # x2 per run at most
    assert "capped at 6" in capped.reasons[-1]
    calm = scaling.recommend(
        [_state("cpu", 0.2, 0.7)], deployment="email-triage-api", current_replicas=3
    )
    assert calm.recommended_replicas == 3 and calm.reasons == []
    assert (
        scaling.recommend(
            [_state("cpu", 0.9, 0.7)], deployment="x-api", current_replicas=20, max_replicas=20
        ).recommended_replicas
        == 20
    )


def test_capacity_report_projects_growth(
    tmp_path: Path, prometheus_good: str, prometheus_bad: str
) -> None:
    flat = capacity.build(step_context(OpsConfig(prometheus_url=prometheus_good)), since="8d")
    growing = capacity.build(step_context(OpsConfig(prometheus_url=prometheus_bad)), since="8d")
    assert flat.growth_per_week is not None and abs(flat.growth_per_week) < 0.02
    assert growing.growth_per_week is not None and growing.growth_per_week > 0.15
    assert growing.projected_daily_90d > growing.projected_daily_30d > growing.daily_volume[-2]
    assert flat.cpu.values and flat.memory.values[-1] == pytest.approx(120.0)
    spark = capacity.sparkline(growing.volume.values)
    assert len(spark) == 60 and spark[0] == "▁" and spark[-1] == "█"
    png = capacity.write_chart(growing, tmp_path / "capacity.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_daily_totals_and_projection_are_exact() -> None:
    points = [(86400.0 * d + h * 3600.0, 100.0) for d in range(3) for h in range(24)]
    assert capacity.daily_totals(points, step_s=3600) == [2400.0, 2400.0, 2400.0]
    growth, in_30, in_90 = capacity.project([100.0 + 10 * d for d in range(7)])
    assert growth == pytest.approx(70 / 160, abs=1e-4)
    assert (in_30, in_90) == (460.0, 1060.0)
    assert capacity.project([1.0] * 6) == (None, None, None)


@pytest.mark.parametrize("text", ["", "30", "d", "0d", "-3d", "3y", "1.5d"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        capacity.parse_duration(text)
