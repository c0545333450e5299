from __future__ import annotations

import threading

import pytest

from triage_core.classify.tfserving.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(failures: int = 3, reset_s: float = 30.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(failures=failures, reset_s=reset_s, clock=clock), clock


def test_starts_closed_and_allows() -> None:
    breaker, _ = make()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() is True
    assert breaker.retry_in() == 0.0


def test_opens_after_consecutive_failures_only() -> None:
    breaker, _ = make(failures=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() is True
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.consecutive_failures == 3
    assert breaker.allow() is False


def test_half_open_after_reset_lets_exactly_one_trial() -> None:
    breaker, clock = make(failures=1, reset_s=30.0)
    breaker.record_failure()
    clock.now += 29.9
    assert breaker.allow() is False
    assert breaker.retry_in() == pytest.approx(0.1)
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() is True  # the trial
    assert breaker.allow() is False  # everyone else waits for its outcome
    assert breaker.allow() is False


def test_trial_success_closes() -> None:
    breaker, clock = make(failures=2, reset_s=5.0)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow() is True
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0
    assert [breaker.allow() for _ in range(3)] == [True, True, True]


def test_trial_failure_reopens_for_a_full_period() -> None:
    breaker, clock = make(failures=2, reset_s=5.0)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow() is True
    breaker.record_failure()  # one failure in half-open is enough
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert breaker.allow() is False
    clock.now += 0.1
    assert breaker.allow() is True


def test_a_lost_trial_does_not_wedge_half_open() -> None:
    breaker, clock = make(failures=1, reset_s=5.0)
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow() is True  # trial starts, its caller never reports
    clock.now += 4.0
    assert breaker.allow() is False
    clock.now += 1.0
    assert breaker.allow() is True  # a new trial after another period


def test_only_one_of_many_threads_gets_the_trial() -> None:
    breaker, clock = make(failures=1, reset_s=1.0)
    breaker.record_failure()
    clock.now += 1.0
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        allowed = breaker.allow()
        with lock:
            results.append(allowed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


@pytest.mark.parametrize(("failures", "reset_s"), [(0, 1.0), (1, -1.0)])
def test_rejects_nonsense_settings(failures: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures=failures, reset_s=reset_s)
