"""What the backup and db tests share: a StepContext with the real finding catalogue,
config files, the CLI, pg_basebackup, and directories the postgres user can reach."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
import yaml
from click.testing import CliRunner

from triage_core.service.settings import Secret
from triage_ops import cli
from triage_ops.cli import main
from triage_ops.clients import Clients
from triage_ops.config import OpsConfig
from triage_ops.engine.catalogue import Catalogue, read_file
from triage_ops.engine.contract import StepContext
from triage_ops.engine.runbook import default_dir
from triage_ops.sandbox import processes
from triage_ops.sandbox.postgres import PostgresServer, pg_bin

OURS = ("findings.yaml", "findings.d/backup.yaml", "findings.d/database.yaml")


def catalogue(config: OpsConfig) -> Catalogue:
    """The engine's codes and ours (the files other areas are still writing are not
    loaded here: a typo there must not fail these tests)."""
    entries = [e for name in OURS for e in read_file(default_dir() / name)]
    return Catalogue(entries, config=config)


def config(**settings: Any) -> OpsConfig:
    secrets = {"database_url", "database_replica_url"}
    values = {k: Secret(v) if k in secrets else v for k, v in settings.items()}
    return OpsConfig(**values)


def make_ctx(
    cfg: OpsConfig, params: Mapping[str, Any] | None = None, *, timeout: float = 5.0
) -> StepContext:
    return StepContext(
        config=cfg,
        clients=Clients(cfg, timeout=timeout),
        timeout=timeout,
        step_id="test",
        params=dict(params or {}),
        make_finding=catalogue(cfg).finding,
    )


def reachable(path: Path) -> Path:
    """The postgres system user must be able to traverse every parent of its dirs."""
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)
    return path


def owned(path: Path) -> Path:
    """A directory the server's user owns (pg_basebackup runs as that user)."""
    path.mkdir(parents=True, exist_ok=True)
    owner = processes.service_user()
    if owner is not None:
        os.chown(path, *owner)
    return path


def basebackup(
    server: PostgresServer, dest: Path, *, fmt: str = "p", extra: tuple[str, ...] = ()
) -> Path:
    """`pg_basebackup -D DEST -F{p|t} -X stream --manifest-checksums=SHA256`, as the backup
    job would run it."""
    args = [str(pg_bin() / "pg_basebackup"), "-h", str(server.directory), "-p", str(server.port)]
    args += ["-U", server.user, "-D", str(dest), f"-F{fmt}", "-X", "stream"]
    args += ["--manifest-checksums=SHA256", "-c", "fast", "--no-sync", *extra]
    subprocess.run(args, check=True, capture_output=True, timeout=60)
    return dest


def write_config(path: Path, **settings: Any) -> Path:
    path.write_text(yaml.safe_dump({k: str(v) for k, v in settings.items()}), encoding="utf-8")
    return path


# The lines cli.py's _COMMANDS gets (the lead adds them; until then the tests do).
COMMANDS = {"backup": "triage_ops.commands.backup:backup", "db": "triage_ops.commands.db:db"}


def invoke(*args: str) -> tuple[int, str, str]:
    for name, target in COMMANDS.items():
        cli._COMMANDS.setdefault(name, target)
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def sql(server: PostgresServer, statement: str, *, database: str | None = None) -> Any:
    with server.admin(database or server.database) as conn:
        cur = conn.execute(statement.encode())
        return cur.fetchall() if cur.description else None


def insert_emails(server: PostgresServer, counts: Mapping[str, int], *, prefix: str) -> None:
    """Rows of `emails` with the given statuses (message ids `<prefix-status-i@test>`)."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        for status, n in counts.items():
            conn.execute(
                "INSERT INTO emails (message_id, status) SELECT %s || i || '@test>', %s"
                " FROM generate_series(1, %s) AS i",
                (f"<{prefix}-{status}-", status, n),
            )
