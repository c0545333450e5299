"""The runbook's `email-classifier-model`: the embedded model behind TF Serving's REST API.

Production may run the real TensorFlow Serving image; this server speaks the same v1 REST
protocol (model status, metadata, predict) so the service's `tfserving` backend, its
circuit breaker and the ops CLI's model checks run end to end without TensorFlow.

The wire contract is the one `triage_core.classify.tfserving` sends and reads:
* predict: `{"signature_name": ..., "instances": [{"text": "<subject>\\n\\n<newest>"}]}` ->
  `{"predictions": [[p, ...], ...]}`, one probability per label in the model's label order
  (listed by the metadata endpoint under `labels`); the columnar form (`inputs` ->
  `outputs`) and bare-string or `{"b64": ...}` instances are accepted as TF Serving does;
* errors: `{"error": "..."}` with 404 for an unknown model or version, 400 for bad input,
  413 for a body over the cap, like TF Serving's messages where it has one.

Scoring runs on the event loop: one email costs tens of microseconds, so even the largest
accepted batch holds the loop for well under 100 ms, and a thread hop would cost more than
it frees.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from triage_core.classify.embedded import EmbeddedClassifier
from triage_core.message import Email
from triage_core.service.metrics import observe_inference, render_metrics

DEFAULT_MODEL_NAME: Final = "email-classifier"
DEFAULT_PORT: Final = 8501
MODEL_VERSION: Final = "1"
SIGNATURE_NAME: Final = "serving_default"
INPUT_NAME: Final = "text"
OUTPUT_NAME: Final = "scores"
MAX_INSTANCES: Final = 1000
MAX_BODY_BYTES: Final = 32 * 1024 * 1024
METHOD_NAME: Final = "tensorflow/serving/predict"
BACKEND: Final = "embedded"


class PredictRequestError(ValueError):
    """The request cannot be served; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def email_from_text(text: str) -> Email:
    """The inverse of `tfserving.protocol.request_text`: `<subject>\\n\\n<newest>`. Text from
    another client without the blank line is read as a subject line and a body."""
    subject, sep, newest = text.partition("\n\n")
    if not sep:
        subject, _, newest = text.partition("\n")
    return Email(subject=subject, body=newest, newest=newest)


@dataclass(frozen=True, slots=True)
class PredictRequest:
    texts: list[str]
    columnar: bool  # answered with "outputs" instead of "predictions", as TF Serving does


