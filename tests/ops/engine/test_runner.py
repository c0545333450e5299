"""The runner: concurrency, deadlines, every failure a finding, exit codes, and the one
path for changes (plan -> dry-run | confirm -> apply -> verify -> audit)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from triage_ops.clients import Clients
from triage_ops.commands import reporting
from triage_ops.config import OpsConfig
from triage_ops.engine.audit import AuditLog
from triage_ops.engine.catalogue import Catalogue
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.engine.report import ActionOutcome, Report
from triage_ops.engine.runbook import Library, Runbook, engine_file, parse_runbook
from triage_ops.engine.runner import execute_action, run_runbook
from triage_ops.errors import UsageError
from triage_ops.exit_codes import ExitCode

from . import fixture_steps
from .conftest import FIXTURES

CONFIG = OpsConfig()


def _never(plan: Plan) -> bool:
    raise AssertionError("confirm must not be called")


def run(
    runbook: Runbook,
    library: Library,
    *,
    audit: AuditLog | None = None,
    params: dict[str, Any] | None = None,
    timeout: float = 1.0,
    log: list[str] | None = None,
    **options: Any,
) -> Report:
    messages = log if log is not None else []
    settings: dict[str, Any] = {
        "act": False,
        "dry_run": False,
        "yes": False,
        "confirm": _never,
        "incident": None,
    } | options
    return run_runbook(
        runbook,
        config=CONFIG,
        clients=Clients(CONFIG, timeout=timeout),
        timeout=timeout,
        audit=audit,
        log=messages.append,
        params=params or {},
        catalogue=library.catalogue,
        **settings,
    )


def _gives(library: Library, *codes: str) -> Runbook:
    """A check giving `codes` (and, with "refused", a second check that cannot connect)."""
    second = ("fails", "refused") if "refused" in codes else ("fine", "sleep_ok")
    data = {
        "id": "gives",
        "title": "Gives",
        "source": "Tests",
        "summary": "Gives findings",
        "steps": [
            {
                "id": "give",
                "kind": "check",
                "title": "Give",
                "run": "tests.ops.engine.fixture_steps:gives",
                "params": {"codes": [c for c in codes if c != "refused"]},
                "findings": ["TRI-FIXTURE-001", "TRI-FIXTURE-002", "TRI-FIXTURE-005"],
            },
            {
                "id": second[0],
                "kind": "check",
                "title": second[0].title(),
                "run": f"tests.ops.engine.fixture_steps:{second[1]}",
            },
        ],
    }
    return parse_runbook(data, path=FIXTURES / "gives.yaml", catalogue=library.catalogue)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ((), ExitCode.HEALTHY),
        (("TRI-FIXTURE-005",), ExitCode.HEALTHY),
        (("TRI-FIXTURE-002", "TRI-FIXTURE-005"), ExitCode.WARNINGS),
        (("TRI-FIXTURE-002", "TRI-FIXTURE-001"), ExitCode.CRITICAL),
        (("refused",), ExitCode.UNREACHABLE),
        (("TRI-FIXTURE-002", "refused"), ExitCode.UNREACHABLE),
        (("TRI-FIXTURE-001", "refused"), ExitCode.CRITICAL),
    ],
)
def test_exit_code_follows_the_worst_finding(
    library: Library, codes: tuple[str, ...], expected: ExitCode
) -> None:
    report = run(_gives(library, *codes), library)
    assert report.exit_code is expected
    assert report.to_json()["exit_code"] == int(expected)


def test_findings_are_sorted_worst_first(library: Library) -> None:
    report = run(
        _gives(library, "TRI-FIXTURE-005", "TRI-FIXTURE-002", "TRI-FIXTURE-001", "refused"), library
    )
    assert [(str(f.severity), f.code, f.step) for f in report.findings] == [
        ("critical", "TRI-FIXTURE-001", "give"),
        ("unknown", "TRI-ENGINE-002", "fails"),
        ("warning", "TRI-FIXTURE-002", "give"),
        ("info", "TRI-FIXTURE-005", "give"),
    ]
    assert [(s.id, s.status) for s in report.steps] == [("give", "critical"), ("fails", "unknown")]


@pytest.mark.timeout(20)
def test_independent_checks_run_concurrently(library: Library) -> None:
    started = time.monotonic()
    report = run(library.get("concurrent"), library, params={"seconds": 1.0}, timeout=3)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    assert [(s.id, s.status, s.notes) for s in report.steps] == [
        ("one", "ok", ["slept 1 s"]),
        ("two", "ok", ["slept 1 s"]),
        ("three", "ok", ["slept 1 s"]),
        ("last", "ok", ["slept 0 s"]),
    ]
    assert all(900 <= s.duration_ms < 1900 for s in report.steps[:3])
    assert report.exit_code is ExitCode.HEALTHY


@pytest.mark.timeout(20)
def test_every_failure_becomes_a_finding_naming_the_step(library: Library) -> None:
    log: list[str] = []
    started = time.monotonic()
    report = run(library.get("faults"), library, log=log)
    assert time.monotonic() - started < 1.5  # the hung step costs its 0.5 s, no more
    assert report.exit_code is ExitCode.UNREACHABLE
    by_step = {
        f.step: (f.code, str(f.severity), f.summary, dict(f.evidence)) for f in report.findings
    }
    assert by_step == {
        "hang": (
            "TRI-ENGINE-001",
            "unknown",
            "step hang (Hangs forever) did not finish within 0.5 s: abandoned",
            {"step": "hang", "timeout_s": 0.5},
        ),
        "refused": (
            "TRI-ENGINE-002",
            "unknown",
            "step refused (Redis refuses) could not reach redis: Redis at 127.0.0.1:1:"
            " connection refused",
            {"step": "refused", "error": "Unreachable", "system": "redis"},
        ),
        "crash": (
            "TRI-ENGINE-003",
            "unknown",
            "step crash (Divides by zero) failed: ZeroDivisionError: integer division or modulo"
            " by zero",
            {"step": "crash", "error": "ZeroDivisionError"},
        ),
        "leak": (
            "TRI-ENGINE-003",
            "unknown",
            "step leak (Error quoting a DSN) failed: RuntimeError: cannot connect to"
            " postgresql://***@db:5432/triage",
            {"step": "leak", "error": "RuntimeError"},
        ),
        "unset": (
            "TRI-ENGINE-005",
            "unknown",
            "step unset (Not configured) cannot run: no redis_url configured (config file or"
            " TRIAGE_OPS_REDIS_URL)",
            {"step": "unset", "error": "UsageError"},
        ),
        "undeclared": (
            "TRI-ENGINE-004",
            "unknown",
            "step undeclared gave TRI-FIXTURE-003, which it does not declare: made by hand",
            {
                "step": "undeclared",
                "code": "TRI-FIXTURE-003",
                "severity": "critical",
                "summary": "made by hand",
            },
        ),
        "missing": (
            "TRI-ENGINE-003",
            "unknown",
            "step missing (Its module has no such function) failed: ImportError: module"
            " tests.ops.engine.fixture_steps has no attribute 'nope'",
            {"step": "missing", "error": "ImportError"},
        ),
        "none": (
            "TRI-ENGINE-003",
            "unknown",
            "step none (Returns None) failed: TypeError: returned NoneType, not a list of findings",
            {"step": "none", "error": "TypeError"},
        ),
    }
    assert {s.id: (s.status, s.notes) for s in report.steps} == {
        "hang": ("unknown", []),
        "after-hang": ("skipped", ["not run: it needs hang, which ended unknown"]),
        "refused": ("unknown", []),
        "crash": ("unknown", []),
        "leak": ("unknown", []),
        "unset": ("unknown", []),
        "undeclared": ("unknown", []),
        "missing": ("unknown", []),
        "none": ("unknown", []),
        "ok": ("ok", ["slept 0 s"]),
    }
    assert log == ["step hang did not finish within 0.5 s: abandoned"]


def test_a_crash_traceback_goes_to_the_debug_log_only(
    library: Library, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level("DEBUG", logger="triage_ops.engine")
    run(library.get("faults"), library)
    crash = [r for r in caplog.records if r.getMessage() == "step crash failed"]
    assert len(crash) == 1 and crash[0].levelname == "DEBUG"
    assert crash[0].exc_info is not None and crash[0].exc_info[0] is ZeroDivisionError
    assert capsys.readouterr() == ("", "")


# -- actions inside a run --------------------------------------------------------------


def test_without_act_actions_are_suggested_and_nothing_changes(
    library: Library, tmp_path: Path
) -> None:
    report = run(library.get("fixture"), library, params={"state_dir": str(tmp_path)})
    assert {s.id: (s.status, s.notes) for s in report.steps} == {
        "slow": ("warning", []),
        "switch": ("critical", []),
        "switch-on": ("suggested", ["take it with --act"]),
        "restart": ("suggested", ["not taken by --act alone: add --take restart"]),
        "recheck": ("critical", []),
    }
    assert report.actions == []
    assert list(tmp_path.iterdir()) == []


def test_act_takes_the_safe_action_and_verify_steps_see_the_result(
    library: Library, tmp_path: Path
) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    state = tmp_path / "state"
    state.mkdir()
    report = run(
        library.get("fixture"),
        library,
        params={"state_dir": str(state)},
        act=True,
        yes=True,
        audit=audit,
        incident="INC-1",
    )
    assert (state / "switch").read_text() == "on"
    assert not (state / "restarted").exists()  # not safe: needs --take
    assert {s.id: (s.status, s.notes) for s in report.steps} == {
        "slow": ("warning", []),
        "switch": ("critical", []),
        "switch-on": ("applied", ["switch on (switch)"]),
        "restart": ("suggested", ["not taken by --act alone: add --take restart"]),
        "recheck": ("ok", ["switch is on"]),
    }
    assert [(a.step, a.action, a.outcome) for a in report.actions] == [
        ("switch-on", "fixture.switch-on", "ok")
    ]
    # what the checks saw before acting still decides the exit code
    assert report.exit_code is ExitCode.CRITICAL
    entries = list(audit.entries())
    assert [(e["kind"], e["step"], e["outcome"], e["incident"]) for e in entries] == [
        ("action", "switch-on", "ok", "INC-1"),
        ("runbook.run", None, "critical", "INC-1"),
    ]
    assert entries[0]["plan"]["changes"] == [{"target": "switch", "before": "off", "after": "on"}]
    assert entries[0]["before"] == ["off"]
    assert entries[0]["after"] == {"switch": "on"}
    assert entries[1]["details"]["steps"] == {
        "slow": "warning",
        "switch": "critical",
        "switch-on": "applied",
        "restart": "suggested",
        "recheck": "ok",
    }


def test_take_allows_an_unsafe_action(library: Library, tmp_path: Path) -> None:
    report = run(
        library.get("fixture"),
        library,
        params={"state_dir": str(tmp_path)},
        act=True,
        yes=True,
        take=["restart"],
    )
    assert (tmp_path / "restarted").read_text() == "yes"
    assert [(a.step, a.outcome) for a in report.actions] == [("switch-on", "ok"), ("restart", "ok")]


def test_take_must_name_an_action(library: Library) -> None:
    with pytest.raises(UsageError) as caught:
        run(library.get("fixture"), library, act=True, take=["switch"])
    assert str(caught.value) == (
        "--take switch: not an action of runbook fixture (actions: restart, switch-on)"
    )


def test_dry_run_plans_and_changes_nothing(library: Library, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    state = tmp_path / "state"
    state.mkdir()
    log: list[str] = []
    report = run(
        library.get("fixture"),
        library,
        params={"state_dir": str(state)},
        act=True,
        dry_run=True,
        take=["restart"],
        audit=audit,
        log=log,
    )
    assert list(state.iterdir()) == []
    assert [(a.step, a.outcome, a.plan.summary if a.plan else None) for a in report.actions] == [
        ("switch-on", "dry-run", "switch on (switch)"),
        ("restart", "dry-run", "restart everything"),
    ]
    assert report.to_json()["actions"][0]["plan"] == {
        "summary": "switch on (switch)",
        "changes": [{"target": "switch", "before": "off", "after": "on"}],
        "commands": ["touch switch"],
        "dry_run": {},
        "noop": False,
        "destructive": False,
    }
    assert log == [
        "plan: switch on (switch)",
        "fixture.switch-on: dry-run",
        "plan: restart everything",
        "fixture.restart: dry-run",
    ]
    assert [(e["kind"], e["outcome"]) for e in audit.entries()] == [
        ("action", "dry-run"),
        ("action", "dry-run"),
        ("runbook.run", "critical"),
    ]


def test_declined_confirmation_changes_nothing(library: Library, tmp_path: Path) -> None:
    asked: list[str] = []

    def decline(plan: Plan) -> bool:
        asked.append(plan.summary)
        return False

    report = run(
        library.get("fixture"),
        library,
        params={"state_dir": str(tmp_path)},
        act=True,
        confirm=decline,
    )
    assert asked == ["switch on (switch)"]
    assert list(tmp_path.iterdir()) == []
    assert report.steps[2].status == "skipped"
    assert report.steps[2].notes == ["switch on (switch)", "declined"]
    assert report.steps[3].notes == ["not run: it needs switch-on, which ended skipped"]
    assert report.actions[0].outcome == "declined"
    assert report.actions[0].exit_code is ExitCode.WARNINGS


# -- execute_action on its own ----------------------------------------------------------


def _ctx(tmp_path: Path, timeout: float = 1.0) -> StepContext:
    catalogue = Catalogue.load(FIXTURES, engine_file=engine_file())
    return StepContext(
        config=CONFIG,
        clients=Clients(CONFIG, timeout=timeout),
        timeout=timeout,
        step_id="act",
        params={"state_dir": str(tmp_path)},
        make_finding=catalogue.finding,
    )


def _execute(action: Any, tmp_path: Path, *, timeout: float = 1.0, **options: Any) -> ActionOutcome:
    settings: dict[str, Any] = {
        "dry_run": False,
        "yes": True,
        "confirm": _never,
        "audit": AuditLog(tmp_path / "audit.jsonl"),
        "incident": "INC-2",
    } | options
    return execute_action(action, _ctx(tmp_path, timeout), **settings)


def _audit(tmp_path: Path) -> list[dict[str, Any]]:
    return list(AuditLog(tmp_path / "audit.jsonl").entries())


def test_ok_outcome(tmp_path: Path) -> None:
    outcome = _execute(fixture_steps.SwitchOn(), tmp_path)
    assert (outcome.outcome, outcome.exit_code, outcome.findings) == ("ok", ExitCode.HEALTHY, [])
    assert dict(outcome.after) == {"switch": "on"}
    [entry] = _audit(tmp_path)
    assert (entry["kind"], entry["step"], entry["outcome"], entry["incident"]) == (
        "action",
        "act",
        "ok",
        "INC-2",
    )
    assert entry["summary"] == "fixture.switch-on: switch on (switch) -> ok"


def test_noop_stops_before_confirmation(tmp_path: Path) -> None:
    (tmp_path / "switch").write_text("on")
    outcome = _execute(fixture_steps.SwitchOn(), tmp_path, yes=False)
    assert outcome.outcome == "noop"
    assert [e["outcome"] for e in _audit(tmp_path)] == ["noop"]


def test_apply_failure_is_critical(tmp_path: Path) -> None:
    outcome = _execute(fixture_steps.ApplyFails(), tmp_path)
    assert (outcome.outcome, outcome.exit_code) == ("failed", ExitCode.CRITICAL)
    assert outcome.error == "Kubernetes at https://127.0.0.1:6443: connection refused"
    assert [(f.code, f.summary, f.step) for f in outcome.findings] == [
        (
            "TRI-ACTION-001",
            "fixture.apply-fails: switch on (switch): failed: Kubernetes at"
            " https://127.0.0.1:6443: connection refused",
            "act",
        )
    ]
    [entry] = _audit(tmp_path)
    assert entry["outcome"] == "failed"
    assert entry["findings"][0]["code"] == "TRI-ACTION-001"


def test_a_change_that_does_not_take_is_unverified(tmp_path: Path) -> None:
    outcome = _execute(fixture_steps.DoesNotTake(), tmp_path)
    assert (outcome.outcome, outcome.exit_code) == ("unverified", ExitCode.CRITICAL)
    assert [(f.code, f.summary) for f in outcome.findings] == [
        ("TRI-ACTION-002", "fixture.does-not-take: applied, but 1 check(s) say it did not take"),
        ("TRI-FIXTURE-004", "the switch is still off"),
    ]
    assert outcome.findings[1].command == f"ls -l {tmp_path}"
    [entry] = _audit(tmp_path)
    assert entry["after"] == {"switch": "on", "password": "***"}


@pytest.mark.timeout(10)
def test_a_hung_plan_is_abandoned(tmp_path: Path) -> None:
    started = time.monotonic()
    outcome = _execute(fixture_steps.PlanHangs(), tmp_path, timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert (outcome.outcome, outcome.exit_code) == ("unplanned", ExitCode.UNREACHABLE)
    assert outcome.error == "did not make its plan within 0.3 s (abandoned; state unknown)"
    assert outcome.findings[0].code == "TRI-ACTION-003"


def test_without_a_terminal_confirmation_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(reporting, "stdin_is_terminal", lambda: False)
    with pytest.raises(UsageError) as caught:
        _execute(fixture_steps.SwitchOn(), tmp_path, yes=False, confirm=reporting.confirm_plan)
    assert str(caught.value) == (
        "this change needs --yes when not run from a terminal (--dry-run shows the plan)"
    )
    assert capsys.readouterr().err == (
        "Plan: switch on (switch)\n  change switch: off -> on\n  equivalent: touch switch\n"
    )
    assert not (tmp_path / "switch").exists()
    assert [e["outcome"] for e in _audit(tmp_path)] == ["refused"]


def test_secrets_never_reach_the_audit_entry(tmp_path: Path) -> None:
    outcome = _execute(fixture_steps.RotatesPassword(), tmp_path)
    assert outcome.outcome == "ok"
    text = (tmp_path / "audit.jsonl").read_text()
    for secret in ("old-pass-123", "new-pass-456", "tok-abcdef", "T0/B0/XYZ"):
        assert secret not in text
    [entry] = json.loads("[" + text.strip() + "]")
    assert entry["plan"]["summary"] == "rotate the password of postgresql://***@db/triage"
    assert entry["plan"]["changes"] == [
        {"target": "role triage", "before": {"password": "***"}, "after": {"password": "***"}}
    ]
    assert entry["after"] == {"token": "***", "webhook": "***"}


@pytest.mark.timeout(20)
def test_steps_after_a_failed_step_are_skipped_at_once(
    library: Library, caplog: pytest.LogCaptureFixture
) -> None:
    fixture = "tests.ops.engine.fixture_steps:"
    steps = [
        {"id": "slow", "kind": "check", "title": "Slow", "run": fixture + "sleep_ok",
         "params": {"seconds": 0.5}},
        {"id": "x", "kind": "check", "title": "X", "run": fixture + "refused"},
        {"id": "y", "kind": "check", "title": "Y", "run": fixture + "sleep_ok", "after": ["x"]},
        {"id": "z", "kind": "check", "title": "Z", "run": fixture + "sleep_ok", "after": ["y"]},
    ]  # fmt: skip
    data = {"id": "chain", "title": "Chain", "source": "Tests", "summary": "S", "steps": steps}
    runbook = parse_runbook(data, path=FIXTURES / "chain.yaml", catalogue=library.catalogue)
    caplog.set_level("INFO", logger="triage_ops.engine")
    report = run(runbook, library)
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "step x",
        "step y",
        "step z",
        "step slow",
    ]
    assert {s.id: (s.status, s.notes) for s in report.steps} == {
        "slow": ("ok", ["slept 0.5 s"]),
        "x": ("unknown", []),
        "y": ("skipped", ["not run: it needs x, which ended unknown"]),
        "z": ("skipped", ["not run: it needs y, which ended skipped"]),
    }


@pytest.mark.timeout(20)
def test_importing_a_step_does_not_count_against_its_timeout(library: Library) -> None:
    sys.modules.pop("tests.ops.engine.slow_import", None)
    step = {"kind": "check", "run": "tests.ops.engine.slow_import:check", "timeout": 0.3}
    data = {
        "id": "slow-import",
        "title": "Slow import",
        "source": "Tests",
        "summary": "S",
        "steps": [{"id": "a", "title": "A", **step}, {"id": "b", "title": "B", **step}],
    }
    runbook = parse_runbook(data, path=FIXTURES / "slow-import.yaml", catalogue=library.catalogue)
    report = run(runbook, library)
    assert [(s.id, s.status, s.notes) for s in report.steps] == [
        ("a", "ok", ["imported"]),
        ("b", "ok", ["imported"]),
    ]
