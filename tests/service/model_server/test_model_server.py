"""`triage serve-model` over real HTTP: TF Serving's REST shapes, and the service's own
`tfserving` backend running against it end to end with the embedded model's answers."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from tests.conftest import EXAMPLES
from tests.service.model_server.conftest import ModelServer, start_model_server, stop
from triage_core.classify.base import Prediction
from triage_core.classify.embedded import EmbeddedClassifier
from triage_core.classify.tfserving import ModelStatus, TFServingClassifier
from triage_core.classify.tfserving.protocol import encode_predict_body, request_text
from triage_core.cli.serve_model import serve_model
from triage_core.config import TFServingConfig
from triage_core.errors import BackendUnavailable
from triage_core.message import Email
from triage_core.model.artifact import DEFAULT_MODEL
from triage_core.parsing import parse_email
from triage_core.service.model_server import MAX_INSTANCES, email_from_text

MODEL = "email-classifier"
# The embedded model sums float32 weights in set order, which varies with each process's
# string hash seed: two processes agree to ~1e-7, not bit for bit.
REL, ABS = 1e-5, 1e-9
STATUS = {
    "model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
}


@pytest.fixture(scope="module")
def embedded() -> EmbeddedClassifier:
    return EmbeddedClassifier()


@pytest.fixture
def client(
    model_server: ModelServer, embedded: EmbeddedClassifier
) -> Iterator[TFServingClassifier]:
    config = TFServingConfig(url=model_server.url, labels=embedded.labels, timeout_s=10.0)
    classifier = TFServingClassifier(config)
    yield classifier
    classifier.close()


def _post(url: str, body: Any, *, raw: bytes | None = None) -> requests.Response:
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=30)


def _inbox() -> list[Email]:
    emails = [parse_email(p.read_bytes()) for p in sorted((EXAMPLES / "inbox").glob("*.eml"))]
    lines = (EXAMPLES / "inbox.jsonl").read_text(encoding="utf-8").splitlines()
    emails += [parse_email(json.loads(line)) for line in lines if line.strip()]
    emails += [
        Email(),  # no subject, no body
        Email(subject="Ünïcödé: 請求書 🚀", newest="Bonjour,\n\nla facture est jointe.\n"),
        Email(subject="Re: lunch?", newest="Sure!\n\nSee you at noon"),
        Email(subject="URGENT!!! WIN $$$", newest="CLICK http://win.example NOW " * 50),
    ]
    return emails


def _expected(embedded: EmbeddedClassifier, email: Email) -> Prediction:
    """The embedded model on exactly what crosses the wire: the client's request text, as
    JSON carries it, turned back into an email."""
    body = encode_predict_body(
        [request_text(email, max_chars=TFServingConfig().max_text_chars)],
        signature_name="serving_default",
        input_name="text",
    )
    text = json.loads(body)["instances"][0]["text"]
    return embedded.predict(email_from_text(text))


def _check_same(
    served: list[Prediction], emails: list[Email], embedded: EmbeddedClassifier
) -> None:
    """Scores equal the embedded model's, and so does the category: both backends apply the
    one decision rule of `triage_core.classify.decision`."""
    for email, got in zip(emails, served, strict=True):
        want = _expected(embedded, email)
        assert list(got.scores) == list(embedded.labels)
        assert got.scores == pytest.approx(dict(want.scores), rel=REL, abs=ABS)
        assert got.backend == "tfserving"
        assert got.category == want.category
        assert got.confidence == pytest.approx(want.confidence, rel=REL, abs=ABS)


# -- status and metadata -------------------------------------------------------------------


def test_model_status_has_tf_servings_shape(model_server: ModelServer) -> None:
    response = requests.get(f"{model_server.url}/v1/models/{MODEL}", timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == STATUS
    by_version = requests.get(f"{model_server.url}/v1/models/{MODEL}/versions/1", timeout=5)
    assert by_version.json() == STATUS


def test_the_service_client_sees_the_model_available(client: TFServingClassifier) -> None:
    assert client.status() == ModelStatus(available=True, version="1", state="AVAILABLE")


def test_metadata_lists_the_labels_signature_and_artifact(
    client: TFServingClassifier, embedded: EmbeddedClassifier
) -> None:
    meta = client.metadata()
    assert meta["model_spec"] == {"name": MODEL, "signature_name": "", "version": "1"}
    assert meta["labels"] == list(embedded.labels)
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["text"]["dtype"] == "DT_STRING"
    assert signature["outputs"]["scores"]["dtype"] == "DT_FLOAT"
    assert signature["outputs"]["scores"]["tensor_shape"]["dim"][1]["size"] == str(
        len(embedded.labels)
    )
    assert meta["model"] == {
        "backend": "embedded",
        "file": DEFAULT_MODEL.name,
        "sha256": hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest(),
    }


# -- predictions end to end ------------------------------------------------------------------


def test_email_from_text_inverts_the_clients_request_text() -> None:
    email = Email(subject="Invoice 42", newest="Please pay.\n\nThanks,\nAna")
    assert request_text(email, max_chars=20_000) == "Invoice 42\n\nPlease pay.\n\nThanks,\nAna"
    back = email_from_text(request_text(email, max_chars=20_000))
    assert (back.subject, back.newest, back.body) == (
        "Invoice 42",
        "Please pay.\n\nThanks,\nAna",
        "Please pay.\n\nThanks,\nAna",
    )
    assert email_from_text("\n\nno subject") == Email(body="no subject", newest="no subject")
    assert email_from_text("one line\nand a body") == Email(
        subject="one line", body="and a body", newest="and a body"
    )


def test_backend_predictions_equal_the_embedded_models(
    client: TFServingClassifier, embedded: EmbeddedClassifier
) -> None:
    emails = _inbox()
    assert len(emails) >= 40
    served = client.predict_batch(emails)
    # Measured: 3 of 44 (a failed-payment notice and two hand-made emails).
    _check_same(served, emails, embedded)


def test_plain_json_emails_get_the_embedded_models_answer(
    client: TFServingClassifier, embedded: EmbeddedClassifier
) -> None:
    """An email that is only a subject and a body (the API's JSON form) carries nothing the
    wire drops: the served answer is the embedded model's on the original email."""
    emails = [
        parse_email({"subject": "Test", "body": "Test email"}),
        parse_email({"subject": "Prod API down", "body": "All requests fail with 502 since 9:10."}),
        parse_email(
            {"subject": "Invoice INV-2291", "body": "Attached is your invoice, due in 30 days."}
        ),
        parse_email({"subject": "Can we meet Tuesday?", "body": "Does 3pm work for a quick sync?"}),
    ]
    served = client.predict_batch(emails)
    for email, got in zip(emails, served, strict=True):
        want = embedded.predict(email)
        assert got.scores == pytest.approx(dict(want.scores), rel=REL, abs=ABS)
    _check_same(served, emails, embedded)
    assert [p.category for p in served] == ["notification", "incident", "billing", "question"]
    # p(spam) 0.35 is the largest single score of the last one, but spam needs a majority.
    assert served[3].scores["spam"] > served[3].scores["question"]


@pytest.mark.corpus
def test_backend_predictions_on_the_spamassassin_corpus(
    client: TFServingClassifier, embedded: EmbeddedClassifier, spamassassin_dir: Path
) -> None:
    files = sorted(spamassassin_dir.glob("data/*/*.txt"))[::20]
    emails = [parse_email(p.read_bytes()) for p in files]
    served: list[Prediction] = []
    for start in range(0, len(emails), 100):
        served += client.predict_batch(emails[start : start + 100])
    # Measured: 19 of 3,030 corpus emails fall between the spam threshold and the argmax.
    _check_same(served, emails, embedded)


def test_row_columnar_bare_and_b64_instances_answer_alike(model_server: ModelServer) -> None:
    url = f"{model_server.url}/v1/models/{MODEL}:predict"
    texts = ["Server down\n\nEverything returns 500", "Lunch?\n\nNoon at the usual place"]
    rows = _post(url, {"instances": [{"text": t} for t in texts]})
    assert rows.status_code == 200
    predictions = rows.json()["predictions"]
    assert len(predictions) == 2
    labels = list(EmbeddedClassifier().labels)
    assert all(p["classes"] == labels for p in predictions)
    assert all(
        len(p["scores"]) == 10 and sum(p["scores"]) == pytest.approx(1.0) for p in predictions
    )
    columns = [p["scores"] for p in predictions]
    assert _post(url, {"instances": texts}).json() == {"predictions": predictions}
    b64 = [{"text": {"b64": base64.b64encode(t.encode()).decode()}} for t in texts]
    assert _post(url, {"instances": b64}).json() == {"predictions": predictions}
    assert _post(url, {"inputs": {"text": texts}}).json() == {"outputs": columns}
    assert _post(url, {"inputs": texts}).json() == {"outputs": columns}
    versioned = f"{model_server.url}/v1/models/{MODEL}/versions/1:predict"
    assert _post(versioned, {"instances": texts}).json() == {"predictions": predictions}


def test_inference_time_is_exported_per_email(model_server: ModelServer) -> None:
    def count() -> float:
        text = requests.get(f"{model_server.url}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith('model_inference_duration_seconds_count{backend="embedded"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = count()
    response = _post(
        f"{model_server.url}/v1/models/{MODEL}:predict", {"instances": ["a\n\nb", "c", "d"]}
    )
    assert response.status_code == 200
    assert count() == before + 3


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method", "message"),
    [
        ("/v1/models/nope", "GET", "Servable not found for request: Latest(nope)"),
        ("/v1/models/nope/metadata", "GET", "Servable not found for request: Latest(nope)"),
        ("/v1/models/nope:predict", "POST", "Servable not found for request: Latest(nope)"),
        (
            f"/v1/models/{MODEL}/versions/2",
            "GET",
            f"Servable not found for request: Specific({MODEL}, 2)",
        ),
        (
            f"/v1/models/{MODEL}/versions/2:predict",
            "POST",
            f"Servable not found for request: Specific({MODEL}, 2)",
        ),
        ("/v2/models", "GET", "Not Found"),
    ],
)
def test_unknown_models_and_paths_are_404_with_an_error_body(
    model_server: ModelServer, path: str, method: str, message: str
) -> None:
    response = requests.request(
        method, f"{model_server.url}{path}", json={"instances": ["x"]}, timeout=5
    )
    assert response.status_code == 404
    assert response.json() == {"error": message}


def test_wrong_method_is_405_with_an_error_body(model_server: ModelServer) -> None:
    response = requests.delete(f"{model_server.url}/v1/models/{MODEL}", timeout=5)
    assert (response.status_code, response.json()) == (405, {"error": "Method Not Allowed"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "JSON Parse error: Expecting property name enclosed in double quotes"),
        (b"[1, 2]", "JSON Value: request body must be a JSON object"),
        (b"{}", "Missing 'inputs' or 'instances' key"),
        (b'{"instances": [], "inputs": []}', "Not both 'inputs' and 'instances' may be present"),
        (b'{"instances": "text"}', "'instances' must be a list"),
        (b'{"instances": []}', "no instances to predict"),
        (
            b'{"signature_name": "classify", "instances": ["x"]}',
            'Serving signature name: "classify" not found in signature def',
        ),
        (b'{"instances": [{"body": "x"}]}', "instances[0]: missing input 'text' (found: body)"),
        (b'{"instances": [{"text": "x", "lang": "en"}]}', "instances[0]: unknown input(s): lang"),
        (b'{"instances": ["ok", 42]}', "instances[1]: expected a string, got int"),
        (b'{"instances": [null]}', "instances[0]: expected a string, got null"),
        (b'{"instances": [{"text": {"b64": "%%%"}}]}', "instances[0]: invalid base64"),
        (b'{"inputs": {"txt": ["x"]}}', "'inputs' must hold exactly the input 'text', got ['txt']"),
        (b'{"inputs": "x"}', "input 'text' must be a list of strings"),
    ],
)
def test_bad_input_is_400_with_tf_servings_error_shape(
    model_server: ModelServer, body: bytes, message: str
) -> None:
    response = _post(f"{model_server.url}/v1/models/{MODEL}:predict", None, raw=body)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert response.json()["error"].startswith(message)


