"""`triage-ops alerts test`: promtool's unit tests of the rules, failures as findings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.ops.alerts.conftest import ALERTS, RULES, invoke, path_without, step_context
from triage_ops.config import OpsConfig
from triage_ops.procedures.alerts import check_rule_tests, run_rule_tests

pytestmark = pytest.mark.timeout(60)


def _copy(tmp_path: Path) -> Path:
    """alerts/ copied: rules beside tests/, as the tests' rule_files expect; without the
    drift tests, which evaluate a week of samples (9 s)."""
    root = tmp_path / "alerts"
    (root / "tests").mkdir(parents=True)
    shutil.copy(RULES, root / RULES.name)
    for test in sorted((ALERTS / "tests").glob("*.yml")):
        if test.name != "drift.test.yml":
            shutil.copy(test, root / "tests" / test.name)
    return root / "tests"


def test_repository_unit_tests_pass() -> None:
    result = invoke("-o", "json", "alerts", "test")
    assert result.code == 0
    assert result.json() == {
        "files": [
            "alerts/tests/availability.test.yml",
            "alerts/tests/drift.test.yml",
            "alerts/tests/performance.test.yml",
        ],
        "passed": [
            "alerts/tests/availability.test.yml",
            "alerts/tests/drift.test.yml",
            "alerts/tests/performance.test.yml",
        ],
        "failed": [],
        "findings": [],
    }


def test_table_output(tmp_path: Path) -> None:
    tests = _copy(tmp_path)
    result = invoke("alerts", "test", str(tests / "availability.test.yml"))
    assert (result.code, result.out) == (0, "1/1 unit-test file(s) pass: no findings\n")


def test_a_broken_unit_test_fails_with_what_differs(tmp_path: Path) -> None:
    tests = _copy(tmp_path)
    availability = tests / "availability.test.yml"
    text = availability.read_text(encoding="utf-8")
    # ServiceDown's expected summary names another instance than the one that is down.
    text = text.replace(
        'summary: "email-triage target 10.0.0.1:8000 is down"',
        'summary: "email-triage target 10.0.0.9:8000 is down"',
        1,
    )
    availability.write_text(text, encoding="utf-8")
    performance = tests / "performance.test.yml"
    result = invoke("-o", "json", "alerts", "test", str(availability), str(performance))
    assert result.code == 2
    report = result.json()
    shown = str(availability.resolve())
    assert report["failed"] == [shown]
    assert report["passed"] == [str(performance.resolve())]
    assert [(f["code"], f["summary"]) for f in report["findings"]] == [
        (
            "TRI-ALERT-020",
            f"{shown}: alert ServiceDown at 4m: annotation summary: expected"
            " 'email-triage target 10.0.0.9:8000 is down', got 'email-triage target"
            " 10.0.0.1:8000 is down'",
        )
    ]
    evidence = report["findings"][0]["evidence"]
    assert (evidence["alert"], evidence["time"], evidence["file"]) == ("ServiceDown", "4m", shown)


def test_an_alert_that_does_not_fire_when_expected(tmp_path: Path) -> None:
    tests = _copy(tmp_path)
    availability = tests / "availability.test.yml"
    text = availability.read_text(encoding="utf-8")
    # HighErrorRate is pending at 4m; a test expecting it to fire then must fail.
    availability.write_text(text.replace("eval_time: 10m", "eval_time: 4m", 1), encoding="utf-8")
    findings = invoke("-o", "json", "alerts", "test", str(availability)).json()["findings"]
    summaries = [f["summary"] for f in findings if f["code"] == "TRI-ALERT-020"]
    assert summaries == [
        f"{availability.resolve()}: alert HighErrorRate at 4m: expected 1 alert(s)"
        " {severity=critical}, got 0 alert(s)"
    ]


def test_unrunnable_empty_and_uncovering_test_files(tmp_path: Path) -> None:
    tests = _copy(tmp_path)  # without drift.test.yml: ConfidenceDrift has no test
    (tests / "broken.test.yml").write_text("rule_files: [\n", encoding="utf-8")
    (tests / "nothing.test.yml").write_text(
        "rule_files:\n  - ../missing.rules.yml\ntests: []\n", encoding="utf-8"
    )
    result = invoke("-o", "json", "alerts", "test", str(tests))
    findings = result.json()["findings"]
    rules = str((tests.parent / RULES.name).resolve())
    assert [(f["code"], f["summary"]) for f in findings] == [
        (
            "TRI-ALERT-021",
            f"{(tests / 'broken.test.yml').resolve()}: promtool could not run it: yaml: line 1:"
            " did not find expected node content",
        ),
        (
            "TRI-ALERT-022",
            f"{(tests / 'nothing.test.yml').resolve()}: rule_files ../missing.rules.yml match no"
            " file: its tests test nothing",
        ),
        (
            "TRI-ALERT-023",
            f"ConfidenceDrift ({rules}) has no unit test: no alert_rule_test names it",
        ),
    ]
    assert result.code == 2


def test_library_check_and_promtool_missing(tmp_path: Path) -> None:
    tests = _copy(tmp_path)
    ctx = step_context(OpsConfig())
    result = run_rule_tests(ctx, [tests / "availability.test.yml", tests / "performance.test.yml"])
    assert (len(result.files), result.failed, result.findings) == (2, [], [])
    ctx.params = {"paths": str(tests)}
    assert [(f.code, f.evidence["alert"]) for f in check_rule_tests(ctx)] == [
        ("TRI-ALERT-023", "ConfidenceDrift")  # drift.test.yml is left out of the copy
    ]
    assert ctx.notes == ["2/2 unit-test file(s) pass"]

    missing = invoke("alerts", "test", env={"PATH": path_without("promtool")})
    assert missing.code == 4
    assert missing.err.startswith("triage-ops: error: promtool not found on PATH")
    assert missing.err.count("\n") == 1
