"""Shared by the engine's tests: the fixture runbooks, the CLI with the engine's commands
registered (until cli.py lists them), and an isolated audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from triage_ops import cli
from triage_ops.engine.runbook import Library

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "runbooks"
ROOT = HERE.parents[2]
COMMANDS = {
    "runbook": "triage_ops.commands.runbook:runbook",
    "audit": "triage_ops.commands.runbook:audit",
}
# For subprocesses: the CLI with the engine's commands registered.
CLI_SCRIPT = (
    "import sys; from triage_ops.cli import _COMMANDS, main; "
    f"_COMMANDS.update({COMMANDS!r}); main()"
)

Invoke = Callable[..., tuple[int, str, str]]


@pytest.fixture
def library() -> Library:
    return Library.load(FIXTURES)


@pytest.fixture
def audit_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "audit.jsonl"
    monkeypatch.setenv("TRIAGE_OPS_AUDIT_LOG", str(path))
    monkeypatch.delenv("TRIAGE_OPS_CONFIG", raising=False)
    monkeypatch.delenv("TRIAGE_OPS_AUDIT_DATABASE_URL", raising=False)
    return path


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, audit_path: Path) -> Invoke:
    for name, target in COMMANDS.items():
        monkeypatch.setitem(cli._COMMANDS, name, target)

    def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
        result = CliRunner().invoke(cli.main, list(args), input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return run


def steady(text: str) -> str:
    """Table output of a report with its timings replaced by `T`: the SECONDS column of the
    summary (second line) and the MS column of the Steps section."""
    lines = text.splitlines()
    section = ""
    for number, line in enumerate(lines):
        if number == 2:
            lines[number] = re.sub(r"\d+\.\d$", "T", line)
        if line in ("Steps", "Actions") or not line:
            section = line
        elif section == "Steps" and not line.startswith("STEP "):
            line = re.sub(r"^(\S+\s+\S+\s+\S+\s+)\d+ *", lambda m: m.group(1) + "T ", line)
            lines[number] = line.rstrip()
    return "\n".join(lines) + "\n"
