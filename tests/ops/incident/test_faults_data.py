"""Fault injection, the data stores: Redis and PostgreSQL stopped and black-holed, each
named by its own finding with the right exit code within --timeout, never a traceback.

Redis is black-holed two ways: a config pointing at a black hole, and the sandbox's own
Redis paused with SIGSTOP (what the API and the worker then go through as well)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.conftest import RunningSandbox
from tests.ops.incident.conftest import (
    FAULT_TIMEOUT_S,
    SLACK_S,
    assert_clean_stderr,
    config_copy,
    redis_paused,
    triage_ops,
)
from tests.ops.incident.faults import POSTGRES_HUNG, POSTGRES_STOPPED, REDIS, Fault, check_fault_run
from triage_ops.sandbox.processes import free_port

TIMEOUT = ("--timeout", f"{FAULT_TIMEOUT_S:g}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (REDIS, "stopped"),
        (REDIS, "black-holed"),
        (POSTGRES_STOPPED, "stopped"),
        (POSTGRES_HUNG, "black-holed"),
    ],
    ids=["redis-stopped", "redis-black-holed", "postgres-stopped", "postgres-black-holed"],
)
def test_p0_names_the_dead_store(
    sandbox: RunningSandbox, tmp_path: Path, fault: Fault, kind: str
) -> None:
    if kind == "stopped":
        port = free_port()  # nothing listens there: connection refused
        config = config_copy(sandbox, tmp_path, **fault.settings(sandbox, tmp_path, port))
        run = triage_ops(config, *TIMEOUT, "--output", "json", "incident", fault.runbook)
    else:
        with black_hole() as port:
            config = config_copy(sandbox, tmp_path, **fault.settings(sandbox, tmp_path, port))
            run = triage_ops(config, *TIMEOUT, "--output", "json", "incident", fault.runbook)

    check_fault_run(run, fault, kind, port)


@pytest.mark.timeout(90)
def test_p0_with_the_sandboxs_redis_paused(sandbox: RunningSandbox, tmp_path: Path) -> None:
    config = config_copy(sandbox, tmp_path)
    with redis_paused(sandbox):
        run = triage_ops(config, *TIMEOUT, "--output", "json", "incident", "p0")

    assert_clean_stderr(run)
    assert run.seconds < FAULT_TIMEOUT_S + SLACK_S, (run.seconds, run.err)
    assert run.code == 2
    report = run.report()
    by_step = report.by_step()
    assert by_step["redis"] == ["TRI-REDIS-001"]
    redis_finding = report.finding("TRI-REDIS-001")
    assert redis_finding["severity"] == "critical"
    assert redis_finding["summary"].endswith(
        f"(cache and queue) did not answer PING within {FAULT_TIMEOUT_S:g} s (timed out)"
    )
    assert redis_finding["command"] == "triage-ops cache flush --dry-run"  # never FLUSHDB
    assert by_step["fallback-switch"] == ["TRI-FALLBACK-002"]
    assert by_step["validate-queue"] == ["TRI-QUEUE-002"]
    # the API itself waits on the paused Redis: its readiness names it, and no restart of
    # the API is offered for a dependency's outage
    assert by_step["api-ready"] == ["TRI-API-002"]
    assert "redis" in report.finding("TRI-API-002")["evidence"]["failed"]
    assert report.steps()["restart-api"] == "skipped"
    # what does not depend on Redis stays healthy
    for step in ("pods", "rollouts", "services", "postgres-primary", "model-server"):
        assert report.steps()[step] == "ok", step
    assert "TRI-ENGINE-001" not in report.codes()  # nothing abandoned: every client timed out


@pytest.mark.timeout(90)
def test_health_with_the_sandboxs_redis_paused(sandbox: RunningSandbox, tmp_path: Path) -> None:
    config = config_copy(sandbox, tmp_path)
    with redis_paused(sandbox):
        run = triage_ops(config, *TIMEOUT, "--output", "json", "health")

    assert_clean_stderr(run)
    assert run.seconds < FAULT_TIMEOUT_S + SLACK_S, (run.seconds, run.err)
    assert run.code == 2
    by_step = run.report().by_step()
    assert by_step["redis"] == ["TRI-REDIS-001"]
    assert by_step["queue"] == ["TRI-QUEUE-002"]
    assert "postgres" not in by_step and "model" not in by_step
