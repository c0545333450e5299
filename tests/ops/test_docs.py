"""Every `triage-ops` command is documented in the README, and so is every exit code
(the sqlite-utils rule: a command nobody can find does not exist)."""

from __future__ import annotations

import click

from tests.conftest import ROOT
from triage_ops.cli import main
from triage_ops.exit_codes import ExitCode


def _commands(group: click.Group, prefix: str) -> list[str]:
    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, path))
        else:
            out.append(path)
    return out


def test_every_command_appears_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = _commands(main, "triage-ops")
    assert len(commands) > 40
    missing = [c for c in commands if f"`{c}" not in readme]
    assert missing == []


def test_every_exit_code_is_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    for code in ExitCode:
        assert f"| {int(code)} | `{code.name}` |" in table, code.name
