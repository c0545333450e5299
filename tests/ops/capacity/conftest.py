"""The capacity tests run `triage-ops capacity report` against the two real Prometheus
histories of tests/ops/prometheus_history.py (steady volume; volume growing by its
starting rate every week)."""

from __future__ import annotations

import pytest

from triage_ops import cli


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The line cli.py's _COMMANDS gets (the lead adds it; until then the tests do)."""
    monkeypatch.setitem(cli._COMMANDS, "capacity", "triage_ops.commands.capacity:capacity")
