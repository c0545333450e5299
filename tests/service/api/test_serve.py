"""`triage serve` as a real uvicorn process: the runbook's recovery check, verbatim."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.service.redis.servers import RedisServer, free_port

# Copied verbatim from the runbook (P0: Complete Service Outage, Recovery Validation).
RUNBOOK_CURL = """\
curl -X POST https://api.company.com/email-triage/classify \\
  -H "Content-Type: application/json" \\
  -d '{"email": {"subject": "Test", "body": "Test email"}}'"""
# What the ingress does: it owns this host and strips the `/email-triage` path prefix.
INGRESS_BASE = "https://api.company.com/email-triage"

SERVE = "from triage_core.cli.serve import serve; serve(prog_name='triage serve')"
START_TIMEOUT_S = 30.0


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_serve(tmp: Path, settings_yaml: str, *args: str) -> Served:
    settings = tmp / "service.yaml"
    settings.write_text(settings_yaml, encoding="utf-8")
    port = free_port()
    log = tmp / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, "--port", str(port), "--settings", str(settings), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    served = Served(process, port, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{served.base}/healthz", timeout=1.0).status_code == 200:
                return served
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(served)
    raise AssertionError(f"triage serve did not start: {log.read_text(errors='replace')}")


def stop(served: Served) -> int:
    """SIGTERM, as Kubernetes sends it; uvicorn shuts down gracefully and then re-raises
    the signal, so a clean stop is exit status -SIGTERM (or 0)."""
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(served.process.pid, signal.SIGKILL)
            served.process.wait(timeout=5)
    return served.process.returncode


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Served]:
    settings = f"redis_url: {redis_server.url}\nredis_timeout_s: 0.5\nmax_body_bytes: 100000\n"
    server = start_serve(tmp_path_factory.mktemp("serve"), settings)
    try:
        yield server
    finally:
        assert stop(server) in (0, -signal.SIGTERM)
        assert "Finished server process" in server.log.read_text()


def run_runbook_curl(base: str) -> str:
    """The runbook's command, run by bash as an operator would paste it, with only the
    ingress's part done for it (host and path prefix); returns what curl printed."""
    command = RUNBOOK_CURL.replace(INGRESS_BASE, base)
    if shutil.which("curl") is not None and shutil.which("bash") is not None:
        done = subprocess.run(["bash", "-c", command], capture_output=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode()
    # no curl here: the same request, read off the same command line
    argv = shlex.split(command.replace("\\\n", " "))
    url = argv[argv.index("POST") + 1]
    name, _, value = argv[argv.index("-H") + 1].partition(":")
    data = argv[argv.index("-d") + 1]
    return httpx.post(url, content=data.encode(), headers={name: value.strip()}).text


def test_the_runbook_recovery_check_works_verbatim(served: Served) -> None:
    answer = json.loads(run_runbook_curl(served.base))
    assert list(answer) == ["message_id", "category", "confidence", "backend", "degraded"]
    assert answer["backend"] == "embedded"
    assert answer["degraded"] is False
    # and the versioned path answers the same
    versioned = httpx.post(
        f"{served.base}/v1/classify", json={"email": {"subject": "Test", "body": "Test email"}}
    )
    assert versioned.json() == answer


def test_openapi_and_probes_over_http(served: Served) -> None:
    assert httpx.get(f"{served.base}/openapi.json").json()["info"]["title"] == "Email triage API"
    ready = httpx.get(f"{served.base}/readyz")
    assert ready.status_code == 200  # no database configured: Redis and the model only
    assert list(ready.json()["checks"]) == ["redis", "model"]
    assert "http_requests_total" in httpx.get(f"{served.base}/metrics").text


def test_chunked_body_over_the_cap_is_refused_before_it_is_all_sent(served: Served) -> None:
    """Over a real socket: 413 arrives while the client still has most of its body to send."""
    chunk = b"x" * 16_384
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/triage HTTP/1.1\r\nHost: t\r\nContent-Type: message/rfc822\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        answer = b""
        sock.settimeout(0.05)
        for _ in range(1000):  # up to 16 MB, far over the 100 kB cap
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            except OSError:  # the server closed its side after answering
                break
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            if b"\r\n\r\n" in answer:
                break
        sock.settimeout(5)
        while not answer.endswith(b"}"):  # the whole JSON error body
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert sent < 2_000_000
    assert b'"code": "payload_too_large"' in answer


def test_declared_oversize_body_is_refused_at_once(served: Served) -> None:
    response = httpx.post(
        f"{served.base}/v1/triage",
        content=b"y" * 200_000,
        headers={"Content-Type": "message/rfc822"},
    )
    assert response.status_code == 413


def test_several_workers_report_metrics_together(tmp_path: Path, redis_server: RedisServer) -> None:
    settings = f"redis_url: {redis_server.url}\nredis_timeout_s: 0.5\n"
    server = start_serve(tmp_path, settings, "--workers", "2", "--no-access-log")
    try:
        for _ in range(30):
            # a new connection each time, so both workers get some of the requests
            with httpx.Client() as fresh:
                response = fresh.post(
                    f"{server.base}/v1/classify",
                    json={"email": {"subject": "Test", "body": "Test email"}},
                )
                assert response.status_code == 200
        text = httpx.get(f"{server.base}/metrics").text
    finally:
        assert stop(server) in (0, -signal.SIGTERM)
    line = next(
        row
        for row in text.splitlines()
        if row.startswith('http_requests_total{method="POST",route="/v1/classify",status="200"}')
    )
    assert float(line.rsplit(" ", 1)[1]) == 30.0


def test_bad_settings_fail_before_binding(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from triage_core.cli.serve import serve

    bad = tmp_path / "service.yaml"
    bad.write_text("redis_url: redis://127.0.0.1:1/0\nbogus_key: 1\n", encoding="utf-8")
    result = CliRunner().invoke(serve, ["--settings", str(bad), "--port", "0"])
    assert result.exit_code == 4
    assert result.output == "triage: error: unknown service setting(s): bogus_key\n"
