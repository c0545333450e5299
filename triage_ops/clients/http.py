"""JSON-over-HTTP plumbing shared by the clients of HTTP services (the service API, the
model server, Prometheus, Alertmanager): one requests.Session per base URL, one deadline
per request, no retries, no proxy from the environment, and every requests/urllib3
failure turned into a typed error naming the system and its address.

No secret ever reaches a message: requests' own exceptions (which hold the prepared
request, headers included) are dropped (`from None`), URLs are shown without userinfo
or query (`display_url`), and any text the server sends back is scrubbed of the
secrets the transport was given before it is quoted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from urllib3.util import Timeout

from triage_ops.clients.errors import BadResponse, ClientError, TimedOut, Unreachable
from triage_ops.errors import UsageError

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
