"""Secrets never in the output: a config whose database_url and redis_url carry passwords
(and an API key), used by every incident command against the live sandbox, against closed
ports and against black holes (where the error messages quote the failing URL), at every
verbosity. The passwords must appear nowhere: stdout, stderr, the audit timeline."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.conftest import RunningSandbox
from tests.ops.incident.conftest import (
    FAULT_TIMEOUT_S,
    Run,
    assert_clean_stderr,
    config_copy,
    sandbox_settings,
    triage_ops,
)
from triage_ops.sandbox.processes import free_port

PG_PASSWORD = "pg-S3cret+hunter2"
REDIS_PASSWORD = "rd-P4ss~w0rd/x9"
API_KEY = "ak-0penSesame-4242"
SECRETS = [PG_PASSWORD, REDIS_PASSWORD, API_KEY]
COMMANDS = [
    ("--output", "json", "incident", "p0"),
    ("--output", "json", "model", "status"),
    ("--dry-run", "-vv", "--output", "json", "model", "fallback", "on"),
]
MORE_COMMANDS = [
    ("-vv", "incident", "p0"),
    ("--output", "markdown", "health"),
    ("--output", "json", "incident", "p1"),
]


def urls(pg_port: int, redis_port: int) -> dict[str, str]:
    pg_password, redis_password = quote(PG_PASSWORD, safe=""), quote(REDIS_PASSWORD, safe="")
    return {
        "database_url": f"postgresql://triage:{pg_password}@127.0.0.1:{pg_port}/triage",
        "redis_url": f"redis://:{redis_password}@127.0.0.1:{redis_port}/0",
        "api_key": API_KEY,
    }


def leaks(text: str) -> list[str]:
    forms = {s for secret in SECRETS for s in (secret, quote(secret, safe=""), quote(secret))}
    return sorted(form for form in forms if form in text)


def ports(sandbox: RunningSandbox) -> tuple[int, int]:
    settings = sandbox_settings(sandbox)
    pg = int(settings["database_url"].rsplit(":", 1)[1].split("/")[0])
    redis = int(settings["redis_url"].rsplit(":", 1)[1].split("/")[0])
    return pg, redis


def run_all(config: Path, commands: list[tuple[str, ...]]) -> list[Run]:
    runs = [triage_ops(config, "--timeout", f"{FAULT_TIMEOUT_S:g}", *c) for c in commands]
    for run in runs:
        assert_clean_stderr(run)
        assert run.code in (0, 1, 2, 4), (run.args, run.code, run.err)
    return runs


def assert_no_leak(runs: list[Run], audit: Path) -> None:
    for run in runs:
        assert leaks(run.out) == [], (run.args, run.out)
        assert leaks(run.err) == [], (run.args, run.err)
    assert audit.exists()
    assert leaks(audit.read_text(encoding="utf-8")) == []


@pytest.mark.timeout(120)
def test_live_servers_with_passwords(sandbox: RunningSandbox, tmp_path: Path) -> None:
    pg, redis = ports(sandbox)
    config = config_copy(sandbox, tmp_path, **urls(pg, redis))

    runs = run_all(config, COMMANDS + MORE_COMMANDS)

    assert_no_leak(runs, tmp_path / "audit.jsonl")
    # the sandbox's servers want no password (the Redis ignores one it did not ask for)
    assert runs[0].code == 0, runs[0].out
    assert runs[0].report().codes() == ["TRI-COMMS-001"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["stopped", "black-holed"])
def test_dead_servers_with_passwords(sandbox: RunningSandbox, tmp_path: Path, kind: str) -> None:
    if kind == "stopped":
        config = config_copy(sandbox, tmp_path, **urls(free_port(), free_port()))
        runs = run_all(config, COMMANDS)
    else:
        with black_hole() as port:
            config = config_copy(sandbox, tmp_path, **urls(port, port))
            runs = run_all(config, COMMANDS)

    assert_no_leak(runs, tmp_path / "audit.jsonl")
    p0 = runs[0].report()
    assert p0.by_step()["redis"] == ["TRI-REDIS-001"]
    assert p0.by_step()["postgres-primary"] == ["TRI-DB-001" if kind == "stopped" else "TRI-DB-002"]
    assert "***" not in p0.finding("TRI-REDIS-001")["summary"]  # host:port only, no userinfo
