"""The database session a retention run or restore works in: fixed output settings (so the
archive's text is the same whatever the server's defaults), one advisory lock per
database (two runs never race), and a client-side deadline on every statement.

`statement_timeout` is enforced by the server; a server that stops answering mid-run (a
frozen host, a black-holed network path) never enforces it, and libpq would wait forever.
`Deadline` shuts the connection's socket down from a timer thread when a statement
overruns, which wakes the blocked call with an error that is turned into TimedOut.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import psycopg

from triage_ops.clients.errors import TimedOut
from triage_ops.clients.postgres import SYSTEM, Connection, PostgresClient
from triage_ops.errors import ActionFailed

# "retent" in ASCII; the service's migration lock is "triage" (0x747269616765).
ADVISORY_LOCK_KEY = 0x726574656E74
SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, YMD",
    "IntervalStyle": "postgres",
    "extra_float_digits": "3",
    "client_encoding": "UTF8",
    # the plan's and the verify's counts scan the old rows once: compiling them costs
    # more CPU than it saves
    "jit": "off",
}
# A batch statement moves megabytes: give it longer than a health check gets.
MIN_STATEMENT_TIMEOUT_S = 60.0
GRACE_S = 5.0  # past statement_timeout before the client gives up on the server


class RetentionBusy(ActionFailed):
    """Another retention run or restore holds the database's retention lock."""


class Deadline:
    """Arm before a statement, disarm after: an overrun closes the socket."""

    def __init__(self, conn: Connection, *, seconds: float, where: str) -> None:
        self.conn = conn
        self.seconds = seconds
        self.where = where
        self.fired = False
        self._timer: threading.Timer | None = None

    @contextlib.contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()
        try:
            yield
        except psycopg.Error as exc:
            if self.fired:
                raise TimedOut(
                    f"{self.where}: no answer within {self.seconds:g} s ({what})", system=SYSTEM
                ) from exc
            raise
        finally:
            self._timer.cancel()

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(OSError, psycopg.Error):
            fd = os.dup(self.conn.pgconn.socket)
            with socket.socket(fileno=fd) as sock:
                sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def session(
    client: PostgresClient, *, lock: bool, what: str
) -> Iterator[tuple[Connection, Deadline]]:
    """An autocommit connection with the archive's output settings; with `lock`, the
    retention lock is held until the connection closes (a killed process releases it)."""
    timeout_s = max(MIN_STATEMENT_TIMEOUT_S, client.timeout)
    with client.connect(autocommit=True, statement_timeout_s=timeout_s) as conn:
        deadline = Deadline(
            conn, seconds=timeout_s + GRACE_S, where=f"PostgreSQL {client.role} at {client.address}"
        )
        try:
            with deadline("session setup"):
                for name, value in SESSION_SETTINGS.items():
                    conn.execute("SELECT set_config(%s, %s, false)", (name, value))
                conn.execute(
                    "SELECT set_config('lock_timeout', %s, false)",
                    (str(int(client.timeout * 1000)),),
                )
                if lock:
                    row = conn.execute(
                        "SELECT pg_try_advisory_lock(%s) AS locked", (ADVISORY_LOCK_KEY,)
                    ).fetchone()
                    if row is None or not row["locked"]:
                        raise RetentionBusy(
                            f"another retention run or restore holds the retention lock on"
                            f" {client.address}: wait for it to finish ({what} not started)"
                        )
        except psycopg.Error as exc:
            raise client.translate(exc, what) from None
        try:
            yield conn, deadline
        except psycopg.Error as exc:
            raise client.translate(exc, what) from None


def one(conn: Connection, query: Any, params: Any = None) -> dict[str, Any]:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return dict(row)
