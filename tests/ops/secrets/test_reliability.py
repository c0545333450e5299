"""The issue's reliability test: secret rotation with a fault injected after each step,
and with Kubernetes or PostgreSQL failing under it. Afterwards, every time: the Secret's
password logs in as the role (the service can authenticate: PostgreSQL and the Secret
agree), the command exits non-zero with ONE line saying where both sides ended, and no
password is in stdout, stderr or the audit timeline."""

from __future__ import annotations

import base64
import functools
import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

import triage_ops.cli as cli
from tests.ops.blackhole import black_hole
from tests.ops.secrets.conftest import DEPLOYMENTS, INITIAL, ROLE, Setup, secret_leaks
from triage_ops.commands.reporting import open_audit
from triage_ops.engine.contract import Plan
from triage_ops.kube_emulator.resources import ApiError
from triage_ops.procedures import secret_rotation
from triage_ops.procedures.secret_rotation import STEPS, RotateDbPassword

pytestmark = pytest.mark.timeout(60)
ERROR = "triage-ops: error: secrets.rotate-db-password: "


def use(monkeypatch: pytest.MonkeyPatch, **hooks: Any) -> None:
    """The command builds its action with these test hooks."""
    monkeypatch.setattr(
        secret_rotation, "RotateDbPassword", functools.partial(RotateDbPassword, **hooks)
    )


def new_passwords(setup: Setup) -> list[str]:
    """Every password the run wrote into the Secret (from the emulator's request log)."""
    out = []
    for r in setup.secret_patches():
        if "dryRun" not in r["query"]:
            value = base64.b64decode(r["body"]["data"]["password"]).decode()
            if value != INITIAL:
                out.append(value)
    return out


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERROR), err
    assert "Traceback" not in err
    return lines[0]


def assert_agree_on(setup: Setup, password: str) -> None:
    assert setup.secret_password() == password
    assert setup.logs_in(password)


def assert_no_leak(setup: Setup, out: str, err: str, *extra: str) -> None:
    secrets = [INITIAL, *extra]
    assert secret_leaks(out + err + setup.audit_text(), *secrets) == []


