"""A real model server for the session: `triage serve-model` in a subprocess on a free
loopback port, stopped at the end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT

START_TIMEOUT_S = 30.0
_COMMAND = "from triage_core.cli.serve_model import serve_model; serve_model()"


@dataclass(frozen=True)
class ModelServer:
    url: str
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_model_server(*args: str, log: Path) -> ModelServer:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _COMMAND, "--port", str(port), "--log-level", "warning", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"model server exited {process.returncode}: {log.read_text()}")
        try:
            requests.get(f"{url}/metrics", timeout=1.0)
            return ModelServer(url=url, process=process)
        except requests.ConnectionError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"model server not answering after {START_TIMEOUT_S}s: {log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    server = start_model_server(log=tmp_path_factory.mktemp("model-server") / "server.log")
    try:
        yield server
    finally:
        stop(server.process)
