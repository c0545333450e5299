"""The HTTP API of the triage service (FastAPI): `create_app(settings)`.

Endpoints, errors, auth and limits are documented in the app's OpenAPI (`/openapi.json`)
and in `triage_core.service.api.routes`.
"""

from __future__ import annotations

from triage_core.service.api.app import create_app

__all__ = ["create_app"]
