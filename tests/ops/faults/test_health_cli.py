"""`triage-ops health` as a user runs it, over the dependency checks: healthy, then with
Redis hung (SIGSTOP): the right findings and exit code within the timeout, no secret in
the output."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.ops.faults.stack import API_KEY, PG_PASSWORD, Stack
from triage_ops.cli import main
from triage_ops.exit_codes import ExitCode

pytestmark = pytest.mark.timeout(120)


def _codes(data: Any) -> set[str]:
    """Every finding code anywhere in the JSON report."""
    found: set[str] = set()
    if isinstance(data, dict):
        if isinstance(data.get("code"), str) and "severity" in data:
            found.add(data["code"])
        for value in data.values():
            found |= _codes(value)
    elif isinstance(data, list):
        for value in data:
            found |= _codes(value)
    return found


@pytest.fixture
def config_file(stack: Stack, tmp_path: Path) -> Path:
    path = tmp_path / "triage-ops.yaml"
    settings = {
        "api_url": stack.api.url,
        "database_url": stack.database_url,
        "redis_url": stack.redis.url,
        "model_server_url": stack.model_server.url,
        "prometheus_url": stack.prometheus.url,
        "api_key": API_KEY,
        "audit_log": str(tmp_path / "audit.jsonl"),
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def _health(config_file: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    result = CliRunner().invoke(
        main, ["--config", str(config_file), "--output", "json", "--timeout", "2", "health"]
    )
    return result.exit_code, result.stdout + result.stderr, time.monotonic() - started


def test_health_of_a_healthy_stack(config_file: Path) -> None:
    code, output, _ = _health(config_file)
    assert code == ExitCode.HEALTHY, output
    assert _codes(json.loads(output)) == set()


def test_health_with_redis_hung(stack: Stack, config_file: Path) -> None:
    with stack.redis.paused():
        code, output, elapsed = _health(config_file)
    assert code == ExitCode.CRITICAL, output
    assert elapsed <= 2 + 1.5
    report = json.loads(output)
    assert _codes(report) == {"TRI-REDIS-001", "TRI-API-002", "TRI-QUEUE-002", "TRI-CLASSIFY-001"}
    assert PG_PASSWORD not in output
    assert API_KEY not in output
    audit = (config_file.parent / "audit.jsonl").read_text(encoding="utf-8")
    assert PG_PASSWORD not in audit and API_KEY not in audit
