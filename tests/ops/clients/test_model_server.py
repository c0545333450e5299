"""ModelServerClient against the real model server (`triage serve-model`), which speaks
TF Serving's v1 REST API."""

from __future__ import annotations

import pytest

from tests.ops.faults.stack import MODEL_NAME, Stack
from triage_core.classify.tfserving.protocol import ModelStatus
from triage_ops.clients.errors import BadResponse, NotFound
from triage_ops.clients.model_server import ModelServerClient
from triage_ops.config import OpsConfig
from triage_ops.errors import UsageError

pytestmark = pytest.mark.timeout(120)

LABELS = [
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
]


@pytest.fixture(scope="module")
def model(stack: Stack) -> ModelServerClient:
    return ModelServerClient(stack.model_server.url, model_name=MODEL_NAME, timeout=5)


def test_status_is_tf_servings_document(model: ModelServerClient) -> None:
    assert model.status() == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert model.status(version="1") == model.status()
    assert model.state() == ModelStatus(available=True, version="1", state="AVAILABLE", error=None)


def test_metadata(model: ModelServerClient) -> None:
    metadata = model.metadata()
    assert metadata["model_spec"] == {"name": MODEL_NAME, "signature_name": "", "version": "1"}
    assert metadata["labels"] == LABELS
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"


def test_predict_row_format_with_latency(model: ModelServerClient) -> None:
    answer = model.predict(
        [
            "Server down\n\nProduction is down, nothing works!",
            {"text": "Lunch?\n\nTomorrow at noon"},
        ]
    )
    assert set(answer) == {"predictions", "latency_ms"}
    assert 0 < answer["latency_ms"] < 5000
    assert len(answer["predictions"]) == 2
    for row in answer["predictions"]:
        assert row["classes"] == LABELS
        assert len(row["scores"]) == len(LABELS)
        assert sum(row["scores"]) == pytest.approx(1.0)


def test_unknown_model_or_version_is_not_found(stack: Stack, model: ModelServerClient) -> None:
    other = ModelServerClient(stack.model_server.url, model_name="no-such-model", timeout=5)
    with pytest.raises(NotFound) as caught:
        other.status()
    assert str(caught.value) == (
        f"model server at {stack.model_server.url}: no model 'no-such-model': Servable not "
        "found for request: Latest(no-such-model) (GET /v1/models/no-such-model)"
    )
    assert caught.value.system == "model-server"
    with pytest.raises(NotFound, match=r"Specific\(email-classifier, 7\)"):
        model.state(version="7")


def test_bad_predict_input_quotes_the_servers_error(model: ModelServerClient) -> None:
    with pytest.raises(BadResponse) as caught:
        model.predict([1])
    assert caught.value.status == 400
    assert "HTTP 400: instances[0]: expected a string, got int" in str(caught.value)
    with pytest.raises(BadResponse, match="HTTP 400: Serving signature name"):
        model.predict(["x"], signature_name="nope")


def test_from_config() -> None:
    with pytest.raises(UsageError, match="no model_server_url configured"):
        ModelServerClient.from_config(OpsConfig(), timeout=1)
    with pytest.raises(UsageError, match="no model_name configured"):
        ModelServerClient.from_config(
            OpsConfig(model_server_url="http://127.0.0.1:8501", model_name=""), timeout=1
        )
    client = ModelServerClient.from_config(
        OpsConfig(model_server_url="http://127.0.0.1:8501/"), timeout=2
    )
    assert (client.url, client.model_name, client.timeout) == (
        "http://127.0.0.1:8501",
        "email-classifier",
        2,
    )
