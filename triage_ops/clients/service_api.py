"""The email triage service's own HTTP API (triage_core/service/api/routes.py), as the
runbook's checks call it: `/healthz`, `/readyz` (which dependency failed), the recovery
validation's `POST /v1/classify`, and a `/metrics` scrape, over the shared transport
(triage_ops.clients.http: one deadline per request, typed errors).

The API key (config `api_key`) is sent as `X-API-Key`, the header the API reads first
(auth.py). It never leaves this module in a message: the transport drops requests' own
exceptions (which hold the prepared request, headers included), and scrubs the key from
any text the server sends back before it is quoted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import requests

from triage_core.service.settings import Secret
from triage_ops.clients.errors import AuthFailed, BadResponse, ClientError
from triage_ops.clients.http import HttpTransport, display_url
from triage_ops.errors import UsageError

SYSTEM = "service-api"
API_KEY_HEADER = "X-API-Key"


class ServiceApiClient:
    def __init__(self, url: str, *, timeout: float, api_key: Secret | str = "") -> None:
        if not url:
            raise UsageError("no api_url configured (config file or TRIAGE_OPS_API_URL)")
        self.url = url.rstrip("/")
        self.api_key = Secret(api_key)
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers[API_KEY_HEADER] = str(self.api_key)
        self.http = HttpTransport(
            self.url,
            system=SYSTEM,
            label="service API",
            timeout=timeout,
            headers=headers,
            secrets=(str(self.api_key),),
        )
        self.address = display_url(self.url)

    @classmethod
    def from_config(cls, config: Any, *, timeout: float) -> ServiceApiClient:
        return cls(config.api_url, timeout=timeout, api_key=config.api_key)

    @property
    def timeout(self) -> float:
        return self.http.timeout

    def healthz(self) -> dict[str, Any]:
        """Liveness: `{"status": "ok", "latency_ms": ...}`; it checks no dependency."""
        started = time.perf_counter()
        response = self.http.request("GET", "/healthz", what="GET /healthz")
        data = self._expect_object(response, "GET /healthz", ok=(200,))
        return {**data, "latency_ms": _ms_since(started)}

    def readyz(self) -> dict[str, Any]:
        """Readiness, ready or not: `{"ready", "status", "failed": [names], "checks":
        {name: {"ok", "duration_ms", "error"}}, "latency_ms"}`. A 503 is an answer here
        (it says which dependency failed), not an error."""
        what = "GET /readyz"
        started = time.perf_counter()
        response = self.http.request("GET", "/readyz", what=what)
        data = self._expect_object(response, what, ok=(200, 503))
        failed = data.get("failed")
        checks = data.get("checks")
        if not isinstance(failed, list) or not isinstance(checks, Mapping):
            raise BadResponse(
                f"{self.http.where}: /readyz answered without 'failed' and 'checks' ({what})",
                system=SYSTEM,
                status=response.status_code,
            )
        return {
            "ready": response.status_code == 200 and not failed,
            "status": str(data.get("status", "")),
            "failed": [str(name) for name in failed],
            "checks": {
                str(name): {
                    "ok": bool(check.get("ok")) if isinstance(check, Mapping) else False,
                    "duration_ms": check.get("duration_ms") if isinstance(check, Mapping) else None,
                    "error": self.http.scrub(str(check.get("error")))
                    if isinstance(check, Mapping) and check.get("error") is not None
                    else None,
                }
                for name, check in checks.items()
            },
            "latency_ms": _ms_since(started),
        }

    def classify(self, *, subject: str, body: str) -> dict[str, Any]:
        """The runbook's recovery validation, `POST /v1/classify` with
        `{"email": {"subject", "body"}}`: the answer (message_id, category, confidence,
        backend, degraded) plus `latency_ms`. An answer without a category is a
        BadResponse: the check is that classification works, not that HTTP does."""
        what = "POST /v1/classify"
        started = time.perf_counter()
        response = self.http.request(
            "POST",
            "/v1/classify",
            what=what,
            json_body={"email": {"subject": subject, "body": body}},
        )
        data = self._expect_object(response, what, ok=(200,))
        category = data.get("category")
        if not isinstance(category, str) or not category:
            raise BadResponse(
                f"{self.http.where}: classify answered without a category ({what})",
                system=SYSTEM,
                status=response.status_code,
            )
        return {**data, "latency_ms": _ms_since(started)}

    def metrics(self) -> list[dict[str, Any]]:
        """The `/metrics` scrape, one row per sample: `{"name", "labels", "value"}`."""
        from prometheus_client.parser import text_string_to_metric_families

        what = "GET /metrics"
        response = self.http.request("GET", "/metrics", what=what)
        if response.status_code != 200:
            raise self._status_error(response, what)
        try:
            families = list(text_string_to_metric_families(response.text))
        except ValueError as exc:
            raise BadResponse(
                f"{self.http.where}: /metrics is not the text exposition format ({exc})",
                system=SYSTEM,
            ) from None
        return [
            {"name": sample.name, "labels": dict(sample.labels), "value": float(sample.value)}
            for family in families
            for sample in family.samples
        ]

    def metric(self, name: str, **labels: str) -> float | None:
        """The sum of the samples named `name` whose labels include `labels` (None: none)."""
        values = [
            row["value"]
            for row in self.metrics()
            if row["name"] == name and all(row["labels"].get(k) == v for k, v in labels.items())
        ]
        return sum(values) if values else None

    # -- answers ---------------------------------------------------------------------------

    def _expect_object(
        self, response: requests.Response, what: str, *, ok: tuple[int, ...]
    ) -> dict[str, Any]:
        if response.status_code not in ok:
            raise self._status_error(response, what)
        data = self.http.json(response, what)
        if not isinstance(data, dict):
            raise BadResponse(
                f"{self.http.where}: expected a JSON object ({what})",
                system=SYSTEM,
                status=response.status_code,
            )
        return data

    def _status_error(self, response: requests.Response, what: str) -> ClientError:
        status = response.status_code
        where = self.http.where
        if status == 401:
            return AuthFailed(
                f"{where}: an API key is required (set api_key / TRIAGE_OPS_API_KEY) ({what})",
                system=SYSTEM,
            )
        if status == 403:
            return AuthFailed(
                f"{where}: the configured API key was refused ({what})", system=SYSTEM
            )
        detail = self.http.excerpt(response)
        request_id = _request_id(response)
        suffix = f", request id {request_id}" if request_id else ""
        return BadResponse(
            f"{where}: HTTP {status}: {detail} ({what}{suffix})", system=SYSTEM, status=status
        )


def _request_id(response: requests.Response) -> str:
    try:
        data = json.loads(response.content)
    except ValueError:
        return ""
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        return str(data["error"].get("request_id") or "")
    return ""


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
