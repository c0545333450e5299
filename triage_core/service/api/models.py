"""Request and response documents of the HTTP API (they are also its OpenAPI schema).

Requests are validated strictly: a number where a string belongs, or a field the API does
not know (a typo such as `bdy`), is a 422 naming that field, never a silently empty email.
Responses are built by hand from `TriageResult.to_dict()` and the store's record (the
models here document them; the hot path does not re-validate what the pipeline produced).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", strict=True)


class AttachmentIn(BaseModel):
    model_config = _STRICT

    filename: str | None = ""
    content_type: str | None = ""
    size: int | None = Field(default=0, ge=0)


class EmailIn(BaseModel):
    """The JSON form of an email (the pipeline's dict form). Every field is optional; an
    email without `message_id` gets a stable synthetic one (a hash of its fields)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    subject: str | None = None
    body: str | None = Field(default=None, description="Plain text body.")
    html: str | None = Field(default=None, description="Used when `body` is empty.")
    from_: str | None = Field(default=None, alias="from", description='"Name <addr>"')
    to: str | list[str] | None = None
    cc: str | list[str] | None = None
    reply_to: str | None = None
    date: str | None = Field(default=None, description="RFC 2822 or ISO 8601.")
    message_id: str | None = None
    in_reply_to: str | None = None
    references: str | list[str] | None = None
    headers: dict[str, str | list[str]] | None = Field(
        default=None, description="Other headers (List-Id, Precedence, ...)."
    )
    attachments: list[AttachmentIn] | None = None


class EmailRequest(BaseModel):
    """`POST /v1/classify`, `/v1/triage`, `/v1/emails` with `Content-Type:
    application/json`. The same endpoints take a raw RFC 822 message as
    `Content-Type: message/rfc822`."""

    model_config = _STRICT

    email: EmailIn


class ClassifyResponse(BaseModel):
    message_id: str
    category: str
    confidence: float
    backend: str = Field(description="The backend that answered: embedded, tfserving, rules.")
    degraded: bool = Field(description="True when the fallback classifier answered.")


class StageErrorOut(BaseModel):
    stage: str
    error: str


class TriageResponse(BaseModel):
    """`TriageResult.to_dict()`: the `triage/v1` contract."""

    model_config = ConfigDict(populate_by_name=True)

    schema_: Literal["triage/v1"] = Field(alias="schema")
    message_id: str
    source: str | None
    subject: str
    from_: str = Field(alias="from")
    category: str
    category_confidence: float
    priority: Literal["P0", "P1", "P2", "P3"]
    priority_score: int
    priority_reasons: list[str]
    summary: str
    needs_reply: bool
    draft: str | None
    backend: str
    degraded: bool
    timings_ms: dict[str, float]
    errors: list[StageErrorOut]


EmailStatus = Literal["queued", "processing", "processed", "failed"]


class EnqueueResponse(BaseModel):
    id: str = Field(description="The email's id in the store: poll GET /v1/emails/{id}.")
    status: EmailStatus
    message_id: str


class EmailRecordOut(BaseModel):
    id: str
    message_id: str
    status: EmailStatus
    category: str | None
    priority: str | None
    summary: str | None
    result: dict[str, Any] | None = Field(description="`triage/v1` once processed.")
    attempts: int = Field(description="Deliveries to a worker so far.")
    error: str | None = Field(description="Why the email failed (status failed).")
    created_at: str = Field(description="ISO 8601.")
    processed_at: str | None


class CheckOut(BaseModel):
    ok: bool
    duration_ms: float
    error: str | None = None


class ReadinessResponse(BaseModel):
    status: Literal["ready", "unready"]
    failed: list[str] = Field(description="Names of the failed checks.")
    checks: dict[str, CheckOut]


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = Field(description="The offending input, e.g. `email.subject`.")
    request_id: str | None


class ErrorResponse(BaseModel):
    error: ErrorDetail
