"""Dependencies failing under a running API: PostgreSQL stopped, Redis hung (SIGSTOP), the
model server down. Each answer must come back within the configured timeouts, with the
status the issue asks for, and the app must recover without a restart.

These tests own their servers (they stop and pause them), separate from the session's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import uvicorn
from fastapi.testclient import TestClient

from tests.service.api.conftest import ClientFactory
from tests.service.api.helpers import raw_message, server_settings, unique_message_id
from tests.service.redis.servers import RedisServer, free_port, start_redis
from triage_core.pipeline import Pipeline
from triage_core.service import keys
from triage_core.service.settings import ServiceSettings
from triage_core.service.store import migrate
from triage_ops.sandbox.postgres import PostgresServer, start_postgres

T = TypeVar("T")

EMAIL = {"email": {"subject": "Server down", "body": "Production is down since 9am!"}}
# Readiness probes each get 1 s; the store waits database_timeout_s (1 s here) for a
# connection; Redis calls time out after redis_timeout_s (0.5 s here). Margins are for a
# loaded CI machine.
READYZ_BOUND_S = 2.5


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    with start_postgres() as server:
        migrate(server.url())
        yield server


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("api-faults-redis")) as server:
        yield server


@pytest.fixture
def settings(own_postgres: PostgresServer, own_redis: RedisServer) -> ServiceSettings:
    own_postgres.start()  # a previous test may have stopped it
    own_redis.resume()
    return server_settings(own_postgres.url(), own_redis.url)


def eventually_ready(client: TestClient, *, within_s: float = 15.0) -> bool:
    """The pool reconnects in the background with a backoff: poll /readyz."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return True
        time.sleep(0.2)
    return False


