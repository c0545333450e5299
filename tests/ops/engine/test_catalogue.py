"""The finding catalogue: merged from findings.yaml and findings.d/*.yaml, validated, and
the only source of severities, actions and commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage_ops.config import OpsConfig
from triage_ops.engine.catalogue import Catalogue, read_file
from triage_ops.engine.errors import DefinitionError, UnknownFinding
from triage_ops.engine.runbook import default_dir, engine_file
from triage_ops.findings import Finding, Severity

from .conftest import FIXTURES

ENTRY = """\
{code}:
  severity: {severity}
  title: A title
  explanation: Why it matters.
  action: Do this.
  command: "{command}"
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _entry(code: str = "TRI-X-001", severity: str = "critical", command: str = "") -> str:
    return ENTRY.format(code=code, severity=severity, command=command)


def test_engine_file_declares_the_engine_codes() -> None:
    catalogue = Catalogue.load(default_dir() / "does-not-exist", engine_file=engine_file())
    assert catalogue.codes() == [
        "TRI-ACTION-001",
        "TRI-ACTION-002",
        "TRI-ACTION-003",
        "TRI-ENGINE-001",
        "TRI-ENGINE-002",
        "TRI-ENGINE-003",
        "TRI-ENGINE-004",
        "TRI-ENGINE-005",
    ]
    assert catalogue.entry("TRI-ENGINE-001").severity is Severity.UNKNOWN
    assert catalogue.entry("TRI-ACTION-001").severity is Severity.CRITICAL
    assert catalogue.entry("TRI-ACTION-003").severity is Severity.UNKNOWN


def test_the_repository_catalogue_loads() -> None:
    """Every area's findings.d file is valid and no code is taken twice."""
    catalogue = Catalogue.load(default_dir(), engine_file=engine_file())
    assert "TRI-ENGINE-001" in catalogue
    assert len(catalogue) >= 8


def test_merges_main_file_and_findings_d(tmp_path: Path) -> None:
    _write(tmp_path / "findings.yaml", _entry("TRI-A-001"))
    _write(tmp_path / "findings.d" / "b.yaml", _entry("TRI-B-001", "warning"))
    _write(tmp_path / "findings.d" / "c.yaml", _entry("TRI-C-001", "info"))
    _write(tmp_path / "findings.d" / "notes.txt", "not yaml, not read")
    catalogue = Catalogue.load(tmp_path)
    assert catalogue.codes() == ["TRI-A-001", "TRI-B-001", "TRI-C-001"]
    assert catalogue.entry("TRI-B-001").source == str(tmp_path / "findings.d" / "b.yaml")


def test_a_code_declared_twice_names_both_files(tmp_path: Path) -> None:
    first = _write(tmp_path / "findings.d" / "a.yaml", _entry("TRI-DUP-001"))
    second = _write(tmp_path / "findings.d" / "b.yaml", _entry("TRI-DUP-001", "warning"))
    with pytest.raises(DefinitionError) as caught:
        Catalogue.load(tmp_path)
    assert str(caught.value) == (
        f"finding code TRI-DUP-001 is declared twice: in {first} and in {second}"
    )


