"""The real servers the client and fault-injection tests run against, started once per test
session and shared by tests/ops/clients/ and tests/ops/faults/ (each directory's conftest
asks `shared()` for it; the second gets the running one).

PostgreSQL (with a password, migrated), Redis, the model server (`triage serve-model`),
the API (`triage serve`, with an API key, its classifier the model server with the
embedded model as fallback) and Prometheus (scraping itself and the API, with one rule
that always fires). Every process dies with the test process (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage_core.service.store import migrate
from triage_ops.config import OpsConfig
from triage_ops.sandbox import processes as proc
from triage_ops.sandbox.postgres import PostgresServer, pg_bin, start_postgres
from triage_ops.sandbox.processes import HOST
from triage_ops.sandbox.redis import RedisServer, start_redis

# Secrets the tests look for in every finding, note and message: none may show.
PG_PASSWORD = "pg-S3cret-hunter2"
API_KEY = "api-K3y-0penSesame-123"
MODEL_NAME = "email-classifier"
ALWAYS_FIRING = "TriageOpsTestAlwaysFiring"
START_TIMEOUT_S = 60


@dataclass
class HttpServer:
    name: str
    pid: int
    port: int
    log: Path
    expect: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        return proc.alive(self.pid)

    def stop(self) -> None:
        proc.stop(self.pid, expect=self.expect, timeout=5.0)


@dataclass
class Stack:
    directory: Path
    postgres: PostgresServer
    redis: RedisServer
    model_server: HttpServer
    api: HttpServer
    prometheus: HttpServer
    users: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        return self.postgres.url()

    def config(self, **overrides: Any) -> OpsConfig:
        """An OpsConfig naming this stack's servers (overrides win)."""
        settings: dict[str, Any] = {
            "api_url": self.api.url,
            "database_url": self.database_url,
            "redis_url": self.redis.url,
            "prometheus_url": self.prometheus.url,
            "model_server_url": self.model_server.url,
            "model_name": MODEL_NAME,
            "api_key": API_KEY,
        }
        settings.update(overrides)
        return OpsConfig().merged(settings, where="test")

    def stop(self) -> None:
        for server in (self.prometheus, self.api, self.model_server):
            server.stop()
        self.redis.stop()
        self.postgres.destroy()


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", "triage_core.cli", *args]


def _spawn(
    name: str, argv: list[str], port: int, logs: Path, expect: str, **env: str
) -> HttpServer:
    log = logs / f"{name}.log"
    pid = proc.spawn(argv, log=log, env=env, die_with_parent=True)
    return HttpServer(name, pid, port, log, expect)


def _wait(server: HttpServer, path: str) -> None:
    proc.wait_until(
        lambda: proc.http_ok(server.url + path),
        timeout=START_TIMEOUT_S,
        what=server.name,
        pid=server.pid,
        log=server.log,
    )


def start_prometheus(
    directory: Path, *, scrape: dict[str, list[str]], rules: str = "", interval: str = "1s"
) -> HttpServer:
    """A Prometheus on a free port scraping `scrape` (job -> targets) and itself."""
    directory.mkdir(parents=True, exist_ok=True)
    port = proc.free_port()
    jobs = {"prometheus": [f"{HOST}:{port}"], **scrape}
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": targets}]}
            for job, targets in jobs.items()
        ],
    }
    if rules:
        (directory / "rules.yml").write_text(rules, encoding="utf-8")
        config["rule_files"] = [str(directory / "rules.yml")]
    (directory / "prometheus.yml").write_text(json.dumps(config), encoding="utf-8")
    server = _spawn(
        "prometheus",
        [
            "prometheus",
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address={HOST}:{port}",
        ],
        port,
        directory,
        "prometheus",
    )
    _wait(server, "/-/ready")
    return server


def _wait_scraped(prometheus: HttpServer, *, targets: int) -> None:
    """Until Prometheus has scraped every target once and evaluated its rules."""

    def scraped() -> bool:
        try:
            with urllib.request.urlopen(prometheus.url + "/api/v1/targets", timeout=2) as r:
                active = json.load(r)["data"]["activeTargets"]
            with urllib.request.urlopen(prometheus.url + "/api/v1/query?query=up", timeout=2) as r:
                series = json.load(r)["data"]["result"]
        except (OSError, ValueError, KeyError):
            return False
        return (
            len(active) == targets
            and all(t.get("health") == "up" for t in active)
            and len(series) == targets
        )

    proc.wait_until(scraped, timeout=START_TIMEOUT_S, what="prometheus' first scrapes")


