"""`incident p0 --act` switching fallback mode on for a dead model server, and `model
status|fallback on|off|restart`: verified through the real API and the emulator's request
log, audited, refused without --yes off a terminal, and nothing changed on --dry-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.blackhole import black_hole
from tests.ops.conftest import RunningSandbox
from tests.ops.incident.conftest import (
    FAULT_TIMEOUT_S,
    SLACK_S,
    assert_clean_stderr,
    audit_entries,
    clear_emulator_requests,
    config_copy,
    emulator_requests,
    load_scenario,
    sandbox_redis,
    triage_ops,
)
from triage_core.service import keys
from triage_ops.sandbox.processes import free_port

SWITCH_TARGET = f"redis key {keys.FALLBACK_SWITCH}"
REFUSED = (
    "triage-ops: error: this change needs --yes when not run from a terminal"
    " (--dry-run shows the plan)"
)
TIMEOUT = ("--timeout", f"{FAULT_TIMEOUT_S:g}")
MODEL_DEPLOYMENT = "/apis/apps/v1/namespaces/email-triage/deployments/email-classifier-model"


def switch_is_set(sandbox: RunningSandbox) -> bool:
    return bool(sandbox_redis(sandbox).exists(keys.FALLBACK_SWITCH))


def status_rows(sandbox: RunningSandbox, directory: Path) -> tuple[int, dict[str, dict[str, str]]]:
    run = triage_ops(config_copy(sandbox, directory), "--output", "json", "model", "status")
    assert_clean_stderr(run)
    return run.code, {row["component"]: row for row in run.json()}


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("fallback_restored")
def test_p0_act_switches_fallback_on_for_a_dead_model_then_off_again(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    # the model server "down" for triage-ops; the real API still has the real model server,
    # so the switch itself is what turns its answers degraded
    down = tmp_path / "down"
    down.mkdir()
    config = config_copy(sandbox, down, model_server_url=f"http://127.0.0.1:{free_port()}")

    run = triage_ops(config, "--yes", "--output", "json", "incident", "p0", "--act")

    assert_clean_stderr(run)
    assert run.code == 2, run.err  # the checks saw the model down: critical
    report = run.report()
    assert report.codes() == ["TRI-CLASSIFY-003", "TRI-COMMS-001", "TRI-MODEL-001"]
    # the recovery validation ran after the switch: the API answers, degraded
    assert report.finding("TRI-CLASSIFY-003")["step"] == "validate-classify"
    step = report.step("fallback-on")
    assert step["status"] == "applied"
    assert step["notes"] == [
        "switch fallback classification mode ON (reason: model server unavailable (TRI-MODEL-001))",
        "the API answers degraded",
    ]
    assert report.steps()["restart-api"] == "skipped"
    actions = {a["step"]: a for a in report.data["actions"]}
    assert [(a["step"], a["action"], a["outcome"]) for a in report.data["actions"]] == [
        ("acknowledge", "pagerduty.acknowledge", "noop"),  # paging not configured
        ("fallback-on", "model.fallback-on", "ok"),
    ]
    assert actions["fallback-on"]["plan"]["changes"] == [
        {"target": SWITCH_TARGET, "before": "OFF", "after": "ON"}
    ]
    assert actions["fallback-on"]["plan"]["commands"] == ["triage-ops model fallback on"]
    assert switch_is_set(sandbox)

    entries = audit_entries(down / "audit.jsonl")
    incident = report.data["incident"]
    assert [(e["kind"], e["step"], e["outcome"], e["incident"]) for e in entries] == [
        ("incident.open", None, "ok", incident),
        ("action", "acknowledge", "noop", incident),
        ("action", "fallback-on", "ok", incident),
        ("runbook.run", None, "critical", incident),
    ]
    switched = entries[2]
    assert switched["before"] == ["OFF"]
    assert switched["after"]["on"] is True
    assert switched["after"]["reason"] == "model server unavailable (TRI-MODEL-001)"
    assert switched["summary"] == (
        "model.fallback-on: switch fallback classification mode ON (reason: model server"
        " unavailable (TRI-MODEL-001)) -> ok"
    )

    # as the on-call engineer sees it afterwards, with the real config
    code, rows = status_rows(sandbox, tmp_path)
    assert code == 2
    assert rows["model-server"]["state"] == "AVAILABLE"
    assert rows["fallback-switch"]["state"] == "ON"
    assert rows["fallback-switch"]["detail"].endswith(": model server unavailable (TRI-MODEL-001)")
    health = triage_ops(config_copy(sandbox, tmp_path), "--output", "json", "health")
    assert health.code == 1  # the API answers, from the fallback: a warning
    assert [(f["code"], f["step"]) for f in health.report().findings] == [
        ("TRI-CLASSIFY-003", "classify")
    ]
    assert health.report().finding("TRI-CLASSIFY-003")["evidence"]["degraded"] is True

    off = triage_ops(config_copy(sandbox, tmp_path), "--yes", "--output", "json", "model",
                     "fallback", "off")  # fmt: skip

    assert_clean_stderr(off)
    assert off.code == 0, off.err
    assert off.json()["outcome"] == "ok"
    assert off.json()["plan"]["changes"] == [
        {"target": SWITCH_TARGET, "before": "ON", "after": "OFF"}
    ]
    assert "triage-ops: the API answers from the model\n" in off.err
    assert not switch_is_set(sandbox)
    code, rows = status_rows(sandbox, tmp_path)
    assert code == 0
    assert (rows["fallback-switch"]["state"], rows["fallback-switch"]["detail"]) == ("OFF", "")


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("fallback_restored")
def test_fallback_on_dry_run_changes_nothing(sandbox: RunningSandbox, tmp_path: Path) -> None:
    run = triage_ops(
        config_copy(sandbox, tmp_path), "--dry-run", "--output", "json", "model", "fallback", "on"
    )

    assert_clean_stderr(run)
    assert run.code == 0, run.err
    outcome = run.json()
    assert (outcome["outcome"], outcome["after"]) == ("dry-run", {})
    assert outcome["plan"]["changes"] == [{"target": SWITCH_TARGET, "before": "OFF", "after": "ON"}]
    assert not switch_is_set(sandbox)  # the key is absent: nothing was written
    [entry] = audit_entries(tmp_path / "audit.jsonl")
    assert (entry["kind"], entry["outcome"], entry["details"]["dry_run"]) == (
        "action",
        "dry-run",
        True,
    )


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("fallback_restored")
def test_without_yes_off_a_terminal_it_refuses(sandbox: RunningSandbox, tmp_path: Path) -> None:
    config = config_copy(sandbox, tmp_path)

    run = triage_ops(config, "-q", "model", "fallback", "on")

    assert (run.code, run.out) == (3, "")
    # the plan, then the one error line
    assert run.err == (
        "Plan: switch fallback classification mode ON (reason: switched on by hand)\n"
        f"  change {SWITCH_TARGET}: OFF -> ON\n"
        "  equivalent: triage-ops model fallback on\n"
        f"{REFUSED}\n"
    )
    assert not switch_is_set(sandbox)
    [entry] = audit_entries(tmp_path / "audit.jsonl")
    assert entry["outcome"] == "refused"

    noisy = triage_ops(config, "model", "fallback", "on")
    assert noisy.code == 3
    assert [line for line in noisy.err.splitlines() if "error" in line] == [REFUSED]
    assert noisy.err.splitlines()[-1] == REFUSED

    act = triage_ops(config, "incident", "p0", "--act")
    assert (act.code, act.out) == (3, "")
    assert act.err == (
        "triage-ops: error: incident p0 --act needs --yes when not run from a terminal"
        " (--dry-run shows the plan)\n"
    )
    assert not switch_is_set(sandbox)


@pytest.mark.timeout(120)
def test_model_restart_rolls_the_model_deployment_and_waits_for_available(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    config = config_copy(sandbox, tmp_path)
    clear_emulator_requests(sandbox)
    try:
        dry = triage_ops(config, "--dry-run", "--output", "json", "model", "restart")
        assert dry.code == 0, dry.err
        assert dry.json()["outcome"] == "dry-run"
        assert [(r["method"], r["path"], r["query"]) for r in emulator_requests(sandbox)] == [
            ("GET", MODEL_DEPLOYMENT, {}),
            ("PATCH", MODEL_DEPLOYMENT, {"dryRun": "All"}),  # server-side dry-run only
        ]
        clear_emulator_requests(sandbox)

        run = triage_ops(config, "--yes", "--output", "json", "model", "restart")

        assert_clean_stderr(run)
        assert run.code == 0, run.err
        outcome = run.json()
        assert (outcome["action"], outcome["outcome"]) == ("model.restart", "ok")
        assert outcome["plan"]["commands"] == [
            "kubectl -n email-triage rollout restart deployment/email-classifier-model"
        ]
        restarted_at = outcome["after"]["restartedAt"]
        assert outcome["after"]["deployment"] == "email-classifier-model"
        patches = [
            r for r in emulator_requests(sandbox) if r["method"] == "PATCH" and not r["query"]
        ]
        assert [(p["path"], p["status"], p["body"]) for p in patches] == [
            (
                MODEL_DEPLOYMENT,
                200,
                {
                    "spec": {
                        "template": {
                            "metadata": {
                                "annotations": {"kubectl.kubernetes.io/restartedAt": restarted_at}
                            }
                        }
                    }
                },
            )
        ]
        # verified: the rollout completed and the model server serves the model
        assert 'deployment "email-classifier-model" successfully rolled out' in run.err
        assert "triage-ops: model email-classifier AVAILABLE (version 1)\n" in run.err
        dry_entry, entry = audit_entries(tmp_path / "audit.jsonl")
        assert (dry_entry["kind"], dry_entry["outcome"]) == ("action", "dry-run")
        assert (entry["kind"], entry["outcome"], entry["after"]["restartedAt"]) == (
            "action",
            "ok",
            restarted_at,
        )
    finally:
        load_scenario(sandbox, "healthy")  # the restart's new ReplicaSet gone again


@pytest.mark.timeout(60)
def test_model_commands_with_redis_black_holed(sandbox: RunningSandbox, tmp_path: Path) -> None:
    with black_hole() as port:
        config = config_copy(sandbox, tmp_path, redis_url=f"redis://127.0.0.1:{port}/0")
        status = triage_ops(config, *TIMEOUT, "--output", "json", "model", "status")
        switch = triage_ops(
            config, *TIMEOUT, "--yes", "--output", "json", "model", "fallback", "on"
        )

    for run in (status, switch):
        assert_clean_stderr(run)
        assert run.seconds < FAULT_TIMEOUT_S + SLACK_S, (run.args, run.seconds)
    # the model serves, but whether fallback mode is on cannot be told: unknown, exit 4
    assert status.code == 4
    rows = {row["component"]: row for row in status.json()}
    assert rows["model-server"]["state"] == "AVAILABLE"
    assert rows["fallback-switch"]["state"] == "UNKNOWN"
    assert rows["fallback-switch"]["detail"] == (
        f"Redis at redis://127.0.0.1:{port}/0: no answer within {FAULT_TIMEOUT_S:g} s"
        " (read the fallback switch)"
    )
    # nothing can be planned, so nothing is changed
    assert switch.code == 4
    outcome = switch.json()
    assert (outcome["outcome"], outcome["plan"]) == ("unplanned", None)
    assert [f["code"] for f in outcome["findings"]] == ["TRI-ACTION-003"]
    [entry] = audit_entries(tmp_path / "audit.jsonl")
    assert entry["outcome"] == "unplanned"
