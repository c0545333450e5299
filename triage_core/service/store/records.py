"""What the store hands back: one row of `emails`, typed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

QUEUED = "queued"
PROCESSING = "processing"
PROCESSED = "processed"
FAILED = "failed"
STATUSES: tuple[str, ...] = (QUEUED, PROCESSING, PROCESSED, FAILED)


@dataclass(frozen=True, slots=True)
class EmailRecord:
    id: str
    message_id: str
    status: str
    category: str | None
    priority: str | None
    summary: str | None
    result: dict[str, Any] | None  # the TriageResult's `triage/v1` dict once processed
    attempts: int
    error: str | None
    created_at: datetime
    processed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (timestamps as ISO 8601), for the API's GET /v1/emails/{id}."""
        return {
            "id": self.id,
            "message_id": self.message_id,
            "status": self.status,
            "category": self.category,
            "priority": self.priority,
            "summary": self.summary,
            "result": self.result,
            "attempts": self.attempts,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "processed_at": self.processed_at.isoformat() if self.processed_at else None,
        }
