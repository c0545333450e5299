"""PostgreSQL for triage-ops (psycopg 3): one short-lived connection per task, built with
the run's timeout, whose failures become typed errors naming `host:port/db`, never the
password.

libpq's `connect_timeout` covers the whole connection start-up (TCP, TLS, authentication),
so a server that accepts TCP and never answers costs one timeout, not a hang. Every
statement also runs under `statement_timeout`, so a check waiting on a lock gives up too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

from triage_core.service.settings import Secret
from triage_core.service.store.dsn import build_conninfo, describe, redact
from triage_ops.clients.errors import AuthFailed, ClientError, NotFound, TimedOut, Unreachable
from triage_ops.errors import UsageError

SYSTEM = "postgres"
APPLICATION_NAME = "triage-ops"

Connection = psycopg.Connection[DictRow]


@dataclass(frozen=True)
class Ping:
    address: str
    latency_ms: float
    server_version: str
    in_recovery: bool  # a replica (or a primary still replaying WAL)


class PostgresClient:
    def __init__(self, dsn: Secret | str, *, timeout: float, role: str = "primary") -> None:
        self.dsn = Secret(dsn)
        self.timeout = timeout
        self.role = role
        self.address = describe(dsn)

    @classmethod
    def from_config(cls, config: Any, *, timeout: float, replica: bool = False) -> PostgresClient:
        dsn = config.database_replica_url if replica else config.database_url
        if not dsn:
            name = "database_replica_url" if replica else "database_url"
            raise UsageError(f"no {name} configured (config file or TRIAGE_OPS_{name.upper()})")
        return cls(dsn, timeout=timeout, role="replica" if replica else "primary")

    @contextmanager
    def connect(
        self, *, autocommit: bool = True, statement_timeout_s: float | None = None
    ) -> Iterator[Connection]:
        """A connection that is closed on exit; psycopg errors inside the block are
        translated too (an OperationalError mid-query is the server going away)."""
        statement_ms = int((statement_timeout_s or self.timeout) * 1000)
        conninfo = build_conninfo(
            self.dsn, timeout_s=self.timeout, application_name=APPLICATION_NAME
        )
        try:
            conn = psycopg.connect(
                conninfo,
                autocommit=autocommit,
                row_factory=dict_row,
                options=f"-c statement_timeout={statement_ms}",
            )
        except psycopg.Error as exc:
            raise self.translate(exc, "connect") from None
        try:
            with conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise self.translate(exc, "query") from None

    def ping(self) -> Ping:
        started = time.perf_counter()
        with self.connect() as conn:
            row = conn.execute(
                "SELECT current_setting('server_version') AS version,"
                " pg_is_in_recovery() AS in_recovery"
            ).fetchone()
        assert row is not None
        return Ping(
            address=self.address,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            server_version=str(row["version"]),
            in_recovery=bool(row["in_recovery"]),
        )

    def translate(self, exc: psycopg.Error, what: str) -> ClientError:
        """A one-line typed error; the driver's text goes through `redact` first."""
        text = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "", self.dsn)
        where = f"PostgreSQL {self.role} at {self.address}"
        lowered = text.lower()
        if "timeout" in lowered or isinstance(exc, psycopg.errors.QueryCanceled):
            return TimedOut(f"{where}: no answer within {self.timeout:g} s ({what})", system=SYSTEM)
        if "password authentication failed" in lowered or "no password supplied" in lowered:
            return AuthFailed(f"{where}: authentication failed", system=SYSTEM)
        if "does not exist" in lowered and "database" in lowered:
            return NotFound(f"{where}: {text}", system=SYSTEM)
        if isinstance(exc, psycopg.OperationalError):
            return Unreachable(f"{where}: {text or type(exc).__name__}", system=SYSTEM)
        return ClientError(f"{where}: {text or type(exc).__name__}", system=SYSTEM)
