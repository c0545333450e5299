"""The email triage service's own HTTP API (triage_core/service/api/routes.py), as the
runbook's checks call it: `/healthz`, `/readyz` (which dependency failed), the recovery
validation's `POST /v1/classify`, and a `/metrics` scrape.

Also home of `HttpTransport`, the JSON-over-HTTP plumbing shared with the model server
and Prometheus clients: one deadline per request, no retries, no proxy from the
environment, and every requests/urllib3 failure turned into a typed error naming the
system and its address.

The API key (config `api_key`) is sent as `X-API-Key`, the header the API reads first
(auth.py). It never leaves this module in a message: requests' own exceptions (which hold
the prepared request, headers included) are dropped (`from None`), and any text the server
sends back is scrubbed of the key before it is quoted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from urllib3.util import Timeout

from triage_core.service.settings import Secret
from triage_ops.clients.errors import AuthFailed, BadResponse, ClientError, TimedOut, Unreachable
from triage_ops.errors import UsageError

SYSTEM = "service-api"
API_KEY_HEADER = "X-API-Key"
MASK = "***"
_MAX_TEXT = 200


def display_url(url: str) -> str:
    """scheme://host:port/path: what messages show (userinfo and query dropped)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")


class HttpTransport:
    """One base URL, one requests.Session, one deadline per request.

    The deadline is urllib3's `total` timeout: connect and read share it, so a server that
    accepts the connection and never answers costs `timeout` seconds, not connect + read.
    """

    def __init__(
        self,
        base_url: str,
        *,
        system: str,
        label: str,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        if timeout <= 0:
            raise UsageError(f"{label}: the timeout must be > 0 s")
        self.base_url = base_url.rstrip("/")
        self.system = system
        self.timeout = timeout
        self.where = f"{label} at {display_url(self.base_url)}"
        self._headers = dict(headers or {})
        self._secrets = tuple(s for s in secrets if s)
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.trust_env = False  # no proxy from the environment in between
            session.headers.update(self._headers)
            self._session = session
        return self._session

    def timeout_spec(self) -> Any:
        """What requests' `timeout=` takes for a total deadline (urllib3's Timeout; the
        type stubs only know numbers and tuples)."""
        return Timeout(total=self.timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        """The response whatever its status (the caller decides what a status means);
        raises Unreachable / TimedOut when nothing usable came back in time."""
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                data=None if json_body is None else json.dumps(json_body).encode("utf-8"),
                headers={"Content-Type": "application/json"} if json_body is not None else None,
                params=params,
                timeout=cast(Any, self.timeout_spec()),
                allow_redirects=False,
            )
            _ = response.content  # read the body under the same deadline
        except requests.RequestException as exc:
            raise self.translate(exc, what) from None
        return response

    def translate(self, exc: BaseException, what: str) -> ClientError:
        """A requests/urllib3 failure as a typed, one-line, secret-free error."""
        causes = _causes(exc)
        text = " ".join(str(c) for c in causes).lower()
        if isinstance(exc, requests.exceptions.InvalidJSONError):
            return BadResponse(f"{self.where}: the answer is not JSON ({what})", system=self.system)
        if any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in text:
            return Unreachable(f"{self.where}: connection refused ({what})", system=self.system)
        if isinstance(exc, requests.Timeout) or "timed out" in text or "timeout" in text:
            return TimedOut(
                f"{self.where}: no answer within {self.timeout:g} s ({what})", system=self.system
            )
        if isinstance(exc, requests.ConnectionError):
            return Unreachable(
                f"{self.where}: cannot connect: {self.scrub(_short(exc))} ({what})",
                system=self.system,
            )
        return ClientError(
            f"{self.where}: request failed: {type(exc).__name__} ({what})", system=self.system
        )

    def json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise BadResponse(
                f"{self.where}: HTTP {response.status_code} answer is not JSON: "
                f"{self.excerpt(response)} ({what})",
                system=self.system,
                status=response.status_code,
            ) from None

    def excerpt(self, response: requests.Response) -> str:
        """The readable part of an error answer: a JSON error message when there is one,
        else the start of the body; one line, scrubbed."""
        text = response.content[: _MAX_TEXT * 4].decode("utf-8", "replace")
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if isinstance(data, Mapping):
            error = data.get("error", data.get("message", data.get("detail")))
            if isinstance(error, Mapping):  # the service API: {"error": {"code", "message"}}
                error = error.get("message") or error.get("code")
            if error is not None:
                text = str(error)
        return self.scrub(_short_text(text)) or "(empty body)"

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


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


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (requests hides urllib3's error in args/reason)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 16:
        cur = todo.pop()
        if any(cur is s for s in seen):
            continue
        seen.append(cur)
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(a for a in cur.args if isinstance(a, BaseException))
        for linked in (cur.__cause__, cur.__context__):
            if linked is not None:
                todo.append(linked)
    return seen


def _short(exc: BaseException) -> str:
    return _short_text(str(exc))


def _short_text(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_TEXT else line[: _MAX_TEXT - 3] + "..."
