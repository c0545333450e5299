"""`backup restore-test`: the monthly "full backup restore test", for real.

The latest base backup (or `--backup PATH`) is copied into a scratch directory, checked
with `pg_verifybackup`, and started as a private PostgreSQL instance on a free port. A
backup taken with `-X stream` carries the WAL it needs, so the server's own crash recovery
from `backup_label` makes it consistent: no restore_command and no recovery.signal. (The
runbook's `pg_restore` of a `dump_*.sql` restores a logical dump, which a base backup is
not; its `pg_resetwal -f` would throw away WAL and corrupt the restore.)

Once it accepts connections, every user table is counted on the restore and on the
primary (each side in one snapshot), and `emails` by status. The primary may hold more
rows (written after the backup started): both counts are reported and only a restore
holding MORE rows than the primary is flagged (rows deleted since, or a backup of another
server). Then the instance is stopped and the directory removed: always, also on failure,
Ctrl-C or SIGTERM.

The scratch instance is sealed off: no TCP listener (a Unix socket in a 0700 directory of
its own), its own pg_hba.conf trusting that socket only, and every setting that could
reach outside overridden on the command line (the copied postgresql.conf may point at the
production data directory, archive, primary or TLS files): data_directory, archive_mode,
primary_conninfo, ssl, shared_preload_libraries, synchronous_standby_names. A copy made
with `pg_basebackup -R` would start as a standby of the primary: its standby.signal is
removed first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row

from triage_ops.clients.errors import ClientError
from triage_ops.engine.contract import StepContext
from triage_ops.errors import UsageError
from triage_ops.findings import Finding
from triage_ops.procedures.backup import files, locate
from triage_ops.procedures.backup.settings import setting
from triage_ops.sandbox import processes as proc
from triage_ops.sandbox.postgres import pg_bin

RESTORE_FAILED = "TRI-BACKUP-010"
RESTORE_HAS_MORE = "TRI-BACKUP-011"
PRIMARY_DOWN = "TRI-BACKUP-007"
NO_BACKUP = "TRI-BACKUP-001"

EXPECT = "postgres"
_SETTINGS = {
    "listen_addresses": "",
    "archive_mode": "off",
    "primary_conninfo": "",
    "primary_slot_name": "",
    "ssl": "off",
    "shared_preload_libraries": "",
    "synchronous_standby_names": "",
    "logging_collector": "off",
    "log_destination": "stderr",
    "external_pid_file": "",
    "cluster_name": "triage-restore-test",
    "shared_buffers": "128MB",
    "huge_pages": "off",
    "fsync": "off",  # the instance is thrown away
    "synchronous_commit": "off",
}
_TABLES = """
SELECT n.nspname AS schema, c.relname AS name, c.relpersistence = 'u' AS unlogged
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
ORDER BY 1, 2
"""
_EMAILS_BY_STATUS = (
    "SELECT status, count(*) AS n FROM public.emails GROUP BY status ORDER BY status"
)

SAME = "same"
PRIMARY_MORE = "primary has more (written after the backup)"
RESTORE_MORE = "RESTORE HAS MORE"
MISSING = "not in the restore (created after the backup)"
ONLY_RESTORED = "only in the restore (dropped after the backup)"
UNLOGGED = "unlogged (never in a backup)"


@dataclass
class RestoreReport:
    backup: str = ""
    backup_start_time: str = ""
    scratch_dir: str = ""
    port: int = 0
    verified: bool = False
    started: bool = False
    in_recovery: bool | None = None  # False: recovered and open for writes, as after a restore
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds
    tables: list[dict[str, Any]] = field(default_factory=list)
    emails_by_status: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    cleaned_up: bool = False
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "findings"}
        data["findings"] = [f.to_json() for f in self.findings]
        return data


class NoBackup(UsageError):
    """Nothing to restore: for the command a usage error, for the monthly check a
    finding."""


def choose_backup(ctx: StepContext, backup: Path | None) -> locate.BaseBackup:
    """`--backup PATH`, else the latest complete backup in backup_dir."""
    if backup is not None:
        return locate.read(backup)
    backup_dir = str(setting(ctx.config, "backup_dir", ctx.params))
    if not backup_dir:
        raise NoBackup("no backup_dir configured and no --backup given")
    latest = locate.scan(Path(backup_dir)).latest
    if latest is None:
        raise NoBackup(f"no complete base backup in {backup_dir}")
    return latest


def restore_steps(ctx: StepContext, backup: locate.BaseBackup) -> list[dict[str, str]]:
    """What `restore_test` would do (for --dry-run): it changes nothing anywhere but in its
    own scratch directory, which it removes."""
    scratch = setting(ctx.config, "restore_scratch_dir", ctx.params) or tempfile.gettempdir()
    data = f"{scratch}/triage-restore-XXXX/data"
    how = "cp -a" if backup.format == locate.PLAIN else "tar -x (base.tar, pg_wal.tar)"
    return [
        {"step": "copy", "what": f"{how} {backup.path} -> {data}"},
        {"step": "verify", "what": f"pg_verifybackup {data}"},
        {"step": "start", "what": "postgres on a free port, Unix socket only, crash recovery"},
        {"step": "count", "what": "row counts of every user table, emails by status, vs primary"},
        {
            "step": "cleanup",
            "what": f"stop the scratch instance, rm -rf {scratch}/triage-restore-XXXX",
        },
    ]


def restore_test(ctx: StepContext, *, backup: Path | None = None) -> RestoreReport:
    chosen = choose_backup(ctx, backup)
    report = RestoreReport(backup=str(chosen.path), backup_start_time=chosen.start_time.isoformat())
    started = time.monotonic()
    deadline = started + float(setting(ctx.config, "restore_timeout_s", ctx.params))
    user, dbname = _login(ctx)
    parent = setting(ctx.config, "restore_scratch_dir", ctx.params) or None
    try:
        server = _Scratch.create(parent, owner=proc.service_user())
    except OSError as exc:
        where = parent or "the temp dir"
        raise UsageError(f"cannot make a scratch directory in {where}: {exc.strerror}") from None
    report.scratch_dir = str(server.directory)
    try:
        with _sigterm_as_interrupt():
            _run(ctx, report, chosen, server, user=user, dbname=dbname, deadline=deadline)
    finally:
        cleanup_started = time.monotonic()
        report.cleaned_up = server.remove()
        report.steps["cleanup"] = round(time.monotonic() - cleanup_started, 2)
        report.duration_s = round(time.monotonic() - started, 2)
    ctx.note(f"restore test of {chosen.path.name}: {report.duration_s:g} s")
    return report


def check_restore_test(ctx: StepContext) -> list[Finding]:
    """Monthly: "perform full system backup validation" by restoring the latest backup."""
    try:
        return restore_test(ctx).findings
    except NoBackup as exc:
        return [ctx.finding(NO_BACKUP, f"nothing to restore: {exc}")]


def _run(
    ctx: StepContext,
    report: RestoreReport,
    backup: locate.BaseBackup,
    server: _Scratch,
    *,
    user: str,
    dbname: str,
    deadline: float,
) -> None:
    def failed(step: str, why: str, **evidence: Any) -> None:
        report.findings.append(
            ctx.finding(
                RESTORE_FAILED,
                f"restore test of {backup.path.name} failed at {step}: {why}",
                backup=str(backup.path),
                step=step,
                **evidence,
            )
        )

    with _timed(report, "copy"):
        try:
            files.copy_into(backup, server.datadir, owner=server.owner)
        except files.BackupFilesError as exc:
            failed("copy", str(exc))
            return
    with _timed(report, "verify"):
        check = files.verify(server.datadir, timeout_s=_left(deadline))
    report.verified = check.ok
    if not check.ok:
        failed(
            "verify",
            check.errors[0] if check.errors else "pg_verifybackup failed",
            errors=list(check.errors),
        )
        return
    with _timed(report, "start"):
        try:
            report.port = server.start(timeout_s=_left(deadline), user=user, dbname=dbname)
        except (proc.ServerStartError, TimeoutError, OSError) as exc:
            failed("start", str(exc).splitlines()[0], log=proc.log_tail(server.log, lines=10))
            return
    report.started = True
    with _timed(report, "count"):
        try:
            with server.connect(user, dbname, timeout_s=_left(deadline)) as conn:
                recovery = conn.execute("SELECT pg_is_in_recovery() AS r").fetchone()
                report.in_recovery = bool(recovery and recovery["r"])
                restored = _counts(conn)
        except psycopg.Error as exc:
            failed("count", _first_line(exc))
            return
        primary: _Counts | None
        try:
            with ctx.clients.postgres().connect(statement_timeout_s=_left(deadline)) as conn:
                primary = _counts(conn)
        except ClientError as exc:
            report.findings.append(ctx.finding(PRIMARY_DOWN, f"restore not compared: {exc}"))
            primary = None
    _compare(ctx, report, backup, restored, primary)


@dataclass(frozen=True)
class _Counts:
    tables: dict[str, int | None]  # "schema.table" -> rows (None: could not count)
    unlogged: frozenset[str]
    errors: dict[str, str]  # "schema.table" -> why it could not be counted
    emails_by_status: dict[str, int] | None


def _counts(conn: psycopg.Connection[DictRow]) -> _Counts:
    """Every user table counted exactly, in one REPEATABLE READ snapshot; a table we may
    not read is reported, not fatal (a savepoint each)."""
    tables: dict[str, int | None] = {}
    unlogged: set[str] = set()
    errors: dict[str, str] = {}
    statuses: dict[str, int] | None = None
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for row in conn.execute(_TABLES).fetchall():
            name = f"{row['schema']}.{row['name']}"
            if row["unlogged"]:
                unlogged.add(name)
            query = sql.SQL("SELECT count(*) AS n FROM {}").format(
                sql.Identifier(row["schema"], row["name"])
            )
            try:
                with conn.transaction():
                    counted = conn.execute(query).fetchone()
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                tables[name] = None
                errors[name] = _first_line(exc)
                continue
            tables[name] = None if counted is None else int(counted["n"])
        if tables.get("public.emails") is not None:
            statuses = {r["status"]: int(r["n"]) for r in conn.execute(_EMAILS_BY_STATUS)}
    return _Counts(tables, frozenset(unlogged), errors, statuses)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _compare(
    ctx: StepContext,
    report: RestoreReport,
    backup: locate.BaseBackup,
    restored: _Counts,
    primary: _Counts | None,
) -> None:
    names = sorted(set(restored.tables) | set(primary.tables if primary else ()))
    more: list[str] = []
    for name in names:
        row: dict[str, Any] = {
            "table": name,
            "restored_rows": restored.tables.get(name),
            "primary_rows": primary.tables.get(name) if primary else None,
            "verdict": _verdict(name, restored, primary),
        }
        if row["verdict"] == RESTORE_MORE:
            more.append(name)
        report.tables.append(row)
    got = restored.emails_by_status or {}
    want = (primary.emails_by_status or {}) if primary else {}
    for status in sorted(set(got) | set(want)):
        report.emails_by_status.append(
            {
                "status": status,
                "restored_rows": got.get(status, 0),
                "primary_rows": want.get(status, 0) if primary else None,
            }
        )
    if more:
        report.findings.append(
            ctx.finding(
                RESTORE_HAS_MORE,
                f"the restore of {backup.path.name} has more rows than the primary in"
                f" {', '.join(more)}",
                backup=str(backup.path),
                tables=[t for t in report.tables if t["table"] in more],
            )
        )


def _verdict(name: str, restored: _Counts, primary: _Counts | None) -> str:
    if primary is None:
        return "not compared (primary did not answer)"
    for side in (restored, primary):
        if name in side.errors:
            return f"not counted: {side.errors[name]}"
    if name in restored.unlogged or name in primary.unlogged:
        return UNLOGGED
    if name not in restored.tables:
        return MISSING
    if name not in primary.tables:
        return ONLY_RESTORED
    got, want = restored.tables[name], primary.tables[name]
    assert got is not None and want is not None
    if got == want:
        return SAME
    return PRIMARY_MORE if got < want else RESTORE_MORE


def _login(ctx: StepContext) -> tuple[str, str]:
    """The primary's role and database, which exist in a physical copy of it."""
    dsn = str(getattr(ctx.config, "database_url", "") or "")
    if not dsn:
        raise UsageError("no database_url configured: the restore is compared with the primary")
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise UsageError("invalid database_url") from None
    user = str(params.get("user") or "postgres")
    return user, str(params.get("dbname") or user)


