"""End-to-end tests of the incident response (`incident p0|p1|p2`, `health`, `model ...`):
the `triage-ops` console script in a subprocess, as an on-call engineer runs it, against the
session's sandbox (tests/ops/conftest.py).

Faults are injected without disturbing the sandbox: a copy of its config file with one
URL pointing at a closed port (a stopped server) or at a black hole (tests/ops/blackhole.py:
accepts TCP, never answers). The one exception is the sandbox's own Redis paused with
SIGSTOP, always resumed in a `finally` and waited for until the API is ready again.
Every test that changes the sandbox (the emulator's scenario, the fallback switch) puts it
back before it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml

from tests.ops.conftest import RunningSandbox
from triage_core.service import keys

TRIAGE_OPS = Path(sys.executable).with_name("triage-ops")
# What a run may take on top of its dependency timeout: starting Python, importing click,
# psycopg, redis-py and requests, reading the runbook and the catalogue (~1 s on an idle
# machine, up to ~3 s on a busy 2-core one).
SLACK_S = 3.0
# The --timeout the fault tests run with (the default is 5 s; 2 s keeps the files short).
FAULT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.out)

    def report(self) -> Report:
        return Report(self.json())


@dataclass(frozen=True)
class Report:
    """A runbook report (`--output json`), read the way the tests ask about it."""

    data: Mapping[str, Any]

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.data["findings"])

    def codes(self) -> list[str]:
        """The finding codes, sorted (one per finding)."""
        return sorted(f["code"] for f in self.findings)

    def by_step(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for f in self.findings:
            found.setdefault(f["step"], []).append(f["code"])
        return {step: sorted(codes) for step, codes in found.items()}

    def finding(self, code: str) -> dict[str, Any]:
        [found] = [f for f in self.findings if f["code"] == code]
        return found

    def steps(self) -> dict[str, str]:
        return {s["id"]: s["status"] for s in self.data["steps"]}

    def step(self, step_id: str) -> dict[str, Any]:
        [found] = [dict(s) for s in self.data["steps"] if s["id"] == step_id]
        return found


def clean_env() -> dict[str, str]:
    """The environment without TRIAGE_OPS_* settings, which would override the config."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_OPS_")}


def triage_ops(config: Path, *args: str, timeout: float = 120.0) -> Run:
    """`triage-ops --config CONFIG ARGS`, stdin not a terminal, timed."""
    command = [str(TRIAGE_OPS), "--config", str(config), *args]
    started = time.monotonic()
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=clean_env(),
        timeout=timeout,
        check=False,
    )
    return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def sandbox_settings(sandbox: RunningSandbox) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(sandbox.config_path.read_text(encoding="utf-8"))
    return data


def config_copy(sandbox: RunningSandbox, directory: Path, **settings: Any) -> Path:
    """The sandbox's config file with `settings` replaced, written to `directory`. Its
    audit log is the directory's own (a fresh timeline), unless `settings` names one."""
    data = sandbox_settings(sandbox)
    data["audit_log"] = str(directory / "audit.jsonl")
    data.update(settings)
    path = directory / "triage-ops.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def kubeconfig_copy(sandbox: RunningSandbox, directory: Path, server: str) -> Path:
    """The sandbox's kubeconfig with its API server at `server`."""
    source = Path(sandbox_settings(sandbox)["kubeconfig"])
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    for cluster in data["clusters"]:
        cluster["cluster"]["server"] = server
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def audit_entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_clean_stderr(run: Run) -> None:
    """No traceback of triage-ops' own (stdout may quote one: a crashing pod's log lines
    are evidence)."""
    assert "Traceback" not in run.err, run.err


# -- the sandbox's parts ------------------------------------------------------------------


def component_pid(sandbox: RunningSandbox, component: str) -> int:
    state_dir = str(sandbox.state_dir)
    done = subprocess.run(
        [str(TRIAGE_OPS), "--output", "json", "sandbox", "status", "--state-dir", state_dir],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=True,
    )
    [row] = [r for r in json.loads(done.stdout) if r["component"] == component]
    assert row["running"], row
    return int(row["pid"])


def sandbox_redis(sandbox: RunningSandbox) -> redis.Redis:
    return redis.Redis.from_url(sandbox.endpoints["redis"], socket_timeout=5)


def wait_ready(sandbox: RunningSandbox, timeout_s: float = 30.0) -> None:
    """Until the sandbox's Redis answers PING and the API's /readyz says ready."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            sandbox_redis(sandbox).ping()
            answer = requests.get(f"{sandbox.endpoints['api']}/readyz", timeout=2)
            if answer.status_code == 200:
                return
            last = f"/readyz {answer.status_code}: {answer.text[:200]}"
        except (redis.RedisError, requests.RequestException) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise AssertionError(f"the sandbox did not get ready again: {last}")


@contextlib.contextmanager
def redis_paused(sandbox: RunningSandbox) -> Iterator[int]:
    """The sandbox's Redis stopped with SIGSTOP (the kernel still accepts connections,
    nothing answers): black-holed. Resumed whatever happens, and waited for."""
    pid = component_pid(sandbox, "redis")
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)
        wait_ready(sandbox)


def emulator_url(sandbox: RunningSandbox) -> str:
    return sandbox.endpoints["kubernetes"]


def load_scenario(sandbox: RunningSandbox, scenario: str) -> None:
    answer = requests.post(
        f"{emulator_url(sandbox)}/_emulator/scenario", json={"scenario": scenario}, timeout=10
    )
    assert answer.status_code == 200, answer.text


def emulator_requests(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = requests.get(
        f"{emulator_url(sandbox)}/_emulator/requests", timeout=10
    ).json()
    return data


def clear_emulator_requests(sandbox: RunningSandbox) -> None:
    requests.delete(f"{emulator_url(sandbox)}/_emulator/requests", timeout=10)


@contextlib.contextmanager
def scenario(sandbox: RunningSandbox, name: str) -> Iterator[None]:
    """The emulator holding scenario `name`; the healthy cluster again afterwards."""
    load_scenario(sandbox, name)
    try:
        yield
    finally:
        load_scenario(sandbox, "healthy")


def switch_off(sandbox: RunningSandbox) -> None:
    """Fallback mode off without triage-ops (a test's clean-up must not depend on it)."""
    sandbox_redis(sandbox).delete(keys.FALLBACK_SWITCH)


@pytest.fixture
def fallback_restored(sandbox: RunningSandbox) -> Iterator[None]:
    switch_off(sandbox)
    try:
        yield
    finally:
        switch_off(sandbox)
