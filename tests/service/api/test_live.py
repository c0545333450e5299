"""The API against a real PostgreSQL and a real Redis: enqueue, poll, readiness, cache."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from tests.service.api.conftest import ClientFactory
from tests.service.api.helpers import raw_message, unique_message_id
from tests.service.redis.servers import RedisServer, start_redis
from triage_core.pipeline import Pipeline
from triage_core.service import keys
from triage_core.service.queue import Queue
from triage_core.service.redis_clients import connect
from triage_core.service.settings import Secret, ServiceSettings
from triage_core.service.store import Store
from triage_core.service.worker import Worker


@pytest.fixture
def client(live_settings: ServiceSettings, client_for: ClientFactory) -> Iterator[TestClient]:
    with client_for(live_settings) as opened:
        yield opened


def stream_entries(redis_server: RedisServer) -> list[dict[bytes, bytes]]:
    with redis_server.client() as plain:
        return [fields for _id, fields in plain.xrange(keys.QUEUE_STREAM)]


def test_readyz_is_ready_with_every_dependency_up(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["failed"] == []
    assert list(body["checks"]) == ["postgres", "redis", "model"]
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["error"] is None
        assert 0.0 <= check["duration_ms"] < 1000.0


def test_enqueue_creates_a_queued_row_and_a_stream_entry(
    client: TestClient, redis_server: RedisServer
) -> None:
    message_id = unique_message_id()
    raw = raw_message("Server down", "Production is down!", message_id=message_id)
    response = client.post("/v1/emails", content=raw, headers={"Content-Type": "message/rfc822"})
    assert response.status_code == 202
    body = response.json()
    assert list(body) == ["id", "status", "message_id"]
    assert body["status"] == "queued"
    assert body["message_id"] == message_id
    email_id = str(uuid.UUID(body["id"]))
    entries = stream_entries(redis_server)
    assert entries == [{b"email_id": email_id.encode(), b"payload": raw}]

    polled = client.get(f"/v1/emails/{email_id}")
    assert polled.status_code == 200
    record = polled.json()
    assert record["id"] == email_id
    assert record["message_id"] == message_id
    assert record["status"] == "queued"
    assert record["result"] is None
    assert record["processed_at"] is None


def test_enqueue_is_idempotent_on_message_id(
    client: TestClient, redis_server: RedisServer, live_settings: ServiceSettings
) -> None:
    message_id = unique_message_id()
    first = client.post("/v1/emails", json={"email": {"subject": "A", "message_id": message_id}})
    again = client.post(
        "/v1/emails",
        content=raw_message("A, sent again as raw", "same message", message_id=message_id),
        headers={"Content-Type": "message/rfc822"},
    )
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "status": "queued", "message_id": message_id}
    # Still queued: added to the stream again (a lost first XADD would be repaired this way)
    assert len(stream_entries(redis_server)) == 2
    with Store(live_settings) as store:
        store.mark_processing([first.json()["id"]])
    third = client.post("/v1/emails", json={"email": {"subject": "A", "message_id": message_id}})
    assert third.status_code == 200
    assert third.json()["status"] == "processing"
    assert len(stream_entries(redis_server)) == 2  # not re-queued once a worker has it


def test_a_message_without_message_id_gets_the_pipelines_synthetic_id(
    client: TestClient, redis_server: RedisServer
) -> None:
    email = {"subject": "No id here", "body": f"unique {uuid.uuid4().hex}"}
    expected = Pipeline().triage(email).message_id
    first = client.post("/v1/emails", json={"email": email})
    second = client.post("/v1/emails", json={"email": dict(email)})
    assert first.status_code == 202 and second.status_code == 200
    assert first.json()["message_id"] == second.json()["message_id"] == expected
    assert expected.endswith("@triage.local>")
    assert first.json()["id"] == second.json()["id"]
    payload = stream_entries(redis_server)[0][b"payload"]
    assert json.loads(payload) == email  # the email object, not the request envelope


def test_a_worker_processes_what_the_api_enqueued(
    client: TestClient, live_settings: ServiceSettings
) -> None:
    """End to end through the real queue, worker and store: the poll shows the result."""
    message_id = unique_message_id()
    email = {
        "subject": "Invoice 42 overdue",
        "body": "Please pay by Friday.",
        "message_id": message_id,
    }
    email_id = client.post("/v1/emails", json={"email": email}).json()["id"]
    redis_client = connect(live_settings.redis_url, cluster=False, timeout_s=2.0)
    try:
        queue = Queue(redis_client, settings=live_settings)
        queue.ensure_group()
        with Store(live_settings) as store:
            worker = Worker(
                settings=live_settings,
                consumer="api-test",
                store=store,
                queue=queue,
                pipeline=Pipeline(),
                stop=threading.Event(),
            )
            outcome = worker.run_once()
    finally:
        redis_client.close()
    assert outcome.saved == 1
    record = client.get(f"/v1/emails/{email_id}").json()
    expected = Pipeline().triage(email).to_dict()
    assert record["status"] == "processed"
    assert record["category"] == expected["category"]
    assert record["priority"] == expected["priority"]
    assert record["result"]["message_id"] == message_id
    assert record["result"]["schema"] == "triage/v1"
    assert record["processed_at"] is not None


@pytest.mark.parametrize("email_id", [str(uuid.UUID(int=7)), "not-a-uuid", "x" * 300])
def test_unknown_email_is_404(client: TestClient, email_id: str) -> None:
    response = client.get(f"/v1/emails/{email_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["field"] == "id"


def test_results_are_cached_by_content(client: TestClient, redis_server: RedisServer) -> None:
    email = {"email": {"subject": "Cache me", "body": f"body {uuid.uuid4().hex}"}}
    first = client.post("/v1/triage", json=email).json()
    with redis_server.client() as plain:
        cached = [k for k in plain.scan_iter(match=keys.CACHE_PREFIX + "*")]
        assert len(cached) == 1
        stored = json.loads(plain.get(cached[0]) or b"{}")
        stored["summary"] = "served from the cache"
        plain.set(cached[0], json.dumps(stored))
    second = client.post("/v1/triage", json=email).json()
    assert second["summary"] == "served from the cache"
    assert {k: v for k, v in second.items() if k != "summary"} == {
        k: v for k, v in first.items() if k != "summary"
    }


def test_fallback_switch_is_obeyed_without_a_restart(
    client: TestClient, redis_server: RedisServer
) -> None:
    email = {"email": {"subject": "Server down", "body": "Production outage since 9am."}}
    assert client.post("/v1/classify", json=email).json()["degraded"] is False
    with redis_server.client() as plain:
        plain.set(keys.FALLBACK_SWITCH, json.dumps({"on": True}))
    try:
        deadline_answers = []
        for _ in range(50):  # fallback_poll_s is 0.1 s in these settings
            answer = client.post("/v1/classify", json=email).json()
            deadline_answers.append(answer)
            if answer["degraded"]:
                break
            threading.Event().wait(0.05)
        assert deadline_answers[-1]["degraded"] is True
        assert deadline_answers[-1]["backend"] == "rules"
    finally:
        with redis_server.client() as plain:
            plain.delete(keys.FALLBACK_SWITCH)


def test_metrics_count_processed_emails(client: TestClient) -> None:
    client.post("/v1/triage", json={"email": {"subject": "Hi", "body": f"x {uuid.uuid4()}"}})
    text = client.get("/metrics").text
    assert 'email_processing_duration_seconds_count{stage="total"}' in text
    assert 'http_requests_total{method="POST",route="/v1/triage",status="200"}' in text


@pytest.fixture(scope="module")
def queue_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with start_redis(tmp_path_factory.mktemp("api-queue-redis")) as server:
        yield server


def test_queue_on_its_own_redis(
    live_settings: ServiceSettings,
    redis_server: RedisServer,
    queue_redis: RedisServer,
    client_for: ClientFactory,
) -> None:
    """The queue (and the fallback switch, a queue-side key) on one Redis, the result
    cache on another: each goes where the workers and the ops CLI expect it."""
    with queue_redis.client() as plain:
        plain.flushall()
    settings = replace(live_settings, queue_redis_url=Secret(queue_redis.url))
    with client_for(settings) as client:
        ready = client.get("/readyz").json()
        assert list(ready["checks"]) == ["postgres", "redis", "redis_queue", "model"]
        assert ready["failed"] == []
        email = {"email": {"subject": "Split", "message_id": unique_message_id()}}
        assert client.post("/v1/emails", json=email).status_code == 202
        assert stream_entries(queue_redis) != []
        assert stream_entries(redis_server) == []
        body = {"email": {"subject": "Split cache", "body": uuid.uuid4().hex}}
        assert client.post("/v1/triage", json=body).status_code == 200
        with redis_server.client() as plain:
            assert len(list(plain.scan_iter(match=keys.CACHE_PREFIX + "*"))) == 1
        with queue_redis.client() as plain:
            assert list(plain.scan_iter(match=keys.CACHE_PREFIX + "*")) == []
            plain.set(keys.FALLBACK_SWITCH, "{}")
        answers = []
        for _ in range(50):
            answers.append(client.post("/v1/classify", json=body).json())
            if answers[-1]["degraded"]:
                break
            time.sleep(0.05)
        assert answers[-1]["degraded"] is True
