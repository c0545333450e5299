"""API keys (401/403), the per-key rate limit (429) and its token bucket."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from tests.service.api.conftest import ClientFactory
from triage_core.service.api.auth import AccessGuard
from triage_core.service.api.errors import Forbidden, Unauthorized
from triage_core.service.api.ratelimit import TokenBucketLimiter, retry_after_header
from triage_core.service.settings import Secret, ServiceSettings

KEYS = (Secret("alpha-key-0001"), Secret("beta-key-0002"))
EMAIL = {"email": {"subject": "Test", "body": "Test email"}}


@pytest.fixture
def keyed_client(
    offline_settings: ServiceSettings, client_for: ClientFactory
) -> Iterator[TestClient]:
    with client_for(replace(offline_settings, api_keys=KEYS)) as client:
        yield client


@pytest.mark.parametrize("path", ["/v1/classify", "/classify", "/v1/triage", "/v1/emails"])
def test_missing_key_is_401(keyed_client: TestClient, path: str) -> None:
    response = keyed_client.post(path, json=EMAIL)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.json()["error"]["message"] == (
        "an API key is required: send X-API-Key or Authorization: Bearer"
    )


def test_get_email_needs_a_key_too(keyed_client: TestClient) -> None:
    assert keyed_client.get("/v1/emails/x").status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "alpha-key-0002"},
        {"Authorization": "Bearer nope"},
        {"X-API-Key": "alpha-key-000"},  # a prefix of a real key
        {"X-API-Key": "alpha-key-0001x"},
    ],
)
def test_wrong_key_is_403(keyed_client: TestClient, headers: dict[str, str]) -> None:
    response = keyed_client.post("/v1/classify", json=EMAIL, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert response.json()["error"]["message"] == "the API key is not valid"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "alpha-key-0001"},
        {"X-API-Key": "beta-key-0002"},
        {"Authorization": "Bearer beta-key-0002"},
        {"Authorization": "bearer   alpha-key-0001  "},
    ],
)
def test_right_key_passes(keyed_client: TestClient, headers: dict[str, str]) -> None:
    assert keyed_client.post("/v1/classify", json=EMAIL, headers=headers).status_code == 200


def test_basic_auth_is_not_a_key(keyed_client: TestClient) -> None:
    response = keyed_client.post(
        "/v1/classify", json=EMAIL, headers={"Authorization": "Basic YWxwaGE6eA=="}
    )
    assert response.status_code == 401


def test_probes_need_no_key(keyed_client: TestClient) -> None:
    assert keyed_client.get("/healthz").status_code == 200
    assert keyed_client.get("/metrics").status_code == 200
    assert keyed_client.get("/openapi.json").status_code == 200
    assert keyed_client.get("/readyz").status_code in (200, 503)


def test_auth_is_checked_before_the_body(keyed_client: TestClient) -> None:
    response = keyed_client.post(
        "/v1/triage", content=b"not json", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 401  # not 415: nothing about the body is looked at


def test_keys_never_reach_logs_or_answers(
    offline_settings: ServiceSettings,
    client_for: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = replace(offline_settings, api_keys=KEYS, rate_limit_per_minute=1)
    with caplog.at_level(logging.DEBUG), client_for(settings) as client:
        answers = [
            client.post("/v1/classify", json=EMAIL, headers={"X-API-Key": "alpha-key-0001"}),
            client.post("/v1/classify", json=EMAIL, headers={"X-API-Key": "alpha-key-0001"}),
            client.post("/v1/classify", json=EMAIL, headers={"X-API-Key": "wrong-key-9999"}),
        ]
        answers.append(client.get("/readyz"))
    assert [a.status_code for a in answers[:3]] == [200, 429, 403]
    everything = caplog.text + "".join(a.text + str(a.headers) for a in answers)
    for secret in ("alpha-key-0001", "beta-key-0002", "wrong-key-9999"):
        assert secret not in everything
    assert "alpha-key-0001" not in repr(settings)


# -- rate limit ------------------------------------------------------------------------


def test_rate_limit_is_per_key_with_retry_after(
    offline_settings: ServiceSettings, client_for: ClientFactory
) -> None:
    settings = replace(offline_settings, api_keys=KEYS, rate_limit_per_minute=3)
    alpha = {"X-API-Key": "alpha-key-0001"}
    beta = {"Authorization": "Bearer beta-key-0002"}
    with client_for(settings) as client:
        codes = [
            client.post("/v1/classify", json=EMAIL, headers=alpha).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        limited = client.post("/v1/classify", json=EMAIL, headers=alpha)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "20"  # one token per 20 s at 3/min
        assert limited.json()["error"]["code"] == "rate_limited"
        # another key has its own bucket
        assert client.post("/v1/classify", json=EMAIL, headers=beta).status_code == 200


def test_rate_limit_without_keys_buckets_by_client_address(
    offline_settings: ServiceSettings, client_for: ClientFactory
) -> None:
    with client_for(replace(offline_settings, rate_limit_per_minute=2)) as client:
        codes = [client.post("/v1/classify", json=EMAIL).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_rate_limit_off_by_default(offline_client: TestClient) -> None:
    codes = {offline_client.post("/v1/classify", json=EMAIL).status_code for _ in range(30)}
    assert codes == {200}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_the_configured_rate() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(60, clock=clock)  # one token per second, bursts of 60
    assert [limiter.acquire("k") for _ in range(60)] == [0.0] * 60
    assert limiter.acquire("k") == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter.acquire("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("other") == 0.0
    clock.now += 3600
    assert [limiter.acquire("k") for _ in range(60)] == [0.0] * 60  # capped at the burst
    assert limiter.acquire("k") > 0.0


def test_token_bucket_forgets_the_least_recent_clients() -> None:
    clock = FakeClock()
    limiter = TokenBucketLimiter(1, clock=clock, max_clients=2)
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0
    assert limiter.acquire("c") == 0.0  # "a" is dropped: it would start full again
    assert limiter.acquire("b") > 0.0
    assert limiter.acquire("a") == 0.0


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="per_minute must be >= 1, got 0"):
        TokenBucketLimiter(0)


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header


def test_guard_identifies_keys_by_index() -> None:
    guard = AccessGuard(["k1", "", "k2"], limiter=None)
    assert guard.auth_enabled
    assert guard.identify("k1") == "key-0"
    assert guard.identify("k2") == "key-1"
    with pytest.raises(Unauthorized):
        guard.identify(None)
    with pytest.raises(Unauthorized):
        guard.identify("")
    with pytest.raises(Forbidden):
        guard.identify("k3")
    assert AccessGuard([], limiter=None).identify(None) == "anonymous"
