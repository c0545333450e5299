"""`triage-ops retention restore ARCHIVE_DIR`: put archived rows back, idempotently.

Every segment is checked against the manifest (SHA-256, the codec's checksum: zstd, or
gzip for a v1 archive, row count) before a single row is inserted; a damaged archive
restores nothing. Each segment is then loaded with COPY into a session-local table and
inserted in one transaction with `ON CONFLICT DO NOTHING`: a row whose id is already in
the table is counted as "already present" (a second restore inserts nothing), and a row
whose Message-ID now belongs to another row (the email came in again after it was
archived) is skipped and counted, never overwritten. Archived rows an interrupted run's
resumed delete did not delete (they changed meanwhile: the manifest's `kept`) are stale
copies and are not restored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import sql

from triage_ops.clients.postgres import Connection
from triage_ops.engine.contract import Plan, StepContext
from triage_ops.errors import UsageError
from triage_ops.findings import Finding
from triage_ops.procedures.retention import archive as ar
from triage_ops.procedures.retention.run import table_info
from triage_ops.procedures.retention.session import Deadline, one, session
from triage_ops.procedures.retention.verify import check_files

STAGING = "retention_restore"
ROW_VERSION = "archived_row_version"


@dataclass
class SegmentCounts:
    name: str
    candidates: int = 0  # archived rows to restore (not `kept`)
    present: int = 0  # their id is already in the table
    conflicts: int = 0  # their Message-ID belongs to another row
    inserted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "segment": self.name,
            "candidates": self.candidates,
            "present": self.present,
            "conflicts": self.conflicts,
            "inserted": self.inserted,
        }


def _load_manifest(directory: Path) -> ar.Manifest:
    manifest = ar.load_manifest(directory)
    if manifest is None:
        raise UsageError(f"{directory} holds no retention archive ({ar.MANIFEST} not found)")
    return manifest


def _check_archive(directory: Path, manifest: ar.Manifest) -> None:
    problems, _ = check_files(directory, manifest)
    if problems:
        raise ar.ArchiveError(
            f"the archive fails its checks, nothing restored: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )


class _Staging:
    """The session-local table a segment is loaded into before it is inserted."""

    def __init__(self, conn: Connection, deadline: Deadline, manifest: ar.Manifest) -> None:
        self.conn = conn
        self.deadline = deadline
        self.manifest = manifest
        self.table = sql.Identifier(manifest.table)
        self.cols = sql.SQL(", ").join(sql.Identifier(c) for c in manifest.columns)
        self.staging = sql.Identifier(STAGING)

    def create(self) -> None:
        self.conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {s} AS SELECT {cols} FROM {t} WITH NO DATA")
            .format(s=self.staging, cols=self.cols, t=self.table)
        )  # fmt: skip
        self.conn.execute(
            sql.SQL("ALTER TABLE {s} ADD COLUMN IF NOT EXISTS {v} text").format(
                s=self.staging, v=sql.Identifier(ROW_VERSION)
            )
        )

    def load(self, directory: Path, segment: ar.Segment) -> SegmentCounts:
        """Inside the caller's transaction: the segment into the staging table (its
        checksum re-checked while streaming), then the counts."""
        self.conn.execute(sql.SQL("TRUNCATE {s}").format(s=self.staging))
        copy_in = sql.SQL("COPY {s} ({cols}, {v}) FROM STDIN").format(
            s=self.staging, cols=self.cols, v=sql.Identifier(ROW_VERSION)
        )
        digest = ""
        with (
            self.deadline(f"load {segment.name}"),
            self.conn.cursor() as cur,
            cur.copy(copy_in) as copy,
        ):
            for block, sha in ar.iter_blocks(directory / segment.name):
                if sha:
                    digest = sha
                else:
                    copy.write(block)
        if digest != segment.sha256:
            raise ar.ArchiveError(f"{segment.name}: checksum changed while restoring")
        kept = list(segment.kept)
        with self.deadline(f"count {segment.name}"):
            row = one(
                self.conn,
                sql.SQL(
                    "SELECT count(*) AS candidates,"
                    " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {t} e WHERE e.id = s.id))"
                    " AS present,"
                    " count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM {t} e WHERE e.id = s.id)"
                    " AND EXISTS (SELECT 1 FROM {t} e WHERE e.message_id = s.message_id))"
                    " AS conflicts"
                    " FROM {s} s WHERE NOT s.id = ANY(%s::uuid[])"
                ).format(t=self.table, s=self.staging),
                (kept,),
            )
        return SegmentCounts(
            name=segment.name,
            candidates=int(row["candidates"]),
            present=int(row["present"]),
            conflicts=int(row["conflicts"]),
        )

    def insert(self, segment: ar.Segment) -> int:
        with self.deadline(f"insert {segment.name}"):
            cur = self.conn.execute(
                sql.SQL(
                    "INSERT INTO {t} ({cols}) SELECT {cols} FROM {s}"
                    " WHERE NOT id = ANY(%s::uuid[]) ON CONFLICT DO NOTHING"
                ).format(t=self.table, cols=self.cols, s=self.staging),
                (list(segment.kept),),
            )
            return int(cur.rowcount)


def _check_columns(conn: Connection, manifest: ar.Manifest) -> None:
    info = table_info(conn)
    missing = [c for c in manifest.columns if c not in info.columns]
    if missing:
        raise UsageError(
            f"the archive has column(s) {', '.join(missing)} that table {manifest.table} lacks"
        )


class RetentionRestore:
    """The engine's Action for `triage-ops retention restore`."""

    name = "retention.restore"

    def __init__(self, *, archive_dir: Path) -> None:
        self.archive_dir = Path(archive_dir)
        self.counts: list[SegmentCounts] = []

    def plan(self, ctx: StepContext) -> Plan:
        """Exact counts, from the real load into a staging table inside a transaction
        that is rolled back: nothing is written to the table or the archive."""
        manifest = _load_manifest(self.archive_dir)
        _check_archive(self.archive_dir, manifest)
        client = ctx.clients.postgres()
        counts: list[SegmentCounts] = []
        with session(client, lock=False, what="retention restore plan") as (conn, deadline):
            with deadline("read the table's columns"):
                _check_columns(conn, manifest)
            staging = _Staging(conn, deadline, manifest)
            with conn.transaction(force_rollback=True):
                staging.create()
                for segment in manifest.segments:
                    counts.append(staging.load(self.archive_dir, segment))
        candidates = sum(c.candidates for c in counts)
        present = sum(c.present for c in counts)
        conflicts = sum(c.conflicts for c in counts)
        insert = candidates - present - conflicts
        return Plan(
            summary=(
                f"insert {insert} archived rows from {len(counts)} segment(s) of"
                f" {self.archive_dir} into {manifest.table} on {client.address};"
                f" {present} already present, {conflicts} skipped (Message-ID now taken)"
            ),
            changes=[
                {
                    "target": f"{client.address} table {manifest.table}",
                    "before": {"archived_rows_present": present},
                    "after": {"archived_rows_present": present + insert},
                }
            ],
            commands=[
                f"zstdcat {self.archive_dir}/segment-*{ar.SEGMENT_SUFFIX} (zcat for v1's"
                f" *{ar.GZIP_SUFFIX}) | psql -c"
                f' "COPY staging FROM STDIN"; INSERT INTO {manifest.table} SELECT ... FROM'
                " staging ON CONFLICT DO NOTHING"
            ],
            dry_run={
                "archive_dir": str(self.archive_dir),
                "segments": len(counts),
                "rows": sum(s.rows for s in manifest.segments),
                "candidates": candidates,
                "would_insert": insert,
                "already_present": present,
                "message_id_conflicts": conflicts,
            },
            noop=insert == 0,
            destructive=False,
        )

    def apply(self, ctx: StepContext, plan: Plan) -> Mapping[str, Any]:
        client = ctx.clients.postgres()
        with (
            session(client, lock=True, what="retention restore") as (conn, deadline),
            ar.locked(self.archive_dir),
        ):
            manifest = _load_manifest(self.archive_dir)
            _check_archive(self.archive_dir, manifest)
            with deadline("read the table's columns"):
                _check_columns(conn, manifest)
            record: dict[str, Any] = {"started_at": ar.now_iso(), "state": "running"}
            manifest.restores.append(record)  # a run refuses to resume a restored archive
            ar.save_manifest(self.archive_dir, manifest)
            staging = _Staging(conn, deadline, manifest)
            staging.create()
            self.counts = []
            for segment in manifest.segments:
                with conn.transaction():
                    counts = staging.load(self.archive_dir, segment)
                    counts.inserted = staging.insert(segment)
                # a concurrent insert may take a Message-ID between the count and the insert
                counts.conflicts = counts.candidates - counts.present - counts.inserted
                self.counts.append(counts)
                ctx.log(
                    f"{segment.name}: {counts.inserted} inserted, {counts.present} already"
                    f" present, {counts.conflicts} Message-ID conflicts"
                )
            totals = self.totals()
            record.update(state="complete", finished_at=ar.now_iso(), **totals)
            ar.save_manifest(self.archive_dir, manifest)
        return {"archive_dir": str(self.archive_dir), **totals}

    def totals(self) -> dict[str, int]:
        return {
            "segments": len(self.counts),
            "candidates": sum(c.candidates for c in self.counts),
            "inserted": sum(c.inserted for c in self.counts),
            "already_present": sum(c.present for c in self.counts),
            "message_id_conflicts": sum(c.conflicts for c in self.counts),
        }

    def verify(self, ctx: StepContext, plan: Plan) -> list[Finding]:
        """Every archived row to restore is in the table now, except those whose
        Message-ID belongs to another row."""
        manifest = _load_manifest(self.archive_dir)
        _, scans = check_files(self.archive_dir, manifest)
        where = {"archive_dir": str(self.archive_dir)}
        expected = missing = 0
        table = sql.Identifier(manifest.table)
        with session(ctx.clients.postgres(), lock=False, what="restore verify") as (conn, dl):
            for segment in manifest.segments:
                kept = set(segment.kept)
                ids = [i for i in scans[segment.name].ids if i not in kept]
                expected += len(ids)
                with dl(f"check {segment.name}"):
                    present = one(
                        conn,
                        sql.SQL("SELECT count(*) AS n FROM {t} WHERE id = ANY(%s::uuid[])").format(
                            t=table
                        ),
                        (ids,),
                    )["n"]
                missing += len(ids) - int(present)
        conflicts = self.totals()["message_id_conflicts"]
        findings = []
        if missing != conflicts:
            findings.append(
                ctx.finding(
                    "TRI-RET-006",
                    f"{missing} of {expected} archived rows are not in the table after the"
                    f" restore ({conflicts} explained by Message-ID conflicts)",
                    missing=missing,
                    **where,
                )
            )
        if conflicts:
            findings.append(
                ctx.finding(
                    "TRI-RET-005",
                    f"{conflicts} archived row(s) not restored: their Message-ID now belongs to"
                    " another row",
                    conflicts=conflicts,
                    **where,
                )
            )
        ctx.note(f"{expected - missing} of {expected} archived rows present")
        return findings
