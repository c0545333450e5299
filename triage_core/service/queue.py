"""The email queue: a Redis Stream read by one consumer group, at-least-once.

Delivery. A worker `read()`s entries, commits each result to Postgres, then `ack()`s. An
entry read but never acknowledged (the worker was killed mid-batch) stays in the group's
pending entries list; once it has been idle `queue_claim_idle_ms`, the next `read()` of any
consumer takes it over with XAUTOCLAIM before reading new entries. So an email can be
processed twice, never lost: the store's unique message id makes the second commit a
no-op.

Poison messages. XAUTOCLAIM counts deliveries. An entry delivered more than
`queue_max_attempts` times (the worker crashed on it each time, or failed and did not ack)
is moved to the dead-letter stream by `read()` itself instead of being handed out again,
so a message that kills workers cannot take the fleet down in a loop. A worker that knows
an entry can never succeed calls `dead_letter()` directly. An entry whose fields are not
(email_id, payload) is dead-lettered on sight.

Stream growth. `ack()` runs XACK and XDEL in one MULTI: an acknowledged entry is deleted
at once, so the stream holds exactly the entries not yet acknowledged, and its memory is
bounded by the backlog, not by history. The alternative, XADD MAXLEN trimming, deletes by
age whatever the state and would drop undelivered email under a large backlog. XDEL is
safe here because the stream has exactly one consumer group: nobody else still needs an
entry this group has acknowledged. The same invariant gives `depth()` cheaply: XLEN is
`undelivered + pending`. The dead-letter stream is never trimmed: each entry in it is an
email an operator must look at (or replay with `enqueue()`).

Cluster. Every key here carries the hash tag of `keys.QUEUE_PREFIX`, so they sit in one
slot and the MULTI blocks are legal on a Redis Cluster too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from triage_core.service import keys
from triage_core.service.redis_clients import (
    REDIS_ERRORS,
    RedisClient,
    RedisUnavailable,
    socket_timeout_of,
    unavailable,
)
from triage_core.service.settings import ServiceSettings

log = logging.getLogger(__name__)

_START = "0-0"


class QueueUnavailable(RedisUnavailable):
    """The queue's Redis could not answer; nothing was enqueued, read or acknowledged for
    sure (the API answers 503, the worker retries)."""


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One delivery of one email. `attempts` counts deliveries including this one."""

    entry_id: str
    email_id: str
    payload: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class QueueStats:
    """The queue's figures, read in one transaction.

    `undelivered`: entries no consumer has read yet; `pending`: read but not acknowledged
    (in flight, or waiting to be reclaimed); `depth` = both: everything not yet done."""

    undelivered: int
    pending: int
    dead_letter: int

    @property
    def depth(self) -> int:
        return self.undelivered + self.pending


