"""Real servers for the `alerts` tests: Alertmanager and Prometheus from the system
packages, each on a free loopback port, tied to the test process (they die with it)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from click.testing import CliRunner

from tests.conftest import ROOT
from triage_ops import cli
from triage_ops.config import OpsConfig
from triage_ops.engine import standalone
from triage_ops.sandbox import processes as proc

ALERTS = ROOT / "alerts"
RULES = ALERTS / "email-triage.rules.yml"
HOST = "127.0.0.1"


@pytest.fixture(autouse=True)
def alerts_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """`triage-ops alerts`, whether or not cli.py registers it yet."""
    monkeypatch.setitem(cli._COMMANDS, "alerts", "triage_ops.commands.alerts:alerts")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli.main, list(args), env=env, input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def write_config(path: Path, **settings: str) -> Path:
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def step_context(config: OpsConfig, *, timeout: float = 5.0) -> Any:
    return standalone.step_context(config, timeout=timeout, step_id="test")


# -- Alertmanager ----------------------------------------------------------------------


@dataclass
class Alertmanager:
    url: str
    pid: int

    def post(self, *alerts: dict[str, Any]) -> None:
        r = requests.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=5)
        assert r.status_code == 200, r.text

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        r = requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=5)
        r.raise_for_status()
        result: list[dict[str, Any]] = r.json()
        return result

    def silences(self) -> list[dict[str, Any]]:
        r = requests.get(f"{self.url}/api/v2/silences", timeout=5)
        r.raise_for_status()
        result: list[dict[str, Any]] = r.json()
        return result


def start_alertmanager(directory: Path) -> tuple[int, str]:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: test\n  group_wait: 1s\n  group_interval: 5s\n"
        "receivers:\n  - name: test\n",
        encoding="utf-8",
    )
    port = proc.free_port()
    log = directory / "alertmanager.log"
    pid = proc.spawn(
        [
            "prometheus-alertmanager",
            f"--config.file={config}",
            f"--storage.path={directory}",
            f"--web.listen-address={HOST}:{port}",
            "--cluster.listen-address=",
        ],
        log=log,
        die_with_parent=True,
    )
    url = f"http://{HOST}:{port}"
    proc.wait_until(
        lambda: proc.http_ok(f"{url}/-/ready"), timeout=20, what="alertmanager", pid=pid, log=log
    )
    return pid, url


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    pid, url = start_alertmanager(tmp_path_factory.mktemp("alertmanager"))
    try:
        yield Alertmanager(url, pid)
    finally:
        proc.stop(pid, expect="alertmanager")


# -- Prometheus ------------------------------------------------------------------------


@dataclass
class Prometheus:
    url: str
    pid: int
    rules_dir: Path
    log: Path

    def get(self, path: str, **params: Any) -> Any:
        r = requests.get(self.url + path, params=params, timeout=5)
        r.raise_for_status()
        return r.json()["data"]

    def groups(self) -> dict[str, list[str]]:
        return {
            g["name"]: [r["name"] for r in g["rules"] if r["type"] == "alerting"]
            for g in self.get("/api/v1/rules")["groups"]
        }


def start_prometheus(
    directory: Path, *, rules_dir: Path, interval: str = "1s", lifecycle: bool = True
) -> Prometheus:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": interval, "evaluation_interval": interval},
                "rule_files": [str(rules_dir / "*.rules.yml")],
                "scrape_configs": [],
            }
        ),
        encoding="utf-8",
    )
    port = proc.free_port()
    log = directory / "prometheus.log"
    argv = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={HOST}:{port}",
    ]
    if lifecycle:
        argv.append("--web.enable-lifecycle")
    pid = proc.spawn(argv, log=log, die_with_parent=True)
    url = f"http://{HOST}:{port}"
    proc.wait_until(
        lambda: proc.http_ok(f"{url}/-/ready"), timeout=30, what="prometheus", pid=pid, log=log
    )
    return Prometheus(url, pid, rules_dir, log)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A rules directory holding a copy of the repository's rules."""
    directory = tmp_path / "rules"
    directory.mkdir()
    shutil.copy(RULES, directory / RULES.name)
    return directory


def wait_for(check: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def path_without(tool: str) -> str:
    """PATH with every directory that holds `tool` left out."""
    keep = [
        d for d in os.environ.get("PATH", "").split(os.pathsep) if not (Path(d) / tool).exists()
    ]
    return os.pathsep.join(keep)
