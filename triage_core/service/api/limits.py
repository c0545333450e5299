"""The request body cap (HTTP 413), enforced before any handler buffers a byte.

Two checks, because either alone can be bypassed: a declared `Content-Length` over the cap
is refused before the body is read at all; a body sent without one (chunked) or with a
false one is counted as it arrives, and reading stops at the first chunk past the cap,
so the process never holds more than the cap plus one network chunk.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triage_core.service.api.errors import ApiError, BadRequest, PayloadTooLarge, error_body


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"request body over the limit of {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_error(scope, send, self._too_large())
            return
        if declared == -1:
            await _send_error(
                scope, send, BadRequest("invalid Content-Length header", field="Content-Length")
            )
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised into the handler's `await request.body()`; the app's error
                    # handler turns it into the 413 (with the request id).
                    raise self._too_large()
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    """None when absent, -1 when unreadable."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit() or len(text) > 18:
                return -1
            return int(text)
    return None


async def _send_error(scope: Scope, send: Send, error: ApiError) -> None:
    request_id = scope.get("state", {}).get("request_id")
    body = error_body(
        code=error.code,
        message=error.message,
        field=error.field,
        request_id=request_id if isinstance(request_id, str) else None,
    )
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                # The unread body stays on the socket: do not keep the connection.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
