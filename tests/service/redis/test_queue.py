"""The Redis Streams queue against real servers, single Redis and Redis Cluster."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.service.redis.servers import RedisTarget
from triage_core.service import keys
from triage_core.service.queue import Queue, QueueEntry, QueueStats
from triage_core.service.redis_clients import RedisClient
from triage_core.service.settings import ServiceSettings

CLAIM_IDLE_MS = 150
SETTINGS = ServiceSettings(queue_claim_idle_ms=CLAIM_IDLE_MS, queue_max_attempts=2)


def _queue(client: RedisClient, **overrides: int) -> Queue:
    settings = ServiceSettings(**{**SETTINGS.__dict__, **overrides})
    queue = Queue(client, settings=settings)
    queue.ensure_group()
    return queue


def _wait_claimable() -> None:
    time.sleep(CLAIM_IDLE_MS / 1000 + 0.05)


def test_entries_come_back_in_order_with_their_payload(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)
    ids = [queue.enqueue(f"email-{i}", f"payload {i}\x00\xff".encode("latin-1")) for i in range(5)]
    entries = queue.read("worker-a", count=10, block_ms=0)
    assert entries == [
        QueueEntry(ids[i], f"email-{i}", f"payload {i}\x00\xff".encode("latin-1"), 1)
        for i in range(5)
    ]
    assert queue.read("worker-a", count=10, block_ms=0) == []


def test_count_limits_a_read_and_the_next_read_continues(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)
    for i in range(5):
        queue.enqueue(f"e{i}", b"x")
    first = queue.read("w", count=2, block_ms=0)
    second = queue.read("w", count=10, block_ms=0)
    assert [e.email_id for e in first] == ["e0", "e1"]
    assert [e.email_id for e in second] == ["e2", "e3", "e4"]


def test_unacked_entries_are_reclaimed_by_another_consumer(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)
    for i in range(3):
        queue.enqueue(f"e{i}", b"x")
    taken = queue.read("worker-a", count=10, block_ms=0)  # worker-a dies without ack
    assert [e.attempts for e in taken] == [1, 1, 1]
    # Not idle long enough yet: worker-b gets nothing.
    assert queue.read("worker-b", count=10, block_ms=0) == []
    _wait_claimable()
    queue.enqueue("e3", b"new")
    reclaimed = queue.read("worker-b", count=10, block_ms=0)
    # Reclaimed first, oldest first, with their delivery counts; then the new entry.
    assert [(e.email_id, e.attempts) for e in reclaimed] == [
        ("e0", 2),
        ("e1", 2),
        ("e2", 2),
        ("e3", 1),
    ]
    assert [e.entry_id for e in reclaimed[:3]] == [e.entry_id for e in taken]
    assert queue.ack(reclaimed) == 4
    assert queue.stats() == QueueStats(undelivered=0, pending=0, dead_letter=0)
    _wait_claimable()
    assert queue.read("worker-c", count=10, block_ms=0) == []


def test_reclaiming_respects_count(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)
    for i in range(4):
        queue.enqueue(f"e{i}", b"x")
    queue.read("worker-a", count=10, block_ms=0)
    _wait_claimable()
    first = queue.read("worker-b", count=3, block_ms=0)
    second = queue.read("worker-b", count=3, block_ms=0)
    assert [e.email_id for e in first] == ["e0", "e1", "e2"]
    assert [e.email_id for e in second] == ["e3"]


def test_a_late_ack_of_a_reclaimed_entry_counts_once(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)
    queue.enqueue("e0", b"x")
    slow = queue.read("worker-a", count=1, block_ms=0)
    _wait_claimable()
    fast = queue.read("worker-b", count=1, block_ms=0)
    assert queue.ack(fast) == 1
    assert queue.ack(slow) == 0  # already done by worker-b
    assert queue.depth() == 0


def test_entry_is_dead_lettered_after_max_attempts(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)  # queue_max_attempts=2
    queue.enqueue("poison", b"boom")
    queue.enqueue("fine", b"ok")
    assert [e.email_id for e in queue.read("w1", count=1, block_ms=0)] == ["poison"]
    _wait_claimable()
    second = queue.read("w2", count=1, block_ms=0)
    assert [(e.email_id, e.attempts) for e in second] == [("poison", 2)]
    _wait_claimable()
    # Third delivery would exceed 2 attempts: moved to the dead-letter stream instead.
    third = queue.read("w3", count=5, block_ms=0)
    assert [(e.email_id, e.attempts) for e in third] == [("fine", 1)]
    assert queue.dead_lettered == 1
    assert queue.stats() == QueueStats(undelivered=0, pending=1, dead_letter=1)
    [dead] = queue.dead_letters()
    assert dead["email_id"] == "poison"
    assert dead["reason"] == "delivered 3 times without success"
    assert dead["attempts"] == "3"
    assert dead["entry_id"] == second[0].entry_id
    # The dead-letter stream keeps the payload for a replay.
    rows: Any = redis_client.xrange(keys.DEAD_LETTER_STREAM)
    [(_, fields)] = rows
    assert fields[b"payload"] == b"boom"


def test_the_worker_is_told_when_the_queue_gives_up_on_an_entry(
    redis_client: RedisClient,
) -> None:
    queue = _queue(redis_client)  # queue_max_attempts=2
    abandoned: list[tuple[str, str]] = []
    queue.on_abandoned = lambda entry, reason: abandoned.append((entry.email_id, reason))
    queue.enqueue("poison", b"boom")
    for consumer in ("w1", "w2"):
        assert [e.email_id for e in queue.read(consumer, count=1, block_ms=0)] == ["poison"]
        _wait_claimable()
    assert abandoned == []
    assert queue.read("w3", count=1, block_ms=0) == []
    assert abandoned == [("poison", "delivered 3 times without success")]


def test_explicit_dead_letter_acks_and_keeps_the_reason(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)
    queue.enqueue("bad", b"\x00not an email")
    [entry] = queue.read("w", count=1, block_ms=0)
    dead_id = queue.dead_letter(entry, "unparseable payload")
    assert queue.stats() == QueueStats(undelivered=0, pending=0, dead_letter=1)
    assert redis_client.xlen(keys.QUEUE_STREAM) == 0
    rows: Any = redis_client.xrange(keys.DEAD_LETTER_STREAM)
    [(raw_id, fields)] = rows
    assert raw_id.decode() == dead_id
    assert {k: v for k, v in fields.items() if k != b"at"} == {
        b"email_id": b"bad",
        b"payload": b"\x00not an email",
        b"reason": b"unparseable payload",
        b"attempts": b"1",
        b"entry_id": entry.entry_id.encode(),
    }


def test_malformed_entry_is_dead_lettered_not_returned(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)
    redis_client.xadd(keys.QUEUE_STREAM, {"junk": "1"})
    queue.enqueue("ok", b"x")
    assert [e.email_id for e in queue.read("w", count=5, block_ms=0)] == ["ok"]
    [dead] = queue.dead_letters()
    assert dead["reason"] == "malformed entry: needs fields email_id and payload"


def test_depth_and_pending_figures(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)
    assert (queue.depth(), queue.pending()) == (0, 0)
    for i in range(5):
        queue.enqueue(f"e{i}", b"x")
    assert queue.stats() == QueueStats(undelivered=5, pending=0, dead_letter=0)
    entries = queue.read("w", count=2, block_ms=0)
    assert queue.stats() == QueueStats(undelivered=3, pending=2, dead_letter=0)
    assert (queue.depth(), queue.pending()) == (5, 2)
    assert queue.ack(entries[:1]) == 1
    assert (queue.depth(), queue.pending()) == (4, 1)
    # Acknowledged entries are deleted: the stream holds only what is not done.
    assert redis_client.xlen(keys.QUEUE_STREAM) == 4


def test_figures_before_any_group_exists(redis_client: RedisClient) -> None:
    queue = Queue(redis_client, settings=SETTINGS)
    assert queue.stats() == QueueStats(undelivered=0, pending=0, dead_letter=0)
    assert queue.pending() == 0


def test_email_enqueued_before_the_group_is_delivered(redis_client: RedisClient) -> None:
    queue = Queue(redis_client, settings=SETTINGS)
    queue.enqueue("early", b"x")
    queue.ensure_group()
    queue.ensure_group()  # BUSYGROUP tolerated
    assert [e.email_id for e in queue.read("w", count=5, block_ms=0)] == ["early"]


def test_read_recreates_a_flushed_group(
    redis_client: RedisClient, redis_target: RedisTarget
) -> None:
    queue = _queue(redis_client)
    redis_target.flush()  # the runbook's FLUSHDB
    assert queue.read("w", count=5, block_ms=0) == []
    queue.enqueue("after", b"x")
    assert [e.email_id for e in queue.read("w", count=5, block_ms=0)] == ["after"]


@pytest.mark.timeout(10)
def test_blocking_read_waits_then_returns_empty(redis_client: RedisClient) -> None:
    queue = _queue(redis_client)
    start = time.monotonic()
    assert queue.read("w", count=5, block_ms=300) == []
    assert 0.25 <= time.monotonic() - start < 1.5


@pytest.mark.timeout(10)
def test_block_is_capped_below_the_socket_timeout(redis_target: RedisTarget) -> None:
    client = redis_target.connect(timeout_s=0.4)
    try:
        queue = _queue(client)
        assert queue.max_block_ms == 200
        start = time.monotonic()
        # A 5 s block would outlast the 0.4 s socket timeout and look like a dead Redis.
        assert queue.read("w", count=5, block_ms=5000) == []
        assert time.monotonic() - start < 0.4
    finally:
        client.close()


def test_ack_of_nothing_is_free(redis_client: RedisClient) -> None:
    assert _queue(redis_client).ack([]) == 0


def test_bad_arguments_are_refused(redis_client: RedisClient) -> None:
    with pytest.raises(ValueError, match="queue_max_attempts"):
        Queue(redis_client, settings=ServiceSettings(queue_max_attempts=0))
    with pytest.raises(ValueError, match="count"):
        _queue(redis_client).read("w", count=0, block_ms=0)
