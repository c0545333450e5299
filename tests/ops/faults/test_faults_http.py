"""Fault injection on the HTTP dependencies: the model server, the API and Prometheus,
each stopped and black-holed; credentials refused; nothing configured; and every
dependency hung at once. Each gives its check's finding with the catalogue's severity
within the timeout plus 1.5 s; never a traceback, never a secret."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.faults.injectors import http_fault, pg_url
from tests.ops.faults.stack import API_KEY, PG_PASSWORD, Stack, start_prometheus
from tests.ops.faults.support import Outcome, expect, run
from triage_ops.config import OpsConfig
from triage_ops.findings import Finding, Severity
from triage_ops.procedures import dependency_checks as checks
from triage_ops.sandbox.processes import HOST, free_port

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 1.0
HTTP_FAULTS = [("stopped", "(connection refused)"), ("black-holed", "within 1 s (timed out)")]


@pytest.mark.parametrize(("kind", "how"), HTTP_FAULTS)
def test_model_server(stack: Stack, kind: str, how: str) -> None:
    with http_fault(kind) as url:
        outcome = run(
            checks.check_model_server, stack.config(model_server_url=url), timeout=TIMEOUT
        )
    finding = expect(outcome, "TRI-MODEL-001", Severity.CRITICAL, timeout=TIMEOUT)
    assert finding.summary == f"The model server at {url} did not answer {how}"
    assert finding.command == "triage-ops model fallback on"


def test_model_not_served(stack: Stack) -> None:
    outcome = run(checks.check_model_server, stack.config(model_name="email-classifier-v9"))
    finding = expect(outcome, "TRI-MODEL-002", Severity.CRITICAL, timeout=2.0)
    assert finding.summary == (
        f"The model server at {stack.model_server.url} does not serve model 'email-classifier-v9'"
    )
    assert finding.command == "triage-ops model fallback on"


@pytest.mark.parametrize(("kind", "how"), HTTP_FAULTS)
def test_api(stack: Stack, kind: str, how: str) -> None:
    with http_fault(kind) as url:
        ready = run(checks.check_api_ready, stack.config(api_url=url), timeout=TIMEOUT)
        classify = run(checks.check_classify, stack.config(api_url=url), timeout=TIMEOUT)
    finding = expect(ready, "TRI-API-001", Severity.CRITICAL, timeout=TIMEOUT)
    assert finding.summary == f"API at {url} did not answer /readyz {how}"
    finding = expect(classify, "TRI-CLASSIFY-001", Severity.CRITICAL, timeout=TIMEOUT)
    assert finding.summary == f"POST /v1/classify to the API at {url} got no answer {how}"


def test_api_key_refused_or_missing(stack: Stack) -> None:
    wrong = "wrong-" + API_KEY
    outcome = run(checks.check_classify, stack.config(api_key=wrong))
    finding = expect(outcome, "TRI-CLASSIFY-005", Severity.UNKNOWN, timeout=2.0)
    assert wrong not in outcome.text()
    assert finding.evidence["reason"] == "authentication failed"
    outcome = run(checks.check_classify, stack.config(api_key=""))
    finding = expect(outcome, "TRI-CLASSIFY-005", Severity.UNKNOWN, timeout=2.0)
    assert finding.evidence["error"].endswith(
        "an API key is required (set api_key / TRIAGE_OPS_API_KEY) (POST /v1/classify)"
    )


def test_prometheus_targets_down_then_prometheus_stopped(stack: Stack, tmp_path: Path) -> None:
    dead = free_port()
    server = start_prometheus(tmp_path / "prom", scrape={"email-triage-worker": [f"{HOST}:{dead}"]})
    config = stack.config(prometheus_url=server.url)
    try:
        deadline = time.monotonic() + 20
        outcome = run(checks.check_prometheus, config, timeout=TIMEOUT)
        while not outcome.findings and time.monotonic() < deadline:  # until the first scrape
            time.sleep(0.2)
            outcome = run(checks.check_prometheus, config, timeout=TIMEOUT)
        finding = expect(outcome, "TRI-PROM-011", Severity.WARNING, timeout=TIMEOUT)
        assert re.fullmatch(
            rf"Prometheus at {server.url}: 1 of 2 scrape target\(s\) down:"
            rf" email-triage-worker {HOST}:{dead}",
            finding.summary,
        )
        [down] = finding.evidence["down"]
        assert "connection refused" in down["last_error"]
    finally:
        server.stop()
    outcome = run(checks.check_prometheus, config, timeout=TIMEOUT)
    finding = expect(outcome, "TRI-PROM-010", Severity.WARNING, timeout=TIMEOUT)
    assert finding.summary == f"Prometheus at {server.url} did not answer (connection refused)"


def test_prometheus_black_holed(stack: Stack) -> None:
    with http_fault("black-holed") as url:
        outcome = run(checks.check_prometheus, stack.config(prometheus_url=url), timeout=TIMEOUT)
    finding = expect(outcome, "TRI-PROM-010", Severity.WARNING, timeout=TIMEOUT)
    assert finding.summary == f"Prometheus at {url} did not answer within 1 s (timed out)"


# -- nothing configured ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "setting"),
    [
        (checks.check_postgres_primary, "database_url"),
        (checks.check_redis, "redis_url"),
        (checks.check_model_server, "model_server_url"),
        (checks.check_api_ready, "api_url"),
        (checks.check_classify, "api_url"),
        (checks.check_queue_moving, "redis_url"),
        (checks.check_fallback_switch, "redis_url"),
    ],
)
def test_not_configured_is_unknown_not_a_crash(
    check: Callable[..., list[Finding]], setting: str
) -> None:
    config = OpsConfig().merged({"api_url": "", "model_server_url": ""}, where="test")
    outcome = run(check, config)
    finding = expect(outcome, "TRI-DEP-001", Severity.UNKNOWN, timeout=1.0)
    assert finding.evidence["setting"] == setting
    assert f"no {setting} configured" in finding.summary


def test_an_invalid_database_url_is_unknown_and_quotes_no_password() -> None:
    config = OpsConfig().merged(
        {"database_url": f"postgresql://u:{PG_PASSWORD}@db:5432/triage?bogus_option=1"},
        where="test",
    )
    outcome = run(checks.check_postgres_primary, config)
    finding = expect(outcome, "TRI-DEP-001", Severity.UNKNOWN, timeout=1.0)
    assert finding.summary.startswith("PostgreSQL primary not checked: invalid database URL")


def test_optional_dependencies_not_configured_are_notes() -> None:
    for check in (checks.check_postgres_replica, checks.check_prometheus):
        outcome = run(check, OpsConfig())
        assert outcome.findings == []
        assert outcome.notes[0].endswith(": not checked")


# -- everything hung at once -----------------------------------------------------------------


def test_everything_black_holed_every_check_answers_in_time(stack: Stack) -> None:
    """The P0 situation of the issue's benchmark: every dependency hung, the checks run
    side by side as the engine runs independent checks. Each answers within its own
    timeout, with its finding."""
    with contextlib.ExitStack() as holes:
        ports = [holes.enter_context(black_hole()) for _ in range(6)]
        settings: dict[str, Any] = {
            "database_url": pg_url(ports[0]),
            "database_replica_url": pg_url(ports[1]),
            "redis_url": f"redis://:{PG_PASSWORD}@{HOST}:{ports[2]}/0",
            "model_server_url": f"http://{HOST}:{ports[3]}",
            "api_url": f"http://{HOST}:{ports[4]}",
            "prometheus_url": f"http://{HOST}:{ports[5]}",
        }
        config = stack.config(**settings)
        timeout = 2.0  # PostgreSQL's floor
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(checks.CHECKS)) as pool:
            futures = {
                name: pool.submit(run, check, config, timeout=timeout)
                for name, check in checks.CHECKS.items()
            }
            outcomes: dict[str, Outcome] = {name: f.result() for name, f in futures.items()}
        wall = time.monotonic() - started
    found = {
        name: expect(o, o.codes[0], o.findings[0].severity, timeout=timeout).code
        for name, o in outcomes.items()
    }
    assert found == {
        "postgres-primary": "TRI-DB-002",
        "postgres-replica": "TRI-DB-011",
        "redis": "TRI-REDIS-001",
        "model-server": "TRI-MODEL-001",
        "api-ready": "TRI-API-001",
        "classify": "TRI-CLASSIFY-001",
        "queue-moving": "TRI-QUEUE-002",
        "fallback-switch": "TRI-FALLBACK-002",
        "prometheus": "TRI-PROM-010",
    }
    assert wall <= timeout + 1.5
