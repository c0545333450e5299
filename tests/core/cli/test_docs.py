"""Every command is documented in the README (the sqlite-utils rule)."""

from __future__ import annotations

import click

from tests.conftest import ROOT
from triage_core.cli import main


def _commands(group: click.Group, prefix: str) -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, path))
        else:
            out.append(path)
    return out


def test_every_command_appears_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c for c in _commands(main, "triage") if c not in readme]
    assert missing == []
