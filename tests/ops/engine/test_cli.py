"""`triage-ops runbook ...` and `triage-ops audit ...` as a user types them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from triage_ops.commands import reporting
from triage_ops.engine.audit import AuditLog

from .conftest import CLI_SCRIPT, COMMANDS, FIXTURES, ROOT, Invoke, steady

DIR = ("runbook", "--dir", str(FIXTURES))


@pytest.fixture
def system(tmp_path: Path) -> Path:
    """The fixture runbook's "system": a directory its switch action writes to."""
    path = tmp_path / "system"
    path.mkdir()
    return path


def test_list(invoke: Invoke) -> None:
    assert invoke(*DIR, "list") == (
        0,
        "ID          TITLE                                 STEPS\n"
        "concurrent  Three slow checks and one after them  4\n"
        "faults      Every way a check can go wrong        10\n"
        "fixture     Fixture: a switch that must be on     5\n"
        "hang        One check that never returns          2\n",
        "",
    )


def test_list_json(invoke: Invoke) -> None:
    code, out, _ = invoke("--output", "json", *DIR, "list")
    assert code == 0
    assert json.loads(out)[2] == {
        "id": "fixture",
        "title": "Fixture: a switch that must be on",
        "steps": 5,
        "source": "Engine tests > Fixture",
    }


def test_show(invoke: Invoke) -> None:
    assert invoke(*DIR, "show", "fixture") == (
        0,
        "fixture: Fixture: a switch that must be on (Engine tests > Fixture)\n"
        "STEP       KIND           TITLE                 TIMEOUT    AFTER      WHEN\n"
        "slow       check          Something is slow     --timeout  -          -\n"
        "switch     check          The switch is on      2 s        -          -\n"
        "switch-on  action (safe)  Turn the switch on    --timeout  -          TRI-FIXTURE-001\n"
        "restart    action         Restart everything    --timeout  switch-on  TRI-FIXTURE-001\n"
        "recheck    verify         The switch is on now  --timeout  -          -\n",
        "",
    )


def test_unknown_runbook_is_a_usage_error(invoke: Invoke) -> None:
    assert invoke(*DIR, "show", "p9") == (
        3,
        "",
        f"triage-ops: error: no runbook 'p9' in {FIXTURES} (known: concurrent, faults,"
        " fixture, hang)\n",
    )


def test_bad_param_is_a_usage_error(invoke: Invoke) -> None:
    assert invoke(*DIR, "run", "concurrent", "--param", "seconds=soon") == (
        3,
        "",
        "triage-ops: error: --param seconds: 'soon' is not a float\n",
    )


def test_run_table(invoke: Invoke, system: Path, audit_path: Path) -> None:
    code, out, err = invoke(
        *DIR, "run", "fixture", "--param", f"state_dir={system}", "--incident", "INC-9"
    )
    assert (code, err) == (2, "")
    assert steady(out) == (
        "Fixture: a switch that must be on\n"
        "RUNBOOK  INCIDENT  STATUS    EXIT  SECONDS\n"
        "fixture  INC-9     critical  2     T\n"
        "\n"
        "Findings\n"
        "SEVERITY  CODE             SUMMARY                             NEXT\n"
        "critical  TRI-FIXTURE-001  the switch is off (switch missing)  Turn the switch on.\n"
        "critical  TRI-FIXTURE-001  the switch is off (switch missing)  Turn the switch on.\n"
        "warning   TRI-FIXTURE-002  saw TRI-FIXTURE-002 on api-0        Look at it.\n"
        "\n"
        "Next commands\n"
        "CODE             COMMAND\n"
        "TRI-FIXTURE-001  triage-ops --dry-run runbook run fixture --act --param pod=api-0"
        " # ns email-triage\n"
        "TRI-FIXTURE-002  kubectl -n email-triage rollout restart deployment/email-triage-api\n"
        "\n"
        "Steps\n"
        "STEP       KIND    STATUS     MS  NOTES\n"
        "slow       check   warning    T TRI-FIXTURE-002\n"
        "switch     check   critical   T TRI-FIXTURE-001\n"
        "switch-on  action  suggested  T take it with --act\n"
        "restart    action  suggested  T not taken by --act alone: add --take restart\n"
        "recheck    verify  critical   T TRI-FIXTURE-001\n"
    )
    [entry] = AuditLog(audit_path).entries()
    assert (entry["kind"], entry["runbook"], entry["incident"], entry["outcome"]) == (
        "runbook.run",
        "fixture",
        "INC-9",
        "critical",
    )