def parse_predict_request(body: bytes, *, input_name: str = INPUT_NAME) -> PredictRequest:
    """Validates a TF Serving REST predict body; every problem is a `PredictRequestError`
    naming what is wrong (and which instance)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise PredictRequestError(f"JSON Parse error: {exc}") from exc
    if not isinstance(data, dict):
        raise PredictRequestError("JSON Value: request body must be a JSON object")
    signature = data.get("signature_name", SIGNATURE_NAME)
    if signature != SIGNATURE_NAME:
        raise PredictRequestError(
            f"Serving signature name: {json.dumps(signature)} not found in signature def"
        )
    has_rows, has_cols = "instances" in data, "inputs" in data
    if has_rows == has_cols:
        raise PredictRequestError(
            "Missing 'inputs' or 'instances' key"
            if not has_rows
            else "Not both 'inputs' and 'instances' may be present"
        )
    if has_rows:
        rows = data["instances"]
        if not isinstance(rows, list):
            raise PredictRequestError("'instances' must be a list")
        _check_count(len(rows))
        texts = [_instance_text(row, i, input_name) for i, row in enumerate(rows)]
    else:
        column = data["inputs"]
        if isinstance(column, dict):
            if set(column) != {input_name}:
                raise PredictRequestError(
                    f"'inputs' must hold exactly the input '{input_name}', "
                    f"got {sorted(map(str, column))[:5]}"
                )
            column = column[input_name]
        if not isinstance(column, list):
            raise PredictRequestError(f"input '{input_name}' must be a list of strings")
        _check_count(len(column))
        texts = [_string(v, f"inputs[{i}]") for i, v in enumerate(column)]
    return PredictRequest(texts=texts, columnar=has_cols)


def _check_count(count: int) -> None:
    if count == 0:
        raise PredictRequestError("no instances to predict")
    if count > MAX_INSTANCES:
        raise PredictRequestError(f"{count} instances in one request; at most {MAX_INSTANCES}")


def _instance_text(row: Any, index: int, input_name: str) -> str:
    if isinstance(row, dict) and "b64" not in row:
        if input_name not in row:
            found = ", ".join(sorted(map(str, row))[:5]) or "none"
            raise PredictRequestError(
                f"instances[{index}]: missing input '{input_name}' (found: {found})"
            )
        if len(row) != 1:
            extra = ", ".join(sorted(str(k) for k in row if k != input_name)[:5])
            raise PredictRequestError(f"instances[{index}]: unknown input(s): {extra}")
        row = row[input_name]
    return _string(row, f"instances[{index}]")


def _string(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True).decode("utf-8", "replace")
        except binascii.Error as exc:
            raise PredictRequestError(f"{where}: invalid base64") from exc
    kind = "null" if value is None else type(value).__name__
    raise PredictRequestError(f"{where}: expected a string, got {kind}")


class ServedModel:
    """One named model: what the endpoints say about it and how it scores texts."""

    def __init__(
        self,
        *,
        name: str = DEFAULT_MODEL_NAME,
        classifier: EmbeddedClassifier,
        version: str = MODEL_VERSION,
    ) -> None:
        self.name = name
        self.version = version
        self.classifier = classifier
        self._fingerprint: dict[str, str] | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    def load(self) -> None:
        """Loads the model now (raises `ModelError`), so a bad artifact stops the server at
        start instead of failing its first request, and 'AVAILABLE' means loaded."""
        _ = self.classifier.labels
        self.fingerprint()

    def fingerprint(self) -> dict[str, str]:
        if self._fingerprint is None:
            from triage_core.model.artifact import DEFAULT_MODEL

            path = Path(self.classifier.model_path or DEFAULT_MODEL)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            self._fingerprint = {"backend": BACKEND, "file": path.name, "sha256": digest}
        return self._fingerprint

    def status(self) -> dict[str, Any]:
        return {
            "model_version_status": [
                {
                    "version": self.version,
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }

    def metadata(self) -> dict[str, Any]:
        unknown = {"size": "-1", "name": ""}
        signature = {
            "inputs": {
                INPUT_NAME: {
                    "dtype": "DT_STRING",
                    "tensor_shape": {"dim": [unknown], "unknown_rank": False},
                    "name": f"{INPUT_NAME}:0",
                }
            },
            "outputs": {
                OUTPUT_NAME: {
                    "dtype": "DT_FLOAT",
                    "tensor_shape": {
                        "dim": [unknown, {"size": str(len(self.labels)), "name": ""}],
                        "unknown_rank": False,
                    },
                    "name": f"{OUTPUT_NAME}:0",
                }
            },
            "method_name": METHOD_NAME,
        }
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": self.version},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE_NAME: signature}}},
            # Not in TF Serving's answer: the order of the scores, which a client must be
            # configured with (classifier.tfserving.labels), and which artifact serves.
            "labels": list(self.labels),
            "model": self.fingerprint(),
        }

    def predict(self, texts: Sequence[str]) -> list[list[float]]:
        labels = self.labels
        rows = []
        for text in texts:
            start = time.perf_counter()
            scores = self.classifier.predict(email_from_text(text)).scores
            observe_inference(BACKEND, time.perf_counter() - start)
            rows.append([float(scores.get(label, 0.0)) for label in labels])
        return rows


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(model: ServedModel) -> FastAPI:
    app = FastAPI(
        title="email-classifier model server",
        summary="The embedded triage model over TensorFlow Serving's v1 REST API.",
        version=model.version,
    )

    def lookup(name: str, version: str | None) -> JSONResponse | None:
        if name == model.name and version in (None, model.version):
            return None
        which = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        return _error(404, f"Servable not found for request: {which}")

    async def predict(name: str, version: str | None, request: Request) -> Response:
        missing = lookup(name, version)
        if missing is not None:
            return missing
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _error(413, f"request body over {MAX_BODY_BYTES} bytes")
        body = await _read_capped(request)
        if body is None:
            return _error(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            parsed = parse_predict_request(body)
        except PredictRequestError as exc:
            return _error(exc.status, str(exc))
        rows = model.predict(parsed.texts)
        if parsed.columnar:
            return JSONResponse({"outputs": rows})
        # Each row names its classes (TF Serving's classify-style row), so a client reads
        # scores by label name and the model's label order can never be misread.
        labels = list(model.labels)
        return JSONResponse({"predictions": [{"scores": r, "classes": labels} for r in rows]})

    @app.get("/v1/models/{name}")
    async def model_status(name: str) -> Response:
        return lookup(name, None) or JSONResponse(model.status())

    @app.get("/v1/models/{name}/versions/{version}")
    async def version_status(name: str, version: str) -> Response:
        return lookup(name, version) or JSONResponse(model.status())

    @app.get("/v1/models/{name}/metadata")
    async def model_metadata(name: str) -> Response:
        return lookup(name, None) or JSONResponse(model.metadata())

    @app.get("/v1/models/{name}/versions/{version}/metadata")
    async def version_metadata(name: str, version: str) -> Response:
        return lookup(name, version) or JSONResponse(model.metadata())

    @app.post("/v1/models/{name}:predict")
    async def model_predict(name: str, request: Request) -> Response:
        return await predict(name, None, request)

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def version_predict(name: str, version: str, request: Request) -> Response:
        return await predict(name, version, request)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return _error(400, _first_error(exc.errors()))

    return app


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None past `MAX_BODY_BYTES` (a chunked body has no Content-Length)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _first_error(errors: Sequence[Mapping[str, Any]]) -> str:
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))


def build(*, model_name: str = DEFAULT_MODEL_NAME, model_path: str | Path | None = None) -> FastAPI:
    """The app with its model loaded (raises `ModelError` for a bad artifact)."""
    model = ServedModel(name=model_name, classifier=EmbeddedClassifier(model_path=model_path))
    model.load()
    return create_app(model)


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    model_name: str = DEFAULT_MODEL_NAME,
    model_path: str | Path | None = None,
    log_level: str = "info",
) -> None:
    import uvicorn

    app = build(model_name=model_name, model_path=model_path)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
