"""Step contexts for the procedures' checks. The two Prometheus servers with backfilled
history they run against (`prometheus_good`, `prometheus_bad`) are tests/ops/
prometheus_history.py, registered in tests/ops/conftest.py."""

from __future__ import annotations

from triage_ops.config import OpsConfig
from triage_ops.engine import standalone
from triage_ops.engine.contract import StepContext


def step_context(config: OpsConfig, **params: object) -> StepContext:
    return standalone.step_context(config, timeout=5.0, step_id="test", params=params)
