"""Shell completion: the script for each shell, and completions that list real commands."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from triage_ops.cli import main


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_names_the_program(shell: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0
    assert "_TRIAGE_OPS_COMPLETE" in result.stdout


def test_bash_completes_subcommands_of_a_lazy_group() -> None:
    env = {
        **os.environ,
        "_TRIAGE_OPS_COMPLETE": "bash_complete",
        "COMP_WORDS": "triage-ops incident p",
        "COMP_CWORD": "2",
    }
    out = subprocess.run(
        [sys.executable, "-c", "from triage_ops.cli import main; main(prog_name='triage-ops')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    assert out == ["plain,p0", "plain,p1", "plain,p2"]
