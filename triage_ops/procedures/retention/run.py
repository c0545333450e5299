"""`triage-ops retention run`: archive the policy's rows in keyset batches and delete
exactly those rows, each batch's delete committed only once its segment is checked on
disk; resumable.

One batch (batches.py has the statements and the threads):
1. the key range of the next `batch_size` policy rows after the previous range (in
   (created_at, id) order: the created_at index serves it);
2. BEGIN; one statement deletes the policy rows of that range and streams them, each
   with its `xmin`, as COPY text: the segment's content is exactly what the DELETE
   removed, never a second read of the table;
3. the rows go to a zstd segment (`NAME.tmp`), fsync'ed, renamed, read back from disk
   (SHA-256, zstd's checksum, row count) and compared with what was written and with
   the count the server gave for the DELETE;
4. in range order: the segment is recorded in the manifest (state `verified`), durably;
   COMMIT: only now are the rows gone; the segment is marked `deleted`.
Two sessions work on consecutive ranges at once (each batch uncommitted until its own
segment is checked and recorded).

A row a worker changes before its batch's DELETE is archived as changed (or, changed out
of the policy, not deleted at all); a row a worker is changing (locked) is waited for one
second, then the batch is redone without it (SKIP LOCKED): it stays in the table for the
next pass, and the run says so (TRI-RET-001).

A killed run resumes from the manifest: files it does not name are removed (their batch
never committed), a `verified` segment whose COMMIT did not happen (or was not seen) has
its rows deleted by id, each only if its row version is still the archived one (rows
changed since are kept, and listed), and the next batch starts after the last recorded
key. The cutoff is fixed when the archive is created and kept by every resume.
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
    types: list[str]  # format_type() of each column, in `columns` order
    schema_version: int
    database: str  # current_database()


def table_info(conn: Connection) -> TableInfo:
    rows = conn.execute(
        "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type"
        " FROM pg_attribute a WHERE a.attrelid = to_regclass(format('%%I.%%I',"
        " current_schema(), %s::text)) AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum",
        (TABLE,),
    ).fetchall()
    types = {str(r["name"]): str(r["type"]) for r in rows}
    missing = [c for c in REQUIRED_COLUMNS if c not in types]
    if missing:
        raise ActionFailed(
            f"table {TABLE} not found or lacks {', '.join(missing)}: run the migrations first"
        )
    columns = ["id", "created_at", *[n for n in types if n not in ("id", "created_at")]]
    found = one(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
    version = 0
    if found["present"]:
        version = int(
            one(conn, "SELECT coalesce(max(version), 0) AS v FROM schema_migrations")["v"]
        )
    database = str(one(conn, "SELECT current_database() AS db")["db"])
    return TableInfo(
        columns=columns,
        types=[types[c] for c in columns],
        schema_version=version,
        database=database,
    )


def count_old_rows(conn: Connection, policy: Policy, cutoff: str) -> dict[str, Any]:
    """One pass over the rows older than the cutoff: the policy's (count, oldest, newest,
    an estimate of their bytes) and how many of each other status stay."""
    found = one(
        conn,
        sql.SQL(
            "WITH by_status AS (SELECT status, count(*) AS n, min(created_at) AS oldest,"
            " max(created_at) AS newest FROM {table} WHERE created_at < %(cutoff)s::timestamptz"
            " GROUP BY status),"
            # the average size of the first 1,000 policy rows times their count: summing
            # every row's size would read every row once more
            " sample AS (SELECT coalesce(avg(pg_column_size(s.*)), 0) AS avg FROM (SELECT *"
            " FROM {table} WHERE created_at < %(cutoff)s::timestamptz"
            " AND status = ANY(%(statuses)s::text[]) ORDER BY created_at LIMIT 1000) s)"
            " SELECT coalesce(sum(n) FILTER (WHERE mine), 0)::bigint AS rows,"
            " (min(oldest) FILTER (WHERE mine))::text AS oldest,"
            " (max(newest) FILTER (WHERE mine))::text AS newest,"
            " (coalesce(sum(n) FILTER (WHERE mine), 0) * (SELECT avg FROM sample))::bigint"
            " AS bytes,"
            " coalesce(jsonb_object_agg(status, n) FILTER (WHERE NOT mine), '{{}}') AS kept"
            " FROM (SELECT *, status = ANY(%(statuses)s::text[]) AS mine FROM by_status) b"
        ).format(table=sql.Identifier(TABLE)),
        {"cutoff": cutoff, "statuses": list(policy.statuses)},
    )
    found["kept"] = {str(k): int(v) for k, v in sorted(dict(found["kept"]).items())}
    return found


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
    if manifest.columns != info.columns or (
        manifest.column_types and manifest.column_types != info.types
    ):
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
            counts = count_old_rows(conn, policy, cutoff)
            kept = counts["kept"]
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
        predicate = f"created_at < '{cutoff}' AND status = ANY('{{{','.join(policy.statuses)}}}')"
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
                f"SELECT created_at, id FROM {TABLE} WHERE {predicate} AND (created_at, id) >"
                f" (<lo>) ORDER BY created_at, id OFFSET {self.batch_size - 1} LIMIT 1  -- <hi>",
                "BEGIN",
                f"COPY (DELETE FROM {TABLE} WHERE {predicate} AND (created_at, id) > (<lo>)"
                " AND (created_at, id) <= (<hi>) RETURNING <columns>, xmin) TO STDOUT"
                f" | zstd -1 > {self.archive_dir}/segment-NNNNNN{ar.SEGMENT_SUFFIX}",
                "fsync; read the segment back and check it; record it in manifest.json",
                "COMMIT",
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
            session(client, lock=False, what="retention run (second session)") as other,
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
                    column_types=info.types,
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
                sessions=[reader, other],
                directory=self.archive_dir,
                manifest=manifest,
                policy=policy,
                batch_size=self.batch_size,
                key_types=(info.types[0], info.types[1]),
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
            "rows_skipped_locked": totals.skipped,
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