def test_batch_and_body_caps(model_server: ModelServer) -> None:
    url = f"{model_server.url}/v1/models/{MODEL}:predict"
    too_many = _post(url, {"instances": ["x"] * (MAX_INSTANCES + 1)})
    assert (too_many.status_code, too_many.json()) == (
        400,
        {"error": f"{MAX_INSTANCES + 1} instances in one request; at most {MAX_INSTANCES}"},
    )
    assert _post(url, {"instances": ["x"] * MAX_INSTANCES}).status_code == 200
    huge = _post(url, None, raw=b" " * (32 * 1024 * 1024 + 1))
    assert (huge.status_code, huge.json()) == (413, {"error": "request body over 33554432 bytes"})


def test_the_client_reports_an_unknown_model_as_unavailable(
    model_server: ModelServer, embedded: EmbeddedClassifier
) -> None:
    config = TFServingConfig(
        url=model_server.url, model_name="nope", labels=embedded.labels, retries=0
    )
    classifier = TFServingClassifier(config)
    try:
        with pytest.raises(BackendUnavailable) as info:
            classifier.predict(Email(subject="x"))
        assert str(info.value) == (
            f"tfserving at {model_server.url}: HTTP 404: Servable not found for request: "
            "Latest(nope)"
        )
        status = classifier.status()
        assert (status.available, status.state) == (False, "UNREACHABLE")
    finally:
        classifier.close()


# -- the command -----------------------------------------------------------------------------


def test_serve_model_with_a_name_and_path_then_stops_on_sigterm(tmp_path: Path) -> None:
    artifact = tmp_path / "my-model.npz"
    shutil.copyfile(DEFAULT_MODEL, artifact)
    server = start_model_server(
        "--model-name", "triage", "--model-path", str(artifact), log=tmp_path / "log"
    )
    try:
        assert requests.get(f"{server.url}/v1/models/triage", timeout=5).json() == STATUS
        assert requests.get(f"{server.url}/v1/models/{MODEL}", timeout=5).status_code == 404
        meta = requests.get(f"{server.url}/v1/models/triage/metadata", timeout=5).json()
        assert meta["model"]["file"] == "my-model.npz"
        start = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: the exit status says why.
        assert server.process.wait(timeout=10) == -signal.SIGTERM
        assert time.monotonic() - start < 5
    finally:
        stop(server.process)


def test_a_missing_model_fails_at_start_with_the_model_exit_code(tmp_path: Path) -> None:
    result = CliRunner().invoke(serve_model, ["--model-path", str(tmp_path / "none.npz")])
    assert result.exit_code == 5
    assert result.output == f"triage: error: model file not found: {tmp_path / 'none.npz'}\n"
