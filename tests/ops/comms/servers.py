"""Local stand-ins for PagerDuty, Slack and an SMTP relay, on loopback, speaking real
HTTP and real SMTP.

The HTTP server checks every request against the documented payloads and answers the way
the real services do, so a client that passes here sends what the real ones accept:

- PagerDuty Events API v2 (`POST /v2/enqueue`, developer.pagerduty.com "Send an Alert
  Event"): JSON object; `routing_key` (32-character integration key), `event_action`
  trigger|acknowledge|resolve, `dedup_key` <= 255 characters (required to acknowledge or
  resolve); a trigger's `payload` with `summary` (1..1024 characters), `source`,
  `severity` critical|error|warning|info, optional `timestamp`, `component`, `group`,
  `class` (strings) and `custom_details` (object); 512 KB at most.
  202 `{"status": "success", "message": "Event processed", "dedup_key": ...}`;
  400 `{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`;
  429 when throttled.
- Slack incoming webhook (`POST /services/T.../B.../...`): JSON object with `text` and/or
  `blocks` (a list of at most 50 objects, each with a `type`); 200 `ok`;
  400 `invalid_payload` / `no_text` / `invalid_blocks`; 404 `no_service` for an unknown
  webhook; 403 `action_prohibited`, 410 `channel_is_archived`, 429 `rate_limited` on demand.

The SMTP relay is aiosmtpd (STARTTLS with a trustme certificate, AUTH, a recipient it
refuses), recording every message it takes.
"""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ROUTING_KEY = "R0UT1NGKEYSECRETabcdef0123456789"  # 32 characters, like a real one
SLACK_PATH = "/services/T0SECRET1/B0SECRET2/XyZsecretWebhookToken123"
SMTP_USER = "triage-ops"
SMTP_PASSWORD = "smtp-Pa55word-SECRET"
REFUSED_RECIPIENT = "nobody@example.net"

PD_TOP = {
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "images",
    "links",
    "client",
    "client_url",
}
PD_PAYLOAD = {
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
}
PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}
PD_MAX_BYTES = 512 * 1024


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpState:
    requests: list[Seen] = field(default_factory=list)
    # Forced answers, used once each in order: (status, body, headers)
    forced: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def pagerduty_errors(doc: Any) -> list[str]:
    """What PagerDuty would object to in an event, as its `errors` list."""
    if not isinstance(doc, dict):
        return ["Event object must be a JSON object"]
    errors = [f"Unknown field '{k}'" for k in sorted(set(doc) - PD_TOP)]
    key = doc.get("routing_key")
    if not isinstance(key, str):
        errors.append("'routing_key' is missing or not a string")
    elif len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = doc.get("event_action")
    if action not in PD_ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup = doc.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append(f"'dedup_key' is required to {action}")
    if action == "trigger":
        payload = doc.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        errors += [f"Unknown field 'payload.{k}'" for k in sorted(set(payload) - PD_PAYLOAD)]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary:
            errors.append("'payload.summary' is missing")
        elif len(summary) > 1024:
            errors.append("Length of 'payload.summary' is incorrect (maximum 1024 characters)")
        if not isinstance(payload.get("source"), str) or not payload.get("source"):
            errors.append("'payload.source' is missing")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("'payload.severity' must be one of critical, error, warning, info")
        for name in ("component", "group", "class"):
            if name in payload and not isinstance(payload[name], str):
                errors.append(f"'payload.{name}' must be a string")
        if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
            errors.append("'payload.custom_details' must be an object")
        if "timestamp" in payload:
            try:
                datetime.fromisoformat(str(payload["timestamp"]))
            except ValueError:
                errors.append("'payload.timestamp' is not an ISO 8601 timestamp")
    elif "payload" in doc and action in ("acknowledge", "resolve"):
        pass  # allowed and ignored
    return errors