def timed(call: Callable[[], T]) -> tuple[T, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


# -- PostgreSQL down -------------------------------------------------------------------


def test_postgres_down_readyz_503_triage_answers_enqueue_503(
    settings: ServiceSettings, own_postgres: PostgresServer, client_for: ClientFactory
) -> None:
    with client_for(settings) as client:
        assert client.get("/readyz").status_code == 200
        own_postgres.stop()
        try:
            start = time.monotonic()
            ready = client.get("/readyz")
            assert time.monotonic() - start < READYZ_BOUND_S
            assert ready.status_code == 503
            body = ready.json()
            assert body["status"] == "unready"
            assert body["failed"] == ["postgres"]
            assert body["checks"]["redis"]["ok"] is True
            assert body["checks"]["model"]["ok"] is True
            assert body["checks"]["postgres"]["error"]
            assert "password" not in body["checks"]["postgres"]["error"].lower()

            triage = client.post("/v1/triage", json=EMAIL)
            assert triage.status_code == 200
            assert triage.json()["category"] == Pipeline().triage(EMAIL["email"]).category

            start = time.monotonic()
            enqueue = client.post("/v1/emails", json=EMAIL)
            assert time.monotonic() - start < READYZ_BOUND_S
            assert enqueue.status_code == 503
            assert enqueue.headers["retry-after"] == "5"
            assert enqueue.json()["error"] == {
                "code": "unavailable",
                "message": "the store is unavailable: retry later",
                "field": None,
                "request_id": enqueue.headers["x-request-id"],
            }
            assert client.get("/v1/emails/00000000-0000-0000-0000-000000000001").status_code == 503
        finally:
            own_postgres.start()
        # the same process recovers: the pool reconnects
        assert eventually_ready(client)
        assert client.post("/v1/emails", json=EMAIL).status_code in (200, 202)


def test_app_starts_while_postgres_is_down(
    settings: ServiceSettings, own_postgres: PostgresServer, client_for: ClientFactory
) -> None:
    own_postgres.stop()
    try:
        with client_for(settings) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").json()["failed"] == ["postgres"]
            assert client.post("/v1/classify", json=EMAIL).status_code == 200
            own_postgres.start()
            assert eventually_ready(client)
            late = client.post("/v1/emails", json={"email": {"subject": "late"}})
            assert late.status_code in (200, 202)
    finally:
        own_postgres.start()


# -- Redis hung ------------------------------------------------------------------------


def test_redis_paused_enqueue_503_triage_answers_readyz_names_redis(
    settings: ServiceSettings, own_redis: RedisServer, client_for: ClientFactory
) -> None:
    with client_for(settings) as client:
        assert client.get("/readyz").status_code == 200
        message_id = unique_message_id()
        raw = raw_message("Queued during an outage", "hello", message_id=message_id)
        with own_redis.paused():
            enqueue, took = timed(
                lambda: client.post(
                    "/v1/emails", content=raw, headers={"Content-Type": "message/rfc822"}
                )
            )
            assert took < 2.0  # one redis_timeout_s (0.5 s), not redis-py's long retries
            assert enqueue.status_code == 503
            assert enqueue.json()["error"]["message"] == ("the queue is unavailable: retry later")

            # the cache is bypassed: the first request pays one timeout, later ones none
            triage, took = timed(lambda: client.post("/v1/triage", json=EMAIL))
            assert triage.status_code == 200
            assert took < 2.0
            _, took_again = timed(lambda: client.post("/v1/triage", json=EMAIL))
            assert took_again < 0.3

            ready, took = timed(lambda: client.get("/readyz"))
            assert took < READYZ_BOUND_S
            assert ready.status_code == 503
            assert ready.json()["failed"] == ["redis"]
            error = ready.json()["checks"]["redis"]["error"]
            assert error in ("TimeoutError: Timeout reading from socket", "timed out after 1s")

        # the client's retry completes the enqueue the outage interrupted
        retry = client.post("/v1/emails", content=raw, headers={"Content-Type": "message/rfc822"})
        assert retry.status_code == 200
        assert retry.json()["status"] == "queued"
        with own_redis.client() as plain:
            payloads = [f[b"payload"] for _, f in plain.xrange(keys.QUEUE_STREAM)]
        assert raw in payloads


def test_event_loop_keeps_serving_while_a_request_waits_on_redis(
    settings: ServiceSettings, own_redis: RedisServer, client_for: ClientFactory
) -> None:
    """The blocking work runs in a worker thread: a request stuck on a hung Redis does not
    stall /healthz (a liveness probe failing here would kill a healthy pod)."""
    from dataclasses import replace

    with client_for(replace(settings, redis_timeout_s=2.0)) as client:
        client.post("/v1/triage", json=EMAIL)  # warm: cache and switch built
        with own_redis.paused():
            slow: list[float] = []
            worker = threading.Thread(
                target=lambda: slow.append(timed(lambda: client.post("/v1/emails", json=EMAIL))[1])
            )
            worker.start()
            time.sleep(0.3)
            health, took = timed(lambda: client.get("/healthz"))
            assert health.status_code == 200
            assert took < 0.5
            worker.join(10)
        assert slow and slow[0] >= 1.5


# -- the model server down -------------------------------------------------------------


class ModelServer:
    """The project's TF-Serving-compatible model server, in a thread of this process."""

    def __init__(self, port: int) -> None:
        from triage_core.service.model_server import build

        config = uvicorn.Config(build(), host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ModelServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_model_server_down_results_degraded_and_readyz_names_model(
    settings: ServiceSettings, client_for: ClientFactory, tmp_path: Path
) -> None:
    from dataclasses import replace

    port = free_port()
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        "classifier:\n"
        "  backend: tfserving\n"
        "  fallback: rules\n"
        "  tfserving:\n"
        f"    url: http://127.0.0.1:{port}\n"
        "    timeout_s: 0.5\n"
        "    retries: 0\n"
        "    breaker_failures: 100\n",
        encoding="utf-8",
    )
    with (
        ModelServer(port),
        client_for(replace(settings, pipeline_config=str(config))) as client,
    ):
        up = client.post("/v1/classify", json=EMAIL).json()
        assert up["backend"] == "tfserving"
        assert up["degraded"] is False
        assert client.get("/readyz").status_code == 200
    # the model server has stopped; the API goes on (another email: the first one's answer
    # is in the result cache, and a cached answer of the model is still a good answer)
    other = {"email": {"subject": "Server down again", "body": "Outage, second time today."}}
    with client_for(replace(settings, pipeline_config=str(config))) as client:
        down = client.post("/v1/classify", json=other)
        assert down.status_code == 200
        assert down.json()["backend"] == "rules"
        assert down.json()["degraded"] is True
        triage = client.post("/v1/triage", json=other).json()
        assert triage["degraded"] is True
        assert triage["errors"][-1]["stage"] == "classify"
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["model"]
        assert ready.json()["checks"]["model"]["error"].startswith(
            "tfserving model not available (UNREACHABLE)"
        )
