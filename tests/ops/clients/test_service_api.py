"""ServiceApiClient against the real API (`triage serve`, an API key required)."""

from __future__ import annotations

import pytest

from tests.ops.faults.stack import API_KEY, Stack
from triage_ops.clients.errors import AuthFailed, BadResponse
from triage_ops.clients.service_api import ServiceApiClient
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError

pytestmark = pytest.mark.timeout(120)

CATEGORIES = {
    "billing",
    "complaint",
    "incident",
    "meeting",
    "newsletter",
    "notification",
    "personal",
    "question",
    "request",
    "spam",
    "other",
}


@pytest.fixture(scope="module")
def api(stack: Stack) -> ServiceApiClient:
    return ServiceApiClient.from_config(stack.config(), timeout=5)


def test_healthz(api: ServiceApiClient) -> None:
    answer = api.healthz()
    assert set(answer) == {"status", "latency_ms"}
    assert answer["status"] == "ok"


def test_readyz_lists_every_check(api: ServiceApiClient) -> None:
    ready = api.readyz()
    assert ready["ready"] is True
    assert ready["status"] == "ready"
    assert ready["failed"] == []
    assert sorted(ready["checks"]) == ["model", "postgres", "redis"]
    assert all(c["ok"] is True and c["error"] is None for c in ready["checks"].values())


def test_readyz_names_a_failed_dependency(api: ServiceApiClient, stack: Stack) -> None:
    with stack.redis.paused():
        ready = api.readyz()
    assert ready["ready"] is False
    assert ready["status"] == "unready"
    assert ready["failed"] == ["redis"]
    assert ready["checks"]["redis"]["ok"] is False
    assert ready["checks"]["redis"]["error"] == "timed out after 1s"
    assert ready["checks"]["postgres"]["ok"] is True


def test_classify_the_runbooks_recovery_check(api: ServiceApiClient) -> None:
    answer = api.classify(subject="Test", body="Test email")
    assert set(answer) == {
        "message_id",
        "category",
        "confidence",
        "backend",
        "degraded",
        "latency_ms",
    }
    assert answer["category"] in CATEGORIES
    assert answer["backend"] == "tfserving"
    assert answer["degraded"] is False
    assert 0.0 <= answer["confidence"] <= 1.0


def test_api_key_missing_or_wrong(stack: Stack) -> None:
    without = ServiceApiClient(stack.api.url, timeout=5)
    with pytest.raises(AuthFailed) as caught:
        without.classify(subject="a", body="b")
    assert str(caught.value) == (
        f"service API at {stack.api.url}: an API key is required (set api_key / "
        "TRIAGE_OPS_API_KEY) (POST /v1/classify)"
    )
    wrong_key = "wrong-key-" + API_KEY[::-1]
    wrong = ServiceApiClient(stack.api.url, timeout=5, api_key=wrong_key)
    with pytest.raises(AuthFailed) as caught:
        wrong.classify(subject="a", body="b")
    assert str(caught.value) == (
        f"service API at {stack.api.url}: the configured API key was refused (POST /v1/classify)"
    )
    assert wrong_key not in repr(caught.value.__dict__)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    # the probes need no key
    assert without.readyz()["ready"] is True


def test_the_api_key_is_sent_as_x_api_key_and_never_shown(api: ServiceApiClient) -> None:
    assert api.http.session.headers["X-API-Key"] == API_KEY
    assert API_KEY not in repr(api.api_key)


def test_an_error_answer_quotes_the_apis_message_and_request_id(api: ServiceApiClient) -> None:
    response = api.http.request(
        "POST", "/v1/classify", what="POST /v1/classify", json_body={"email": {"subject": 5}}
    )
    error = api._status_error(response, "POST /v1/classify")
    assert isinstance(error, BadResponse)
    assert error.status == 422
    assert str(error).startswith(
        f"service API at {api.address}: HTTP 422: email.subject: Input should be a valid string"
        " (POST /v1/classify, request id "
    )


def test_metrics_scrape(api: ServiceApiClient) -> None:
    api.classify(subject="metrics", body="count me")
    rows = api.metrics()
    names = {row["name"] for row in rows}
    assert {"http_requests_total", "http_request_duration_seconds_bucket"} <= names
    count = api.metric("http_requests_total", route="/v1/classify", status="200")
    assert count is not None and count >= 1.0
    assert api.metric("http_requests_total", route="/no/such/route") is None


def test_from_config_needs_a_url() -> None:
    with pytest.raises(UsageError, match="no api_url configured"):
        ServiceApiClient.from_config(OpsConfig(api_url=""), timeout=1)
