"""Inputs, the error shape and the body cap, against the app with no servers behind it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, MutableMapping
from dataclasses import replace
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from tests.conftest import TRIAGE_V1_KEYS
from tests.service.api.conftest import ClientFactory
from tests.service.api.helpers import raw_message
from triage_core.pipeline import Pipeline
from triage_core.result import TriageResult
from triage_core.service.api import create_app
from triage_core.service.settings import ServiceSettings

RUNBOOK_EMAIL = {"email": {"subject": "Test", "body": "Test email"}}


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["code", "message", "field", "request_id"]
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    return error


# -- the happy paths ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/classify", "/classify"])
def test_classify_answers_the_runbook_check(offline_client: TestClient, path: str) -> None:
    response = offline_client.post(path, json=RUNBOOK_EMAIL)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["message_id", "category", "confidence", "backend", "degraded"]
    assert body["backend"] == "embedded"
    assert body["degraded"] is False
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["message_id"].endswith("@triage.local>")  # synthetic: none was given


def test_classify_is_the_pipeline_answer(offline_client: TestClient) -> None:
    email = {"subject": "Server down", "body": "Production is down, customers affected!"}
    expected = Pipeline().triage(email)
    body = offline_client.post("/v1/classify", json={"email": email}).json()
    assert body["category"] == expected.category
    assert body["confidence"] == round(expected.category_confidence, 4)
    assert body["message_id"] == expected.message_id


def test_triage_returns_the_full_contract(offline_client: TestClient) -> None:
    raw = raw_message("Invoice overdue", "Please pay invoice 42 by Friday.", message_id="<a@b>")
    response = offline_client.post(
        "/v1/triage", content=raw, headers={"Content-Type": "message/rfc822"}
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == TRIAGE_V1_KEYS
    expected = Pipeline().triage(raw).to_dict()
    for key in TRIAGE_V1_KEYS:
        if key != "timings_ms":
            assert body[key] == expected[key], key
    assert body["message_id"] == "<a@b>"
    assert body["schema"] == "triage/v1"


def test_json_and_raw_forms_are_both_accepted(offline_client: TestClient) -> None:
    as_json = offline_client.post(
        "/v1/triage",
        json={"email": {"subject": "Hello", "body": "Lunch on Friday?", "message_id": "<x@y>"}},
    )
    as_raw = offline_client.post(
        "/v1/triage",
        content=raw_message("Hello", "Lunch on Friday?", message_id="<x@y>"),
        headers={"Content-Type": "message/rfc822; charset=utf-8"},
    )
    assert as_json.status_code == as_raw.status_code == 200
    assert as_json.json()["message_id"] == as_raw.json()["message_id"] == "<x@y>"
    assert as_json.json()["subject"] == as_raw.json()["subject"] == "Hello"


def test_vendor_json_media_type_is_json(offline_client: TestClient) -> None:
    response = offline_client.post(
        "/v1/classify",
        content=b'{"email": {"subject": "Test", "body": "Test email"}}',
        headers={"Content-Type": "application/vnd.triage+json"},
    )
    assert response.status_code == 200


# -- 422 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        (
            {"email": {"subject": 5}},
            "email.subject",
            "email.subject: Input should be a valid string",
        ),
        (
            {"email": {"to": ["a@b.c", 5]}},
            "email.to[1]",
            "email.to[1]: Input should be a valid string",
        ),
        ({"email": {"bdy": "typo"}}, "email.bdy", "email.bdy: unknown field"),
        ({"mail": {}}, "email", "email: Field required"),
        ({}, "email", "email: Field required"),
        (
            {"email": "text"},
            "email",
            "email: Input should be a valid dictionary or instance of EmailIn",
        ),
        (
            {"email": {"attachments": [{"filename": "a.pdf", "size": -1}]}},
            "email.attachments[0].size",
            "email.attachments[0].size: Input should be greater than or equal to 0",
        ),
        (
            {"email": {"headers": {"List-Id": 3}}},
            "email.headers.List-Id",
            "email.headers.List-Id: Input should be a valid string",
        ),
    ],
)
def test_a_wrong_field_is_named(
    offline_client: TestClient, document: Any, field: str, message: str
) -> None:
    response = offline_client.post("/v1/triage", json=document)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert error["field"] == field
    assert error["message"] == message


def test_a_non_object_body_is_422(offline_client: TestClient) -> None:
    response = offline_client.post("/v1/classify", json=[1, 2])
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] is None
    assert error["message"].startswith("the JSON body is not an object with an `email` field")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"email": ', "malformed JSON: Expecting value at line 1 column 11"),
        (b"", "malformed JSON: Expecting value at line 1 column 1"),
        (b"\xff\xfe\x00", "malformed JSON: not UTF-8, UTF-16 or UTF-32 text"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed JSON: nested too deeply"),
    ],
)
def test_malformed_json_is_422(offline_client: TestClient, content: bytes, message: str) -> None:
    response = offline_client.post(
        "/v1/triage", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    error = error_of(response)
    assert error == {
        "code": "invalid_json",
        "message": message,
        "field": None,
        "request_id": response.headers["x-request-id"],
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"  \r\n", "the message is empty"),
        (b'{"email": {}}', "a message/rfc822 body must start with a header field: "
         "send JSON as application/json"),
    ],
)  # fmt: skip
def test_bad_raw_message_is_422(offline_client: TestClient, content: bytes, message: str) -> None:
    response = offline_client.post(
        "/v1/triage", content=content, headers={"Content-Type": "message/rfc822"}
    )
    assert response.status_code == 422
    assert error_of(response)["message"] == message
    assert error_of(response)["field"] == "body"


# -- 415 -------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(offline_client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = offline_client.post("/v1/triage", content=b"subject=x", headers=headers)
    assert response.status_code == 415
    error = error_of(response)
    assert error["code"] == "unsupported_media_type"
    assert error["field"] == "Content-Type"
    shown = content_type or "missing"
    assert error["message"] == (
        f"Content-Type {shown} is not accepted: send application/json or message/rfc822"
    )


# -- 413 -------------------------------------------------------------------------------


@pytest.fixture
def small_cap_client(
    offline_settings: ServiceSettings, client_for: ClientFactory
) -> Iterator[TestClient]:
    with client_for(replace(offline_settings, max_body_bytes=1000)) as client:
        yield client


def test_declared_length_over_the_cap_is_413(small_cap_client: TestClient) -> None:
    response = small_cap_client.post(
        "/v1/triage", content=b"x" * 1001, headers={"Content-Type": "message/rfc822"}
    )
    assert response.status_code == 413
    assert error_of(response) == {
        "code": "payload_too_large",
        "message": "request body over the limit of 1000 bytes",
        "field": None,
        "request_id": response.headers["x-request-id"],
    }


def test_body_at_the_cap_is_accepted(small_cap_client: TestClient) -> None:
    raw = raw_message("Hi", "x" * 2000)[:1000]
    response = small_cap_client.post(
        "/v1/triage", content=raw, headers={"Content-Type": "message/rfc822"}
    )
    assert response.status_code == 200


def test_streamed_body_over_the_cap_is_413_and_read_no_further(
    offline_settings: ServiceSettings,
) -> None:
    """No Content-Length (chunked): the body is counted as it arrives, and the app stops
    pulling at the first chunk past the cap. Driven at the ASGI level, where the number
    of chunks the app asked for is visible (TestClient would buffer the body first)."""
    app = create_app(replace(offline_settings, max_body_bytes=1000))
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"y" * 400, "more_body": pulled < 100}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope: MutableMapping[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/triage",
        "raw_path": b"/v1/triage",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"message/rfc822"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }
    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 413
    assert pulled == 3  # 400 + 400 + 400 > 1000: the third chunk is the last one read
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"


def test_chunked_body_past_the_cap_is_413(small_cap_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"Subject: x\r\n\r\n"
        yield b"z" * 2000

    response = small_cap_client.post(
        "/v1/triage",
        content=chunks(),
        headers={"Content-Type": "message/rfc822", "Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 413


def test_413_comes_before_auth_and_content_type(small_cap_client: TestClient) -> None:
    response = small_cap_client.post("/v1/triage", content=b"x" * 5000)
    assert response.status_code == 413


# -- framework errors, 500, request ids --------------------------------------------------


def test_unknown_route_and_method_use_the_error_shape(offline_client: TestClient) -> None:
    missing = offline_client.get("/v2/nothing")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"
    wrong = offline_client.get("/v1/triage")
    assert wrong.status_code == 405
    assert error_of(wrong)["code"] == "method_not_allowed"


def test_enqueue_without_a_database_is_503(offline_client: TestClient) -> None:
    response = offline_client.post("/v1/emails", json=RUNBOOK_EMAIL)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert error_of(response)["message"] == "no database is configured (TRIAGE_DATABASE_URL)"


class ExplodingPipeline(Pipeline):
    def triage(self, item: Any, *, source: str | None = None) -> TriageResult:
        raise RuntimeError("secret internals /etc/passwd line 42")


def test_an_unhandled_error_is_a_generic_500_and_the_traceback_is_logged(
    offline_settings: ServiceSettings,
    client_for: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with client_for(offline_settings, pipeline=ExplodingPipeline()) as client:
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="triage_core.service.api"):
            response = client.post(
                "/v1/triage", json=RUNBOOK_EMAIL, headers={"X-Request-ID": "req-123"}
            )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-123"
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal error; quote the request id when reporting it",
            "field": None,
            "request_id": "req-123",
        }
    }
    assert "Traceback" not in response.text and "secret internals" not in response.text
    records = [r for r in caplog.records if r.name == "triage_core.service.api"]
    assert len(records) == 1
    assert "req-123" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert "secret internals" in str(records[0].exc_info[1])


def test_request_id_is_echoed_or_made(offline_client: TestClient) -> None:
    given = offline_client.get("/healthz", headers={"X-Request-ID": "abc.DEF-1"})
    assert given.headers["x-request-id"] == "abc.DEF-1"
    bogus = offline_client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    made = bogus.headers["x-request-id"]
    assert made != "bad id\twith spaces"
    assert len(made) == 32 and int(made, 16) >= 0


def test_healthz_needs_nothing(offline_client: TestClient) -> None:
    response = offline_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_metrics_count_requests_by_route_template(offline_client: TestClient) -> None:
    offline_client.post("/v1/classify", json=RUNBOOK_EMAIL)
    offline_client.get("/v1/emails/some-id")  # 503 here: no database
    offline_client.get("/no/such/path")
    response = offline_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'http_requests_total{method="POST",route="/v1/classify",status="200"}' in text
    assert 'http_requests_total{method="GET",route="/v1/emails/{id}",status="503"}' in text
    assert 'http_requests_total{method="GET",route="unmatched",status="404"}' in text
    assert "/v1/emails/some-id" not in text
    assert "/no/such/path" not in text
    assert 'http_request_duration_seconds_count{route="/v1/classify"}' in text
    assert 'emails_processed_total{category="' in text
