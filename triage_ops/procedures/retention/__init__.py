"""Data retention: the runbook's "Data Retention Management" (Database Maintenance),
as `triage-ops retention run|restore|status`.

The runbook's snippet selects the old `processed` rows with `.all()` (every row in memory),
archives them, then deletes `created_at < cutoff` with no status filter: every old
`queued`, `processing` and `failed` row is deleted without ever being archived, and
nothing checks that the archive was written before the delete. What we do instead:

- only the policy's rows (`--status processed` by default; `--status` widens it) older
  than a cutoff fixed once, when the archive is created, and kept by every resume;
- keyset batches (created_at, id): each is one `DELETE ... RETURNING` whose rows the
  server streams with COPY into a zstd segment, so the archive holds exactly the row
  versions deleted; memory is bounded (1 MiB slices, a bounded queue), whatever the
  table's or the batch's size;
- each segment is read back from disk and checked (SHA-256, zstd checksum, row count)
  against what was streamed and what the server deleted, and recorded in the manifest,
  BEFORE the batch's transaction commits: until then nothing is deleted;
- a row a worker changes before its batch is archived as changed (or, no longer the
  policy's, not deleted); a row a worker holds locked is skipped, not waited for;
- a manifest records progress, so a killed run resumes where it stopped, never archives
  a row twice and never deletes a row that is not in a checked segment (a segment
  recorded whose COMMIT did not happen is finished by id, only rows still as archived);
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
