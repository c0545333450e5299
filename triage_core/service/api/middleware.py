"""The outermost layer of every request: its id, its metrics, and the last line of defence
that turns any unhandled exception into a generic 500 JSON (the traceback goes to the log,
tagged with the request id, never to the client).

Pure ASGI rather than Starlette's `BaseHTTPMiddleware`: that one runs the app in a separate
task and buffers streaming bodies, which costs throughput on the hot path.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triage_core.service import metrics
from triage_core.service.api.errors import INTERNAL_MESSAGE, error_body

log = logging.getLogger("triage_core.service.api")

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,64}")
# Method label values beyond these collapse to "other": a label per garbage method would
# let any client grow the metrics without bound.
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            status = 499  # nginx's code for "client closed the request"
            log.info("request %s: client disconnected", request_id)
        except Exception:
            log.exception("request %s %s %s failed", request_id, scope["method"], scope["path"])
            status = 500
            if not started:
                await _send_internal_error(send, header, request_id)
        finally:
            route = scope.get("route")
            label = getattr(route, "path", None) or UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in _METHODS else "other"
            metrics.observe_request(
                method=method, route=label, status=status, seconds=time.perf_counter() - start
            )


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-ID when it is a sane token (so a trace spans the ingress and
    this service), else a fresh one."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            if _VALID_REQUEST_ID.fullmatch(value):
                text: str = value.decode("ascii")
                return text
            break
    return uuid.uuid4().hex


async def _send_internal_error(send: Send, header: tuple[bytes, bytes], request_id: str) -> None:
    body = error_body(code="internal_error", message=INTERNAL_MESSAGE, request_id=request_id)
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                header,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
