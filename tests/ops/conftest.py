"""One whole sandbox per test session for the commands that need the real service:
PostgreSQL, Redis, Prometheus, Alertmanager, the Kubernetes API emulator, the model
server, the API and a worker, started by `triage-ops sandbox up` on loopback.

Tests that change it (fallback mode, a paused Redis) put it back before they end.

Also registered here, once for every directory below: the two Prometheus servers with
backfilled history (`prometheus_good`, `prometheus_bad`: tests/ops/prometheus_history.py).
A conftest that imported them itself would start its own pair."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.ops.prometheus_history import prometheus_bad, prometheus_good
from triage_ops.cli import main

__all__ = ["RunningSandbox", "prometheus_bad", "prometheus_good", "sandbox"]


@dataclass(frozen=True)
class RunningSandbox:
    state_dir: Path
    config_path: Path
    endpoints: dict[str, str]

    def invoke(self, *args: str, input: str | None = None) -> Result:
        """`triage-ops --config <sandbox config> ARGS` as a user types it."""
        return CliRunner().invoke(main, ["--config", str(self.config_path), *args], input=input)


def _reachable_by_postgres(path: Path) -> None:
    # As root, PostgreSQL runs as the postgres user, which must reach its data directory.
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    state = tmp_path_factory.mktemp("ops-sandbox")
    _reachable_by_postgres(state)
    runner = CliRunner()
    result = runner.invoke(main, ["--output", "json", "sandbox", "up", "--state-dir", str(state)])
    if result.exit_code != 0:
        runner.invoke(main, ["sandbox", "down", "--state-dir", str(state)])
        pytest.fail(f"sandbox up failed ({result.exit_code}): {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    try:
        yield RunningSandbox(state, Path(report["config_path"]), dict(report["endpoints"]))
    finally:
        runner.invoke(main, ["sandbox", "down", "--state-dir", str(state)])
