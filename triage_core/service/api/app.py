"""The application factory.

    app = create_app(ServiceSettings.from_env())

Layers, outermost first: request context (request id, metrics, generic 500), the body-size
cap, FastAPI's routing and exception handlers. The lifespan opens the store and warms the
pipeline in a worker thread and never fails on a dependency that is down: the app starts,
and /readyz reports what is missing until it comes back.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import triage_core
from triage_core.pipeline import Pipeline
from triage_core.service.api import routes
from triage_core.service.api.errors import install_handlers
from triage_core.service.api.limits import BodySizeLimitMiddleware
from triage_core.service.api.middleware import RequestContextMiddleware
from triage_core.service.api.models import EmailRequest
from triage_core.service.api.state import ApiState
from triage_core.service.settings import ServiceSettings

# `triage serve` with several workers hands the settings file to each worker this way.
SETTINGS_FILE_ENV = "TRIAGE_SERVICE_SETTINGS"

DESCRIPTION = """\
Email triage: classification, priority, summary and a draft reply for one email, or
enqueue it for the workers and poll its result.

Every endpoint under `/v1` takes an email as JSON (`{"email": {"subject": ..., "body":
...}}`) or as a raw RFC 822 message (`Content-Type: message/rfc822`). `POST /classify`
is an unversioned alias of `/v1/classify` for the runbook's recovery check (the ingress
strips its `/email-triage` prefix).

Errors are always `{"error": {"code", "message", "field", "request_id"}}`. API keys
(`X-API-Key` or `Authorization: Bearer`) are required only when configured; the rate
limit is per key and per API process.
"""


def create_app(settings: ServiceSettings, *, pipeline: Pipeline | None = None) -> FastAPI:
    """`pipeline`: an already built one (tests, embedding); by default one is built from
    `settings.pipeline_config` with its fallback mode driven by the runtime switch."""
    state = ApiState(settings, pipeline=pipeline)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.work_limiter = anyio.CapacityLimiter(1)
        await anyio.to_thread.run_sync(state.open)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(state.close)

    app = FastAPI(
        title="Email triage API",
        version=triage_core.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.api = state
    app.include_router(routes.v1)
    app.include_router(routes.unversioned)
    app.include_router(routes.probes)
    install_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)  # added last: outermost
    _document_request_models(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory`: settings from the YAML file named by
    TRIAGE_SERVICE_SETTINGS when set, else from TRIAGE_* variables."""
    path = os.environ.get(SETTINGS_FILE_ENV, "")
    settings = ServiceSettings.from_yaml(path) if path else ServiceSettings.from_env()
    return create_app(settings)


def _document_request_models(app: FastAPI) -> None:
    """The handlers read their bodies themselves (JSON or RFC 822, under the size cap), so
    FastAPI does not see the request model: add its schema to the components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            extra = EmailRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(extra.pop("$defs", {}))
            components["EmailRequest"] = extra
            _use_our_error_shape(schema)
            _document_security(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _use_our_error_shape(schema: dict[str, Any]) -> None:
    """FastAPI documents its own 422 body (`HTTPValidationError`) for routes with
    parameters; this API answers every error as `ErrorResponse`."""
    ours = {"$ref": "#/components/schemas/ErrorResponse"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422")
            if response is None:
                continue
            for media in response.get("content", {}).values():
                if "HTTPValidationError" in str(media.get("schema", "")):
                    media["schema"] = ours
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


SECURITY_SCHEMES = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "Required only when API keys are configured (`api_keys`).",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same API key as `Authorization: Bearer KEY`.",
    },
}


def _document_security(schema: dict[str, Any]) -> None:
    """The API-key schemes on every operation that checks them (the ones documenting a
    401); `{}` among the alternatives says a deployment may run without keys."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if "401" in operation.get("responses", {}):
                operation["security"] = [{"ApiKey": []}, {"Bearer": []}, {}]
