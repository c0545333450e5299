"""Fault injection on the data stores: PostgreSQL (primary and replica) and Redis (cache,
queue, the fallback switch on it), each stopped, paused (SIGSTOP) and black-holed, gives
its check's finding with the catalogue's severity within the timeout plus 1.5 s; never a
traceback, never a secret (the DSN's password, the API key) in what the user sees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.faults.injectors import pg_url, postgres_fault, redis_fault
from tests.ops.faults.stack import PG_PASSWORD, Stack
from tests.ops.faults.support import SLACK_S, expect, run
from triage_ops.findings import Finding, Severity
from triage_ops.procedures import dependency_checks as checks
from triage_ops.sandbox.postgres import PostgresServer
from triage_ops.sandbox.processes import HOST
from triage_ops.sandbox.redis import RedisServer, start_redis

pytestmark = pytest.mark.timeout(120)

PG_TIMEOUT = 2.0  # psycopg waits 2 s at least, whatever connect_timeout says
REDIS_TIMEOUT = 1.0


def _port(url: str) -> int:
    return int(url.split("@")[-1].split("//")[-1].split("/")[0].rsplit(":", 1)[1])


# -- PostgreSQL primary ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code", "how"),
    [
        ("stopped", "TRI-DB-001", "is down (connection refused)"),
        ("paused", "TRI-DB-002", "did not answer within 2 s (timed out)"),
        ("black-holed", "TRI-DB-002", "did not answer within 2 s (timed out)"),
    ],
)
def test_postgres_primary(
    stack: Stack, fault_postgres: PostgresServer, kind: str, code: str, how: str
) -> None:
    with postgres_fault(fault_postgres, kind) as url:
        outcome = run(
            checks.check_postgres_primary, stack.config(database_url=url), timeout=PG_TIMEOUT
        )
    finding = expect(outcome, code, Severity.CRITICAL, timeout=PG_TIMEOUT)
    port = _port(url)
    assert finding.summary == f"PostgreSQL primary at {HOST}:{port}/triage {how}"
    assert finding.evidence["address"] == f"{HOST}:{port}/triage"
    assert "Engage the DBA team" in finding.action
    assert "read replica" in finding.action
    healthy = stack.config(database_url=fault_postgres.url())
    assert run(checks.check_postgres_primary, healthy).findings == []  # and back again


def test_postgres_wrong_password(stack: Stack, fault_postgres: PostgresServer) -> None:
    wrong = "Not-" + PG_PASSWORD
    outcome = run(
        checks.check_postgres_primary,
        stack.config(database_url=pg_url(fault_postgres.port, wrong)),
        timeout=PG_TIMEOUT,
    )
    finding = expect(outcome, "TRI-DB-003", Severity.CRITICAL, timeout=PG_TIMEOUT)
    assert wrong not in outcome.text()
    assert finding.summary == (
        f"PostgreSQL primary at {HOST}:{fault_postgres.port}/triage refused the configured"
        " credentials"
    )


def test_postgres_missing_database(stack: Stack, fault_postgres: PostgresServer) -> None:
    url = fault_postgres.url("no_such_db")
    outcome = run(checks.check_postgres_primary, stack.config(database_url=url))
    finding = expect(outcome, "TRI-DB-004", Severity.CRITICAL, timeout=PG_TIMEOUT)
    assert 'database "no_such_db" does not exist' in finding.summary


# -- PostgreSQL replica ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "how"),
    [
        ("stopped", "does not answer (connection refused)"),
        ("paused", "does not answer within 2 s (timed out)"),
        ("black-holed", "does not answer within 2 s (timed out)"),
    ],
)
def test_postgres_replica(
    stack: Stack, running_replica: PostgresServer, kind: str, how: str
) -> None:
    with postgres_fault(running_replica, kind) as url:
        outcome = run(
            checks.check_postgres_replica,
            stack.config(database_replica_url=url),
            timeout=PG_TIMEOUT,
        )
    finding = expect(outcome, "TRI-DB-011", Severity.WARNING, timeout=PG_TIMEOUT)
    assert finding.summary == f"PostgreSQL replica at {HOST}:{_port(url)}/triage {how}"


# -- Redis -----------------------------------------------------------------------------------

REDIS_FAULTS = [
    ("stopped", "(connection refused)"),
    ("paused", "within 1 s (timed out)"),
    ("black-holed", "within 1 s (timed out)"),
]


@pytest.mark.parametrize(("kind", "how"), REDIS_FAULTS)
def test_redis(stack: Stack, fault_redis: RedisServer, kind: str, how: str) -> None:
    with redis_fault(fault_redis, kind) as url:
        outcome = run(checks.check_redis, stack.config(redis_url=url), timeout=REDIS_TIMEOUT)
    finding = expect(outcome, "TRI-REDIS-001", Severity.CRITICAL, timeout=REDIS_TIMEOUT)
    assert finding.summary == (
        f"Redis at {HOST}:{_port(url)} (cache and queue) did not answer PING {how}"
    )
    assert finding.command == "triage-ops cache flush --dry-run"
    assert "never FLUSHDB" in finding.action


@pytest.mark.parametrize(("kind", "how"), REDIS_FAULTS)
def test_a_separate_queue_redis_gets_its_own_finding(
    stack: Stack, fault_redis: RedisServer, kind: str, how: str
) -> None:
    with redis_fault(fault_redis, kind) as url:
        outcome = run(checks.check_redis, stack.config(queue_redis_url=url), timeout=REDIS_TIMEOUT)
    finding = expect(outcome, "TRI-REDIS-002", Severity.CRITICAL, timeout=REDIS_TIMEOUT)
    assert finding.summary == f"Redis at {HOST}:{_port(url)} (queue) did not answer PING {how}"
    assert finding.evidence["role"] == "queue"
    assert len(outcome.notes) == 1
    assert outcome.notes[0].startswith(f"Redis (cache) {HOST}:{stack.redis.port}: PING ")


def test_two_hung_redis_cost_one_timeout(stack: Stack) -> None:
    with black_hole() as cache, black_hole() as queue:
        config = stack.config(
            redis_url=f"redis://{HOST}:{cache}/0", queue_redis_url=f"redis://{HOST}:{queue}/0"
        )
        outcome = run(checks.check_redis, config, timeout=REDIS_TIMEOUT)
    assert outcome.codes == ["TRI-REDIS-001", "TRI-REDIS-002"]
    assert outcome.elapsed_s <= REDIS_TIMEOUT + SLACK_S


def test_redis_wrong_password(stack: Stack, tmp_path: Path) -> None:
    secret = "redis-" + PG_PASSWORD
    with start_redis(tmp_path / "auth", password=secret) as server:
        url = f"redis://:wrong-{secret}@{HOST}:{server.port}/0"
        outcome = run(checks.check_redis, stack.config(redis_url=url), timeout=REDIS_TIMEOUT)
    finding = expect(outcome, "TRI-REDIS-003", Severity.CRITICAL, timeout=REDIS_TIMEOUT)
    assert secret not in outcome.text()
    assert finding.summary == (
        f"Redis at {HOST}:{server.port} (cache and queue) refused the configured credentials"
    )


@pytest.mark.parametrize(("kind", "how"), REDIS_FAULTS)
@pytest.mark.parametrize(
    ("check", "code", "subject"),
    [
        (checks.check_queue_moving, "TRI-QUEUE-002", "The queue on Redis at"),
        (checks.check_fallback_switch, "TRI-FALLBACK-002", "The fallback switch on Redis at"),
    ],
)
def test_queue_and_switch_checks_say_they_could_not_look(
    stack: Stack,
    fault_redis: RedisServer,
    kind: str,
    how: str,
    check: Callable[..., list[Finding]],
    code: str,
    subject: str,
) -> None:
    with redis_fault(fault_redis, kind) as url:
        outcome = run(check, stack.config(redis_url=url), timeout=REDIS_TIMEOUT)
    finding = expect(outcome, code, Severity.UNKNOWN, timeout=REDIS_TIMEOUT)
    assert finding.summary.startswith(f"{subject} {HOST}:{_port(url)} could not be ")
    assert finding.summary.endswith(how)
