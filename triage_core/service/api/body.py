"""One email out of a request body: JSON (`{"email": {...}}`) or a raw RFC 822 message.

The size cap is not enforced here but by `BodySizeLimitMiddleware` underneath, which
counts the bytes as they arrive; by the time `request.body()` returns, the body is known
to be within the cap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from pydantic import TypeAdapter, ValidationError

from triage_core.service.api.errors import (
    InvalidInput,
    InvalidJson,
    UnsupportedMediaType,
    field_path,
    most_specific,
    validation_message,
)
from triage_core.service.api.models import EmailRequest

JSON = "application/json"
RFC822 = "message/rfc822"
ACCEPTED = (JSON, RFC822)

Kind = Literal["json", "rfc822"]

_REQUEST = TypeAdapter(EmailRequest)


@dataclass(frozen=True, slots=True)
class EmailInput:
    """`item` is what the pipeline triages (raw bytes or the dict form); `kind` and
    `content` (the body as received) identify the input for the result cache and the
    queue payload."""

    kind: Kind
    content: bytes
    item: bytes | dict[str, Any]


def media_type(request: Request) -> str:
    value = request.headers.get("content-type", "")
    return value.split(";", 1)[0].strip().lower()


def kind_of(media: str) -> Kind:
    if media == JSON or (media.startswith("application/") and media.endswith("+json")):
        return "json"
    if media == RFC822:
        return "rfc822"
    shown = media[:100] if media else "missing"
    raise UnsupportedMediaType(
        f"Content-Type {shown} is not accepted: send {JSON} or {RFC822}",
        field="Content-Type",
    )


async def read_email_input(request: Request) -> EmailInput:
    kind = kind_of(media_type(request))  # before reading: a wrong type costs no bytes
    content = await request.body()
    return decode_email_input(kind, content)


def decode_email_input(kind: Kind, content: bytes) -> EmailInput:
    if kind == "rfc822":
        if not content.strip():
            raise InvalidInput("the message is empty", field="body")
        if content.startswith(b"{"):
            # A message starts with a header field; this is JSON sent with the wrong type
            # (and the queue's payload format tells the two apart by this very byte).
            raise InvalidInput(
                f"a {RFC822} body must start with a header field: send JSON as {JSON}",
                field="body",
            )
        return EmailInput(kind, content, content)
    try:
        document = json.loads(content)
    except json.JSONDecodeError as exc:
        raise InvalidJson(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise InvalidJson("malformed JSON: not UTF-8, UTF-16 or UTF-32 text") from None
    except RecursionError:
        raise InvalidJson("malformed JSON: nested too deeply") from None
    try:
        _REQUEST.validate_python(document)
    except ValidationError as exc:
        first = most_specific(exc.errors(include_url=False, include_input=False))
        raise InvalidInput(
            validation_message(first), field=field_path(first.get("loc", ()))
        ) from None
    # The client's own mapping goes to the pipeline (not a re-dumped model): the synthetic
    # Message-ID is a hash of these fields, so the same JSON gets the same id everywhere.
    email = document["email"]
    assert isinstance(email, dict)
    return EmailInput(kind, content, email)