def _left(deadline: float) -> float:
    return max(1.0, deadline - time.monotonic())


@contextlib.contextmanager
def _timed(report: RestoreReport, step: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        report.steps[step] = round(time.monotonic() - started, 2)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`) unwinds like Ctrl-C, so the `finally` that
    removes the scratch instance runs. Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous: Callable[[int, FrameType | None], Any] | int | None = signal.signal(
        signal.SIGTERM, interrupt
    )
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Scratch:
    """The private instance: data in `data/`, its log beside it."""

    def __init__(self, directory: Path, socket_dir: Path, *, owner: tuple[int, int] | None) -> None:
        self.directory = directory
        self.datadir = directory / "data"
        self.log = directory / "postgres.log"
        self.socket_dir = socket_dir
        self.owner = owner
        self.port = 0
        self.pid: int | None = None

    @classmethod
    def create(cls, parent: str | None, *, owner: tuple[int, int] | None) -> _Scratch:
        """A 0700 directory for the data (in `parent`) and one for the socket: a Unix
        socket path is limited to 107 bytes, so it goes in a short directory of its own
        in the system's temp dir, whatever restore_scratch_dir is."""
        made: list[Path] = []
        try:
            made.append(Path(tempfile.mkdtemp(prefix="triage-restore-", dir=parent)))
            made.append(Path(tempfile.mkdtemp(prefix="triage-sock-")))
            for path in made:
                if owner is not None:
                    os.chown(path, *owner)
        except BaseException:
            for path in made:
                shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(made[0], made[1], owner=owner)

    def start(self, *, timeout_s: float, user: str, dbname: str) -> int:
        self._prepare()
        self.port = proc.free_port()
        settings = dict(_SETTINGS)
        settings |= {
            "data_directory": str(self.datadir),
            "hba_file": str(self.datadir / "pg_hba.conf"),
            "ident_file": str(self.datadir / "pg_ident.conf"),
        }
        args = [str(pg_bin() / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        args += ["-k", str(self.socket_dir)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        self.pid = proc.spawn(args, log=self.log, user=self.owner, die_with_parent=True)

        def answers() -> bool:
            try:
                with psycopg.connect(**self._params(user, dbname, 2)):
                    return True
            except psycopg.OperationalError:
                return False

        proc.wait_until(
            answers, timeout=timeout_s, what="the restored instance", pid=self.pid, log=self.log
        )
        return self.port

    def connect(self, user: str, dbname: str, *, timeout_s: float) -> psycopg.Connection[DictRow]:
        params = self._params(user, dbname, 5)
        params["options"] = f"-c statement_timeout={int(timeout_s * 1000)}"
        return psycopg.connect(**params, autocommit=True, row_factory=dict_row)

    def stop(self) -> None:
        if self.pid is not None:
            proc.stop(self.pid, expect=EXPECT, sig=signal.SIGINT)
            self.pid = None

    def remove(self) -> bool:
        """Stops the server and deletes its files; True when nothing is left."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        return not self.directory.exists() and not self.socket_dir.exists()

    def _params(self, user: str, dbname: str, timeout: int) -> dict[str, Any]:
        return {
            "host": str(self.socket_dir),
            "port": self.port,
            "user": user,
            "dbname": dbname,
            "connect_timeout": timeout,
            "application_name": "triage-ops-restore-test",
        }

    def _prepare(self) -> None:
        """Our copy only: a standby.signal (a `-R` backup) or recovery.signal would make it
        follow the primary or demand a restore_command; pg_hba trusts our socket only."""
        for name in ("standby.signal", "recovery.signal", "postmaster.pid"):
            (self.datadir / name).unlink(missing_ok=True)
        written = {
            "pg_hba.conf": "local all all trust\n",
            "pg_ident.conf": "",
        }
        if not (self.datadir / "postgresql.conf").exists():
            written["postgresql.conf"] = ""  # the config lived outside the data directory
        for name, text in written.items():
            path = self.datadir / name
            path.write_text(text, encoding="utf-8")
            if self.owner is not None:
                os.chown(path, *self.owner)
