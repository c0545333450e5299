"""Circuit breaker in front of the model server.

When TF Serving is down, every email would otherwise wait for a full timeout before the
fallback answers; with a queue of thousands that turns an outage into a backlog. After
`failures` consecutive failures the breaker opens and calls fail at once; after `reset_s`
it lets exactly one trial call through (half-open): success closes it, failure re-opens
it for another `reset_s`.

The clock is injectable so tests can walk through the states without sleeping.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Thread-safe: the service classifies from several worker threads at once, and only
    one of them may carry the half-open trial."""

    def __init__(
        self,
        *,
        failures: int,
        reset_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be >= 1, got {failures}")
        if reset_s < 0:
            raise ValueError(f"reset_s must be >= 0, got {reset_s}")
        self._threshold = failures
        self._reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> BreakerState:
        """The state as a caller would see it now (an open breaker whose reset time has
        passed reports half-open even before the trial call is made)."""
        with self._lock:
            if self._state is BreakerState.OPEN and self._reset_elapsed():
                return BreakerState.HALF_OPEN
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_in(self) -> float:
        """Seconds until the next trial is allowed; 0 when calls may go through."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return 0.0
            return max(0.0, self._opened_at + self._reset_s - self._clock())

    def allow(self) -> bool:
        """Whether a call may proceed now. In half-open, only the first caller gets True
        (it carries the trial); the others are refused until its outcome is recorded."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            # A trial whose outcome never came back (its caller died) must not wedge the
            # breaker half-open forever: after another reset period a new trial may go.
            if self._reset_elapsed():
                self._state = BreakerState.HALF_OPEN
                self._opened_at = self._clock()
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()

    def _reset_elapsed(self) -> bool:
        # In half-open, `_opened_at` holds the start of the trial.
        return self._clock() - self._opened_at >= self._reset_s
