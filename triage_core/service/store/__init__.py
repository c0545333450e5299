"""The service's PostgreSQL store: the `emails` table, its migrations, and the typed
errors every caller maps (`StoreUnavailable` -> HTTP 503 / retry later).

    with Store(settings) as store:
        email_id, created = store.enqueue("<abc@example.com>")
"""

from __future__ import annotations

from triage_core.service.store.errors import MigrationError, StoreError, StoreUnavailable
from triage_core.service.store.migrations import Migration, MigrationReport, available, migrate
from triage_core.service.store.records import (
    FAILED,
    PROCESSED,
    PROCESSING,
    QUEUED,
    STATUSES,
    EmailRecord,
)
from triage_core.service.store.store import Store

__all__ = [
    "FAILED",
    "PROCESSED",
    "PROCESSING",
    "QUEUED",
    "STATUSES",
    "EmailRecord",
    "Migration",
    "MigrationError",
    "MigrationReport",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "available",
    "migrate",
]
