"""The dependency checks against a healthy stack, and against the states they exist to
notice without anything being down: fallback mode on, degraded answers, a queue that does
or does not move, a replica that lags or was promoted, a primary in recovery, an API that
is not ready."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.ops.faults.stack import API_KEY, PG_PASSWORD, Stack
from tests.ops.faults.support import Check, run
from triage_core.service import keys
from triage_core.service.control import FallbackSwitch
from triage_core.service.queue import Queue
from triage_core.service.settings import Secret, ServiceSettings
from triage_ops.findings import Severity
from triage_ops.procedures import dependency_checks as checks
from triage_ops.sandbox.postgres import PostgresServer

pytestmark = pytest.mark.timeout(120)


def _no_secrets(text: str) -> None:
    assert PG_PASSWORD not in text
    assert API_KEY not in text


# -- healthy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "note"),
    [
        (
            checks.check_postgres_primary,
            r"PostgreSQL primary 127\.0\.0\.1:\d+/triage: SELECT 1 in ",
        ),
        (checks.check_redis, r"Redis \(cache and queue\) 127\.0\.0\.1:\d+: PING "),
        (checks.check_model_server, r"model 'email-classifier' version 1 AVAILABLE on http"),
        (checks.check_api_ready, r"API http://127\.0\.0\.1:\d+: ready \(postgres, redis, model\)"),
        (checks.check_classify, r"classify: \w+ \([0-9.]+\) by tfserving in \d+ ms"),
        (checks.check_queue_moving, r"queue \{triage-queue\}:emails on 127\.0\.0\.1:\d+: empty"),
        (checks.check_fallback_switch, r"fallback classification mode: off"),
        (
            checks.check_prometheus,
            r"Prometheus http://127\.0\.0\.1:\d+: ready, 2 of 2 target\(s\) up",
        ),
        (checks.check_postgres_replica, r"no PostgreSQL replica configured"),
    ],
)
def test_a_healthy_stack_passes_with_a_note(stack: Stack, check: Check, note: str) -> None:
    outcome = run(check, stack.config(), timeout=5)
    assert outcome.findings == []
    assert len(outcome.notes) == 1
    assert re.match(note, outcome.notes[0]), outcome.notes
    _no_secrets(outcome.text())


def test_every_check_is_registered() -> None:
    assert sorted(checks.CHECKS) == [
        "api-ready",
        "classify",
        "fallback-switch",
        "model-server",
        "postgres-primary",
        "postgres-replica",
        "prometheus",
        "queue-moving",
        "redis",
    ]


# -- thresholds ------------------------------------------------------------------------------


def test_slow_postgres_and_slow_classify(stack: Stack) -> None:
    outcome = run(checks.check_postgres_primary, stack.config(), params={"postgres_slow_ms": 0})
    finding = outcome.only()
    assert (finding.code, finding.severity) == ("TRI-DB-006", Severity.WARNING)
    assert finding.summary.endswith("to connect and answer SELECT 1 (threshold 0 ms)")
    assert finding.evidence["threshold_ms"] == 0.0

    outcome = run(checks.check_classify, stack.config(), params={"classify_max_latency_ms": 0})
    finding = outcome.only()
    assert (finding.code, finding.severity) == ("TRI-CLASSIFY-004", Severity.WARNING)
    assert finding.command == "triage-ops incident p1"
    assert finding.evidence["degraded"] is False


# -- fallback mode ---------------------------------------------------------------------------


@pytest.fixture
def switch(stack: Stack) -> Iterator[FallbackSwitch]:
    with stack.redis.client() as client:
        switch = FallbackSwitch(client, poll_s=0)
        try:
            yield switch
        finally:
            switch.set(False, reason="test over", actor="pytest")


def test_fallback_on_is_an_info_finding_and_classify_turns_degraded(
    stack: Stack, switch: FallbackSwitch
) -> None:
    record = switch.set(True, reason="model server down (INC-42)", actor="alice")
    outcome = run(checks.check_fallback_switch, stack.config())
    finding = outcome.only()
    assert (finding.code, finding.severity) == ("TRI-FALLBACK-001", Severity.INFO)
    assert finding.summary == (
        f"Fallback classification mode is ON since {record['at']}, switched by alice:"
        " model server down (INC-42)"
    )
    assert finding.evidence == {
        "address": f"127.0.0.1:{stack.redis.port}",
        "key": keys.FALLBACK_SWITCH,
        "actor": "alice",
        "reason": "model server down (INC-42)",
        "since": record["at"],
    }
    assert finding.command == "triage-ops model fallback off"

    deadline = time.monotonic() + 10  # the API re-reads the switch every 0.5 s
    while True:
        outcome = run(checks.check_classify, stack.config(), timeout=5)
        if outcome.findings or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    finding = outcome.only()
    assert (finding.code, finding.severity) == ("TRI-CLASSIFY-003", Severity.WARNING)
    assert finding.evidence["degraded"] is True
    assert finding.evidence["backend"] == "embedded"  # the stack's configured fallback
    assert finding.summary.endswith("from the fallback classifier (embedded), not the model")


# -- the queue -------------------------------------------------------------------------------


@pytest.fixture
def queue(stack: Stack) -> Iterator[Queue]:
    with stack.redis.client() as client:
        client.delete(keys.QUEUE_STREAM, keys.DEAD_LETTER_STREAM)
        try:
            yield Queue(client, settings=ServiceSettings(redis_url=Secret(stack.redis.url)))
        finally:
            client.delete(keys.QUEUE_STREAM, keys.DEAD_LETTER_STREAM)


def test_a_queue_without_a_worker_is_not_moving(stack: Stack, queue: Queue) -> None:
    queue.ensure_group()
    for n in range(3):
        queue.enqueue(f"email-{n}", b"payload")
    [delivered] = queue.read("worker-1", count=1, block_ms=0)  # taken, never acknowledged
    outcome = run(
        checks.check_queue_moving, stack.config(), params={"queue_sample_interval_s": 0.3}
    )
    finding = outcome.only()
    assert (finding.code, finding.severity) == ("TRI-QUEUE-001", Severity.CRITICAL)
    evidence = dict(finding.evidence)
    assert evidence.pop("oldest_age_s") >= 0
    assert evidence.pop("oldest_pending_age_s") >= 0
    assert evidence.pop("most_recent_consumer_idle_s") >= 0
    assert evidence == {
        "address": f"127.0.0.1:{stack.redis.port}",
        "stream": keys.QUEUE_STREAM,
        "group": keys.CONSUMER_GROUP,
        "group_exists": True,
        "depth": 3,
        "pending": 1,
        "waiting": 2,
        "acknowledged": 0,
        "interval_s": 0.3,
        "consumers": 1,
        "dead_letter": 0,
    }
    assert finding.summary.startswith(
        "Queue {triage-queue}:emails is not moving: 3 email(s) waiting, none acknowledged in"
        " 0.3 s (1 pending, oldest "
    )
    assert finding.summary.endswith("1 consumer(s), 1 recently active)")
    assert (
        finding.command == "kubectl rollout restart deployment/email-triage-worker -n email-triage"
    )
    assert delivered.email_id == "email-0"


def test_a_queue_nobody_ever_read_names_the_missing_group(stack: Stack, queue: Queue) -> None:
    queue.enqueue("email-x", b"payload")  # XADD without a consumer group
    outcome = run(
        checks.check_queue_moving, stack.config(), params={"queue_sample_interval_s": 0.1}
    )
    finding = outcome.only()
    assert finding.code == "TRI-QUEUE-001"
    assert finding.evidence["group_exists"] is False
    assert finding.summary.endswith("(no worker ever started))")


def test_a_queue_being_worked_through_is_moving(stack: Stack, queue: Queue) -> None:
    queue.ensure_group()
    for n in range(20):
        queue.enqueue(f"email-{n}", b"payload")
    stop = threading.Event()

    def worker() -> None:  # one email every 50 ms, acknowledged (XACK + XDEL)
        while not stop.is_set():
            entries = queue.read("worker-1", count=1, block_ms=0)
            queue.ack(entries)
            time.sleep(0.05)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        outcome = run(
            checks.check_queue_moving, stack.config(), params={"queue_sample_interval_s": 0.5}
        )
    finally:
        stop.set()
        thread.join()
    assert outcome.findings == []
    assert re.fullmatch(
        r"queue \{triage-queue\}:emails: depth \d+, \d+ acknowledged in 0\.5 s, 1 consumer\(s\)",
        outcome.notes[0],
    )
    acknowledged = int(outcome.notes[0].split(", ")[1].split()[0])
    assert acknowledged >= 3


# -- the replica -----------------------------------------------------------------------------


def test_a_streaming_replica_passes(stack: Stack, running_replica: PostgresServer) -> None:
    outcome = run(
        checks.check_postgres_replica, stack.config(database_replica_url=running_replica.url())
    )
    assert outcome.findings == []
    assert outcome.notes == [
        f"PostgreSQL replica 127.0.0.1:{running_replica.port}/triage: in recovery, replay lag 0 s"
    ]


def test_a_lagging_replica(stack: Stack, running_replica: PostgresServer) -> None:
    """Replay paused, the primary writes on: WAL arrives and waits, the last replayed
    transaction ages. (The test primary commits asynchronously: wait on the insert LSN.)"""
    with (
        psycopg.connect(stack.database_url, autocommit=True) as primary,
        psycopg.connect(running_replica.url(), autocommit=True) as standby,
    ):
        primary.execute("CREATE TABLE IF NOT EXISTS lag_probe (n int)")
        primary.execute("INSERT INTO lag_probe VALUES (1)")
        _wait_replayed(primary, standby)
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            time.sleep(1.2)
            primary.execute("INSERT INTO lag_probe VALUES (2)")
            _wait_received(primary, standby)
            outcome = run(
                checks.check_postgres_replica,
                stack.config(database_replica_url=running_replica.url()),
                params={"replica_max_lag_s": 1},
            )
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
            primary.execute("DROP TABLE lag_probe")
    finding = outcome.only()
    assert (finding.code, finding.severity) == ("TRI-DB-013", Severity.WARNING)
    assert finding.evidence["lag_s"] >= 1.0
    assert finding.evidence["receive_lsn"] != finding.evidence["replay_lsn"]
    assert finding.summary.startswith(
        f"PostgreSQL replica at 127.0.0.1:{running_replica.port}/triage lags "
    )
    assert finding.summary.endswith("s behind the primary (threshold 1 s)")


def _wait_replayed(
    primary: psycopg.Connection[tuple[object, ...]], standby: psycopg.Connection[tuple[object, ...]]
) -> None:
    row = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
    assert row is not None
    for _ in range(200):
        done = standby.execute(
            "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
            " AND pg_last_xact_replay_timestamp() IS NOT NULL",
            (row[0],),
        ).fetchone()
        if done and done[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the replica never replayed")


def _wait_received(
    primary: psycopg.Connection[tuple[object, ...]], standby: psycopg.Connection[tuple[object, ...]]
) -> None:
    row = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()
    assert row is not None
    for _ in range(200):
        done = standby.execute(
            "SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn", (row[0],)
        ).fetchone()
        if done and done[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the replica never received the WAL")


def test_a_primary_in_recovery_and_a_replica_that_is_not(
    stack: Stack, running_replica: PostgresServer
) -> None:
    outcome = run(checks.check_postgres_primary, stack.config(database_url=running_replica.url()))
    finding = outcome.only()
    assert (finding.code, finding.severity) == ("TRI-DB-005", Severity.CRITICAL)
    assert finding.summary == (
        f"PostgreSQL primary at 127.0.0.1:{running_replica.port}/triage is in recovery"
        " (read-only): the service cannot write"
    )

    outcome = run(
        checks.check_postgres_replica, stack.config(database_replica_url=stack.database_url)
    )
    finding = outcome.only()
    assert (finding.code, finding.severity) == ("TRI-DB-012", Severity.WARNING)
    assert finding.summary == (
        f"PostgreSQL replica at 127.0.0.1:{stack.postgres.port}/triage is not in recovery:"
        " it no longer follows the primary"
    )
    _no_secrets(outcome.text())


# -- readiness -------------------------------------------------------------------------------


def test_an_api_that_is_not_ready_names_the_failed_dependency(stack: Stack) -> None:
    with stack.redis.paused():
        outcome = run(checks.check_api_ready, stack.config(), timeout=4)
    finding = outcome.only()
    assert (finding.code, finding.severity) == ("TRI-API-002", Severity.CRITICAL)
    assert finding.summary == (f"API at {stack.api.url} is not ready: redis (timed out after 1s)")
    assert finding.evidence["failed"] == ["redis"]
    assert finding.evidence["checks"]["postgres"]["ok"] is True
    assert outcome.elapsed_s < 4
