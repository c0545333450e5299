"""Typed errors of the Postgres store.

Callers (the API, the worker, `triage db migrate`) branch on the type: `StoreUnavailable`
means "try again later" (HTTP 503, leave the queue entry pending); any other `StoreError`
is a bug or a bad row. Messages name the server as host:port/db and never the password;
the psycopg error stays reachable as `__cause__` for logs and debuggers.
"""

from __future__ import annotations

from triage_core.errors import TriageError


class StoreError(TriageError):
    """The store could not do what was asked."""


class StoreUnavailable(StoreError):
    """PostgreSQL could not be reached, answered too late, or dropped the connection."""


class MigrationError(StoreError):
    """The migrations could not be applied, or an applied one was edited afterwards."""