def test_run_json(invoke: Invoke, system: Path) -> None:
    code, out, _ = invoke("-o", "json", *DIR, "run", "fixture", "--param", f"state_dir={system}")
    assert code == 2
    report = json.loads(out)
    assert list(report) == [
        "runbook",
        "title",
        "incident",
        "started_at",
        "duration_ms",
        "status",
        "exit_code",
        "steps",
        "findings",
        "actions",
    ]
    assert (report["runbook"], report["status"], report["exit_code"]) == ("fixture", "critical", 2)
    assert report["findings"][2] == {
        "code": "TRI-FIXTURE-002",
        "severity": "warning",
        "summary": "saw TRI-FIXTURE-002 on api-0",
        "evidence": {"pod": "api-0"},
        "action": "Look at it.",
        "command": "kubectl -n email-triage rollout restart deployment/email-triage-api",
        "step": "slow",
    }
    assert [(s["id"], s["kind"], s["status"]) for s in report["steps"]] == [
        ("slow", "check", "warning"),
        ("switch", "check", "critical"),
        ("switch-on", "action", "suggested"),
        ("restart", "action", "suggested"),
        ("recheck", "verify", "critical"),
    ]


def test_act_without_yes_off_a_terminal_refuses_before_running(
    invoke: Invoke, system: Path, audit_path: Path
) -> None:
    code, out, err = invoke(*DIR, "run", "fixture", "--act", "--param", f"state_dir={system}")
    assert (code, out) == (3, "")
    assert err == (
        "triage-ops: error: runbook run --act needs --yes when not run from a terminal"
        " (--dry-run shows the plan)\n"
    )
    assert list(system.iterdir()) == []
    assert not audit_path.exists()


def test_act_with_yes_applies_and_audits(invoke: Invoke, system: Path, audit_path: Path) -> None:
    code, out, err = invoke(
        "--yes", *DIR, "run", "fixture", "--act", "--param", f"state_dir={system}"
    )
    assert code == 2  # the checks saw a critical finding before acting
    assert (system / "switch").read_text() == "on"
    assert err == "triage-ops: plan: switch on (switch)\ntriage-ops: fixture.switch-on: ok\n"
    assert steady(out).split("\nSteps\n")[1] == (
        "STEP       KIND    STATUS     MS  NOTES\n"
        "slow       check   warning    T TRI-FIXTURE-002\n"
        "switch     check   critical   T TRI-FIXTURE-001\n"
        "switch-on  action  applied    T switch on (switch)\n"
        "restart    action  suggested  T not taken by --act alone: add --take restart\n"
        "recheck    verify  ok         T switch is on\n"
        "\n"
        "Actions\n"
        "STEP       ACTION             OUTCOME  PLAN\n"
        "switch-on  fixture.switch-on  ok       switch on (switch)\n"
        "\n"
        "Changes\n"
        "STEP       TARGET  BEFORE  AFTER\n"
        "switch-on  switch  off     on\n"
        "\n"
        "Equivalent commands\n"
        "STEP       COMMAND\n"
        "switch-on  touch switch\n"
    )
    assert [(e["kind"], e["step"], e["outcome"]) for e in AuditLog(audit_path).entries()] == [
        ("action", "switch-on", "ok"),
        ("runbook.run", None, "critical"),
    ]


def test_dry_run_act_prints_the_plan_and_changes_nothing(invoke: Invoke, system: Path) -> None:
    code, out, err = invoke(
        "--dry-run", *DIR, "run", "fixture", "--act", "--take", "restart",
        "--param", f"state_dir={system}",
    )  # fmt: skip
    assert code == 2
    assert list(system.iterdir()) == []
    assert out.split("\nActions\n")[1] == (
        "STEP       ACTION             OUTCOME  PLAN\n"
        "switch-on  fixture.switch-on  dry-run  switch on (switch)\n"
        "restart    fixture.restart    dry-run  restart everything\n"
        "\n"
        "Changes\n"
        "STEP       TARGET  BEFORE  AFTER\n"
        "switch-on  switch  off     on\n"
        "\n"
        "Equivalent commands\n"
        "STEP       COMMAND\n"
        "switch-on  touch switch\n"
    )
    assert err == (
        "triage-ops: plan: switch on (switch)\ntriage-ops: fixture.switch-on: dry-run\n"
        "triage-ops: plan: restart everything\ntriage-ops: fixture.restart: dry-run\n"
    )


