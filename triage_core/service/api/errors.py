"""The API's one error shape and the exceptions that produce it.

Every failure a client can see is `{"error": {"code", "message", "field", "request_id"}}`
with a stable `code` a client can branch on; `field` names the offending input (a dotted
path such as `email.subject`) or is null. Handlers raise `ApiError` subclasses; the
framework's own errors (unknown route, wrong method, bad path parameter) are mapped to the
same shape here, so no FastAPI/Starlette default body (and never a traceback) leaks out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


class ApiError(Exception):
    """An error answered to the client as-is: its message must be safe to show."""

    status = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class InvalidInput(ApiError):
    status = 422
    code = "invalid_input"


class InvalidJson(InvalidInput):
    code = "invalid_json"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class ServiceUnavailable(ApiError):
    status = 503
    code = "unavailable"


INTERNAL_MESSAGE = "internal error; quote the request id when reporting it"

# Statuses the framework raises itself (routing, methods), by the code we give them.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_body(
    *, code: str, message: str, field: str | None = None, request_id: str | None = None
) -> bytes:
    payload = {"code": code, "message": message, "field": field, "request_id": request_id}
    return json.dumps({"error": payload}, ensure_ascii=False).encode("utf-8")


def error_response(
    *,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = error_body(code=code, message=message, field=field, request_id=request_id)
    return Response(body, status_code=status, media_type=JSON_MEDIA_TYPE, headers=headers)


def request_id_of(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def field_path(loc: Sequence[Any]) -> str | None:
    """pydantic's `loc` -> "email.to[1]". The leading "body"/"path"/"query" is dropped
    (the client sent the document, not FastAPI's parameter wrapper), and so are the union
    member tags pydantic inserts ("str", "list[str]"): they are types, not fields."""
    parts = list(loc)
    if parts and parts[0] in {"body", "path", "query", "header"}:
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not isinstance(part, str) or _is_type_tag(part):
            continue
        else:
            out += f".{part}" if out else part
    return out or None


def _is_type_tag(part: str) -> bool:
    return "[" in part or part in _TYPE_TAGS


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "list", "dict"})


def most_specific(errors: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The error to report when pydantic gives several (one per union member): the one
    that points deepest into the document, e.g. `email.to[1]` rather than `email.to`."""
    best: Mapping[str, Any] = errors[0] if errors else {}
    depth = -1
    for error in errors:
        path = field_path(error.get("loc", ())) or ""
        here = path.count(".") + path.count("[")
        if here > depth:
            best, depth = error, here
    return best


def validation_message(error: Mapping[str, Any]) -> str:
    field = field_path(error.get("loc", ()))
    msg = str(error.get("msg", "invalid value"))
    if error.get("type") == "extra_forbidden":
        msg = "unknown field"
    if field is None:
        return f"the JSON body is not an object with an `email` field: {msg}"
    return f"{field}: {msg}"


def install_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(
            status=exc.status,
            code=exc.code,
            message=exc.message,
            field=exc.field,
            request_id=request_id_of(request),
            headers=exc.headers,
        )

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = most_specific(list(exc.errors()))
        return error_response(
            status=422,
            code=InvalidInput.code,
            message=validation_message(first),
            field=field_path(first.get("loc", ())),
            request_id=request_id_of(request),
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "http_error")
        message = exc.detail if isinstance(exc.detail, str) and status < 500 else None
        return error_response(
            status=status,
            code=code,
            message=message or (INTERNAL_MESSAGE if status >= 500 else "request failed"),
            request_id=request_id_of(request),
            headers=exc.headers,
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
