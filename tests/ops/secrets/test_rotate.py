"""`triage-ops secrets rotate db-password` and `secrets status` as a user runs them: the
CLI against a real PostgreSQL and the Kubernetes API emulator."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import triage_ops.cli as cli
from tests.ops.secrets.conftest import (
    DEPLOYMENTS,
    INITIAL,
    ROLE,
    Setup,
    secret_leaks,
    set_role_password,
)
from triage_ops.clients import Clients
from triage_ops.commands import reporting

pytestmark = pytest.mark.timeout(60)


def test_rotation_happy_path(setup: Setup) -> None:
    assert setup.logs_in(INITIAL)
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert code == 0, err
    new = setup.secret_password()
    assert new != INITIAL and len(new) == 43  # token_urlsafe(32)
    assert setup.logs_in(new)
    assert not setup.logs_in(INITIAL)
    assert setup.restarts() == {"email-triage-api": 1, "email-triage-worker": 1}
    real = [p for p in setup.secret_patches() if "dryRun" not in p["query"]]
    assert len(real) == 1
    assert "ok" in out and "secrets.rotate-db-password" in out
    assert err == (
        f"triage-ops: the secret's new password logs in as {ROLE}; the old one is refused\n"
    )
    entries = [json.loads(line) for line in setup.audit_text().splitlines()]
    assert [(e["kind"], e["outcome"], e["step"]) for e in entries] == [
        ("action", "ok", "secrets.rotate-db-password")
    ]
    assert secret_leaks(out + err + setup.audit_text(), new, INITIAL) == []


def test_dry_run_prints_the_plan_and_changes_nothing(setup: Setup) -> None:
    code, out, err = setup.invoke("--dry-run", "secrets", "rotate", "db-password")
    assert code == 0, err
    assert setup.secret_password() == INITIAL and setup.logs_in(INITIAL)
    assert setup.restarts() == dict.fromkeys(DEPLOYMENTS, 0)
    mutations = [r for r in setup.requests() if r["method"] not in ("GET",)]
    assert [(r["method"], r["path"].rsplit("/", 1)[-1], r["query"]) for r in mutations] == [
        ("PATCH", "db-credentials", {"dryRun": "All"}),
        ("PATCH", "email-triage-api", {"dryRun": "All"}),
        ("PATCH", "email-triage-worker", {"dryRun": "All"}),
    ]
    assert f"rotate the password of PostgreSQL role {ROLE}" in out
    assert "server-side dry run: accepted" in out
    assert "kubectl -n email-triage rollout restart deployment/email-triage-worker" in out
    assert secret_leaks(out + err + setup.audit_text(), INITIAL) == []
    entries = [json.loads(line) for line in setup.audit_text().splitlines()]
    assert [e["outcome"] for e in entries] == ["dry-run"]


def test_status_of_a_secret_never_rotated(setup: Setup) -> None:
    code, out, err = setup.invoke("-o", "json", "secrets", "status")
    assert code == 0, err
    status = json.loads(out)
    created = status.pop("created")
    assert status == {
        "secret_name": "email-triage/db-credentials",
        "key_names": ["password"],
        "last_rotation": None,
        "age_days": 20.0,
        "rotation_due": False,
        "max_age_days": 90,
        "role": ROLE,
        "logs_in": True,
        "findings": [],
    }
    meta = Clients(setup.config, timeout=3).kubernetes().get_secret_metadata("db-credentials")
    assert meta["creationTimestamp"] == created
    assert set(meta) == {
        "name", "namespace", "labels", "uid", "resourceVersion", "creationTimestamp"
    }  # fmt: skip
    assert secret_leaks(out + str(meta), INITIAL) == []


def test_status_rotation_due_then_rotated(setup: Setup) -> None:
    setup.configure(secret_max_age_days=10)
    code, out, err = setup.invoke("secrets", "status")
    assert code == 1, err
    assert out.splitlines()[1:8] == [
        "FIELD                    VALUE",
        "secret                   email-triage/db-credentials",
        "keys                     password",
        out.splitlines()[4],  # created: the scenario's time
        "last rotation            none in the audit timeline",
        "age                      20 days (since creation; rotate after 10)",
        "rotation due             yes",
    ]
    assert "logs in as email_triage  yes" in out
    assert (
        "warning   TRI-SECRET-002  secret db-credentials created 20 days ago and never"
        " rotated (rotate every 10 days)" in out
    )
    assert setup.invoke("secrets", "rotate", "db-password", "--yes")[0] == 0
    code, out, err = setup.invoke("-o", "json", "secrets", "status")
    status = json.loads(out)
    assert code == 0, err
    assert (status["age_days"], status["rotation_due"], status["logs_in"]) == (0.0, False, True)
    rotated = [json.loads(x) for x in setup.audit_text().splitlines()][-1]["ts"]
    assert status["last_rotation"] == rotated


def test_status_when_the_password_does_not_log_in(setup: Setup) -> None:
    set_role_password(setup.pg, "changed-by-hand-42")
    code, out, err = setup.invoke("secrets", "status")
    assert code == 2, err
    assert "logs in as email_triage  NO" in out
    assert (
        "critical  TRI-SECRET-001  the password in secret db-credentials does not log in as"
        " email_triage" in out
    )


def test_status_when_postgres_is_down(setup: Setup) -> None:
    setup.pg.stop()
    code, out, err = setup.invoke("secrets", "status")
    assert code == 4, err
    assert "logs in as email_triage  unknown (PostgreSQL primary at 127.0.0.1:" in out
    assert "TRI-ENGINE-002" in out


def test_no_password_in_debug_logs_either(setup: Setup) -> None:
    """-vv turns on the libraries' debug logging (urllib3, the engine's tracebacks)."""
    code, out, err = setup.run("-vv", "secrets", "rotate", "db-password", "--yes")
    assert code == 0, err
    new = setup.secret_password()
    assert '"GET /api/v1/namespaces/email-triage/secrets/db-credentials HTTP/1.1" 200' in err
    assert secret_leaks(out + err + setup.audit_text(), new, INITIAL) == []


@pytest.mark.parametrize("command", [("status",), ("rotate", "db-password", "--yes")])
def test_missing_secret_is_a_usage_error(setup: Setup, command: tuple[str, ...]) -> None:
    setup.configure(db_secret_name="nope")
    code, out, err = setup.invoke("secrets", *command)
    assert (code, out) == (3, "")
    assert err == (
        "triage-ops: error: secret nope not found in namespace email-triage (db_secret_name)\n"
    )


@pytest.mark.parametrize(("answer", "code"), [("\n", 1), ("n\n", 1), ("y\n", 0)])
def test_confirmation_defaults_to_no(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, answer: str, code: int
) -> None:
    monkeypatch.setattr(reporting, "stdin_is_terminal", lambda: True)
    result = CliRunner().invoke(
        cli.main,
        ["--config", str(setup.config_path), "secrets", "rotate", "db-password"],
        input=answer,
    )
    assert result.exit_code == code, result.stderr
    assert "Apply this plan? [y/N]:" in result.stderr
    assert "Plan: rotate the password of PostgreSQL role email_triage" in result.stderr
    assert (setup.secret_password() == INITIAL) == (code == 1)
    outcome = [json.loads(x)["outcome"] for x in setup.audit_text().splitlines()]
    assert outcome == ["declined" if code else "ok"]
    assert secret_leaks(result.stdout + result.stderr, INITIAL, setup.secret_password()) == []


def test_no_terminal_and_no_yes_is_refused(setup: Setup) -> None:
    code, out, err = setup.invoke("secrets", "rotate", "db-password")
    assert (code, out) == (3, "")
    assert err.endswith(
        "triage-ops: error: this change needs --yes when not run from a terminal"
        " (--dry-run shows the plan)\n"
    )
    assert setup.secret_password() == INITIAL
