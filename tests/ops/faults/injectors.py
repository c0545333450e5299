"""The faults the tests inject: a dependency stopped (connection refused) or black-holed
(accepts TCP, never answers: SIGSTOP for Postgres and Redis, tests/ops/blackhole.py for
any server). Each context manager yields the URL to configure and leaves the server
healthy again afterwards.

"Stopped" for a server the tests start themselves means stopping that process; for the
model server, the API and Prometheus of the shared stack it means the port of a stopped
server: nothing listening, connection refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tests.ops.blackhole import black_hole
from tests.ops.faults.stack import PG_PASSWORD, pause, resume
from triage_ops.sandbox.postgres import PostgresServer
from triage_ops.sandbox.processes import HOST, free_port
from triage_ops.sandbox.redis import RedisServer


def pg_url(port: int, password: str = PG_PASSWORD) -> str:
    return f"postgresql://triage:{password}@{HOST}:{port}/triage"


@contextlib.contextmanager
def postgres_fault(server: PostgresServer, kind: str) -> Iterator[str]:
    """The database URL of a primary in fault `kind`; healthy again afterwards."""
    if kind == "black-holed":
        with black_hole() as port:
            yield pg_url(port)
        return
    url = server.url()
    if kind == "stopped":
        server.stop()
        try:
            yield url
        finally:
            server.start()
    else:  # "paused": SIGSTOP, the postmaster accepts nothing it was handed
        pause(server)
        try:
            yield url
        finally:
            resume(server)


@contextlib.contextmanager
def redis_fault(server: RedisServer, kind: str) -> Iterator[str]:
    """The Redis URL of a server in fault `kind`."""
    if kind == "black-holed":
        with black_hole() as port:
            yield f"redis://{HOST}:{port}/0"
    elif kind == "stopped":
        server.stop()
        yield server.url
    else:
        with server.paused():
            yield server.url


@contextlib.contextmanager
def http_fault(kind: str) -> Iterator[str]:
    if kind == "black-holed":
        with black_hole() as port:
            yield f"http://{HOST}:{port}"
    else:
        yield f"http://{HOST}:{free_port()}"  # a stopped server's port: refused
