"""Data retention: the runbook's "Data Retention Management" (Database Maintenance),
as `triage-ops retention run|restore|status`.

The runbook's snippet selects the old `processed` rows with `.all()` (every row in memory),
archives them, then deletes `created_at < cutoff` with no status filter: every old
`queued`, `processing` and `failed` row is deleted without ever being archived, and
nothing checks that the archive was written before the delete. What we do instead:

- only the policy's rows (`--status processed` by default; `--status` widens it) older
  than a cutoff fixed once, when the archive is created, and kept by every resume;
- keyset batches (ORDER BY created_at, id) streamed with COPY into gzip segments: memory
  is bounded by the batch size, whatever the table's size;
- each segment is read back from disk and checked (SHA-256, gzip CRC, row count, ids)
  and recorded in the manifest BEFORE any of its rows is deleted;
- the delete removes exactly the archived ids, and only those still as archived (same
  row version, `xmin`) and still under the policy: a row a worker changes between the
  archive and the delete stays in the table;
- a manifest records progress, so a killed run resumes where it stopped, never archives
  a row twice and never deletes a row that is not in a checked segment;
- `pg_try_advisory_lock` (and a lock file on the archive directory) keep two runs apart;
- `retention restore` puts rows back, idempotently (ON CONFLICT DO NOTHING).

Modules: `policy` (durations, statuses), `archive` (the format on disk), `session` (the
database session: settings, lock, deadlines), `run`, `restore`, `verify` (and status).
"""

from __future__ import annotations

from triage_ops.procedures.retention.policy import Policy, parse_duration
from triage_ops.procedures.retention.restore import RetentionRestore
from triage_ops.procedures.retention.run import RetentionRun
from triage_ops.procedures.retention.verify import archive_status

__all__ = ["Policy", "RetentionRestore", "RetentionRun", "archive_status", "parse_duration"]
