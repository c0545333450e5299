"""The `emails` table behind the API and the worker.

Idempotency is the theme. The API may receive the same message twice (client retries);
Redis Streams deliver at least once, so the worker may see an entry again after a crash
between its commit and its ack. Hence: `enqueue` is keyed on Message-ID (a second call
returns the first row), and `save_results` only touches rows not yet processed, so a
replayed batch changes nothing. Writes go to the primary; reads go to the read replica
when one is configured, falling back to the primary when the replica is down or has not
caught up with a row yet (read-your-writes for a client polling its own email).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from psycopg.rows import TupleRow

from triage_core.errors import ConfigError
from triage_core.service.store.connections import Connection, ServerPool
from triage_core.service.store.errors import StoreError, StoreUnavailable
from triage_core.service.store.records import STATUSES, EmailRecord

if TYPE_CHECKING:
    from triage_core.result import TriageResult
    from triage_core.service.settings import ServiceSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ERROR_CHARS = 2000
REPLICA_RETRY_S = 30.0  # after a replica failure, read from the primary this long
_ENQUEUE_TRIES = 3

_COLUMNS = (
    "id, message_id, status, category, priority, summary, result, attempts, error,"
    " created_at, processed_at"
)
_INSERT = (
    "INSERT INTO emails (message_id) VALUES (%s) ON CONFLICT (message_id) DO NOTHING RETURNING id"
)
_SELECT_ID = "SELECT id FROM emails WHERE message_id = %s"
_MARK_PROCESSING = (
    "UPDATE emails SET status = 'processing', attempts = attempts + 1"
    " WHERE id = ANY(%s) AND status IN ('queued', 'processing')"
)
_SAVE = """
UPDATE emails AS e
   SET status = 'processed', category = v.category, priority = v.priority,
       summary = v.summary, result = v.result::jsonb, error = NULL, processed_at = now()
  FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[])
       AS v(id, category, priority, summary, result)
 WHERE e.id = v.id AND e.status <> 'processed'
