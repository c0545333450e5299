"""The runtime switch to fallback classification mode (the runbook's P0 action).

An operator (or `triage-ops`) turns it on when the model backend misbehaves; every running
API process and worker then classifies with the rules fallback within `poll_s` seconds,
without a restart:

    switch = FallbackSwitch(client, poll_s=settings.fallback_poll_s)
    pipeline = Pipeline(config, force_fallback=switch.is_on)

The state is the presence of `keys.FALLBACK_SWITCH` (as `keys` documents): a small JSON
object saying who turned it on, why and when. Turning it off deletes the key.

`is_on()` is called once per email, so it must cost nothing: it answers from memory and
re-reads Redis at most once per `poll_s`, in whichever calling thread finds the value
stale while the others keep answering from memory. When Redis cannot be read it keeps the
last value it knew (off, if it never read one): losing Redis must not flip the
classification mode either way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from triage_core.service import keys
from triage_core.service.redis_clients import (
    REDIS_ERRORS,
    RedisClient,
    RedisUnavailable,
    unavailable,
)

log = logging.getLogger(__name__)


class ControlUnavailable(RedisUnavailable):
    """The switch could not be read or changed in Redis."""


class FallbackSwitch:
    """The fallback-mode switch as seen by one process; thread-safe."""

    def __init__(self, client: RedisClient, *, poll_s: float) -> None:
        if poll_s < 0:
            raise ValueError("poll_s must be >= 0")
        self.client = client
        self.poll_s = poll_s
        self.key = keys.FALLBACK_SWITCH
        self.errors = 0  # failed reads (the last known value was kept)
        self._lock = threading.Lock()
        self._on = False
        self._stale_at = 0.0  # monotonic time after which Redis is read again
        self._refreshing = False
        self._failing = False

    def __call__(self) -> bool:
        return self.is_on()

    def is_on(self) -> bool:
        """Whether fallback mode is on, at most `poll_s` seconds old; never raises."""
        if time.monotonic() < self._stale_at:
            return self._on
        with self._lock:
            if self._refreshing or time.monotonic() < self._stale_at:
                return self._on
            self._refreshing = True
        on: bool | None = None
        try:
            # GET, not EXISTS: redis-py sends multi-key commands (EXISTS, DEL) to a
            # cluster through its pipeline machinery, which on a timeout re-reads the slot
            # table from the hung node too, doubling the wait.
            on = self.client.get(self.key) is not None
        except REDIS_ERRORS as exc:
            self._read_failed(exc)
        finally:
            with self._lock:
                if on is not None:
                    self._remember(on)
                    self._failing = False
                else:
                    self._stale_at = time.monotonic() + self.poll_s
                self._refreshing = False
        return self._on

    def set(self, on: bool, *, reason: str, actor: str) -> dict[str, Any]:
        """Turn fallback mode on or off; returns the new status. This process obeys at
        once, the others within their `poll_s`. Raises `ControlUnavailable`."""
        if not reason.strip() or not actor.strip():
            raise ValueError("reason and actor are required (they are the audit trail)")
        record = {"on": on, "reason": reason, "actor": actor, "at": _now()}
        with self._guard("set"):
            if on:
                self.client.set(self.key, json.dumps(record, separators=(",", ":")))
            else:
                self.client.getdel(self.key)  # single-key, unlike DEL (see is_on)
        with self._lock:
            self._remember(on, announce=False)  # the line below says more
        log.warning(
            "fallback classification mode switched %s by %s: %s",
            "ON" if on else "OFF",
            actor,
            reason,
        )
        return record if on else {"on": False, "reason": None, "actor": None, "at": None}

    def status(self) -> dict[str, Any]:
        """The switch as stored now: on, reason, actor, at (None when off). Also refreshes
        what `is_on()` answers. Raises `ControlUnavailable`."""
        with self._guard("status"):
            raw: Any = self.client.get(self.key)
        with self._lock:
            self._remember(raw is not None)
        if raw is None:
            return {"on": False, "reason": None, "actor": None, "at": None}
        try:
            stored = json.loads(raw)
        except (ValueError, TypeError):
            stored = None
        if not isinstance(stored, dict):  # present but unreadable: still on (presence rules)
            stored = {}
        return {
            "on": True,
            "reason": stored.get("reason"),
            "actor": stored.get("actor"),
            "at": stored.get("at"),
        }

    def _remember(self, on: bool, *, announce: bool = True) -> None:
        """Record a fresh value; the caller holds the lock."""
        if announce and on != self._on:
            log.warning("fallback classification mode is now %s", "ON" if on else "OFF")
        self._on = on
        self._stale_at = time.monotonic() + self.poll_s

    def _read_failed(self, exc: Exception) -> None:
        with self._lock:
            self.errors += 1
            first = not self._failing
            self._failing = True
        if first:  # one line per outage, not one per poll
            log.warning(
                "fallback switch unreadable (%s: %s): keeping fallback mode %s",
                type(exc).__name__,
                exc,
                "ON" if self._on else "OFF",
            )

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except REDIS_ERRORS as exc:
            raise unavailable(
                f"fallback switch {what} failed", exc, cls=ControlUnavailable
            ) from exc


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
