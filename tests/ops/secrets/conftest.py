"""Secret rotation against a real PostgreSQL (SCRAM logins over TCP, one server per test
session, the service role reset per test) and the Kubernetes API emulator over real HTTP
(one per test, its kubeconfig written the way a user has one)."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import yaml
from click.testing import CliRunner
from psycopg import sql

import triage_ops.cli as cli
from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.kube_emulator import CONTEXT, Emulator
from triage_ops.sandbox.postgres import PostgresServer, start_postgres

ADMIN_PASSWORD = "adm1n-Secret-for-rotation-tests"
ROLE = "email_triage"
INITIAL = "emulator-db-password-0"  # the healthy scenario's db-credentials password
NS = "email-triage"
DEPLOYMENTS = ("email-triage-api", "email-triage-worker")
COMMAND = ("secrets", "triage_ops.commands.secrets:secrets")


@pytest.fixture(autouse=True)
def secrets_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._COMMANDS, *COMMAND)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """In a directory of its own (not under pytest's /tmp/pytest-of-root, which every new
    pytest session makes 0700 again: the `postgres` user would lose its data mid-run)."""
    server = start_postgres(password=ADMIN_PASSWORD)
    yield server
    server.destroy()


@dataclass
class Setup:
    pg: PostgresServer
    emulator: Emulator
    config: OpsConfig
    config_path: Path
    audit_path: Path

    def logs_in(self, password: str) -> bool:
        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=self.pg.port,
                user=ROLE,
                password=password,
                dbname=self.pg.database,
                connect_timeout=3,
            ):
                return True
        except psycopg.OperationalError as exc:
            assert "password authentication failed" in str(exc), exc
            return False

    def secret_password(self) -> str:
        return str(
            Clients(self.config, timeout=3).kubernetes().get_secret("db-credentials")["password"]
        )

    def requests(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = requests.get(
            f"{self.emulator.url}/_emulator/requests", timeout=5
        ).json()
        return data

    def restarts(self) -> dict[str, int]:
        """Real (not dry-run) restarts per deployment, from the emulator's request log."""
        counts = dict.fromkeys(DEPLOYMENTS, 0)
        for r in self.requests():
            name = r["path"].rsplit("/", 1)[-1]
            if (
                r["method"] == "PATCH"
                and "/deployments/" in r["path"]
                and "dryRun" not in r["query"]
                and "kubectl.kubernetes.io/restartedAt"
                in str(r["body"]["spec"]["template"]["metadata"]["annotations"])
            ):
                counts[name] += 1
        return counts

    def secret_patches(self) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests()
            if r["method"] == "PATCH" and r["path"].endswith("/secrets/db-credentials")
        ]

    def invoke(self, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(
            cli.main, ["--config", str(self.config_path), "--timeout", "3", *args]
        )
        return result.exit_code, result.stdout, result.stderr

    def run(self, *args: str, fail_after: str | None = None) -> tuple[int, str, str]:
        """The CLI in a process of its own (its logging set up as a user's is: -vv shows
        the libraries' debug logs), the command registered, a fault injected if asked."""
        script = (
            "import functools, sys, triage_ops.cli as cli\n"
            "from triage_ops.procedures import secret_rotation as r\n"
            f"cli._COMMANDS[{COMMAND[0]!r}] = {COMMAND[1]!r}\n"
            "r.RotateDbPassword = functools.partial("
            f"r.RotateDbPassword, fail_after={fail_after!r})\n"
            "sys.argv[0] = 'triage-ops'\n"
            "cli.main()\n"
        )
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                "--config",
                str(self.config_path),
                "--timeout",
                "3",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode, done.stdout, done.stderr

    def configure(self, **settings: Any) -> None:
        data = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        self.config_path.write_text(yaml.safe_dump({**data, **settings}), encoding="utf-8")

    def audit_text(self) -> str:
        return self.audit_path.read_text(encoding="utf-8") if self.audit_path.exists() else ""


def set_role_password(pg: PostgresServer, password: str) -> None:
    with pg.admin(pg.database) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(password)
            )
        )


@pytest.fixture
def setup(pg_server: PostgresServer, tmp_path: Path) -> Iterator[Setup]:
    if not pg_server.alive():
        pg_server.start()
    with pg_server.admin(pg_server.database) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(ROLE)))
    set_role_password(pg_server, INITIAL)
    emulator = Emulator("healthy")
    emulator.start()
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    audit = tmp_path / "audit.jsonl"
    settings = {
        "database_url": pg_server.url(),
        "kubeconfig": str(kubeconfig),
        "kube_context": CONTEXT,
        "db_service_role": ROLE,
        "audit_log": str(audit),
    }
    path = tmp_path / "triage-ops.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    config = OpsConfig.load(path, env={})
    yield Setup(pg_server, emulator, config, path, audit)
    emulator.stop()
    if not pg_server.alive():
        pg_server.start()


def secret_leaks(text: str, *passwords: str) -> list[str]:
    """Which of the passwords (plain or base64, as a Secret's data holds it) are in text."""
    found = []
    for password in passwords:
        encoded = base64.b64encode(password.encode()).decode()
        if password in text or encoded in text:
            found.append(password)
    return found