def test_declined_at_the_terminal(
    invoke: Invoke, system: Path, monkeypatch: pytest.MonkeyPatch, audit_path: Path
) -> None:
    monkeypatch.setattr(reporting, "stdin_is_terminal", lambda: True)
    code, out, err = invoke(
        *DIR, "run", "fixture", "--act", "--param", f"state_dir={system}", input="n\n"
    )
    assert code == 2
    assert list(system.iterdir()) == []
    assert err == (
        "Plan: switch on (switch)\n"
        "  change switch: off -> on\n"
        "  equivalent: touch switch\n"
        "Apply this plan? [Y/n]: n\n"
        "triage-ops: fixture.switch-on: declined\n"
    )
    assert "switch-on  action  skipped   T switch on (switch); declined\n" in steady(out)
    assert [e["outcome"] for e in AuditLog(audit_path).entries()] == ["declined", "critical"]


def test_accepted_at_the_terminal(
    invoke: Invoke, system: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reporting, "stdin_is_terminal", lambda: True)
    code, _, err = invoke(
        *DIR, "run", "fixture", "--act", "--param", f"state_dir={system}", input="y\n"
    )
    assert code == 2
    assert (system / "switch").read_text() == "on"
    assert err.endswith("Apply this plan? [Y/n]: y\ntriage-ops: fixture.switch-on: ok\n")


def test_audit_show_and_verify(invoke: Invoke, system: Path, audit_path: Path) -> None:
    invoke(*DIR, "run", "fixture", "--param", f"state_dir={system}", "--incident", "INC-1")
    invoke(*DIR, "run", "concurrent", "--param", "seconds=0")
    code, out, _ = invoke("-o", "json", "audit", "show", "--incident", "INC-1")
    assert code == 0
    [entry] = json.loads(out)
    assert (entry["seq"], entry["runbook"], entry["summary"]) == (
        1,
        "fixture",
        "fixture: critical, exit 2, 3 finding(s)",
    )
    code, out, _ = invoke("audit", "show", "--last", "1")
    lines = out.splitlines()
    assert (code, lines[0], len(lines)) == (0, "Audit timeline", 3)
    assert lines[1].split() == [
        "SEQ",
        "TS",
        "USER",
        "INCIDENT",
        "KIND",
        "STEP",
        "OUTCOME",
        "SUMMARY",
    ]
    assert lines[2].split()[:1] + lines[2].split()[3:] == [
        "2", "-", "runbook.run", "concurrent", "healthy", "concurrent:", "ok,", "exit", "0,",
        "0", "finding(s)",
    ]  # fmt: skip
    assert invoke("audit", "verify") == (
        0,
        "OK   ENTRIES  BROKEN_AT  REASON\nyes  2        -          2 entries, chain intact\n",
        "",
    )
    lines_ = audit_path.read_text().splitlines(keepends=True)
    audit_path.write_text(lines_[1])
    assert invoke("audit", "verify") == (
        2,
        "OK  ENTRIES  BROKEN_AT  REASON\n"
        "no  0        1          line 1: entry 2 does not follow the line before it (an entry"
        " was deleted, inserted, moved or edited before it)\n",
        "",
    )


def test_audit_file_option(invoke: Invoke, tmp_path: Path) -> None:
    other = AuditLog(tmp_path / "copy.jsonl")
    other.append(kind="comms.send", summary="sent", incident="INC-3")
    code, out, _ = invoke("-o", "json", "audit", "--file", str(other.path), "show")
    assert code == 0
    assert [e["summary"] for e in json.loads(out)] == ["sent"]


# -- as a process ----------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI_SCRIPT, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_OPS_")}
    return clean | {"TRIAGE_OPS_AUDIT_LOG": str(tmp_path / "audit.jsonl"), "PYTHONPATH": str(ROOT)}


@pytest.mark.timeout(30)
def test_a_hung_check_does_not_keep_the_process_alive(env: dict[str, str]) -> None:
    started = time.monotonic()
    proc = _cli("--timeout", "0.5", "-o", "json", *DIR, "run", "hang", env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 4, proc.stderr
    assert elapsed < 5.0, elapsed
    report = json.loads(proc.stdout)
    assert [(f["code"], f["step"]) for f in report["findings"]] == [("TRI-ENGINE-001", "hang")]
    assert proc.stderr == "triage-ops: step hang did not finish within 0.5 s: abandoned\n"


PROBE = """
import json, sys
from triage_ops.cli import _COMMANDS, main
_COMMANDS.update({commands!r})
try:
    main()
except SystemExit:
    pass
heavy = ["kubernetes", "psycopg", "redis", "prometheus_api_client", "matplotlib"]
print(json.dumps([m for m in heavy if m in sys.modules]), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        [*DIR, "list"],
        [*DIR, "show", "fixture"],
        [*DIR, "run", "concurrent", "--param", "seconds=0"],
        ["audit", "verify"],
    ],
    ids=["help", "list", "show", "run", "audit"],
)
def test_no_heavy_imports(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(commands=COMMANDS), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert json.loads(proc.stderr.splitlines()[-1]) == [], proc.stderr
