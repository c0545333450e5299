"""`triage db`: the service's PostgreSQL schema.

`triage db migrate` is one library call (`store.migrate`) plus rendering. It is safe to run
while other pods run it too (the library takes an advisory lock). The URL comes from
`--database-url` or, better (a command line shows in `ps`), TRIAGE_DATABASE_URL; no output
ever contains its password: errors name the server as host:port/db.
"""

from __future__ import annotations

import sys

import click

from triage_core.cli.exit_codes import ExitCode
from triage_core.cli.options import fail, handle_errors

# Exit code for "the database could not be reached or refused the change", until
# ExitCode has a member for it.
EXIT_DATABASE = int(ExitCode.DATABASE)


@click.group("db")
def db() -> None:
    """The service's PostgreSQL database."""


@db.command("migrate")
@click.option(
    "--database-url",
    envvar="TRIAGE_DATABASE_URL",
    metavar="URL",
    help="postgresql://user:password@host:port/db (prefer the env var TRIAGE_DATABASE_URL).",
)
@click.option("--dry-run", is_flag=True, help="Print the pending migrations' SQL; apply nothing.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds to connect (libpq waits 2 at least); another run's lock: 6x as long.",
)
@handle_errors
def migrate(database_url: str | None, dry_run: bool, timeout_s: float) -> None:
    """Apply the pending schema migrations (a no-op when up to date)."""
    from triage_core.service.store import StoreError
    from triage_core.service.store import migrate as run_migrations

    if not database_url:
        fail("no database URL: pass --database-url or set TRIAGE_DATABASE_URL", ExitCode.CONFIG)
        return
    try:
        report = run_migrations(
            database_url, dry_run=dry_run, timeout_s=timeout_s, lock_timeout_s=timeout_s * 6
        )
    except StoreError as exc:  # unreachable, refused, or a broken migration
        click.echo(f"triage: error: {exc}", err=True)
        sys.exit(EXIT_DATABASE)
    if dry_run:
        for migration in report.applied:
            click.echo(f"-- {migration.label}")
            click.echo(migration.sql.rstrip("\n"))
        click.echo(
            f"-- dry run: {len(report.applied)} pending migration(s) not applied"
            f" (schema at version {report.version})"
        )
        return
    for migration in report.applied:
        click.echo(f"applied {migration.label}")
    if report.applied:
        click.echo(f"schema at version {report.version}")
    else:
        click.echo(f"nothing to apply: schema at version {report.version}")
