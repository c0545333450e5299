"""The fallback-mode switch against real servers: flips seen by other processes' clients
within poll_s, reads cached in between, the pipeline obeying it."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.service.redis.servers import RedisCluster, RedisTarget
from triage_core import Pipeline
from triage_core.service import keys
from triage_core.service.control import FallbackSwitch
from triage_core.service.redis_clients import RedisClient

POLL_S = 0.3


def _get_calls(target: RedisTarget) -> int:
    nodes = target.servers.nodes if isinstance(target.servers, RedisCluster) else [target.servers]
    total = 0
    for node in nodes:
        with node.client() as client:
            stats = client.info("commandstats")
            total += int(stats.get("cmdstat_get", {}).get("calls", 0))
    return total


def test_a_flip_is_seen_by_another_client_within_poll_s(redis_target: RedisTarget) -> None:
    operator_client, worker_client = redis_target.connect(), redis_target.connect()
    try:
        operator = FallbackSwitch(operator_client, poll_s=POLL_S)
        worker = FallbackSwitch(worker_client, poll_s=POLL_S)
        assert worker.is_on() is False
        operator.set(True, reason="model server returns garbage", actor="alice")
        assert operator.is_on() is True  # the process that flipped it obeys at once
        flipped = time.monotonic()
        while not worker.is_on():
            assert time.monotonic() - flipped < POLL_S + 0.2
            time.sleep(0.01)
        operator.set(False, reason="model fixed", actor="alice")
        flipped = time.monotonic()
        while worker.is_on():
            assert time.monotonic() - flipped < POLL_S + 0.2
            time.sleep(0.01)
    finally:
        operator_client.close()
        worker_client.close()


def test_is_on_reads_redis_at_most_once_per_poll_s(
    redis_target: RedisTarget, redis_client: RedisClient
) -> None:
    switch = FallbackSwitch(redis_client, poll_s=5.0)
    before = _get_calls(redis_target)

    def hammer(answers: list[bool]) -> None:
        barrier.wait()
        answers.extend(switch.is_on() for _ in range(2000))

    def run_threads() -> list[bool]:
        answers: list[bool] = []
        threads = [threading.Thread(target=hammer, args=(answers,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return answers

    barrier = threading.Barrier(8)
    # 8 threads find the value stale at once: one of them reads Redis, the rest answer.
    assert set(run_threads()) == {False}
    assert _get_calls(redis_target) - before == 1
    # Turned on behind its back: not seen, and Redis not read, until poll_s has passed.
    redis_client.set(keys.FALLBACK_SWITCH, "{}")
    barrier = threading.Barrier(8)
    answers = run_threads()
    assert (len(answers), set(answers)) == (16_000, {False})
    assert _get_calls(redis_target) - before == 1


def test_status_and_the_stored_record(redis_client: RedisClient) -> None:
    switch = FallbackSwitch(redis_client, poll_s=POLL_S)
    assert switch.status() == {"on": False, "reason": None, "actor": None, "at": None}
    written = switch.set(True, reason="P0: classifier timeouts", actor="oncall@example.com")
    status = switch.status()
    assert status == written
    assert status["on"] is True
    assert status["reason"] == "P0: classifier timeouts"
    assert status["actor"] == "oncall@example.com"
    at = datetime.fromisoformat(status["at"])
    assert abs((datetime.now(UTC) - at).total_seconds()) < 5
    stored: Any = redis_client.get(keys.FALLBACK_SWITCH)
    assert json.loads(stored) == written
    assert switch.set(False, reason="resolved", actor="oncall@example.com") == {
        "on": False,
        "reason": None,
        "actor": None,
        "at": None,
    }
    assert redis_client.exists(keys.FALLBACK_SWITCH) == 0


def test_presence_of_the_key_is_what_turns_it_on(redis_client: RedisClient) -> None:
    redis_client.set(keys.FALLBACK_SWITCH, b"not json")  # e.g. a bare redis-cli SET
    switch = FallbackSwitch(redis_client, poll_s=POLL_S)
    assert switch.is_on() is True
    assert switch.status() == {"on": True, "reason": None, "actor": None, "at": None}


def test_reason_and_actor_are_required(redis_client: RedisClient) -> None:
    switch = FallbackSwitch(redis_client, poll_s=POLL_S)
    with pytest.raises(ValueError, match="reason and actor"):
        switch.set(True, reason=" ", actor="alice")
    assert redis_client.exists(keys.FALLBACK_SWITCH) == 0


def test_the_pipeline_obeys_the_switch_without_restart(redis_client: RedisClient) -> None:
    switch = FallbackSwitch(redis_client, poll_s=0.0)
    pipeline = Pipeline(force_fallback=switch.is_on)
    email = b"Subject: Server down\r\n\r\nProduction is down, please help"
    normal = pipeline.triage(email)
    switch.set(True, reason="drill", actor="test")
    forced = pipeline.triage(email)
    switch.set(False, reason="drill over", actor="test")
    again = pipeline.triage(email)
    assert (normal.backend, normal.degraded) == ("embedded", False)
    assert (forced.backend, forced.degraded) == ("rules", True)
    assert (again.backend, again.degraded) == ("embedded", False)