"""
_MARK_FAILED = (
    "UPDATE emails SET status = 'failed', error = %s WHERE id = %s AND status <> 'processed'"
)
_GET = f"SELECT {_COLUMNS} FROM emails WHERE id = %s"
_LIST = f"SELECT {_COLUMNS} FROM emails ORDER BY created_at DESC, id LIMIT %s"
_LIST_BY_STATUS = (
    f"SELECT {_COLUMNS} FROM emails WHERE status = %s ORDER BY created_at DESC, id LIMIT %s"
)
_COUNTS = "SELECT status, count(*) FROM emails GROUP BY status"


class Store:
    """`Store(settings)` does no I/O; `open()` starts the pools without waiting for the
    server, so a process starts (and reports not-ready) while PostgreSQL is down. Every
    method raises `StoreUnavailable` when the server cannot answer within the settings'
    timeout, `StoreError` for anything else the database refuses; `open()` raises
    `ConfigError` for a missing or malformed URL."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._primary: ServerPool | None = None
        self._replica: ServerPool | None = None
        self._replica_down_until = 0.0

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        if self._primary is not None:
            return
        settings = self._settings
        if not settings.database_url:
            raise ConfigError("no database URL: set TRIAGE_DATABASE_URL")
        primary = self._pool(settings.database_url, name="triage-primary")
        replica = None
        if settings.database_replica_url:
            replica = self._pool(settings.database_replica_url, name="triage-replica")
        primary.open()
        if replica is not None:
            replica.open()
        self._primary, self._replica = primary, replica

    def _pool(self, dsn: str, *, name: str) -> ServerPool:
        return ServerPool(
            dsn,
            name=name,
            min_size=self._settings.database_pool_min,
            max_size=self._settings.database_pool_max,
            timeout_s=self._settings.database_timeout_s,
        )

    def close(self) -> None:
        pools = [p for p in (self._replica, self._primary) if p is not None]
        self._primary = self._replica = None
        for pool in pools:
            pool.close()

    def __enter__(self) -> Store:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writes (primary) ----------------------------------------------------------------

    def enqueue(self, message_id: str) -> tuple[str, bool]:
        """(id, created): the row for `message_id`, created as `queued` if it was new."""
        key = _clean(message_id)
        if not key:
            raise ValueError("message_id must not be empty")
        with self._primary_conn("enqueue") as conn:
            for _ in range(_ENQUEUE_TRIES):
                row = conn.execute(_INSERT, (key,)).fetchone()
                if row is not None:
                    return str(row[0]), True
                # someone else's row: committed, since ON CONFLICT waited for it
                row = conn.execute(_SELECT_ID, (key,)).fetchone()
                if row is not None:
                    return str(row[0]), False
        raise StoreError(f"enqueue: the row for {key!r} kept disappearing (concurrent delete)")

    def mark_processing(self, ids: Sequence[str]) -> None:
        """Queued (or re-delivered) rows become `processing`, one more attempt each.
        Rows already processed or failed are left alone."""
        keys = _uuids(ids)
        if not keys:
            return
        with self._primary_conn("mark processing") as conn:
            conn.execute(_MARK_PROCESSING, (keys,))

    def save_results(self, items: Sequence[tuple[str, TriageResult]]) -> None:
        """Stores a batch of results in one transaction (all or nothing). Rows already
        processed keep their first result, so replaying a batch is harmless."""
        latest: dict[uuid.UUID, TriageResult] = {}
        for email_id, result in items:
            latest[_uuid(email_id)] = result
        if not latest:
            return
        ids, categories, priorities, summaries, payloads = [], [], [], [], []
        for key, result in latest.items():
            ids.append(key)
            categories.append(_clean(result.category))
            priorities.append(_clean(result.priority))
            summaries.append(_clean(result.summary))
            payloads.append(_json(result.to_dict()))
        with self._primary_conn("save results") as conn, conn.transaction():
            conn.execute(_SAVE, (ids, categories, priorities, summaries, payloads))

    def mark_failed(self, id: str, error: str) -> None:
        """Gives up on an email (dead-lettered): `failed` with the reason, unless a result
        was committed meanwhile."""
        key = _uuid(id)
        with self._primary_conn("mark failed") as conn:
            conn.execute(_MARK_FAILED, (_clean(error)[:MAX_ERROR_CHARS], key))

    # -- reads (replica when configured) -------------------------------------------------

    def get(self, id: str) -> EmailRecord | None:
        try:
            key = uuid.UUID(id)
        except (ValueError, TypeError, AttributeError):
            return None

        def fetch(conn: Connection) -> EmailRecord | None:
            row = conn.execute(_GET, (key,)).fetchone()
            return None if row is None else _record(row)

        record = self._read("get", fetch)
        if record is None and self._replica is not None:
            # a lagging replica must not answer 404 for an email just enqueued
            with self._primary_conn("get") as conn:
                record = fetch(conn)
        return record

    def list_emails(self, *, status: str | None = None, limit: int = 50) -> list[EmailRecord]:
        """The newest emails first (uses idx_emails_created_at / idx_emails_status)."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r}: expected one of {', '.join(STATUSES)}")
        limit = max(0, min(int(limit), 1000))

        def fetch(conn: Connection) -> list[EmailRecord]:
            if status is None:
                rows = conn.execute(_LIST, (limit,)).fetchall()
            else:
                rows = conn.execute(_LIST_BY_STATUS, (status, limit)).fetchall()
            return [_record(row) for row in rows]

        return self._read("list emails", fetch)

    def status_counts(self) -> dict[str, int]:
        """Rows per status, every status present (0 when none)."""

        def fetch(conn: Connection) -> dict[str, int]:
            counts = dict.fromkeys(STATUSES, 0)
            for status, count in conn.execute(_COUNTS).fetchall():
                counts[str(status)] = int(count)
            return counts

        return self._read("count emails", fetch)

    def ping(self) -> None:
        """Raises `StoreUnavailable` unless the primary answers within the timeout."""
        with self._primary_conn("ping") as conn:
            conn.execute("SELECT 1")

    # -- connections ---------------------------------------------------------------------

    def _primary_conn(self, action: str) -> AbstractContextManager[Connection]:
        if self._primary is None:
            raise StoreUnavailable(f"{action}: the store is not open")
        return self._primary.connection(action=action)

    def _read(self, action: str, fetch: Callable[[Connection], T]) -> T:
        replica = self._replica
        if replica is not None and time.monotonic() >= self._replica_down_until:
            try:
                with replica.connection(action=action) as conn:
                    return fetch(conn)
            except StoreUnavailable as exc:
                # not again for a while: each try would cost a full timeout
                self._replica_down_until = time.monotonic() + REPLICA_RETRY_S
                log.warning("read replica unavailable, reading from the primary: %s", exc)
        with self._primary_conn(action) as conn:
            return fetch(conn)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"not an email id: {value!r}") from None


def _uuids(values: Sequence[str]) -> list[uuid.UUID]:
    return [_uuid(v) for v in values]


def _clean(text: str) -> str:
    """PostgreSQL text cannot hold NUL; one stray NUL must not fail a whole batch."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _json(data: dict[str, Any]) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if "\\u0000" in text:  # rare: rebuild without NULs (jsonb rejects \u0000)
        text = json.dumps(_strip_nul(data), ensure_ascii=False, separators=(",", ":"))
    return text


def _strip_nul(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(str(k)): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strip_nul(v) for v in value]
    return value


def _record(row: TupleRow) -> EmailRecord:
    (email_id, message_id, status, category, priority, summary, result, attempts, error,
     created_at, processed_at) = row  # fmt: skip
    return EmailRecord(
        id=str(email_id),
        message_id=message_id,
        status=status,
        category=category,
        priority=priority,
        summary=summary,
        result=result,
        attempts=int(attempts),
        error=error,
        created_at=created_at,
        processed_at=processed_at,
    )
