"""The REST client over real HTTP: against KServe's model server (an independent
implementation of the v1 predict protocol) and against a stdlib server that answers with
the documented TF Serving shapes and with faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.core.classify.fake_tfserving import (
    TF_STATUS_AVAILABLE,
    FakeTFServing,
    Reply,
    closed_port_url,
    crc_scores,
    serve,
    silent_listener,
)
from triage_core.classify.tfserving import BreakerState, ModelStatus, TFServingClassifier
from triage_core.config import TFServingConfig
from triage_core.errors import BackendUnavailable
from triage_core.message import Email
from triage_core.result import DEFAULT_CATEGORIES

REPO = Path(__file__).resolve().parents[3]
EMAILS = [
    Email(subject="Checkout outage", newest="Everything is down."),
    Email(subject="Invoice 42", newest="Attached."),
    Email(subject="Hello", newest="Lunch?"),
]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- KServe --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kserve_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("kserve") / "server.log"
    env = dict(os.environ, KSERVE_TEST_HTTP_PORT=str(port), PYTHONPATH=str(REPO))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("kserve_server.py"))],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"KServe exited early:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(f"{url}/v1/models/email-classifier", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"KServe not ready in 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_kserve_predict_batch_over_real_http(kserve_url: str) -> None:
    clf = TFServingClassifier(TFServingConfig(url=kserve_url))
    predictions = clf.predict_batch(EMAILS)
    assert [p.category for p in predictions] == ["incident", "billing", "question"]
    assert [p.confidence for p in predictions] == pytest.approx([0.8, 0.8, 0.8])
    assert all(p.backend == "tfserving" for p in predictions)
    assert list(predictions[0].scores) == list(DEFAULT_CATEGORIES)
    assert sum(predictions[0].scores.values()) == pytest.approx(1.0)
    assert clf.predict(Email(subject="Team meeting")).category == "meeting"


def test_kserve_status(kserve_url: str) -> None:
    clf = TFServingClassifier(TFServingConfig(url=kserve_url))
    assert clf.status() == ModelStatus(available=True, version=None, state="READY")


def test_kserve_unknown_model(kserve_url: str) -> None:
    clf = TFServingClassifier(TFServingConfig(url=kserve_url, model_name="nope"))
    status = clf.status()
    assert (status.available, status.state) == (False, "UNREACHABLE")
    assert status.error == (
        f"tfserving at {kserve_url}: HTTP 404: Model with name nope does not exist."
    )
    with pytest.raises(BackendUnavailable) as info:
        clf.predict(EMAILS[0])
    assert str(info.value) == (
        f"tfserving at {kserve_url}: HTTP 404: Model with name nope does not exist."
    )


def test_kserve_rejected_signature_is_an_http_error(kserve_url: str) -> None:
    clf = TFServingClassifier(TFServingConfig(url=kserve_url, signature_name="other"))
    with pytest.raises(BackendUnavailable, match=r"HTTP (400|500): .*unexpected signature_name"):
        clf.predict(EMAILS[0])


# --- documented TF Serving shapes ------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTFServing]:
    with serve(FakeTFServing()) as server:
        yield server


def config(url: str, **kw: Any) -> TFServingConfig:
    return replace(TFServingConfig(url=url, timeout_s=1.0), **kw)


def test_request_on_the_wire_is_one_documented_batch(fake: FakeTFServing) -> None:
    clf = TFServingClassifier(config(fake.url))
    predictions = clf.predict_batch(EMAILS)
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert (request.method, request.path) == ("POST", "/v1/models/email-classifier:predict")
    assert request.body == {
        "signature_name": "serving_default",
        "instances": [
            {"text": "Checkout outage\n\nEverything is down."},
            {"text": "Invoice 42\n\nAttached."},
            {"text": "Hello\n\nLunch?"},
        ],
    }
    expected = crc_scores("Invoice 42\n\nAttached.")
    assert list(predictions[1].scores.values()) == pytest.approx(expected)
    assert predictions[1].confidence == pytest.approx(max(expected))


def test_empty_batch_sends_nothing(fake: FakeTFServing) -> None:
    assert TFServingClassifier(config(fake.url)).predict_batch([]) == []
    assert fake.requests == []


def test_columnar_response_with_classes(fake: FakeTFServing) -> None:
    def columnar(body: dict[str, Any]) -> Reply:
        n = len(body["instances"])
        outputs = {"scores": [[0.1, 0.9]] * n, "classes": [["spam", "billing"]] * n}
        return 200, json.dumps({"outputs": outputs}).encode()

    fake.predict = columnar
    predictions = TFServingClassifier(config(fake.url)).predict_batch(EMAILS[:2])
    assert [(p.category, p.confidence) for p in predictions] == [("billing", 0.9)] * 2
    assert predictions[0].scores == {"spam": 0.1, "billing": 0.9}


def test_status_and_metadata(fake: FakeTFServing) -> None:
    clf = TFServingClassifier(config(fake.url))
    assert clf.status() == ModelStatus(available=True, version="3", state="AVAILABLE")
    assert clf.metadata() == {"model_spec": {"name": "email-classifier"}}
    assert [r.path for r in fake.requests] == [
        "/v1/models/email-classifier",
        "/v1/models/email-classifier/metadata",
    ]


def test_status_with_a_model_that_failed_to_load(fake: FakeTFServing) -> None:
    failed = {
        "model_version_status": [
            {
                "version": "7",
                "state": "END",
                "status": {"error_code": "UNKNOWN", "error_message": "Failed to load"},
            }
        ]
    }
    fake.status = lambda: (200, json.dumps(failed).encode())
    status = TFServingClassifier(config(fake.url)).status()
    assert status == ModelStatus(False, "7", "END", "UNKNOWN: Failed to load")


# --- faults ----------------------------------------------------------------------------


def test_http_500_is_not_retried(fake: FakeTFServing) -> None:
    fake.predict = lambda body: (500, b'{"error": "Tensor text not found in the signature"}')
    clf = TFServingClassifier(config(fake.url, retries=2))
    with pytest.raises(BackendUnavailable) as info:
        clf.predict(EMAILS[0])
    assert str(info.value) == (
        f"tfserving at {fake.url}: HTTP 500: Tensor text not found in the signature"
    )
    assert fake.predicts() == 1


def test_503_is_retried_then_reported(fake: FakeTFServing) -> None:
    fake.predict = lambda body: (503, b"upstream restarting")
    clf = TFServingClassifier(config(fake.url, retries=2))
    with pytest.raises(BackendUnavailable, match=r": HTTP 503: upstream restarting$"):
        clf.predict(EMAILS[0])
    assert fake.predicts() == 3


def test_503_then_success_recovers_within_the_retries(fake: FakeTFServing) -> None:
    replies = iter([(503, b"busy"), (502, b"bad gateway")])

    def flaky(body: dict[str, Any]) -> Reply:
        return next(replies, None) or (
            200,
            json.dumps({"predictions": [[1.0] + [0.0] * 9]}).encode(),
        )

    fake.predict = flaky
    prediction = TFServingClassifier(config(fake.url, retries=2)).predict(EMAILS[0])
    assert (prediction.category, prediction.confidence) == ("incident", 1.0)
    assert fake.predicts() == 3


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<html>oops</html>", "malformed response: not JSON: <html>oops</html>"),
        (b'{"predictions": [[0.5, 0.5]]}', "malformed response: 2 scores for 10 configured labels"),
        (b'{"unexpected": true}', "malformed response: no 'predictions' or 'outputs'"),
    ],
)
def test_garbage_is_a_malformed_response(fake: FakeTFServing, payload: bytes, reason: str) -> None:
    fake.predict = lambda body: (200, payload)
    with pytest.raises(BackendUnavailable) as info:
        TFServingClassifier(config(fake.url)).predict(EMAILS[0])
    assert str(info.value).startswith(f"tfserving at {fake.url}: {reason}")


def test_connection_refused() -> None:
    url = closed_port_url()
    clf = TFServingClassifier(config(url, retries=1))
    with pytest.raises(BackendUnavailable) as info:
        clf.predict(EMAILS[0])
    assert str(info.value) == f"tfserving at {url}: connection refused"
    status = clf.status()
    assert (status.available, status.state, status.error) == (
        False,
        "UNREACHABLE",
        f"tfserving at {url}: connection refused",
    )


def test_a_server_that_never_answers_times_out_within_the_budget() -> None:
    with silent_listener() as url:
        clf = TFServingClassifier(config(url, timeout_s=0.5, retries=2))
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as info:
            clf.predict(EMAILS[0])
        elapsed = time.monotonic() - started
    assert str(info.value) == f"tfserving at {url}: timed out after 0.5s"
    assert 0.3 <= elapsed < 1.0  # the read budget (0.375 s), not retried


def test_breaker_opens_and_stops_calling_then_recovers(fake: FakeTFServing) -> None:
    fake.predict = lambda body: (500, b'{"error": "model crashed"}')
    clock = Clock()
    clf = TFServingClassifier(
        config(fake.url, breaker_failures=3, breaker_reset_s=30.0), clock=clock
    )
    for _ in range(3):
        with pytest.raises(BackendUnavailable, match="HTTP 500: model crashed"):
            clf.predict(EMAILS[0])
    assert clf.breaker.state is BreakerState.OPEN
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        clf.predict(EMAILS[0])
    assert time.monotonic() - started < 0.05  # fails fast, no request
    assert str(info.value) == (
        f"tfserving at {fake.url}: circuit open after 3 consecutive failures (next trial in 30.0s)"
    )
    assert fake.predicts() == 3

    fake.predict = lambda body: (
        200,
        json.dumps({"predictions": [[0.0, 1.0] + [0.0] * 8]}).encode(),
    )
    clock.now += 30.0
    assert clf.predict(EMAILS[0]).category == "request"  # the half-open trial
    assert clf.breaker.state is BreakerState.CLOSED
    assert fake.predicts() == 4


def test_breaker_counts_timeouts() -> None:
    with silent_listener() as url:
        clf = TFServingClassifier(config(url, timeout_s=0.2, breaker_failures=2))
        for _ in range(2):
            with pytest.raises(BackendUnavailable, match=r"timed out after 0\.2s"):
                clf.predict(EMAILS[0])
        with pytest.raises(BackendUnavailable, match="circuit open"):
            clf.predict(EMAILS[0])


def test_status_bypasses_an_open_breaker(fake: FakeTFServing) -> None:
    fake.predict = lambda body: (500, b"{}")
    clf = TFServingClassifier(config(fake.url, breaker_failures=1))
    with pytest.raises(BackendUnavailable):
        clf.predict(EMAILS[0])
    assert clf.breaker.state is BreakerState.OPEN
    assert clf.status().available is True


def test_construction_does_no_io() -> None:
    clf = TFServingClassifier(config(closed_port_url()))
    assert clf.breaker.state is BreakerState.CLOSED  # nothing was attempted


def test_tf_status_shape_constant_is_the_documented_one() -> None:
    assert TF_STATUS_AVAILABLE["model_version_status"][0]["status"] == {
        "error_code": "OK",
        "error_message": "",
    }
