"""TF Serving's v1 REST API over one pooled `requests.Session`.

Every failure leaves here as `BackendUnavailable` with a one-line reason an on-call
engineer can act on ("timed out after 2.0s", "connection refused", "HTTP 500: ..."),
never as a requests/urllib3 traceback.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from triage_core.classify.tfserving.protocol import (
    MalformedResponseError,
    encode_predict_body,
    error_excerpt,
)
from triage_core.config import TFServingConfig
from triage_core.errors import BackendUnavailable

# Only these statuses are worth retrying: the proxy or server is restarting or shedding
# load. A 500 is the model failing on this input and will fail again.
RETRY_STATUSES = frozenset({502, 503, 504})
# Share of `timeout_s` allowed for the TCP connect; the rest is for the answer. On the
# networks a model server lives on a connect takes well under a millisecond.
CONNECT_SHARE = 0.25
BACKOFF_FACTOR_S = 0.05
BACKOFF_MAX_S = 0.5


class RestTransport:
    """Sends JSON to `{url}/v1/models/{model_name}` and hands back decoded JSON."""

    def __init__(self, config: TFServingConfig) -> None:
        self._config = config
        base = config.url.rstrip("/")
        self._model_url = f"{base}/v1/models/{config.model_name}"
        connect = config.timeout_s * CONNECT_SHARE
        self._timeout = (connect, config.timeout_s - connect)
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return self._config.url

    def predict(self, texts: Sequence[str]) -> Any:
        body = encode_predict_body(
            texts,
            signature_name=self._config.signature_name,
            input_name=self._config.input_name,
        )
        return self._call("POST", f"{self._model_url}:predict", body)

    def status(self) -> Any:
        return self._call("GET", self._model_url, None)

    def metadata(self) -> Any:
        return self._call("GET", f"{self._model_url}/metadata", None)

    def close(self) -> None:
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def _call(self, method: str, url: str, body: bytes | None) -> Any:
        session = self._get_session()
        try:
            response = session.request(
                method,
                url,
                data=body,
                headers={"Content-Type": "application/json"} if body is not None else None,
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise self._unavailable(self._reason(exc)) from exc
        with response:
            content = response.content
        if response.status_code >= 400:
            raise self._unavailable(f"HTTP {response.status_code}: {error_excerpt(content)}")
        try:
            return json.loads(content)
        except ValueError as exc:
            raise MalformedResponseError(f"not JSON: {error_excerpt(content, limit=60)}") from exc

    def _get_session(self) -> requests.Session:
        # Built on first use, not in __init__: constructing a classifier does no I/O and a
        # pool is only worth having once there is something to send.
        with self._session_lock:
            if self._session is None:
                self._session = self._new_session()
            return self._session

    def _new_session(self) -> requests.Session:
        retries = max(0, self._config.retries)
        retry = Retry(
            total=retries,
            connect=retries,
            read=0,  # a read timeout already spent the budget: do not spend it again
            status=retries,
            other=0,
            redirect=0,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "POST"}),  # predict is idempotent
            backoff_factor=BACKOFF_FACTOR_S,
            backoff_max=BACKOFF_MAX_S,
            raise_on_status=False,  # the last 503 is reported as "HTTP 503: ..."
            respect_retry_after_header=False,
        )
        session = requests.Session()
        session.trust_env = False  # a proxy from the environment must not sit in between
        adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=8)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _unavailable(self, reason: str) -> BackendUnavailable:
        return BackendUnavailable(f"tfserving at {self.endpoint}: {reason}")

    def _reason(self, exc: requests.RequestException) -> str:
        causes = _causes(exc)
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: look at it first.
        for cause in causes:
            if isinstance(cause, ConnectionRefusedError) or (
                isinstance(cause, NewConnectionError) and "refused" in str(cause).lower()
            ):
                return "connection refused"
        for cause in causes:
            if isinstance(cause, NewConnectionError) and "timed out" not in str(cause):
                return f"cannot connect: {_short(cause)}"
        for cause in causes:
            if isinstance(cause, requests.Timeout | ReadTimeoutError | ConnectTimeoutError):
                return f"timed out after {self._config.timeout_s}s"
        if isinstance(exc, requests.ConnectionError):
            return f"connection failed: {_short(exc)}"
        return f"request failed: {_short(exc)}"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (requests hides urllib3's error in args[0].reason)."""
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
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:157] + "..."