def start_stack(directory: Path) -> Stack:
    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    postgres = start_postgres(password=PG_PASSWORD)
    started: list[Any] = [postgres]
    try:
        migrate(postgres.url())
        redis = start_redis(directory / "redis")
        started.append(redis)
        model_port, api_port = proc.free_port(), proc.free_port()
        model = _spawn(
            "model-server",
            _python("serve-model", "--host", HOST, "--port", str(model_port)),
            model_port,
            logs,
            "serve-model",
        )
        started.append(model)
        pipeline = directory / "pipeline.yaml"
        pipeline.write_text(
            "classifier:\n  backend: tfserving\n  fallback: embedded\n"
            f"  tfserving:\n    url: http://{HOST}:{model_port}\n    timeout_s: 1.0\n",
            encoding="utf-8",
        )
        api = _spawn(
            "api",
            _python("serve", "--host", HOST, "--port", str(api_port), "--no-access-log"),
            api_port,
            logs,
            "serve",
            TRIAGE_DATABASE_URL=postgres.url(),
            TRIAGE_REDIS_URL=redis.url,
            TRIAGE_PIPELINE_CONFIG=str(pipeline),
            TRIAGE_API_KEYS=API_KEY,
            TRIAGE_FALLBACK_POLL_S="0.5",
        )
        started.append(api)
        _wait(model, f"/v1/models/{MODEL_NAME}")
        _wait(api, "/readyz")
        rules = (
            "groups:\n  - name: test\n    rules:\n"
            f"      - alert: {ALWAYS_FIRING}\n        expr: vector(1)\n"
            "        labels: {severity: info}\n        annotations: {summary: always}\n"
        )
        prometheus = start_prometheus(
            directory / "prometheus", scrape={"email-triage": [f"{HOST}:{api_port}"]}, rules=rules
        )
        started.append(prometheus)
        _wait_scraped(prometheus, targets=2)
    except BaseException:
        for server in reversed(started):
            with contextlib.suppress(Exception):
                server.destroy() if isinstance(server, PostgresServer) else server.stop()
        raise
    return Stack(directory, postgres, redis, model, api, prometheus)


def start_replica(primary: PostgresServer) -> PostgresServer:
    """A hot standby of `primary`: `pg_basebackup -R` over the primary's Unix socket (as
    its superuser), started on a free port with the primary's password."""
    directory = Path(tempfile.mkdtemp(prefix="triage-pg-replica-"))
    server = PostgresServer(
        directory=directory,
        port=proc.free_port(),
        log_path=directory / "postgres.log",
        password=primary.password,
        database=primary.database,
    )
    try:
        if server.owner is not None:
            os.chown(directory, *server.owner)
        proc.run(
            [
                str(pg_bin() / "pg_basebackup"),
                "-D",
                str(server.datadir),
                "-R",
                "-X",
                "stream",
                "-h",
                str(primary.directory),
                "-p",
                str(primary.port),
                "-U",
                primary.user,
                "--no-sync",
                "--checkpoint=fast",
            ],
            user=server.owner,
        )
        server.start()
    except BaseException:
        server.destroy()
        raise
    return server


def pause(server: PostgresServer) -> None:
    """SIGSTOP the postmaster: connections are accepted by the kernel, never served."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)


def resume(server: PostgresServer) -> None:
    if server.pid is not None and proc.alive(server.pid):
        os.kill(server.pid, signal.SIGCONT)


_LOCK = threading.Lock()
_SHARED: Stack | None = None


def acquire(directory: Path) -> Stack:
    """The session's stack, started on first use (in `directory`)."""
    global _SHARED
    with _LOCK:
        if _SHARED is None:
            _SHARED = start_stack(directory)
        _SHARED.users += 1
        return _SHARED


def release() -> None:
    """Stops the stack when its last user (a session fixture) is done with it."""
    global _SHARED
    with _LOCK:
        if _SHARED is None:
            return
        _SHARED.users -= 1
        if _SHARED.users <= 0:
            _SHARED.stop()
            _SHARED = None
