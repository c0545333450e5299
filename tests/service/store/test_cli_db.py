"""`triage db migrate` through click's CliRunner: exact output, exit codes, no password."""

from __future__ import annotations

from click.testing import CliRunner

from tests.service.store.conftest import APP_PASSWORD
from triage_core.cli.db import EXIT_DATABASE, db
from triage_core.service.store import available
from triage_ops.sandbox.postgres import PostgresServer


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(db, ["migrate", *args], env=env or {"TRIAGE_DATABASE_URL": ""})
    return result.exit_code, result.stdout, result.stderr


def test_migrate_applies_then_reports_up_to_date(empty_database_url: str) -> None:
    assert invoke("--database-url", empty_database_url) == (
        0,
        "applied 0001_create_emails\napplied 0002_emails_indexes\nschema at version 2\n",
        "",
    )
    assert invoke("--database-url", empty_database_url) == (
        0,
        "nothing to apply: schema at version 2\n",
        "",
    )


def test_migrate_reads_the_url_from_the_environment(empty_database_url: str) -> None:
    code, out, _ = invoke(env={"TRIAGE_DATABASE_URL": empty_database_url})
    assert (code, out.splitlines()[-1]) == (0, "schema at version 2")


def test_dry_run_prints_the_pending_sql_and_applies_nothing(empty_database_url: str) -> None:
    first, second = available()
    expected = (
        f"-- 0001_create_emails\n{first.sql}"
        f"-- 0002_emails_indexes\n{second.sql}"
        "-- dry run: 2 pending migration(s) not applied (schema at version 0)\n"
    )
    assert invoke("--database-url", empty_database_url, "--dry-run") == (0, expected, "")
    assert invoke("--database-url", empty_database_url, "--dry-run") == (0, expected, "")
    invoke("--database-url", empty_database_url)
    assert invoke("--database-url", empty_database_url, "--dry-run") == (
        0,
        "-- dry run: 0 pending migration(s) not applied (schema at version 2)\n",
        "",
    )


def test_no_url_is_a_config_error() -> None:
    assert invoke() == (
        4,
        "",
        "triage: error: no database URL: pass --database-url or set TRIAGE_DATABASE_URL\n",
    )


def test_a_malformed_url_is_a_config_error_without_the_password() -> None:
    # libpq's own message would quote the word after the password: "missing = after 41x"
    code, out, err = invoke("--database-url", "host=x password=s3cret-pw 41x")
    assert (code, out) == (4, "")
    assert err == (
        "triage: error: invalid database URL: expected postgresql://user:password@host:port/db"
        " or key=value pairs\n"
    )


def test_a_wrong_password_is_one_line_without_any_password(postgres: PostgresServer) -> None:
    wrong = "Wr0ng-pass-77"
    code, out, err = invoke("--database-url", postgres.url("postgres", password=wrong))
    assert (code, out) == (EXIT_DATABASE, "")
    assert err == (
        f"triage: error: migrate: PostgreSQL at 127.0.0.1:{postgres.port}/postgres unavailable:"
        f' connection failed: connection to server at "127.0.0.1", port {postgres.port} failed:'
        ' FATAL: password authentication failed for user "triage"\n'
    )
    assert wrong not in err and APP_PASSWORD not in err


def test_an_unreachable_server_fails_within_the_timeout(black_hole: int) -> None:
    url = f"postgresql://triage:{APP_PASSWORD}@127.0.0.1:{black_hole}/triage"
    code, out, err = invoke("--database-url", url, "--timeout", "1")
    assert (code, out) == (EXIT_DATABASE, "")
    assert err.startswith(f"triage: error: migrate: PostgreSQL at 127.0.0.1:{black_hole}/triage")
    assert err.count("\n") == 1 and APP_PASSWORD not in err


def test_help_never_shows_the_url_from_the_environment() -> None:
    url = f"postgresql://triage:{APP_PASSWORD}@db:5432/triage"
    result = CliRunner().invoke(db, ["migrate", "--help"], env={"TRIAGE_DATABASE_URL": url})
    assert result.exit_code == 0
    assert "--dry-run" in result.stdout and APP_PASSWORD not in result.stdout
