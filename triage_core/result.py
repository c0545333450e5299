"""The triage result and its JSON contract (`triage/v1`).

The API service, the queue worker, the Postgres store and every consumer read this shape,
so the field names and their order are a contract: add fields, never rename them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA = "triage/v1"

DEFAULT_CATEGORIES: tuple[str, ...] = (
    "incident",
    "request",
    "question",
    "meeting",
    "billing",
    "complaint",
    "newsletter",
    "notification",
    "spam",
    "personal",
)
OTHER = "other"
PRIORITIES: tuple[str, ...] = ("P0", "P1", "P2", "P3")


@dataclass(frozen=True, slots=True)
class StageError:
    """A stage that failed for one email; the email still gets a result."""

    stage: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"stage": self.stage, "error": self.error}


@dataclass(slots=True)
class TriageResult:
    message_id: str
    category: str
    category_confidence: float
    priority: str
    priority_score: int
    priority_reasons: list[str]
    summary: str
    needs_reply: bool
    draft: str | None
    backend: str
    degraded: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    errors: list[StageError] = field(default_factory=list)
    source: str | None = None
    subject: str = ""
    sender: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "message_id": self.message_id,
            "source": self.source,
            "subject": self.subject,
            "from": self.sender,
            "category": self.category,
            "category_confidence": round(self.category_confidence, 4),
            "priority": self.priority,
            "priority_score": self.priority_score,
            "priority_reasons": list(self.priority_reasons),
            "summary": self.summary,
            "needs_reply": self.needs_reply,
            "draft": self.draft,
            "backend": self.backend,
            "degraded": self.degraded,
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "errors": [e.to_dict() for e in self.errors],
        }
