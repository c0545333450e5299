"""The classifier model server over TensorFlow Serving's v1 REST API: the runbook's
`email-classifier-model` (the sandbox's `triage serve-model` speaks the same protocol).

    GET  /v1/models/{name}            {"model_version_status": [{"version", "state", "status"}]}
    GET  /v1/models/{name}/metadata   signature defs (and, from our server, `labels`)
    POST /v1/models/{name}:predict    {"instances": [...]} -> {"predictions": [...]}

The status is read with the service's own parser (`tfserving.protocol.parse_model_status`),
so "available" means here exactly what the API's readiness probe and the classifier's
circuit breaker mean by it: the newest AVAILABLE version serves. Errors: 404 (no such
model or version) is NotFound; TF Serving's `{"error": ...}` text is quoted in BadResponse.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import requests

from triage_core.classify.tfserving.protocol import (
    MalformedResponseError,
    ModelStatus,
    parse_model_status,
)
from triage_ops.clients.errors import BadResponse, ClientError, NotFound
from triage_ops.clients.http import HttpTransport, display_url
from triage_ops.errors import UsageError

SYSTEM = "model-server"
SIGNATURE_NAME = "serving_default"


class ModelServerClient:
    def __init__(self, url: str, *, model_name: str, timeout: float) -> None:
        if not url:
            raise UsageError(
                "no model_server_url configured (config file or TRIAGE_OPS_MODEL_SERVER_URL)"
            )
        if not model_name:
            raise UsageError("no model_name configured (config file or TRIAGE_OPS_MODEL_NAME)")
        self.url = url.rstrip("/")
        self.model_name = model_name
        self.http = HttpTransport(self.url, system=SYSTEM, label="model server", timeout=timeout)
        self.address = display_url(self.url)

    @classmethod
    def from_config(cls, config: Any, *, timeout: float) -> ModelServerClient:
        return cls(config.model_server_url, model_name=config.model_name, timeout=timeout)

    @property
    def timeout(self) -> float:
        return self.http.timeout

    def _path(self, version: str | None) -> str:
        path = f"/v1/models/{self.model_name}"
        return path if version is None else f"{path}/versions/{version}"

    def status(self, *, version: str | None = None) -> dict[str, Any]:
        """The status document as served (`model_version_status`: one entry per version
        with its `state`: START, LOADING, AVAILABLE, UNLOADING, END)."""
        what = f"GET {self._path(version)}"
        data = self._get(self._path(version), what)
        try:
            parse_model_status(data)
        except MalformedResponseError as exc:
            raise BadResponse(f"{self.http.where}: {exc} ({what})", system=SYSTEM) from None
        return data

    def state(self, *, version: str | None = None) -> ModelStatus:
        """The serving version's state, read as the service reads it: `available`,
        `version`, `state`, `error`."""
        return parse_model_status(self.status(version=version))

    def metadata(self, *, version: str | None = None) -> dict[str, Any]:
        path = self._path(version) + "/metadata"
        data = self._get(path, f"GET {path}")
        return data

    def predict(
        self,
        instances: Sequence[Any],
        *,
        signature_name: str = SIGNATURE_NAME,
        version: str | None = None,
    ) -> dict[str, Any]:
        """`POST ...:predict` in the row format; the answer plus `latency_ms` (the
        round trip as the service would see it, JSON decoding included)."""
        path = self._path(version) + ":predict"
        what = f"POST {path}"
        started = time.perf_counter()
        response = self.http.request(
            "POST",
            path,
            what=what,
            json_body={"signature_name": signature_name, "instances": list(instances)},
        )
        data = self._object(response, what)
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        predictions = data.get("predictions", data.get("outputs"))
        if not isinstance(predictions, list | dict):
            raise BadResponse(
                f"{self.http.where}: predict answered without predictions ({what})", system=SYSTEM
            )
        return {**data, "latency_ms": latency_ms}

    def _get(self, path: str, what: str) -> dict[str, Any]:
        return self._object(self.http.request("GET", path, what=what), what)

    def _object(self, response: requests.Response, what: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise self._status_error(response, what)
        data = self.http.json(response, what)
        if not isinstance(data, dict):
            raise BadResponse(f"{self.http.where}: expected a JSON object ({what})", system=SYSTEM)
        return data

    def _status_error(self, response: requests.Response, what: str) -> ClientError:
        detail = self.http.excerpt(response)
        status = response.status_code
        if status == 404:
            return NotFound(
                f"{self.http.where}: no model {self.model_name!r}: {detail} ({what})", system=SYSTEM
            )
        return BadResponse(
            f"{self.http.where}: HTTP {status}: {detail} ({what})", system=SYSTEM, status=status
        )
