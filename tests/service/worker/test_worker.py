"""The worker in this process against a real PostgreSQL and a real Redis (and a Redis
Cluster): every email ends in exactly one row, processed or failed, and is acknowledged
only after its commit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from tests.service.worker.conftest import sample_payloads
from triage_core.pipeline import Pipeline
from triage_core.result import TriageResult
from triage_core.service.queue import Queue, QueueUnavailable
from triage_core.service.redis_clients import connect
from triage_core.service.settings import ServiceSettings
from triage_core.service.store import Store
from triage_core.service.worker import (
    BatchOutcome,
    PayloadError,
    Worker,
    decode_payload,
    run_worker,
)


@contextmanager
def running(
    settings: ServiceSettings, *, pipeline: Any = None, consumer: str = "w1"
) -> Iterator[Worker]:
    client = connect(settings.redis_url, cluster=settings.redis_cluster, timeout_s=2.0)
    queue = Queue(client, settings=settings)
    queue.ensure_group()
    with Store(settings) as store:
        yield Worker(
            settings=settings,
            consumer=consumer,
            store=store,
            queue=queue,
            pipeline=pipeline or Pipeline(),
            stop=threading.Event(),
        )
    client.close()


def enqueue(worker: Worker, payloads: list[tuple[str, bytes]]) -> dict[str, str]:
    """Like the API: the row first, then the stream entry. Returns message_id -> id."""
    ids = {}
    for message_id, payload in payloads:
        email_id, created = worker.store.enqueue(message_id)
        assert created
        worker.queue.enqueue(email_id, payload)
        ids[message_id] = email_id
    return ids


def drain(worker: Worker, *, batches: int = 100) -> BatchOutcome:
    total = BatchOutcome()
    for _ in range(batches):
        outcome = worker.run_once()
        if outcome.read == 0:
            return total
        total.read += outcome.read
        total.saved += outcome.saved
        total.retried += outcome.retried
        total.dead_lettered += outcome.dead_lettered
    raise AssertionError(f"queue not drained after {batches} batches: {total}")


def table(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


# -- payloads ----------------------------------------------------------------------------


def test_decode_payload_tells_raw_from_json() -> None:
    assert decode_payload(b"Subject: hi\r\n\r\nbody") == b"Subject: hi\r\n\r\nbody"
    assert decode_payload(b'{"subject": "hi", "body": "x"}') == {"subject": "hi", "body": "x"}
    assert decode_payload(b' {"subject": "hi"}') == b' {"subject": "hi"}'  # raw, oddly
    assert decode_payload(b"{}") == {}
    with pytest.raises(PayloadError) as bad_json:
        decode_payload(b"{not json")
    assert str(bad_json.value) == (
        "payload is not valid JSON: Expecting property name enclosed in double quotes:"
        " line 1 column 2 (char 1)"
    )
    with pytest.raises(PayloadError) as bad_bytes:
        decode_payload(b"{\xff}")
    assert str(bad_bytes.value) == (
        "payload is not valid JSON: 'utf-8' codec can't decode byte 0xff in position 1:"
        " invalid start byte"
    )


# -- the happy path ----------------------------------------------------------------------


def test_every_enqueued_email_becomes_one_processed_row(
    settings: ServiceSettings, database_url: str
) -> None:
    payloads = sample_payloads(45, prefix="happy")
    with running(settings) as worker:
        ids = enqueue(worker, payloads)
        outcome = drain(worker)
        stats = worker.queue.stats()
    assert (outcome.read, outcome.saved, outcome.retried, outcome.dead_lettered) == (45, 45, 0, 0)
    assert (stats.undelivered, stats.pending, stats.dead_letter) == (0, 0, 0)
    assert table(database_url, "SELECT status, count(*), min(attempts), max(attempts)"
                 " FROM emails GROUP BY status") == [("processed", 45, 1, 1)]  # fmt: skip
    expected = Pipeline()
    with psycopg.connect(database_url) as conn:
        stored = {
            str(row[0]): row[1:]
            for row in conn.execute("SELECT id, category, priority, summary, result FROM emails")
        }
    for message_id, payload in payloads:
        category, priority, summary, got = stored[ids[message_id]]
        want = expected.triage(decode_payload(payload)).to_dict()
        assert (category, priority, summary) == (
            want["category"],
            want["priority"],
            want["summary"],
        )
        want.pop("timings_ms"), got.pop("timings_ms")  # the only field that differs per run
        assert got == want
        assert got["message_id"] == message_id


def test_run_worker_stops_when_asked(settings: ServiceSettings, database_url: str) -> None:
    stop = threading.Event()
    with running(settings) as producer:
        enqueue(producer, sample_payloads(12, prefix="thread"))
        thread = threading.Thread(
            target=run_worker, args=(settings,), kwargs={"consumer": "t1", "stop": stop}
        )
        thread.start()
        try:
            _wait_for(lambda: producer.store.status_counts()["processed"] == 12, seconds=20)
        finally:
            stop.set()
            thread.join(timeout=10)
        assert not thread.is_alive()
        assert producer.queue.stats().depth == 0


def test_a_redis_cluster_works_the_same(cluster_settings: ServiceSettings) -> None:
    with running(cluster_settings) as worker:
        enqueue(worker, sample_payloads(25, prefix="cluster"))
        outcome = drain(worker)
        assert (outcome.saved, outcome.dead_lettered) == (25, 0)
        assert worker.store.status_counts() == {
            "queued": 0,
            "processing": 0,
            "processed": 25,
            "failed": 0,
        }
        assert worker.queue.stats().depth == 0


# -- failures ----------------------------------------------------------------------------


def test_an_undecodable_payload_is_failed_and_dead_lettered_at_once(
    settings: ServiceSettings,
) -> None:
    with running(settings) as worker:
        ids = enqueue(worker, [("<bad@x>", b"{oops"), *sample_payloads(3, prefix="ok")])
        outcome = drain(worker)
        assert (outcome.saved, outcome.dead_lettered, outcome.retried) == (3, 1, 0)
        record = worker.store.get(ids["<bad@x>"])
        assert record is not None
        assert (record.status, record.attempts) == ("failed", 1)
        assert record.error == (
            "payload is not valid JSON: Expecting property name enclosed in double quotes:"
            " line 1 column 2 (char 1)"
        )
        dead = worker.queue.dead_letters()
        assert [(d["email_id"], d["reason"], d["attempts"]) for d in dead] == [
            (ids["<bad@x>"], record.error, "1")
        ]
        assert worker.queue.stats().depth == 0


class FlakyPipeline:
    """The real pipeline, except that it raises for emails whose subject says so."""

    def __init__(self) -> None:
        self.real = Pipeline()
        self.calls = 0

    def triage(self, item: Any) -> TriageResult:
        self.calls += 1
        if isinstance(item, dict) and item.get("subject") == "explode":
            raise RuntimeError("boom\nsecond line")
        return self.real.triage(item)


def test_an_email_that_keeps_failing_is_dead_lettered_after_max_attempts(
    settings: ServiceSettings,
) -> None:
    pipeline = FlakyPipeline()
    poison = b'{"subject": "explode", "body": "x"}'
    with running(settings, pipeline=pipeline) as worker:
        ids = enqueue(worker, [("<poison@x>", poison), *sample_payloads(4, prefix="fine")])
        outcome = drain(worker)
        assert (outcome.saved, outcome.retried, outcome.dead_lettered) == (4, 2, 1)
        assert pipeline.calls == 4 + settings.queue_max_attempts
        record = worker.store.get(ids["<poison@x>"])
        assert record is not None
        assert (record.status, record.attempts) == ("failed", settings.queue_max_attempts)
        assert record.error == "triage failed: RuntimeError: boom"
        dead = worker.queue.dead_letters()
        assert [(d["email_id"], d["attempts"]) for d in dead] == [(ids["<poison@x>"], "3")]
        assert worker.store.status_counts()["processed"] == 4


def test_a_row_the_database_refuses_does_not_block_its_batch(
    settings: ServiceSettings, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE emails ADD CONSTRAINT no_x CHECK (summary NOT LIKE '%XYZZY%')")
    refused = b'{"subject": "XYZZY", "body": "XYZZY XYZZY"}'
    with running(settings) as worker:
        ids = enqueue(worker, [*sample_payloads(5, prefix="ok"), ("<refused@x>", refused)])
        outcome = drain(worker)
        assert (outcome.saved, outcome.retried, outcome.dead_lettered) == (5, 2, 1)
        record = worker.store.get(ids["<refused@x>"])
        assert record is not None and record.status == "failed"
        assert record.error is not None and record.error.startswith("save failed: save results:")
        assert "no_x" in record.error
        assert worker.store.status_counts()["processed"] == 5


def test_a_batch_replayed_after_its_commit_changes_nothing(
    settings: ServiceSettings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(settings) as worker:
        enqueue(worker, sample_payloads(6, prefix="replay"))
        real_ack = worker.queue.ack

        def lost_ack(entries: Any) -> int:  # Redis vanished between commit and ack
            raise QueueUnavailable("queue ack failed: ConnectionError: gone")

        monkeypatch.setattr(worker.queue, "ack", lost_ack)
        with pytest.raises(QueueUnavailable):
            worker.run_once()
        before = table(
            database_url, "SELECT id, status, result, processed_at FROM emails ORDER BY id"
        )
        assert {row[1] for row in before} == {"processed"}
        monkeypatch.setattr(worker.queue, "ack", real_ack)
        outcome = drain(worker)  # the same entries again (reclaimed)
        assert (outcome.read, outcome.saved) == (6, 6)
        after = table(
            database_url, "SELECT id, status, result, processed_at FROM emails ORDER BY id"
        )
        assert after == before  # first result and time kept
        assert worker.queue.stats().depth == 0


def test_an_entry_without_a_valid_email_id_is_dead_lettered(settings: ServiceSettings) -> None:
    with running(settings) as worker:
        worker.queue.enqueue("not-a-uuid", b"Subject: x\r\n\r\ny")
        outcome = drain(worker)
        assert (outcome.read, outcome.dead_lettered, outcome.saved) == (1, 1, 0)
        assert worker.queue.dead_letters()[0]["reason"] == "email id 'not-a-uuid' is not a uuid"


def test_the_worker_waits_out_a_store_outage(
    settings: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triage_core.service.store import StoreUnavailable

    with running(settings) as worker:
        enqueue(worker, sample_payloads(3, prefix="outage"))
        real = worker.store.save_results
        failures = iter([True, True])

        def flaky(items: Any) -> None:
            if next(failures, False):
                raise StoreUnavailable("save results: PostgreSQL at h:1/db unavailable: down")
            real(items)

        monkeypatch.setattr(worker.store, "save_results", flaky)
        outcome = worker.run_once()  # retried in place with backoff, then saved
        assert (outcome.saved, outcome.retried) == (3, 0)
        assert worker.queue.stats().depth == 0


def _wait_for(condition: Any, *, seconds: float) -> None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {seconds} s")
