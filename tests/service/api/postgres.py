"""A real PostgreSQL server for the API's tests, which must be able to stop and restart it.

pytest-postgresql's executor runs `initdb` as the current user, and PostgreSQL refuses to
run as root (which CI is); so this starts `initdb` and `postgres` directly, as the
`postgres` system user when the tests run as root. The server binds to loopback on a free
port, keeps its files in a private temporary directory, runs with fsync off (test data),
and dies with the test process (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.service.redis.servers import HOST, free_port

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
USER = "triage"
DATABASE = "triage"
START_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1


def pg_bin() -> Path:
    found = sorted(Path("/").glob(PG_BIN_GLOB.lstrip("/")))
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL server binaries not found (initdb)")
    return Path(initdb).parent


def _demote(uid: int | None, gid: int | None) -> Callable[[], None]:
    """Runs in the child before exec: drop root, then ask to die with the parent (the
    parent-death signal is cleared by a credential change, so it comes second)."""

    def run() -> None:
        if gid is not None and uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return run


@dataclass
class PostgresServer:
    directory: Path
    port: int
    uid: int | None
    gid: int | None
    process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}@{HOST}:{self.port}/{DATABASE}"

    @property
    def datadir(self) -> Path:
        return self.directory / "data"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.alive():
            return
        args = [
            str(pg_bin() / "postgres"),
            "-D",
            str(self.datadir),
            "-p",
            str(self.port),
            "-k",
            str(self.directory),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=50",
        ]
        with (self.directory / "postgres.log").open("ab") as log:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_demote(self.uid, self.gid),
            )
        self._wait_ready()

    def stop(self) -> None:
        """Fast shutdown (what `pg_ctl stop -m fast` does): clients are disconnected."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.alive():
                break
            try:
                with psycopg.connect(
                    host=HOST, port=self.port, user=USER, dbname="postgres", connect_timeout=1
                ):
                    return
            except psycopg.OperationalError:
                time.sleep(0.05)
        tail = (self.directory / "postgres.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"postgres on port {self.port} did not start: {tail}")


def start_postgres() -> PostgresServer:
    """initdb + start + CREATE DATABASE; the caller must `destroy()` it."""
    uid = gid = None
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        uid, gid = entry.pw_uid, entry.pw_gid
    directory = Path(tempfile.mkdtemp(prefix="triage-api-pg-"))
    if uid is not None and gid is not None:
        os.chown(directory, uid, gid)
    server = PostgresServer(directory=directory, port=free_port(), uid=uid, gid=gid)
    try:
        subprocess.run(
            [
                str(pg_bin() / "initdb"),
                "-D",
                str(server.datadir),
                "-U",
                USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            preexec_fn=_demote(uid, gid),
            timeout=120,
        )
        server.start()
        with psycopg.connect(
            host=HOST, port=server.port, user=USER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
    except BaseException:
        with contextlib.suppress(Exception):
            server.destroy()
        raise
    return server
