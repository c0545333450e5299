"""Connection pools and what their failures mean.

One pool per server (primary, optional read replica). Connections run in autocommit mode
and every multi-statement write opens an explicit `conn.transaction()`, so a connection
never goes back to the pool inside a transaction. Each connection gets a statement and a
lock timeout when it is made: a stuck query or a row lock held by someone else becomes an
error the caller can map to 503, never a hung request or worker.

The pool connects in the background and a caller only sees "no connection after N s";
`ServerPool` remembers why the last attempt failed (refused, wrong password, ...) so the
error a caller gets, and /readyz shows, says it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from triage_core.service.store.dsn import build_conninfo, describe, redact
from triage_core.service.store.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

Connection = psycopg.Connection[TupleRow]

# A statement may take this many times the connect timeout before the server cancels it.
STATEMENT_TIMEOUT_FACTOR = 10


class ServerPool:
    """The pool of one server. `open()` does not wait for the server: the API must start,
    and answer /readyz with 503, while PostgreSQL is down."""

    def __init__(
        self, dsn: str, *, name: str, min_size: int, max_size: int, timeout_s: float
    ) -> None:
        self.dsn = dsn
        self.name = name
        self.last_error: str | None = None  # why the latest connection attempt failed
        statement_ms = int(timeout_s * 1000 * STATEMENT_TIMEOUT_FACTOR)
        lock_ms = int(timeout_s * 1000)

        def configure(conn: Connection) -> None:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false),"
                " set_config('lock_timeout', %s, false)",
                (str(statement_ms), str(lock_ms)),
            )

        self.pool: ConnectionPool[Connection] = ConnectionPool(
            build_conninfo(dsn, timeout_s=timeout_s),
            connection_class=_recording_connection(self),
            min_size=max(0, min_size),
            max_size=max(1, min_size, max_size),
            open=False,
            timeout=timeout_s,
            kwargs={"autocommit": True},
            configure=configure,
            check=ConnectionPool.check_connection,
            name=name,
        )

    def open(self) -> None:
        with translated(self.dsn, action="open the store"):
            self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def connection(self, *, action: str) -> Iterator[Connection]:
        with translated(self.dsn, action=action, pool=self), self.pool.connection() as conn:
            yield conn


def _recording_connection(owner: ServerPool) -> type[Connection]:
    class RecordingConnection(psycopg.Connection[TupleRow]):
        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
            try:
                conn = super().connect(conninfo, **kwargs)
            except psycopg.Error as exc:
                owner.last_error = _first_line(exc, owner.dsn)
                raise
            owner.last_error = None
            return conn

    return RecordingConnection


@contextmanager
def translated(dsn: str, *, action: str, pool: ServerPool | None = None) -> Iterator[None]:
    """Turns psycopg and pool errors into `StoreUnavailable` / `StoreError` whose message
    says what failed where, with no password; the original stays as `__cause__`."""
    where = describe(dsn)
    try:
        yield
    except (PoolTimeout, PoolClosed, psycopg.OperationalError, psycopg.InterfaceError) as exc:
        detail = _first_line(exc, dsn)
        if isinstance(exc, PoolTimeout) and pool is not None and pool.last_error:
            detail += f"; last attempt: {pool.last_error}"
        raise StoreUnavailable(f"{action}: PostgreSQL at {where} unavailable: {detail}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"{action}: PostgreSQL at {where}: {_first_line(exc, dsn)}") from exc


def _first_line(exc: BaseException, dsn: str) -> str:
    text = str(exc).strip().splitlines()
    line = " ".join(text[0].split()) if text else type(exc).__name__
    return redact(line, dsn)