def consumer_name() -> str:
    """A consumer name unique to this process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Queue:
    """The service's email queue on `keys.QUEUE_STREAM`, group `keys.CONSUMER_GROUP`.

    Thread-safe as far as the client is (redis-py's pool is); a worker usually holds one
    Queue per process. Every Redis failure raises `QueueUnavailable` with the cause."""

    def __init__(
        self,
        client: RedisClient,
        *,
        settings: ServiceSettings,
        on_abandoned: Callable[[QueueEntry, str], None] | None = None,
    ) -> None:
        if settings.queue_max_attempts < 1:
            raise ValueError("queue_max_attempts must be >= 1")
        if settings.queue_claim_idle_ms < 0:
            raise ValueError("queue_claim_idle_ms must be >= 0")
        self.client = client
        self.stream = keys.QUEUE_STREAM
        self.dead_letter_stream = keys.DEAD_LETTER_STREAM
        self.group = keys.CONSUMER_GROUP
        self.max_attempts = settings.queue_max_attempts
        self.claim_idle_ms = settings.queue_claim_idle_ms
        # A blocking read must return before the socket times out, or a quiet queue would
        # look like a dead Redis: block at most half the client's read timeout.
        timeout = socket_timeout_of(client)
        self.max_block_ms = None if timeout is None else int(timeout * 1000 / 2)
        self.dead_lettered = 0  # entries this instance moved to the dead-letter stream
        # Told when `read()` gives up on an entry by itself (delivered too often, e.g. it
        # crashed every worker that took it), so the worker can mark the email failed.
        self.on_abandoned = on_abandoned
        self._claim_cursor = _START

    # -- set-up ------------------------------------------------------------------------

    def ensure_group(self) -> None:
        """Create the stream and its group if missing (idempotent). The group starts at
        the stream's beginning, so email enqueued before any worker ran is delivered."""
        with self._guard("create group"):
            try:
                self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # -- producing ---------------------------------------------------------------------

    def enqueue(self, email_id: str, payload: bytes) -> str:
        """Append one email; returns the stream entry id. Never trims (see module doc)."""
        with self._guard("enqueue"):
            entry_id = self.client.xadd(self.stream, {"email_id": email_id, "payload": payload})
        return _text(entry_id)

    # -- consuming ---------------------------------------------------------------------

    def read(self, consumer: str, *, count: int, block_ms: int) -> list[QueueEntry]:
        """Up to `count` entries for `consumer`: first stale pending entries reclaimed from
        other consumers (idle >= queue_claim_idle_ms), oldest first, then new ones.

        Blocks up to `block_ms` (capped at half the client's socket timeout; <= 0: does
        not block) only when nothing was reclaimed. Entries past `queue_max_attempts`
        deliveries, or malformed, are dead-lettered here and not returned."""
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._guard("read"):
            try:
                return self._read(consumer, count=count, block_ms=block_ms)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream or group vanished (a FLUSHDB, a new Redis): recreate, retry.
                log.warning("queue group %s missing on %s: recreating it", self.group, self.stream)
                self.ensure_group()
                return self._read(consumer, count=count, block_ms=block_ms)

    def _read(self, consumer: str, *, count: int, block_ms: int) -> list[QueueEntry]:
        entries = self._reclaim(consumer, count=count)
        room = count - len(entries)
        if room <= 0:
            return entries
        block = None if entries else self._block(block_ms)
        response = self.client.xreadgroup(
            self.group, consumer, {self.stream: ">"}, count=room, block=block
        )
        for _stream, items in _streams(response):
            for raw_id, fields in items:
                entry = self._entry(raw_id, fields, attempts=1)
                if entry is not None:
                    entries.append(entry)
        return entries

    def _reclaim(self, consumer: str, *, count: int) -> list[QueueEntry]:
        reply: Any = self.client.xautoclaim(
            self.stream,
            self.group,
            consumer,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=count,
        )
        # The scan resumes where it stopped, so a long pending list is walked across calls
        # instead of re-reading its head every time; "0-0" means the walk is complete.
        self._claim_cursor = _text(reply[0])
        claimed: list[tuple[Any, Any]] = list(reply[1])
        if not claimed:
            return []
        # XAUTOCLAIM has just counted this delivery; XPENDING tells how many there were.
        # A MULTI, like every pipeline here: one slot, and on a cluster redis-py's
        # transaction path fails within one timeout when the node hangs.
        pipe = self.client.pipeline(transaction=True)
        for raw_id, _fields in claimed:
            pipe.xpending_range(self.stream, self.group, min=raw_id, max=raw_id, count=1)
        pending_rows: list[list[Any]] = pipe.execute()
        entries: list[QueueEntry] = []
        for (raw_id, fields), rows in zip(claimed, pending_rows, strict=True):
            if not rows:  # acknowledged by its previous owner in the meantime: done
                continue
            attempts = _times_delivered(rows[0])
            entry = self._entry(raw_id, fields, attempts=attempts)
            if entry is None:
                continue
            if attempts > self.max_attempts:
                reason = f"delivered {attempts} times without success"
                self._dead_letter(entry, reason)
                if self.on_abandoned is not None:
                    self.on_abandoned(entry, reason)
                continue
            entries.append(entry)
        return entries

    def _entry(self, raw_id: Any, fields: Any, *, attempts: int) -> QueueEntry | None:
        entry_id = _text(raw_id)
        values = {_text(k): v for k, v in (fields or {}).items()}
        email_id, payload = values.get("email_id"), values.get("payload")
        if email_id is None or payload is None:
            broken = QueueEntry(entry_id, _text(email_id or b""), _bytes(payload), attempts)
            self._dead_letter(broken, "malformed entry: needs fields email_id and payload")
            return None
        return QueueEntry(entry_id, _text(email_id), _bytes(payload), attempts)

    def _block(self, block_ms: int) -> int | None:
        if block_ms <= 0:
            return None  # BLOCK 0 would mean "forever"
        if self.max_block_ms is not None:
            block_ms = min(block_ms, self.max_block_ms)
        return block_ms if block_ms > 0 else None

    # -- settling ----------------------------------------------------------------------

    def ack(self, entries: Iterable[QueueEntry]) -> int:
        """Acknowledge and delete entries, in one MULTI; returns how many were still
        pending (fewer when another consumer reclaimed and acknowledged one first)."""
        ids = [entry.entry_id for entry in entries]
        if not ids:
            return 0
        with self._guard("ack"):
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.stream, self.group, *ids)
            pipe.xdel(self.stream, *ids)
            acked, _deleted = pipe.execute()
        return int(acked)

    def dead_letter(self, entry: QueueEntry, reason: str) -> str:
        """Move an entry to `keys.DEAD_LETTER_STREAM` with `reason`, and acknowledge it,
        atomically. Returns the dead-letter entry id."""
        with self._guard("dead-letter"):
            return self._dead_letter(entry, reason)

    def _dead_letter(self, entry: QueueEntry, reason: str) -> str:
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(
            self.dead_letter_stream,
            {
                "email_id": entry.email_id,
                "payload": entry.payload,
                "reason": reason,
                "attempts": entry.attempts,
                "entry_id": entry.entry_id,
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            },
        )
        pipe.xack(self.stream, self.group, entry.entry_id)
        pipe.xdel(self.stream, entry.entry_id)
        dead_id, _acked, _deleted = pipe.execute()
        self.dead_lettered += 1
        log.warning(
            "queue entry %s (email %s) dead-lettered after %d attempt(s): %s",
            entry.entry_id,
            entry.email_id,
            entry.attempts,
            reason,
        )
        return _text(dead_id)

    # -- figures -----------------------------------------------------------------------

    def stats(self) -> QueueStats:
        """Undelivered, pending and dead-letter counts, from one MULTI (consistent)."""
        with self._guard("stats"):
            pipe = self.client.pipeline(transaction=True)
            pipe.xlen(self.stream)
            pipe.xpending(self.stream, self.group)
            pipe.xlen(self.dead_letter_stream)
            length, summary, dead = pipe.execute(raise_on_error=False)
            for value in (length, dead):
                if isinstance(value, Exception):
                    raise value
            pending = _pending_count(summary)
        return QueueStats(
            undelivered=max(int(length) - pending, 0), pending=pending, dead_letter=int(dead)
        )

    def depth(self) -> int:
        """Entries not yet acknowledged: undelivered plus pending (`email_queue_depth`)."""
        return self.stats().depth

    def pending(self) -> int:
        """Entries delivered but not acknowledged, XPENDING's count (`email_queue_pending`)."""
        with self._guard("pending"):
            summary: Any
            try:
                summary = self.client.xpending(self.stream, self.group)
            except redis.ResponseError as exc:
                summary = exc
            return _pending_count(summary)

    def dead_letters(self, *, count: int = 100) -> list[dict[str, str]]:
        """The oldest `count` dead-letter entries, for operators (payload left out)."""
        with self._guard("dead-letter listing"):
            items: Any = self.client.xrange(self.dead_letter_stream, count=count)
        return [
            {"id": _text(raw_id)}
            | {_text(k): _text(v) for k, v in (fields or {}).items() if _text(k) != "payload"}
            for raw_id, fields in items or []
        ]

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except REDIS_ERRORS as exc:
            raise unavailable(f"queue {what} failed", exc, cls=QueueUnavailable) from exc


def _pending_count(summary: Any) -> int:
    if isinstance(summary, Exception):
        if "NOGROUP" in str(summary) or "no such key" in str(summary).lower():
            return 0  # no group yet: nothing was ever delivered
        raise summary
    if isinstance(summary, dict):
        return int(summary["pending"])
    return int(summary[0])  # unparsed reply (a cluster MULTI skips redis-py's callbacks)


def _times_delivered(row: Any) -> int:
    """An XPENDING range row's delivery count: parsed (dict) or, from a cluster MULTI,
    raw [id, consumer, idle ms, deliveries]."""
    return int(row["times_delivered"] if isinstance(row, dict) else row[3])


def _streams(response: Any) -> Sequence[tuple[Any, Any]]:
    """XREADGROUP's reply as (stream, entries) pairs, for RESP2 lists and RESP3 dicts."""
    if not response:
        return []
    if isinstance(response, dict):
        return list(response.items())
    return [(item[0], item[1]) for item in response]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else str(value).encode("utf-8")
