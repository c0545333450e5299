"""Small builders shared by the API's test modules."""

from __future__ import annotations

import uuid
from pathlib import Path

from triage_core.service.settings import Secret, ServiceSettings


def server_settings(database_url: str, redis_url: str, **overrides: object) -> ServiceSettings:
    values: dict[str, object] = {
        "database_url": Secret(database_url),
        "database_timeout_s": 1.0,
        "database_pool_min": 1,
        "database_pool_max": 4,
        "redis_url": Secret(redis_url),
        "redis_timeout_s": 0.5,
        "fallback_poll_s": 0.1,
    }
    values.update(overrides)
    return ServiceSettings(**values)  # type: ignore[arg-type]


def unique_message_id() -> str:
    return f"<{uuid.uuid4().hex}@test.example>"


def raw_message(subject: str, body: str, *, message_id: str | None = None) -> bytes:
    headers = [f"Subject: {subject}", "From: Alice <alice@example.com>", "To: ops@example.com"]
    if message_id:
        headers.append(f"Message-ID: {message_id}")
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


def write_pipeline_config(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)