@pytest.mark.parametrize("step", STEPS)
def test_fault_after_each_step_rolls_back_to_the_old_password(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    use(monkeypatch, fail_after=step)
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert code == 2
    line = one_error_line(err)
    assert line.startswith(
        f"{ERROR}failed: ActionFailed: rotation failed after step {step}"
        f" (InjectedFault: fault injected after {step}); rolled back ("
    )
    assert line.endswith("PostgreSQL and the secret agree on the old password")
    assert_agree_on(setup, INITIAL)
    written = new_passwords(setup)
    assert len(written) == (0 if step == "alter-role" else 1)
    for new in written:
        assert not setup.logs_in(new)
    restarted = STEPS.index(step) >= STEPS.index("restart")
    # pods that may hold the new password are restarted again, onto the old one
    assert setup.restarts() == dict.fromkeys(DEPLOYMENTS, 2 if restarted else 0)
    entries = [json.loads(x) for x in setup.audit_text().splitlines()]
    assert [e["outcome"] for e in entries] == ["failed"]
    assert out == ""
    assert_no_leak(setup, out, err, *written)


def test_kubernetes_stopped_after_alter_role(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    def stop_kube(step: str) -> None:
        if step == "alter-role":
            setup.emulator.stop()

    use(monkeypatch, after_step=stop_kube)
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert code == 2
    line = one_error_line(err)
    assert "rotation failed after step alter-role (Unreachable: Kubernetes API at" in line
    assert line.endswith(
        f"rolled back (role {ROLE} set to the old password): PostgreSQL and the secret"
        " agree on the old password"
    )
    assert setup.logs_in(INITIAL)
    setup.emulator.start()  # same port, same objects
    assert_agree_on(setup, INITIAL)
    assert_no_leak(setup, out, err)


def test_kubernetes_stopped_after_the_secret_update_rolls_forward(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stop_kube(step: str) -> None:
        if step == "update-secret":
            setup.emulator.stop()

    use(monkeypatch, after_step=stop_kube)
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert code == 2
    line = one_error_line(err)
    assert "rotation failed after step update-secret (Unreachable: Kubernetes API at" in line
    assert "rolled forward (restart failed: " in line
    assert "PostgreSQL and the secret agree on the NEW password" in line
    assert line.endswith(
        "restart the deployments once Kubernetes answers:"
        " kubectl -n email-triage rollout restart deployment/email-triage-api;"
        " kubectl -n email-triage rollout restart deployment/email-triage-worker"
    )
    setup.emulator.start()
    [new] = new_passwords(setup)
    assert_agree_on(setup, new)
    assert not setup.logs_in(INITIAL)
    assert_no_leak(setup, out, err, new)


def test_secret_patch_refused(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """RBAC lets us read the Secret and dry-run a patch, not write it."""
    cluster = setup.emulator.cluster
    update = cluster.update

    def forbid(resource: Any, namespace: str, name: str, **kw: Any) -> Any:
        if resource.kind == "Secret" and not kw["dry_run"]:
            raise ApiError(
                403,
                "Forbidden",
                f'secrets "{name}" is forbidden: User "triage-ops" cannot patch resource'
                f' "secrets" in API group "" in the namespace "{namespace}"',
            )
        return update(resource, namespace, name, **kw)

    monkeypatch.setattr(cluster, "update", forbid)
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert code == 2
    line = one_error_line(err)
    assert "rotation failed after step alter-role (AuthFailed: Kubernetes API at" in line
    assert 'cannot patch resource "secrets"' in line
    assert line.endswith(
        f"rolled back (role {ROLE} set to the old password): PostgreSQL and the secret"
        " agree on the old password"
    )
    assert_agree_on(setup, INITIAL)
    assert setup.restarts() == dict.fromkeys(DEPLOYMENTS, 0)
    assert_no_leak(setup, out, err)


def test_stuck_rollout_rolls_back(setup: Setup) -> None:
    requests.post(f"{setup.emulator.url}/_emulator/rollouts", json={"rollouts": "stuck"}, timeout=5)
    code, out, err = setup.invoke(
        "secrets", "rotate", "db-password", "--yes", "--rollout-timeout", "2"
    )
    assert code == 2
    line = one_error_line(err)
    assert "rotation failed after step restart (ActionFailed: rollout of email-triage-api" in line
    assert "exceeded its progress deadline" in line
    assert "restart sent, not complete: rollout of email-triage-api did not complete" in line
    assert line.endswith(
        "PostgreSQL and the secret agree on the old password; see why the new pods do not"
        " start: kubectl -n email-triage rollout status deployment/email-triage-api;"
        " kubectl -n email-triage rollout status deployment/email-triage-worker"
    )
    assert_agree_on(setup, INITIAL)
    assert setup.restarts() == dict.fromkeys(DEPLOYMENTS, 2)
    assert_no_leak(setup, out, err, *new_passwords(setup))


def _rotate(setup: Setup, confirm: Any) -> Any:
    """The library call; `confirm` runs between plan and apply."""
    return secret_rotation.rotate_db_password(
        setup.config,
        timeout=3.0,
        dry_run=False,
        yes=False,
        confirm=confirm,
        audit=open_audit(setup.config),
    )


def test_postgres_stopped_before_the_alter_role(setup: Setup) -> None:
    def stop_postgres(plan: Plan) -> bool:
        setup.pg.stop()
        return True

    outcome = _rotate(setup, stop_postgres)
    assert outcome.outcome == "failed"
    assert outcome.error.startswith(
        "ActionFailed: rotation failed after step start (Unreachable: PostgreSQL primary at"
    )
    assert outcome.error.endswith(
        "rolled back (nothing had changed): PostgreSQL and the secret agree on the old password"
    )
    setup.pg.start()
    assert_agree_on(setup, INITIAL)
    assert setup.restarts() == dict.fromkeys(DEPLOYMENTS, 0)


def test_postgres_stopped_after_the_alter_role(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both sides hold the new password; verification cannot log in: not verified."""

    def stop_postgres(step: str) -> None:
        if step == "alter-role":
            setup.pg.stop()

    use(monkeypatch, after_step=stop_postgres)
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert code == 2
    line = one_error_line(err)
    assert line.startswith(f"{ERROR}unverified: PostgreSQL primary at 127.0.0.1:")
    assert line.endswith("Connection refused")
    setup.pg.start()
    [new] = new_passwords(setup)
    assert_agree_on(setup, new)
    assert setup.restarts() == dict.fromkeys(DEPLOYMENTS, 1)
    assert_no_leak(setup, out, err, new)


def test_postgres_stopped_then_a_fault_rolls_forward(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stop_postgres(step: str) -> None:
        if step == "update-secret":
            setup.pg.stop()

    use(monkeypatch, after_step=stop_postgres, fail_after="restart")
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert code == 2
    line = one_error_line(err)
    assert line.endswith(
        f"rolled forward (restarted {', '.join(DEPLOYMENTS)}): PostgreSQL and the secret"
        " agree on the NEW password (the old one could not be restored on both)"
    )
    setup.pg.start()
    [new] = new_passwords(setup)
    assert_agree_on(setup, new)
    assert setup.restarts() == dict.fromkeys(DEPLOYMENTS, 2)
    assert_no_leak(setup, out, err, new)


def test_refuses_when_the_current_secret_does_not_log_in(setup: Setup) -> None:
    from tests.ops.secrets.conftest import set_role_password

    set_role_password(setup.pg, "someone-changed-it-by-hand")
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert (code, out) == (2, "")
    assert err == (
        "triage-ops: error: the password in secret db-credentials does not log in as"
        f" {ROLE}: the service is locked out; `triage-ops secrets rotate db-password"
        " --repair` gives both a new password\n"
    )
    assert [r["method"] for r in setup.requests()] == ["GET"]
    assert not setup.audit_text()


def test_repair_a_locked_out_service(setup: Setup) -> None:
    from tests.ops.secrets.conftest import set_role_password

    set_role_password(setup.pg, "someone-changed-it-by-hand")
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--repair", "--yes")
    assert code == 0, err
    assert "repair: rotate the password of PostgreSQL role" in out
    [new] = new_passwords(setup)
    assert_agree_on(setup, new)
    assert_no_leak(setup, out, err, new, "someone-changed-it-by-hand")


@pytest.mark.parametrize("step", STEPS)
def test_a_failed_repair_still_repairs(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Rolling back means "the role takes the Secret's password": the lockout ends."""
    from tests.ops.secrets.conftest import set_role_password

    set_role_password(setup.pg, "someone-changed-it-by-hand")
    use(monkeypatch, fail_after=step)
    code, _, err = setup.invoke("secrets", "rotate", "db-password", "--repair", "--yes")
    assert code == 2
    assert one_error_line(err).endswith("PostgreSQL and the secret agree on the old password")
    assert_agree_on(setup, INITIAL)


@pytest.mark.parametrize("fault", ["stopped", "black-holed"])
def test_unreachable_kubernetes_changes_nothing(setup: Setup, fault: str) -> None:
    with black_hole() as hole:
        if fault == "stopped":
            setup.emulator.stop()
        else:
            kubeconfig = Path(setup.config.kubeconfig)
            text = kubeconfig.read_text(encoding="utf-8")
            kubeconfig.write_text(text.replace(setup.emulator.url, f"http://127.0.0.1:{hole}"))
        started = time.monotonic()
        code, out, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
        elapsed = time.monotonic() - started
    assert (code, out) == (4, "")
    assert err.startswith("triage-ops: error: Kubernetes API at http://127.0.0.1:")
    assert len(err.strip().splitlines()) == 1
    assert elapsed < 8
    assert setup.logs_in(INITIAL)


def test_no_password_in_debug_logs_of_a_failed_rotation(setup: Setup) -> None:
    code, out, err = setup.run(
        "-vv", "secrets", "rotate", "db-password", "--yes", fail_after="update-secret"
    )
    assert code == 2
    assert "Traceback" in err  # the engine logs the failure's traceback at -vv
    assert err.strip().splitlines()[-1].startswith(ERROR)
    assert_no_leak(setup, out, err, *new_passwords(setup))


@pytest.mark.parametrize("command", [("rotate", "db-password", "--yes"), ("status",)])
def test_black_holed_postgres(setup: Setup, command: tuple[str, ...]) -> None:
    with black_hole() as hole:
        setup.configure(database_url=f"postgresql://triage:x@127.0.0.1:{hole}/triage")
        started = time.monotonic()
        code, out, err = setup.invoke("secrets", *command)
        elapsed = time.monotonic() - started
    assert code == 4
    assert elapsed < 8
    if command[0] == "rotate":
        assert out == ""
        assert err == (
            f"triage-ops: error: PostgreSQL primary at 127.0.0.1:{hole}/triage: no answer"
            " within 3 s (connect)\n"
        )
        assert [r["method"] for r in setup.requests()] == ["GET"]
    else:
        assert f"unknown (PostgreSQL primary at 127.0.0.1:{hole}/triage: no answer" in out


def test_both_down_is_reported_and_the_named_remedy_works(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing can be made to agree with both systems gone: the line says so, and the
    commands it names repair the lockout once they are back."""

    def stop_both(step: str) -> None:
        if step == "alter-role":
            setup.emulator.stop()
            setup.pg.stop()

    use(monkeypatch, after_step=stop_both)
    code, _, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert code == 2
    line = one_error_line(err)
    assert line.endswith(
        "recovery incomplete (nothing had changed): PostgreSQL and the secret may DISAGREE"
        " (the role has the new password, the secret the old password); once both answer,"
        " run `triage-ops secrets status`, and if the secret does not log in,"
        " `triage-ops secrets rotate db-password --repair`"
    )
    setup.emulator.start()
    setup.pg.start()
    monkeypatch.undo()
    monkeypatch.setitem(cli._COMMANDS, "secrets", "triage_ops.commands.secrets:secrets")
    code, out, _ = setup.invoke("secrets", "status")
    assert code == 2 and "logs in as email_triage  NO" in out
    code, _, err = setup.invoke("secrets", "rotate", "db-password", "--yes")
    assert code == 2 and "--repair" in err
    code, out, err = setup.invoke("secrets", "rotate", "db-password", "--repair", "--yes")
    assert code == 0, err
    assert setup.logs_in(setup.secret_password())
