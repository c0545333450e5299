"""The batch pipeline of a retention run: a reader that COPYs batches to segment files and
a deleter that checks each file and deletes its rows, on two connections, one batch apart.

    reader  (holds the lock)   COPY batch N+1 -> segment file (fsync'ed, renamed)
    deleter                    read segment N back, check it, record it, DELETE, record

The server turns rows into text for the reader while it deletes for the deleter, and the
client compresses while it waits: on two cores this is about twice the sequential rate.
What the pipeline does not change is the order that makes it safe: a segment is named in
the manifest only by the deleter, after the file was read back and matched what was
written, and its rows are deleted only after that. A file the reader wrote but the
deleter never recorded is an orphan (its rows are still in the table): the next run
removes it. Segments are recorded in order, so the manifest's position is always the
last key of its last segment.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from triage_ops.clients.postgres import Connection
from triage_ops.procedures.retention import archive as ar
from triage_ops.procedures.retention.policy import Policy
from triage_ops.procedures.retention.session import Deadline

Log = Callable[[str], None]
_POLL_S = 0.5  # how often a blocked hand-over looks whether the other side failed
LOCK_WAIT_MS = 1000  # a DELETE waits this long for a worker's row lock, then skips it


def batch_query(table: str, columns: list[str], *, after: bool) -> sql.Composed:
    keyset = (
        sql.SQL(" AND created_at >= %(pos_ts)s::timestamptz"
                " AND (created_at, id) > (%(pos_ts)s::timestamptz, %(pos_id)s::uuid)")
        if after
        else sql.SQL("")
    )  # fmt: skip
    return sql.SQL(
        "COPY (SELECT {cols}, xmin FROM {table}"
        " WHERE created_at < %(cutoff)s::timestamptz AND status = ANY(%(statuses)s::text[])"
        "{keyset} ORDER BY created_at, id LIMIT %(limit)s) TO STDOUT"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        table=sql.Identifier(table),
        keyset=keyset,
    )


_ARCHIVED = (
    "archived AS (SELECT * FROM unnest(string_to_array(%(ids)s, ',')::uuid[],"
    " string_to_array(%(versions)s, ',')::xid[]) AS a(id, v))"
)
_STILL_AS_ARCHIVED = (
    "e.id = a.id AND e.xmin = a.v"
    " AND e.created_at < %(cutoff)s::timestamptz AND e.status = ANY(%(statuses)s::text[])"
    " AND e.created_at BETWEEN %(first_ts)s::timestamptz AND %(last_ts)s::timestamptz"
)
_GONE = " SELECT count(*) AS n, coalesce(string_agg(id::text, ','), '') AS ids FROM gone"


def delete_query(table: str) -> sql.Composed:
    """Exactly the archived ids, only while each row is still the version archived
    (`xmin`) and still under the policy; the ids deleted come back as one string."""
    return sql.SQL(
        "WITH " + _ARCHIVED + ", gone AS (DELETE FROM {table} e USING archived a"
        " WHERE " + _STILL_AS_ARCHIVED + " RETURNING e.id)" + _GONE
    ).format(table=sql.Identifier(table))


def delete_skip_locked_query(table: str) -> sql.Composed:
    """The same, for a batch where a worker holds a row lock: rows locked by someone
    else are skipped (they stay, listed as kept) instead of waited for. Not the default:
    locking first writes every row twice."""
    return sql.SQL(
        "WITH "
        + _ARCHIVED
        + ", free AS (SELECT e.id FROM {table} e JOIN archived a ON "
        + _STILL_AS_ARCHIVED
        + " FOR UPDATE OF e SKIP LOCKED),"
        " gone AS (DELETE FROM {table} e USING free f WHERE e.id = f.id RETURNING e.id)" + _GONE
    ).format(table=sql.Identifier(table))


def present_query(table: str) -> sql.Composed:
    return sql.SQL(
        "SELECT coalesce(string_agg(id::text, ','), '') AS ids FROM {table}"
        " WHERE id = ANY(string_to_array(%s, ',')::uuid[])"
    ).format(table=sql.Identifier(table))


@dataclass
class _Written:
    name: str
    written: ar.Written


@dataclass
class Totals:
    written: int = 0  # segments recorded by this run
    archived: int = 0
    deleted: int = 0
    kept: int = 0


class Pipeline:
    def __init__(
        self,
        *,
        reader: tuple[Connection, Deadline],
        deleter: tuple[Connection, Deadline],
        directory: Path,
        manifest: ar.Manifest,
        policy: Policy,
        batch_size: int,
        log: Log,
    ) -> None:
        self.reader, self.reader_deadline = reader
        self.deleter, self.deleter_deadline = deleter
        self.directory = directory
        self.manifest = manifest
        self.policy = policy
        self.batch_size = batch_size
        self.log = log
        self.totals = Totals()
        self.slowest_s = 0.0
        self._queue: queue.Queue[_Written | None] = queue.Queue(maxsize=1)
        self._failed: BaseException | None = None
        table = manifest.table
        self._first = batch_query(table, manifest.columns, after=False)
        self._after = batch_query(table, manifest.columns, after=True)
        self._delete = delete_query(table)
        self._delete_skip_locked = delete_skip_locked_query(table)
        self._present = present_query(table)

    # -- the whole run ---------------------------------------------------------------

    def finish_interrupted(self) -> list[str]:
        """Segments an interrupted run recorded but did not finish deleting: their rows
        are deleted now (only those still exactly as archived)."""
        names = []
        for segment in self.manifest.segments:
            if segment.state != "deleted":
                self.log(f"{segment.name}: finishing the interrupted delete")
                scan = ar.check_segment(self.directory, segment, keys=True)
                self._delete_segment(segment, ",".join(scan.ids), ",".join(scan.versions))
                names.append(segment.name)
        return names

    def run(self, keep_going: Callable[[float], bool]) -> bool:
        """Batches until no policy row is left (True) or `keep_going(slowest batch
        seconds)` says stop (False)."""
        worker = threading.Thread(target=self._work, name="retention deleter", daemon=True)
        worker.start()
        complete = False
        try:
            position = self.manifest.position
            number = len(self.manifest.segments)
            started = 0
            while self._failed is None:
                if started and not keep_going(self.slowest_s):
                    break
                number += 1
                started += 1
                began = time.monotonic()
                name = f"segment-{number:06d}{ar.SEGMENT_SUFFIX}"
                written = self._copy(name, position)
                if written.rows == 0:
                    complete = True
                    break
                position = written.last
                self._hand_over(_Written(name, written))
                self.slowest_s = max(self.slowest_s, time.monotonic() - began)
        finally:
            self._hand_over(None)
            worker.join()
        if self._failed is not None:
            raise self._failed
        if complete:
            self.manifest.state = "complete"
        ar.save_manifest(self.directory, self.manifest)  # compaction: drops the journal
        return complete

    def _hand_over(self, item: _Written | None) -> None:
        while True:
            if self._failed is not None:
                return
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    # -- the reader ------------------------------------------------------------------

    def _copy(self, name: str, position: ar.Key | None) -> ar.Written:
        params: dict[str, Any] = {
            "cutoff": self.manifest.cutoff,
            "statuses": list(self.policy.statuses),
            "limit": self.batch_size,
        }
        if position is not None:
            params |= {"pos_ts": position.created_at, "pos_id": position.id}
        query = self._after if position is not None else self._first
        with (
            self.reader_deadline(f"archive {name}"),
            self.reader.cursor() as cur,
            cur.copy(query, params) as copy,
        ):
            return ar.write_segment(self.directory / name, copy)

    # -- the deleter -----------------------------------------------------------------

    def _work(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                segment = self._record(item)
                written = item.written
                self._delete_segment(
                    segment,
                    b",".join(written.ids).decode("ascii"),
                    b",".join(written.versions).decode("ascii"),
                )
        except BaseException as exc:  # handed to the reader's thread, which re-raises it
            self._failed = exc

    def _record(self, item: _Written) -> ar.Segment:
        """Read the file back; only a file that matches what was written is recorded."""
        path = self.directory / item.name
        written = item.written
        scan = ar.scan_segment(path, keys=False)
        wrote = (written.sha256, written.rows, written.first, written.last)
        read = (scan.sha256, scan.rows, scan.first, scan.last)
        if read != wrote or len(set(written.ids)) != written.rows:
            path.unlink(missing_ok=True)
            raise ar.ArchiveError(
                f"{item.name}: read back {scan.rows} rows / sha256 {scan.sha256[:12]}, wrote"
                f" {written.rows} / {written.sha256[:12]}: nothing deleted, file removed"
            )
        assert scan.first is not None and scan.last is not None
        segment = ar.Segment(
            name=item.name,
            rows=scan.rows,
            bytes=scan.size,
            sha256=scan.sha256,
            first=scan.first,
            last=scan.last,
            pass_no=self.manifest.passes,
            archived_at=ar.now_iso(),
        )
        ar.record_segment(self.directory, self.manifest, segment)
        self.totals.written += 1
        self.totals.archived += scan.rows
        return segment

    def _delete_segment(self, segment: ar.Segment, ids: str, versions: str) -> None:
        params = {
            "ids": ids,
            "versions": versions,
            "cutoff": self.manifest.cutoff,
            "statuses": list(self.policy.statuses),
            "first_ts": segment.first.created_at,
            "last_ts": segment.last.created_at,
        }
        archived = set(ids.split(","))
        conn = self.deleter
        with self.deleter_deadline(f"delete the rows of {segment.name}"), conn.transaction():
            try:
                with conn.transaction():  # a savepoint: a lock wait gives up on its own
                    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
                    row = conn.execute(self._delete, params).fetchone()
            except psycopg.errors.LockNotAvailable:
                self.log(f"{segment.name}: a row is locked by another session: skipping it")
                row = conn.execute(self._delete_skip_locked, params).fetchone()
            assert row is not None
            gone = set(str(row["ids"]).split(",")) - {""}
            if len(gone) != int(row["n"]) or not gone <= archived:
                # impossible by construction: refuse to commit if it ever happens
                raise ar.ArchiveError(
                    f"{segment.name}: the delete matched rows not in the segment: rolled back"
                )
            missing = archived - gone
            kept: list[str] = []
            if missing:  # changed since archived, or deleted before (a resumed segment)
                found = conn.execute(self._present, (",".join(sorted(missing)),)).fetchone()
                assert found is not None
                kept = sorted(set(str(found["ids"]).split(",")) - {""})
        # archived and gone: a resumed delete finds some rows gone already, they count too
        segment.state = "deleted"
        segment.deleted = segment.rows - len(kept)
        segment.kept = kept
        segment.deleted_at = ar.now_iso()
        ar.record_deleted(self.directory, segment)
        self.totals.deleted += len(gone)
        self.totals.kept += len(kept)
        self.log(
            f"{segment.name}: {segment.rows} rows archived, {len(gone)} deleted"
            + (f", {len(kept)} changed meanwhile and kept in the table" if kept else "")
        )
