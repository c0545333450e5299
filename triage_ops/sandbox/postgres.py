"""A local PostgreSQL server from the system package, for the sandbox and for tests.

PostgreSQL refuses to run as root, so as root `initdb` and `postgres` run as the `postgres`
system user, which is handed the server's directory. Two lifetimes: a `persistent` server
is detached into its own session and outlives the command that started it (the sandbox
records its pid and stops it later, from another process); a test server dies with the
test process (PR_SET_PDEATHSIG), even a killed one, and runs without fsync, since its data
is thrown away. The server listens on 127.0.0.1 and on a Unix socket in its directory:
the socket is how the superuser gets in where TCP logins need a password.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from triage_ops.sandbox import processes as proc
from triage_ops.sandbox.processes import HOST, ServerStartError

PG_ROOT = Path("/usr/lib/postgresql")
USER = "triage"
DATABASE = "triage"
START_TIMEOUT_S = 30.0
# "Fast" shutdown, what `pg_ctl stop -m fast` sends: clients are disconnected, not awaited.
STOP_SIGNAL = signal.SIGINT
EXPECT = "postgres"  # a fragment of the server's command line: guards against pid reuse
# Test data is thrown away, so nothing is spent protecting it against a crash; a test
# session opens many connection pools.
_THROWAWAY = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def pg_bin() -> Path:
    """The newest installed server's binaries (Debian keeps them off PATH, per version)."""
    found = [p.parent for p in PG_ROOT.glob("*/bin/postgres")]
    if found:
        return max(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise ServerStartError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return Path(initdb).parent


@dataclass
class PostgresServer:
    """One cluster: its files in `directory` (data in `data/`, the socket beside it).

    `user` is the superuser initdb creates. Without a `password` every login is trusted;
    with one, TCP logins need it (SCRAM) and the Unix socket is trusted."""

    directory: Path
    port: int
    log_path: Path
    persistent: bool = False
    user: str = USER
    password: str | None = field(default=None, repr=False)
    database: str = DATABASE
    stat_statements: bool = False  # preload pg_stat_statements, created in each database
    owner: tuple[int, int] | None = field(default_factory=proc.service_user)
    pid: int | None = None

    @property
    def datadir(self) -> Path:
        return self.directory / "data"

    def url(self, database: str | None = None, *, password: str | None = None) -> str:
        """A TCP URL for `user`, with the server's password unless another is given: it
        is a secret, keep it out of output."""
        secret = self.password if password is None else password
        auth = f"{self.user}:{quote(secret, safe='')}" if secret else self.user
        return f"postgresql://{auth}@{HOST}:{self.port}/{database or self.database}"

    def alive(self) -> bool:
        return self.pid is not None and proc.alive(self.pid) and EXPECT in proc.cmdline(self.pid)

    def initdb(self) -> None:
        """Creates the cluster once: a data directory that exists is kept as it is."""
        if self.datadir.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.owner is not None:
            os.chown(self.directory, *self.owner)
        args = [str(pg_bin() / "initdb"), "-D", str(self.datadir), "-U", self.user, "-E", "UTF8"]
        args += ["--no-sync", "--no-instructions"]
        if self.password is None:
            proc.run([*args, "--auth=trust"], user=self.owner)
            return
        pwfile = self.directory / ".pwfile"  # not on the command line, where ps shows it
        pwfile.touch(mode=0o600)
        if self.owner is not None:
            os.chown(pwfile, *self.owner)
        pwfile.write_text(self.password, encoding="utf-8")
        try:
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
            proc.run([*args, *auth], user=self.owner)
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self, *, timeout_s: float = START_TIMEOUT_S) -> None:
        """Starts the server (if it is not running) and waits until a session can start:
        the port opens before crash recovery ends."""
        if self.alive():
            return
        settings = {"listen_addresses": HOST}
        if not self.persistent:
            settings |= _THROWAWAY
        if self.stat_statements:
            settings["shared_preload_libraries"] = "pg_stat_statements"
        args = [str(pg_bin() / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        args += ["-k", str(self.directory)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        self.pid = proc.spawn(
            args, log=self.log_path, user=self.owner, die_with_parent=not self.persistent
        )
        try:
            proc.wait_until(
                self._answers,
                pid=self.pid,
                timeout=timeout_s,
                what=f"postgres on {HOST}:{self.port}",
                log=self.log_path,
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Fast shutdown; SIGKILL if that takes too long."""
        if self.pid is not None:
            proc.stop(self.pid, expect=EXPECT, sig=STOP_SIGNAL)
        self.pid = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stops the server and deletes its directory, data and all."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def admin(self, database: str = "postgres", *, timeout_s: int = 5) -> psycopg.Connection[Any]:
        """A superuser session over the Unix socket, in autocommit."""
        return psycopg.connect(
            host=str(self.directory),
            port=self.port,
            user=self.user,
            dbname=database,
            autocommit=True,
            connect_timeout=timeout_s,
        )

    def create_database(self, name: str | None = None) -> str:
        """Creates database `name` (default: a fresh unique name) unless it exists; returns
        its URL."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        with self.admin() as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if self.stat_statements:
            with self.admin(name) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return self.url(name)

    def _answers(self) -> bool:
        try:
            with self.admin(timeout_s=1):
                return True
        except psycopg.OperationalError:
            return False

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def start_postgres(
    directory: Path | None = None,
    *,
    port: int | None = None,
    persistent: bool = False,
    password: str | None = None,
    database: str | None = DATABASE,
    stat_statements: bool = False,
    log_path: Path | None = None,
) -> PostgresServer:
    """initdb (once), start, and create `database` (None: none); on failure nothing is left
    running. Without a `directory`, a fresh temporary one, which `destroy()` deletes."""
    temporary = directory is None
    base = Path(tempfile.mkdtemp(prefix="triage-pg-")) if directory is None else directory
    server = PostgresServer(
        directory=base,
        port=port or proc.free_port(),
        log_path=log_path or base / "postgres.log",
        persistent=persistent,
        password=password,
        database=database or "postgres",
        stat_statements=stat_statements,
    )
    try:
        server.initdb()
        server.start()
        if database is not None:
            server.create_database(database)
    except BaseException:
        if temporary:
            server.destroy()
        else:
            server.stop()
        raise
    return server


def start_replica(
    primary: PostgresServer,
    directory: Path | None = None,
    *,
    port: int | None = None,
    log_path: Path | None = None,
) -> PostgresServer:
    """A streaming replica of `primary`, made the documented way: `pg_basebackup -R -X
    stream` (which writes `standby.signal` and `primary_conninfo`), then started on its own
    port. It connects to the primary over the primary's Unix socket as the primary's
    superuser, so no password is involved; the roles (and their passwords) are the
    primary's. Without a `directory`, a fresh temporary one."""
    temporary = directory is None
    base = Path(tempfile.mkdtemp(prefix="triage-pg-replica-")) if directory is None else directory
    replica = PostgresServer(
        directory=base,
        port=port or proc.free_port(),
        log_path=log_path or base / "postgres.log",
        user=primary.user,
        password=primary.password,
        database=primary.database,
        stat_statements=primary.stat_statements,
    )
    base.mkdir(parents=True, exist_ok=True)
    if replica.owner is not None:
        os.chown(base, *replica.owner)
    args = [str(pg_bin() / "pg_basebackup"), "-h", str(primary.directory)]
    args += ["-p", str(primary.port), "-U", primary.user, "-D", str(replica.datadir)]
    args += ["-X", "stream", "-R", "-c", "fast", "--no-sync"]
    try:
        proc.run(args, user=replica.owner)
        replica.start()
    except BaseException:
        if temporary:
            replica.destroy()
        else:
            replica.stop()
        raise
    return replica
