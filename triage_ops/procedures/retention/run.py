"""`triage-ops retention run`: archive the policy's rows in keyset batches, check each
segment on disk, then delete exactly the rows archived, resumably.

One batch:
1. COPY the next `batch_size` policy rows after the manifest's position (ORDER BY
   created_at, id: the created_at index serves it) with each row's `xmin` to a gzip
   segment, streamed: memory is bounded by the batch, not by the table;
2. fsync, rename, read the file back (SHA-256, gzip CRC and length, row count, first and
   last keys) and compare with what was streamed; the ids and row versions the delete
   uses are the stream's, which the matching SHA-256 proves are the file's;
3. record the segment in the manifest (state `verified`), durably;
4. in one transaction: DELETE the archived ids whose row version is still the archived
   one AND that still match the policy (a row a worker changed or re-queued meanwhile is
   not deleted: it stays, and the manifest lists it as `kept`; so does a row another
   session holds locked for more than a second: skipped, not waited for), with RETURNING
   checked against the segment's ids before COMMIT;
5. mark the segment `deleted` in the manifest.

A killed run resumes from the manifest: files it does not name are removed (their rows
were never deleted), a `verified` segment gets step 4 again (idempotent: the version check
deletes only rows still exactly as archived), and the next batch starts after the last
recorded key. The cutoff is fixed when the archive is created and kept by every resume.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql

from triage_ops.clients.postgres import Connection
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.errors import ActionFailed, UsageError
from triage_ops.findings import Finding
from triage_ops.procedures.retention import archive as ar
from triage_ops.procedures.retention.batches import Pipeline
from triage_ops.procedures.retention.policy import Policy, parse_batch_size
from triage_ops.procedures.retention.session import one, session

TABLE = "emails"
DEFAULT_BATCH = 10_000
MAX_BATCH = 200_000
REQUIRED_COLUMNS = ("id", "created_at", "status")
# Stop starting batches this far before the step's deadline (plus twice the slowest batch).
STOP_MARGIN_S = 2.0


@dataclass(frozen=True)
class TableInfo:
    columns: list[str]  # id, created_at, then the others in table order
    schema_version: int
    database: str  # current_database()


def table_info(conn: Connection) -> TableInfo:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (TABLE,),
    ).fetchall()
    names = [str(r["column_name"]) for r in rows]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ActionFailed(
            f"table {TABLE} not found or lacks {', '.join(missing)}: run the migrations first"
        )
    columns = ["id", "created_at", *[n for n in names if n not in ("id", "created_at")]]
    found = one(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
    version = 0
    if found["present"]:
        version = int(
            one(conn, "SELECT coalesce(max(version), 0) AS v FROM schema_migrations")["v"]
        )
    database = str(one(conn, "SELECT current_database() AS db")["db"])
    return TableInfo(columns=columns, schema_version=version, database=database)


def count_policy_rows(conn: Connection, policy: Policy, cutoff: str) -> dict[str, Any]:
    return one(
        conn,
        sql.SQL(
            "SELECT count(*) AS rows, min(created_at)::text AS oldest,"
            " max(created_at)::text AS newest,"
            # the average size of the first 1,000 policy rows times their count: summing
            # every row's size would read every row once more
            " (count(*) * (SELECT coalesce(avg(pg_column_size(s.*)), 0) FROM (SELECT * FROM"
            " {table} WHERE created_at < %(cutoff)s::timestamptz"
            " AND status = ANY(%(statuses)s::text[]) ORDER BY created_at LIMIT 1000) s))::bigint"
            " AS bytes"
            " FROM {table} e"
            " WHERE created_at < %(cutoff)s::timestamptz AND status = ANY(%(statuses)s::text[])"
        ).format(table=sql.Identifier(TABLE)),
        {"cutoff": cutoff, "statuses": list(policy.statuses)},
    )


def _kept_by_status(conn: Connection, policy: Policy, cutoff: str) -> dict[str, int]:
    rows = conn.execute(
        sql.SQL(
            "SELECT status, count(*) AS n FROM {table}"
            " WHERE created_at < %s::timestamptz AND NOT status = ANY(%s::text[])"
            " GROUP BY status ORDER BY status"
        ).format(table=sql.Identifier(TABLE)),
        (cutoff, list(policy.statuses)),
    ).fetchall()
    return {str(r["status"]): int(r["n"]) for r in rows}


def resolve_policy(
    existing: ar.Manifest | None, older_than: str | None, statuses: tuple[str, ...]
) -> Policy:
    """A new archive needs --older-than; a resumed one takes its manifest's policy, and a
    flag that contradicts it is refused (one archive directory = one policy and cutoff)."""
    if existing is None:
        if not older_than:
            raise UsageError("--older-than is required for a new archive (e.g. --older-than 90d)")
        return Policy.parse(older_than, statuses)
    stored = Policy.from_json(existing.policy)
    if older_than is not None or statuses:
        given = Policy.parse(older_than or stored.older_than, statuses or stored.statuses)
        if (given.older_than_s, given.statuses) != (stored.older_than_s, stored.statuses):
            raise UsageError(
                f"the archive was started with policy {stored.describe()}, not"
                f" {given.describe()}: resume it without --older-than/--status, or archive"
                " to a new directory"
            )
    return stored


def check_resumable(manifest: ar.Manifest, info: TableInfo) -> None:
    if manifest.restores:
        raise UsageError(
            "this archive has been restored into the table: archive to a new directory"
        )
    if manifest.database.rsplit("/", 1)[-1] != info.database:
        raise UsageError(
            f"the archive belongs to database {manifest.database}, not {info.database}"
        )
    if manifest.columns != info.columns:
        raise UsageError(
            f"the {TABLE} table's columns changed since the archive was started: archive to a"
            " new directory"
        )


class RetentionRun:
    """The engine's Action for `triage-ops retention run` (see the module docstring)."""

    name = "retention.run"

    def __init__(
        self,
        *,
        archive_dir: Path,
        older_than: str | None,
        statuses: tuple[str, ...] = (),
        batch_size: int | str = DEFAULT_BATCH,
    ) -> None:
        self.archive_dir = Path(archive_dir)
        self.older_than = older_than
        self.statuses = tuple(statuses)
        self.batch_size = parse_batch_size(batch_size, maximum=MAX_BATCH)
        Policy.parse(older_than or "1d", statuses)  # bad input fails before any I/O

    # -- plan ------------------------------------------------------------------------

    def plan(self, ctx: StepContext) -> Plan:
        if self.archive_dir.exists() and not self.archive_dir.is_dir():
            raise UsageError(f"--archive-to {self.archive_dir} is not a directory")
        manifest = ar.load_manifest(self.archive_dir)
        policy = resolve_policy(manifest, self.older_than, self.statuses)
        client = ctx.clients.postgres()
        with (
            session(client, lock=False, what="retention plan") as (conn, deadline),
            deadline("plan"),
        ):
            info = table_info(conn)
            if manifest is not None:
                check_resumable(manifest, info)
                cutoff = manifest.cutoff
            else:
                cutoff = str(
                    one(
                        conn,
                        "SELECT (now() - make_interval(secs => %s))::text AS cutoff",
                        (policy.older_than_s,),
                    )["cutoff"]
                )
            counts = count_policy_rows(conn, policy, cutoff)
            kept = _kept_by_status(conn, policy, cutoff)
        pending = [s.name for s in manifest.segments if s.state != "deleted"] if manifest else []
        rows = int(counts["rows"])
        where = f"{client.address} table {TABLE}"
        evidence = {
            "archive_dir": str(self.archive_dir),
            "database": client.address,
            "policy": policy.to_json(),
            "cutoff": cutoff,
            "rows": rows,
            "bytes_estimate": int(counts["bytes"]),
            "oldest": counts["oldest"],
            "newest": counts["newest"],
            "old_rows_kept_by_status": kept,
            "batch_size": self.batch_size,
            "resume": manifest is not None,
            "pending_segments": pending,
            "archived_so_far": manifest.totals() if manifest else None,
        }
        stays = sum(kept.values())
        summary = (
            f"archive {rows} {TABLE} rows ({policy.describe()}: created before {cutoff}) to"
            f" {self.archive_dir}, then delete exactly those rows; {stays} older rows of other"
            " statuses stay"
        )
        if pending:
            summary += f"; first finish {len(pending)} segment(s) of the interrupted run"
        return Plan(
            summary=summary,
            changes=[
                {
                    "target": where,
                    "before": {"policy_rows_older_than_cutoff": rows},
                    "after": {"policy_rows_older_than_cutoff": 0},
                },
                {
                    "target": str(self.archive_dir),
                    "before": {"segments": len(manifest.segments) if manifest else 0},
                    "after": {"rows_added": rows, "batches": -(-rows // self.batch_size)},
                },
            ],
            commands=[
                f"COPY (SELECT <columns>, xmin FROM {TABLE} WHERE created_at < '{cutoff}'"
                f" AND status = ANY('{{{','.join(policy.statuses)}}}') AND (created_at, id) >"
                f" (<last key>) ORDER BY created_at, id LIMIT {self.batch_size}) TO STDOUT"
                f" | gzip -1 > {self.archive_dir}/segment-NNNNNN{ar.SEGMENT_SUFFIX}",
                f"DELETE FROM {TABLE} e USING unnest(<archived ids>, <archived xmins>) a(id, v)"
                " WHERE e.id = a.id AND e.xmin = a.v AND <the same policy predicate>",
            ],
            dry_run=evidence,
            # a run killed after its last delete still has to say "complete"
            noop=rows == 0 and not pending and (manifest is None or manifest.state == "complete"),
            destructive=True,
        )

    # -- apply -----------------------------------------------------------------------

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        started = time.monotonic()
        client = ctx.clients.postgres()
        with (
            session(client, lock=True, what="retention run") as reader,
            session(client, lock=False, what="retention run (deletes)") as deleter,
            ar.locked(self.archive_dir, create=True),
        ):
            conn, deadline = reader
            with deadline("read the table's columns"):
                info = table_info(conn)
            manifest = ar.load_manifest(self.archive_dir)
            if manifest is None:
                policy = resolve_policy(None, self.older_than, self.statuses)
                manifest = ar.Manifest(
                    table=TABLE,
                    database=client.address,
                    schema_version=info.schema_version,
                    columns=info.columns,
                    policy=policy.to_json(),
                    cutoff=str(plan.dry_run["cutoff"]),
                    created_at=ar.now_iso(),
                )
                ar.save_manifest(self.archive_dir, manifest)
            else:
                policy = resolve_policy(manifest, self.older_than, self.statuses)
                check_resumable(manifest, info)
            orphans = ar.remove_orphans(self.archive_dir, manifest)
            if orphans:
                ctx.log(f"removed {len(orphans)} unfinished file(s) of an interrupted run")
            pipeline = Pipeline(
                reader=reader,
                deleter=deleter,
                directory=self.archive_dir,
                manifest=manifest,
                policy=policy,
                batch_size=self.batch_size,
                log=ctx.log,
            )
            resumed = pipeline.finish_interrupted()
            if manifest.state == "complete":  # a new pass over what is left
                manifest.passes += 1
                manifest.position = None
                manifest.state = "running"
            ar.save_manifest(self.archive_dir, manifest)  # compaction of a resumed journal

            def keep_going(slowest_s: float) -> bool:
                elapsed = time.monotonic() - started
                if elapsed + 2 * slowest_s + STOP_MARGIN_S <= ctx.timeout:
                    return True
                ctx.log(f"stopping after {elapsed:.0f} s: the run's time budget is spent")
                return False

            pipeline.run(keep_going)
        seconds = time.monotonic() - started
        totals = pipeline.totals
        return {
            "archive_dir": str(self.archive_dir),
            "complete": manifest.state == "complete",
            "cutoff": manifest.cutoff,
            "pass": manifest.passes,
            "segments_written": totals.written,
            "rows_archived": totals.archived,
            "rows_deleted": totals.deleted,
            "rows_kept": totals.kept,
            "resumed_segments": resumed,
            "orphans_removed": orphans,
            "seconds": round(seconds, 2),
            "rows_per_s": round(totals.archived / seconds) if seconds > 0 else 0,
            "archive_totals": manifest.totals(),
        }

    # -- verify ----------------------------------------------------------------------

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        from triage_ops.procedures.retention.verify import verify_run

        return verify_run(ctx, self.archive_dir)
