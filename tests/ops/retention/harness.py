"""Calling `triage-ops` the way a user does: CliRunner for most tests, a subprocess for the
reliability test (which must be able to SIGKILL it)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from triage_ops.cli import main
from triage_ops.engine.catalogue import Catalogue, read_file
from triage_ops.engine.runbook import default_dir

REPO = Path(__file__).resolve().parents[3]
# cli.py registers `retention` once the lead adds its line; until then the child adds it.
CHILD = (
    "import triage_ops.cli as c, triage_ops.engine.runner as r, tests.ops.retention.harness as h;"
    " c._COMMANDS.setdefault('retention', 'triage_ops.commands.retention:retention');"
    " r._default_catalogue = h.own_catalogue;"
    " c.main()"
)


def own_catalogue(_runbook: object = None) -> Catalogue:
    """The engine's codes and ours only: another area's catalogue file being edited at the
    same time must not fail these tests (test_catalogue.py checks ours on its own)."""
    root = default_dir()
    return Catalogue(
        [*read_file(root / "findings.yaml"), *read_file(root / "findings.d" / "retention.yaml")]
    )


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.out, f"no output (exit {self.code}): {self.err}"
        return json.loads(self.out)


def env_for(url: str, tmp: Path) -> dict[str, str]:
    return {
        "TRIAGE_OPS_DATABASE_URL": url,
        "TRIAGE_OPS_AUDIT_LOG": str(tmp / "audit.jsonl"),
        "TRIAGE_OPS_CONFIG": "",
    }


def invoke(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def child_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", CHILD, *args]


def child_env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "PYTHONPATH": str(REPO)}
