"""The worker as a real process (`python -m triage_core.service.worker`): SIGTERM finishes
the batch, and `kill -9` in the middle of a batch, round after round, loses no email and
stores none twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.service.redis.servers import RedisServer, free_port
from tests.service.worker.conftest import sample_payloads
from triage_core.service import keys
from triage_core.service.queue import Queue
from triage_core.service.redis_clients import connect
from triage_core.service.settings import ServiceSettings
from triage_core.service.store import Store

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Workers:
    """Worker processes started by one test; whatever is left is killed at the end."""

    def __init__(self, settings: ServiceSettings, logs: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.env.update(
            {
                "TRIAGE_DATABASE_URL": str(settings.database_url),
                "TRIAGE_REDIS_URL": str(settings.redis_url),
                "TRIAGE_QUEUE_CLAIM_IDLE_MS": "300",
                "TRIAGE_QUEUE_MAX_ATTEMPTS": "50",  # kills must not dead-letter anything
                "TRIAGE_WORKER_BATCH_SIZE": "50",
                "TRIAGE_WORKER_BLOCK_MS": "100",
                "TRIAGE_DATABASE_POOL_MIN": "1",
                "TRIAGE_DATABASE_POOL_MAX": "2",
            }
        )
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, consumer: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{consumer}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "triage_core.service.worker", "--consumer", consumer, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.started.append(process)
        return process

    def log(self, consumer: str) -> str:
        return (self.logs / f"{consumer}.log").read_text(errors="replace")

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def workers(settings: ServiceSettings, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(settings, tmp_path)
    try:
        yield group
    finally:
        group.kill_all()


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.002)
    raise AssertionError(f"{what}: not within {seconds} s")


def consumers(redis_server: RedisServer) -> dict[str, int]:
    """Pending entries per consumer of the group, as Redis sees them."""
    with redis_server.client() as client:
        try:
            rows: list[dict[str, Any]] = client.xinfo_consumers(
                keys.QUEUE_STREAM, keys.CONSUMER_GROUP
            )
        except Exception:  # no stream or group yet
            return {}
    return {row["name"].decode(): int(row["pending"]) for row in rows}


def enqueue(store: Store, queue: Queue, payloads: list[tuple[str, bytes]]) -> None:
    for message_id, payload in payloads:
        email_id, created = store.enqueue(message_id)
        assert created
        queue.enqueue(email_id, payload)


def counts(url: str) -> tuple[int, int, int, dict[str, int]]:
    with psycopg.connect(url) as conn:
        total, distinct, ids = conn.execute(
            "SELECT count(*), count(DISTINCT message_id), count(DISTINCT id) FROM emails"
        ).fetchone() or (0, 0, 0)
        by_status: dict[str, int] = dict(
            conn.execute("SELECT status, count(*) FROM emails GROUP BY status").fetchall()
        )
    return int(total), int(distinct), int(ids), {str(k): int(v) for k, v in by_status.items()}


@pytest.fixture
def producer(settings: ServiceSettings) -> Iterator[tuple[Store, Queue]]:
    client = connect(settings.redis_url, cluster=False, timeout_s=2.0)
    queue = Queue(client, settings=settings)
    queue.ensure_group()
    with Store(settings) as store:
        yield store, queue
    client.close()


def test_sigterm_finishes_the_batch_and_exits_cleanly(
    workers: Workers,
    producer: tuple[Store, Queue],
    redis_server: RedisServer,
    database_url: str,
) -> None:
    store, queue = producer
    enqueue(store, queue, sample_payloads(1000, prefix="term"))
    port = free_port()
    worker = workers.start("graceful", "--metrics-port", str(port), "--metrics-host", "127.0.0.1")
    scraped: list[str] = []

    def counted() -> bool:  # its own /metrics shows the results it has committed
        try:
            scraped[:] = [httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text]
        except httpx.TransportError:  # not listening yet
            return False
        return processed_total(scraped[0]) >= 1

    wait_for(counted, seconds=20, what="a result in /metrics")
    assert "email_processing_duration_seconds_bucket{" in scraped[0]
    wait_for(lambda: consumers(redis_server).get("graceful", 0) > 0, seconds=20, what="a batch")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert consumers(redis_server)["graceful"] == 0  # its last batch was acknowledged
    total, _, _, by_status = counts(database_url)
    assert total == 1000
    assert by_status.get("processing", 0) == 0  # nothing left half-done
    assert by_status["processed"] >= 50
    assert by_status["processed"] + by_status.get("queued", 0) == 1000
    assert queue.stats().depth == by_status.get("queued", 0)
    log = workers.log("graceful")
    assert "signal SIGTERM: finishing the current batch" in log
    assert "worker graceful stopped" in log
    assert "Traceback" not in log


def processed_total(exposition: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("emails_processed_total{")
    )


def test_a_missing_database_url_is_one_line_and_exit_4(workers: Workers) -> None:
    workers.env["TRIAGE_DATABASE_URL"] = ""
    worker = workers.start("unconfigured")
    assert worker.wait(timeout=20) == 4
    assert workers.log("unconfigured") == (
        "triage worker: error: no database URL: set TRIAGE_DATABASE_URL\n"
    )


def test_the_click_command_reports_a_missing_database_url() -> None:
    from click.testing import CliRunner

    from triage_core.cli.worker import worker

    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    result = CliRunner().invoke(worker, [], env={"TRIAGE_DATABASE_URL": ""})
    assert (result.exit_code, result.stdout) == (4, "")
    assert result.stderr == "triage: error: no database URL: set TRIAGE_DATABASE_URL\n"
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers


def test_kill_9_mid_batch_in_a_loop_loses_nothing_and_duplicates_nothing(
    workers: Workers,
    producer: tuple[Store, Queue],
    redis_server: RedisServer,
    database_url: str,
) -> None:
    store, queue = producer
    rounds, per_round = 5, 300
    rng = random.Random(20240603)

    def kill_mid_batch(round_no: int) -> int:
        """Starts a victim, feeds it, SIGKILLs it holding a batch; returns its pending."""
        name = f"victim-{round_no}"
        # a backlog first, so that the victim reads full batches from its first read on
        enqueue(store, queue, sample_payloads(per_round, prefix=f"kill{round_no}"))
        committed = counts(database_url)[3].get("processed", 0)
        victim = workers.start(name)
        if round_no % 2:  # odd rounds: let at least one of its batches commit first
            wait_for(
                lambda: counts(database_url)[3].get("processed", 0) > committed,
                seconds=30,
                what=f"{name} committing",
            )
        wait_for(lambda: consumers(redis_server).get(name, 0) > 0, seconds=30, what=f"{name} busy")
        time.sleep(rng.uniform(0, 0.004))
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=10) == -signal.SIGKILL
        return consumers(redis_server)[name]

    killed_with_pending = [kill_mid_batch(round_no) for round_no in range(rounds)]
    # every victim died holding read, unacknowledged entries: it was mid-batch
    assert all(pending > 0 for pending in killed_with_pending), killed_with_pending

    survivor = workers.start("survivor")
    total_expected = rounds * per_round
    wait_for(
        lambda: counts(database_url)[3].get("processed", 0) == total_expected,
        seconds=30,
        what="every email processed",
    )
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=15) == 0

    total, distinct_message_ids, distinct_ids, by_status = counts(database_url)
    assert (total, distinct_message_ids, distinct_ids) == (total_expected,) * 3
    assert by_status == {"processed": total_expected}
    stats = queue.stats()
    assert (stats.undelivered, stats.pending, stats.dead_letter) == (0, 0, 0)
    with psycopg.connect(database_url) as conn:
        missing = conn.execute(
            "SELECT count(*) FROM emails WHERE result IS NULL OR result->>'message_id' IS NULL"
        ).fetchone()
    assert missing == (0,)
    assert "Traceback" not in workers.log("survivor")