def slack_error(doc: Any) -> str:
    """Slack's error string for a webhook body, "" when it would post it."""
    if not isinstance(doc, dict):
        return "invalid_payload"
    text, blocks = doc.get("text"), doc.get("blocks")
    if text is not None and not isinstance(text, str):
        return "invalid_payload"
    if blocks is not None:
        if not isinstance(blocks, list) or len(blocks) > 50:
            return "invalid_blocks"
        if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
            return "invalid_blocks"
    if not (text or "").strip() and not blocks and not doc.get("attachments"):
        return "no_text"
    return ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        state = self.server.state
        with state.lock:
            state.requests.append(seen)
            forced = state.forced.pop(0) if state.forced else None
        if forced is not None:
            status, answer, headers = forced
        elif self.path == "/v2/enqueue":
            status, answer, headers = self._pagerduty(seen)
        elif self.path.startswith("/services/"):
            status, answer, headers = self._slack(seen)
        else:
            status, answer, headers = 404, "not found", {}
        seen.status = status
        self._answer(status, answer, headers)

    def _pagerduty(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        invalid = {"status": "invalid event", "message": "Event object is invalid"}
        if len(seen.body) > PD_MAX_BYTES:
            return 400, {**invalid, "errors": ["Event object is too large"]}, {}
        if not seen.headers.get("content-type", "").startswith("application/json"):
            return 400, {**invalid, "errors": ["Content-Type must be application/json"]}, {}
        try:
            doc = json.loads(seen.body)
        except ValueError:
            return 400, {**invalid, "errors": ["Event object is not valid JSON"]}, {}
        errors = pagerduty_errors(doc)
        if errors:
            return 400, {**invalid, "errors": errors}, {}
        if doc["routing_key"] != ROUTING_KEY:
            return 400, {**invalid, "errors": ["Invalid routing key"]}, {}
        dedup = doc.get("dedup_key") or uuid.uuid4().hex
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup}, {}

    def _slack(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.path != SLACK_PATH:
            return 404, "no_service", {}
        if not seen.headers.get("content-type", "").startswith("application/json"):
            return 400, "invalid_payload", {}
        try:
            doc = json.loads(seen.body)
        except ValueError:
            return 400, "invalid_payload", {}
        error = slack_error(doc)
        return (400, error, {}) if error else (200, "ok", {})

    def _answer(self, status: int, answer: Any, headers: dict[str, str]) -> None:
        if isinstance(answer, str):
            data, kind = answer.encode(), "text/html"
        else:
            data, kind = json.dumps(answer).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: HttpState


@dataclass
class HttpServices:
    port: int
    state: HttpState

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pagerduty_url(self) -> str:
        return self.base + "/v2/enqueue"

    @property
    def slack_url(self) -> str:
        return self.base + SLACK_PATH

    @property
    def requests(self) -> list[Seen]:
        return self.state.requests

    def force(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        """The next request gets this answer (after being recorded)."""
        self.state.forced.append((status, answer, headers or {}))


@contextmanager
def http_services() -> Iterator[HttpServices]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = HttpState()
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fake-pd-slack", daemon=True
    )
    thread.start()
    try:
        yield HttpServices(server.server_address[1], server.state)
    finally:
        server.shutdown()
        server.server_close()


# -- SMTP -------------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class _Relay:
    def __init__(self) -> None:
        self.messages: list[Received] = []

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address == REFUSED_RECIPIENT:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return f"250 OK: queued as Q{len(self.messages)}"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpRelay:
    port: int
    relay: _Relay

    @property
    def messages(self) -> list[Received]:
        return self.relay.messages


@contextmanager
def smtp_relay(
    *, tls_context: ssl.SSLContext | None = None, auth: bool = False
) -> Iterator[SmtpRelay]:
    """An SMTP relay on loopback: STARTTLS when `tls_context` is given (then required),
    AUTH (required) when `auth`."""
    from triage_ops.sandbox.processes import free_port

    relay = _Relay()
    kwargs: dict[str, Any] = {}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    if auth:
        kwargs.update(authenticator=_authenticator, auth_required=True)
        kwargs["auth_require_tls"] = tls_context is not None
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpRelay(port, relay)
    finally:
        controller.stop()
