"""A real PostgreSQL server for tests, started from the system package on loopback.

pytest-postgresql drives `pg_ctl`, which refuses to run as root (as CI does here); this
starts `postgres` itself through mirakuru (the process library pytest-postgresql is built
on), dropping to the `postgres` system user when run as root; the server dies with the
test process. The data directory lives in a fresh temporary directory and is removed on
stop; fsync is off (test data only). (tests/service/api/postgres.py is the API's own
variant, with stop/restart and no password.)

Password authentication is on for TCP, so the tests can check that no password leaks into
a message; the superuser connects over the Unix socket with trust.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import port_for
import psycopg
from mirakuru import TCPExecutor

APP_USER = "triage"
APP_PASSWORD = "s3cret-pw-41x"  # the tests grep every output for it


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: p.parts)
    if found:
        return found[-1].parent
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _as_postgres() -> list[str]:
    """setpriv: drop to the postgres user when root, and die with the test process (the
    parent-death signal is set after the credential change, which would clear it)."""
    prefix = ["setpriv", "--pdeathsig=KILL"]
    if os.geteuid() == 0:
        prefix += ["--reuid=postgres", "--regid=postgres", "--clear-groups"]
    return [*prefix, "--"]


class _PostgresExecutor(TCPExecutor):
    def __init__(self, command: list[str], *, port: int, socket_dir: Path, **kw: Any) -> None:
        super().__init__(command, host="127.0.0.1", port=port, **kw)
        self._socket_dir = socket_dir

    def after_start_check(self) -> bool:
        # the port opens before recovery ends; ready means a session can start
        try:
            with psycopg.connect(
                host=str(self._socket_dir),
                port=self.port,
                user="postgres",
                dbname="postgres",
                connect_timeout=2,
            ):
                return True
        except psycopg.OperationalError:
            return False


@dataclass
class PostgresServer:
    port: int
    base: Path
    executor: _PostgresExecutor
    log: IO[str]

    @property
    def socket_dir(self) -> Path:
        return self.base

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """A superuser connection over the Unix socket (autocommit)."""
        return psycopg.connect(
            host=str(self.base), port=self.port, user="postgres", dbname=dbname, autocommit=True
        )

    def dsn(self, dbname: str, *, password: str = APP_PASSWORD) -> str:
        return f"postgresql://{APP_USER}:{password}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database owned by the app user; returns its DSN (with password)."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER {APP_USER}')
        return self.dsn(name)

    def stop(self) -> None:
        try:
            self.executor.stop()
        finally:
            self.log.close()
            shutil.rmtree(self.base, ignore_errors=True)


def start_postgres() -> PostgresServer:
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="triage-pg-"))
    prefix = _as_postgres()
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(base, entry.pw_uid, entry.pw_gid)
    data = base / "data"
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
         "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = port_for.select_random()
    log = (base / "postgres.log").open("w", encoding="utf-8")
    executor = _PostgresExecutor(
        [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(port),
         "-k", str(base), "-h", "127.0.0.1",
         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
         "-c", "max_connections=200"],
        port=port, socket_dir=base, timeout=60, stop_signal=signal.SIGINT,
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = PostgresServer(port=port, base=base, executor=executor, log=log)
    try:
        executor.start()
        with server.admin() as conn:
            conn.execute(f"CREATE ROLE {APP_USER} LOGIN CREATEDB PASSWORD '{APP_PASSWORD}'")
    except BaseException:
        server.stop()
        raise
    return server