def test_the_engine_file_given_twice_is_read_once(tmp_path: Path) -> None:
    main = _write(tmp_path / "findings.yaml", _entry("TRI-A-001"))
    catalogue = Catalogue.load(tmp_path, engine_file=main)
    assert catalogue.codes() == ["TRI-A-001"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_entry("TRI-x-001"), "TRI-x-001: a code must look like TRI-AREA-001"),
        (_entry("TRI-X-01"), "TRI-X-01: a code must look like TRI-AREA-001"),
        (_entry("TRI-X-001", "fatal"), "severity must be one of ok|info|warning|unknown|critical"),
        (
            "TRI-X-001:\n  severity: info\n  title: t\n",
            "TRI-X-001: missing explanation",
        ),
        (
            _entry() + "  runbook: p0\n",
            "TRI-X-001: unknown field(s) runbook",
        ),
        ("TRI-X-001: just text\n", "TRI-X-001: expected a mapping"),
        ("- a list\n", "expected a mapping of finding codes"),
        (
            "TRI-X-001:\n  title: a: b: c\n",
            "is not valid YAML: mapping values are not allowed here at line 2 (quote a text that"
            " contains ': ')",
        ),
        (_entry(command="kubectl -n {namespace!r}"), "placeholder {namespace} must be a name"),
        (_entry(command="kubectl {"), "bad braces in command"),
    ],
)
def test_invalid_files_say_where_and_what(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path / "findings.yaml", text)
    with pytest.raises(DefinitionError) as caught:
        read_file(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_finding_takes_severity_action_and_command_from_the_catalogue(tmp_path: Path) -> None:
    _write(
        tmp_path / "findings.yaml",
        _entry(command="kubectl -n {namespace} logs deployment/{api_deployment} {pod}"),
    )
    catalogue = Catalogue.load(tmp_path)
    finding = catalogue.finding(
        "TRI-X-001", "pod api-1 restarted 7 times", evidence={"pod": "api-1"}, step="pods"
    )
    assert finding == Finding(
        code="TRI-X-001",
        severity=Severity.CRITICAL,
        summary="pod api-1 restarted 7 times",
        evidence={"pod": "api-1"},
        action="Do this.",
        command="kubectl -n email-triage logs deployment/email-triage-api api-1",
        step="pods",
    )


def test_commands_use_the_configured_names_and_quote_values(tmp_path: Path) -> None:
    _write(tmp_path / "findings.yaml", _entry(command="kubectl -n {namespace} describe pod {pod}"))
    config = OpsConfig(namespace="triage-staging")
    catalogue = Catalogue.load(tmp_path).with_config(config)
    finding = catalogue.finding("TRI-X-001", "s", evidence={"pod": "api; rm -rf /"})
    assert finding.command == "kubectl -n triage-staging describe pod 'api; rm -rf /'"


def test_secret_settings_are_not_template_values(tmp_path: Path) -> None:
    _write(tmp_path / "findings.yaml", _entry(command="psql {database_url}"))
    config = OpsConfig.load(None, env={"TRIAGE_OPS_DATABASE_URL": "postgresql://u:pw@h/db"})
    catalogue = Catalogue.load(tmp_path).with_config(config)
    with pytest.raises(UnknownFinding) as caught:
        catalogue.finding("TRI-X-001", "s")
    assert str(caught.value) == (
        "finding TRI-X-001: its command needs evidence 'database_url', which the check did not give"
    )


def test_an_unknown_code_is_a_bug_in_the_check(tmp_path: Path) -> None:
    catalogue = Catalogue.load(FIXTURES, engine_file=engine_file())
    with pytest.raises(UnknownFinding) as caught:
        catalogue.finding("TRI-NOPE-001", "whatever")
    assert str(caught.value) == (
        "finding code TRI-NOPE-001 is not in the catalogue (runbooks/findings.yaml or"
        " runbooks/findings.d/*.yaml): a bug in the step that gave it"
    )


def test_an_identical_copy_is_not_a_conflict(tmp_path: Path) -> None:
    """A copied runbooks directory carries a copy of the engine's findings.yaml."""
    copy = _write(tmp_path / "findings.yaml", engine_file().read_text())
    catalogue = Catalogue.load(tmp_path, engine_file=engine_file())
    assert catalogue.entry("TRI-ENGINE-001").source == str(engine_file())
    copy.write_text(engine_file().read_text().replace("severity: unknown", "severity: info", 1))
    with pytest.raises(DefinitionError) as caught:
        Catalogue.load(tmp_path, engine_file=engine_file())
    assert str(caught.value) == (
        f"finding code TRI-ENGINE-001 is declared twice: in {engine_file()} and in {copy}"
    )
