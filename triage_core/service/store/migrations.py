"""Versioned schema migrations: `NNNN_name.sql` files applied in order, each once.

`migrate` is safe to run from every pod at start-up and from `triage db migrate` at the
same time: it takes a PostgreSQL advisory lock first, so concurrent runs queue up and the
later ones find nothing left to do. Each migration runs in its own transaction together
with its row in `schema_migrations`, so a failure leaves the schema at the last good
version. The checksum of every applied file is kept: editing a migration after it has
shipped is refused (write a new one instead).
"""

from __future__ import annotations

import hashlib
import re
from contextlib import suppress
from dataclasses import dataclass, field
from importlib import resources

import psycopg
from psycopg.rows import TupleRow

from triage_core.service.store.connections import translated
from triage_core.service.store.dsn import build_conninfo
from triage_core.service.store.errors import MigrationError

# Any constant works as long as nothing else in the database uses it: "triage" in ASCII.
ADVISORY_LOCK_KEY = 0x747269616765

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str = field(repr=False)

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What a run did: `applied` lists what it applied (a dry run: what it would apply),
    `version` is the schema version before a dry run and after a real one."""

    applied: tuple[Migration, ...]
    version: int
    dry_run: bool


def available() -> tuple[Migration, ...]:
    """The migrations shipped with the package, in version order."""
    folder = resources.files("triage_core.service.store").joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"two migrations share version {version:04d}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    return tuple(found[v] for v in sorted(found))


def migrate(
    dsn: str,
    *,
    dry_run: bool = False,
    timeout_s: float = 10.0,
    lock_timeout_s: float = 60.0,
    migrations: tuple[Migration, ...] | None = None,
) -> MigrationReport:
    """Applies the pending migrations (none: a no-op). A dry run applies nothing and takes
    no lock; it reports what a real run would apply now."""
    todo = available() if migrations is None else migrations
    conninfo = build_conninfo(dsn, timeout_s=timeout_s, application_name="email-triage-migrate")
    with (
        translated(dsn, action="migrate"),
        psycopg.connect(conninfo, autocommit=True) as conn,
    ):
        conn.execute(
            "SELECT set_config('lock_timeout', %s, false)", (str(int(lock_timeout_s * 1000)),)
        )
        if dry_run:
            applied = _applied(conn)
            pending = _pending(todo, applied)
            return MigrationReport(pending, max(applied, default=0), dry_run=True)
        _lock(conn, lock_timeout_s)
        try:
            conn.execute(_CREATE_TABLE)
            applied = _applied(conn)
            pending = _pending(todo, applied)
            for migration in pending:
                _apply(conn, migration)
            version = max([*applied, *(m.version for m in pending)], default=0)
            return MigrationReport(pending, version, dry_run=False)
        finally:
            # closing the connection releases the lock too: a failed unlock is harmless
            with suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _lock(conn: psycopg.Connection[TupleRow], lock_timeout_s: float) -> None:
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    except psycopg.errors.LockNotAvailable:
        raise MigrationError(
            f"another migration still holds the migration lock after {lock_timeout_s:g} s"
        ) from None


def _applied(conn: psycopg.Connection[TupleRow]) -> dict[int, str]:
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return {}
    rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
    return {int(str(version)): str(checksum) for version, checksum in rows}


def _pending(todo: tuple[Migration, ...], applied: dict[int, str]) -> tuple[Migration, ...]:
    for migration in todo:
        checksum = applied.get(migration.version)
        if checksum is not None and checksum != migration.checksum:
            raise MigrationError(
                f"migration {migration.label} was changed after it was applied "
                "(checksum differs): add a new migration instead"
            )
    return tuple(m for m in todo if m.version not in applied)


def _apply(conn: psycopg.Connection[TupleRow], migration: Migration) -> None:
    try:
        with conn.transaction():
            # bytes: the file is trusted SQL of several statements, sent as one query
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.OperationalError:
        raise  # the server went away: StoreUnavailable, not a broken migration
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()
        raise MigrationError(
            f"migration {migration.label} failed and was rolled back: "
            f"{first[0] if first else type(exc).__name__}"
        ) from exc
