"""The batch pipeline of a retention run: each batch is ONE statement that deletes the
policy rows of a key range and streams them, as the server renders them, into a segment;
its transaction commits only once that segment is on disk, read back, checked and named
in the manifest.

    SELECT created_at, id FROM emails WHERE <policy> AND (created_at, id) > <lo>
     ORDER BY created_at, id OFFSET n - 1 LIMIT 1                       -> hi (the range)
    BEGIN
    COPY (DELETE FROM emails WHERE <policy> AND (created_at, id) > <lo>
                                            AND (created_at, id) <= <hi>
          RETURNING <columns>, xmin) TO STDOUT        -> zstd -> fsync -> read back, check
    record the segment in the manifest (fsync)
    COMMIT

Why one statement: what a segment holds IS what the transaction deleted (RETURNING gives
the version each DELETE removed: a row a worker changed before the DELETE is archived as
changed, a row changed out of the policy is not deleted, a row being changed is waited
for, or skipped, never deleted under the worker), and the server reads each row once to
archive and delete it instead of once to archive and once more to find it again by id.

Two workers, each with its own session, take the key ranges in turn (the small query
that finds where a range ends runs while the other worker's DELETE streams): the server
deletes and renders two batches at once on two cores, while the client compresses and
checks as the rows arrive. The records and COMMITs go strictly in range order (a worker
whose batch is ready waits for its turn), so the manifest's position is always the last
key of its last segment and every key below it was dealt with. A range holds
`batch_size` policy rows when its end is found; a row that enters it before its DELETE
(a status changed to a policy one) goes too. Memory: a 1 MiB slice and zstd's window per
worker, whatever the batch's size.

The rows come in the order the DELETE met them (created_at, ties in any order): each
worker takes the smallest and largest key (created_at, id) of its batch as the rows
stream by, from the first bytes of each line. In ISO format and UTC (the session's
settings), timestamps of years 1 to 9999 compare as bytes as they compare as times; a
batch with any other value in it (a BC date, -infinity) is rolled back and redone with
the server sorting the rows (`ordered`), and so is every batch of a table whose id is
not a uuid.

Whatever stops the run (an error, SIGKILL) leaves every uncommitted batch to be rolled
back by the server: its rows stay, its file, if any, is not in the manifest (an orphan,
removed by the next run), or is in it as `verified` (stopped between the record and the
COMMIT, or the COMMIT's outcome unknown): the next run deletes those rows by id, each
only if its row version (`xmin`) is still the archived one (`finish_interrupted`).
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from triage_ops.clients.postgres import Connection
from triage_ops.procedures.retention import archive as ar
from triage_ops.procedures.retention.policy import Policy
from triage_ops.procedures.retention.session import Deadline

Log = Callable[[str], None]
Session = tuple[Connection, Deadline]
LOCK_WAIT_MS = 1000  # a DELETE waits this long for a worker's row lock, then skips it
SLICE_BYTES = 1 << 20  # COPY rows are compressed in slices of about this size
# When the server sorts a batch (`ordered`): in memory for the default batch (10,000 rows
# of ~1.3 kB), in the server's temp files for a larger one.
SORT_WORK_MEM = "64MB"
_KEY_BYTES = 80  # a line's first bytes hold its key: a uuid, a tab, a timestamptz, a tab
_ZERO = ord("0")  # the last byte of a UTC timestamp in ISO format ("...+00")
_TAB = ord("\t")

_POLICY = "created_at < %(cutoff)s::timestamptz AND status = ANY(%(statuses)s::text[])"
_AFTER = (
    " AND created_at >= %(lo_ts)s::timestamptz"
    " AND (created_at, id) > (%(lo_ts)s::timestamptz, %(lo_id)s::uuid)"
)
_UPTO = (
    " AND created_at <= %(hi_ts)s::timestamptz"
    " AND (created_at, id) <= (%(hi_ts)s::timestamptz, %(hi_id)s::uuid)"
)


def _range(after: bool, upto: bool) -> str:
    return _POLICY + (_AFTER if after else "") + (_UPTO if upto else "")


def end_query(table: str, *, after: bool) -> sql.Composed:
    """Where the range starting after `lo` ends: the key of its `limit`-th policy row
    (none: fewer are left, the range is the last one)."""
    # rendered as text once, for the one row kept: not for the `limit` rows skipped
    return sql.SQL(
        "SELECT ts::text AS ts, id::text AS id FROM (SELECT created_at AS ts, id FROM {table}"
        " WHERE " + _range(after, False) + " ORDER BY created_at, id OFFSET %(limit)s - 1"
        " LIMIT 1) e"
    ).format(table=sql.Identifier(table))  # fmt: skip


def batch_query(
    table: str, columns: list[str], *, after: bool, upto: bool, skip_locked: bool, ordered: bool
) -> sql.Composed:
    """Delete the policy rows of a key range and stream them (see the module docstring).
    `skip_locked`: rows another session holds locked are left alone (they stay in the
    table) instead of being waited for. `ordered`: the server sorts the rows by key."""
    where = _range(after, upto)
    if skip_locked:
        where = (
            "ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE " + where
            + " FOR UPDATE SKIP LOCKED)) AND " + _POLICY
        )  # fmt: skip
    delete = "DELETE FROM {table} WHERE " + where + " RETURNING {cols}, xmin"
    if ordered:
        delete = "WITH gone AS (" + delete + ") SELECT * FROM gone ORDER BY created_at, id"
    return sql.SQL("COPY (" + delete + ") TO STDOUT").format(
        table=sql.Identifier(table), cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )


def left_query(table: str, *, after: bool, upto: bool) -> sql.Composed:
    """Inside the batch's transaction, after a skip-locked DELETE: the policy rows of its
    range still there (the batch's own deletes are invisible to it)."""
    return sql.SQL("SELECT count(*) AS n FROM {table} WHERE " + _range(after, upto)).format(
        table=sql.Identifier(table)
    )


# -- a resumed delete: a recorded segment whose transaction did not commit ----------------

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
    """The same, for a segment where a worker holds a row lock: rows locked by someone
    else are skipped (they stay, listed as kept) instead of waited for."""
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


def _as_key(key: tuple[bytes, bytes]) -> ar.Key:
    return ar.Key(created_at=key[0].decode("ascii"), id=key[1].decode("ascii"))


@dataclass
class _Range:
    number: int  # the segment's number; records and COMMITs go in this order
    lo: ar.Key | None  # exclusive; None: from the oldest policy row
    hi: ar.Key | None  # inclusive; None: to the cutoff (the last range)

    @property
    def name(self) -> str:
        return f"segment-{self.number:06d}{ar.SEGMENT_SUFFIX}"


@dataclass
class _Batch:
    """A batch whose DELETE streamed: its segment written, its transaction open."""

    rows: int  # the COPY's own count: rows the DELETE removed and returned
    first: ar.Key  # the smallest key among them
    last: ar.Key  # the largest
    skipped: int  # policy rows of the range left because they were locked
    scan: ar.Scan  # the segment as read back from disk


class _Unusual(Exception):
    """Internal: a key the client cannot order as bytes: the server must sort."""


class _Stopped(Exception):
    """Internal: another worker failed; this one's batch is dropped, not committed."""


@dataclass
class Totals:
    written: int = 0  # segments recorded by this run
    archived: int = 0
    deleted: int = 0
    kept: int = 0  # archived rows left in the table: changed before a resumed delete
    skipped: int = 0  # policy rows left in the table: locked by another session


class Pipeline:
    def __init__(
        self,
        *,
        sessions: list[Session],
        directory: Path,
        manifest: ar.Manifest,
        policy: Policy,
        batch_size: int,
        key_types: tuple[str, str],
        log: Log,
    ) -> None:
        """`sessions`: one per worker (the last one also finishes interrupted deletes);
        `key_types`: the types of the id and created_at columns."""
        self.sessions = sessions
        self.directory = directory
        self.manifest = manifest
        self.policy = policy
        self.batch_size = batch_size
        self.log = log
        self.totals = Totals()
        self.slowest_s = 0.0
        # the client can order keys only when id is a uuid and created_at a timestamptz
        self.ordered = key_types != ("uuid", "timestamp with time zone")
        table = manifest.table
        self._ends = {after: end_query(table, after=after) for after in (False, True)}
        self._queries = {
            (after, upto, skip, ordered): batch_query(
                table, manifest.columns, after=after, upto=upto, skip_locked=skip, ordered=ordered
            )
            for after in (False, True)
            for upto in (False, True)
            for skip in (False, True)
            for ordered in (False, True)
        }
        self._left = {
            (after, upto): left_query(table, after=after, upto=upto)
            for after in (False, True)
            for upto in (False, True)
        }
        self._delete = delete_query(table)
        self._delete_skip_locked = delete_skip_locked_query(table)
        self._present = present_query(table)
        # the run's state, shared by the workers
        self._ranges = threading.Lock()  # taking the next range: one worker at a time
        self._next: _Range | None = None  # the next range's start (its hi is not known)
        self._started = 0
        self._stopped = False  # the time budget is spent: no range is started any more
        self._exhausted = False  # the last range (up to the cutoff) is taken
        self._turn = threading.Condition()  # records and COMMITs, in range order
        self._turn_number = 0
        self._failed: BaseException | None = None

    # -- the whole run ---------------------------------------------------------------

    def finish_interrupted(self) -> list[str]:
        """Segments an interrupted run recorded whose delete did not commit (or whose
        commit it did not see): their rows are deleted now, each only if still exactly
        as archived."""
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
        number = self.manifest.next_segment_number()
        self._next = _Range(number=number, lo=self.manifest.position, hi=None)
        self._turn_number = number
        workers = [
            threading.Thread(
                target=self._work, args=(session, keep_going), name=f"retention {n}", daemon=True
            )
            for n, session in enumerate(self.sessions, 1)
        ]
        with _no_gc():  # rows are freed as they go; a collector pass would scan them all
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        self._roll_back_open()
        if self._failed is not None:
            raise self._failed
        complete = self._exhausted and not self._stopped
        if complete:
            self.manifest.state = "complete"
        ar.save_manifest(self.directory, self.manifest)  # compaction: drops the journal
        return complete

    def _roll_back_open(self) -> None:
        """No transaction a worker did not commit survives the run: a session left in
        one would otherwise COMMIT when its connection closes normally."""
        for conn, _ in self.sessions:
            if conn.closed or conn.info.transaction_status == TransactionStatus.IDLE:
                continue
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")

    # -- a worker ----------------------------------------------------------------------

    def _work(self, session: Session, keep_going: Callable[[float], bool]) -> None:
        try:
            while (taken := self._take(session, keep_going)) is not None:
                began = time.monotonic()
                batch = self._batch(session, taken)
                self._in_turn(taken, session, batch)
                self.slowest_s = max(self.slowest_s, time.monotonic() - began)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the thread that runs the pipeline
            with self._turn:
                if self._failed is None:
                    self._failed = exc
                self._turn.notify_all()
        finally:
            conn = session[0]
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")

    def _take(self, session: Session, keep_going: Callable[[float], bool]) -> _Range | None:
        """The next key range, found on this worker's session; None when there is none
        left, the time budget is spent, or another worker failed."""
        with self._ranges:
            if self._failed is not None or self._stopped or self._exhausted:
                return None
            if self._started and not keep_going(self.slowest_s):
                self._stopped = True
                return None
            taken = self._next
            assert taken is not None
            conn, deadline = session
            params = self._params(taken)
            with deadline(f"find where {taken.name} ends"):
                end = conn.execute(self._ends[taken.lo is not None], params).fetchone()
            if end is None:
                self._exhausted = True
            else:
                taken.hi = ar.Key(created_at=str(end["ts"]), id=str(end["id"]))
                self._next = _Range(number=taken.number + 1, lo=taken.hi, hi=None)
            self._started += 1
            return taken

    def _params(self, taken: _Range) -> dict[str, Any]:
        params: dict[str, Any] = {
            "cutoff": self.manifest.cutoff,
            "statuses": list(self.policy.statuses),
            "limit": self.batch_size,
        }
        if taken.lo is not None:
            params |= {"lo_ts": taken.lo.created_at, "lo_id": taken.lo.id}
        if taken.hi is not None:
            params |= {"hi_ts": taken.hi.created_at, "hi_id": taken.hi.id}
        return params

    def _batch(self, session: Session, taken: _Range) -> _Batch | None:
        """Delete and stream one range into its segment inside an open transaction, the
        segment read back and checked; None when the range held no policy row (the
        transaction is rolled back). A lock held by another session, or a key the client
        cannot order, makes it roll back and redo the batch: without the locked rows, or
        sorted by the server."""
        conn, deadline = session
        params = self._params(taken)
        skip_locked, ordered = False, self.ordered
        with deadline(f"archive and delete {taken.name}"):
            while True:
                try:
                    streamed = self._stream(conn, taken, params, skip_locked, ordered)
                    break
                except psycopg.errors.LockNotAvailable:  # rolled back by _stream
                    if skip_locked:
                        raise
                    self.log(f"{taken.name}: a row is locked by another session: skipping it")
                    skip_locked = True
                except _Unusual:
                    if ordered:
                        raise
                    ordered = True
            if streamed is None:
                conn.execute("ROLLBACK")
                return None
            rows, first, last, written = streamed
            skipped = 0
            if skip_locked:
                left = self._left[(taken.lo is not None, taken.hi is not None)]
                found = conn.execute(left, params).fetchone()
                skipped = int(found["n"]) if found else 0
        path = self.directory / taken.name
        scan = ar.read_back(path)
        if (scan.sha256, scan.size, scan.rows) != (written.sha256, written.size, rows):
            path.unlink(missing_ok=True)
            raise ar.ArchiveError(
                f"{taken.name}: the server deleted {rows} rows, {scan.rows} were read back"
                f" (sha256 {scan.sha256[:12]}, written {written.sha256[:12]}): nothing"
                " deleted, file removed"
            )
        return _Batch(rows=rows, first=first, last=last, skipped=skipped, scan=scan)

    def _stream(
        self,
        conn: Connection,
        taken: _Range,
        params: dict[str, Any],
        skip_locked: bool,
        ordered: bool,
    ) -> tuple[int, ar.Key, ar.Key, ar.Written] | None:
        """BEGIN; the batch's COPY into its segment (fsync'ed, renamed); (rows, the
        smallest key, the largest, what was written), None if no row. On any error the
        segment is dropped and the transaction rolled back."""
        query = self._queries[(taken.lo is not None, taken.hi is not None, skip_locked, ordered)]
        conn.execute("BEGIN")
        conn.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
        if ordered:
            conn.execute(f"SET LOCAL work_mem = '{SORT_WORK_MEM}'")
        writer = ar.SegmentWriter(self.directory / taken.name, count_rows=False)
        try:
            parts: list[bytes | bytearray | memoryview] = []
            size = 0
            low, high = (b"\xff", b""), (b"", b"")  # above and below any key
            first: bytes | None = None
            row: bytes | bytearray | memoryview | None = None
            with conn.cursor() as cur:
                with cur.copy(query, params) as copy:
                    for row in copy:  # one row per item, as the server sent it
                        parts.append(row)
                        size += len(row)
                        if first is None:
                            first = bytes(row[: ar.HEAD_BYTES])
                        if not ordered:
                            head = bytes(row[:_KEY_BYTES])
                            tab = head.find(b"\t", 37)
                            if tab < 0 or head[36] != _TAB or head[tab - 1] != _ZERO:
                                raise _Unusual
                            key = (head[37:tab], head[:36])
                            if key > high:
                                high = key
                            if key < low:
                                low = key
                        if size >= SLICE_BYTES:
                            writer.write(b"".join(parts))
                            parts.clear()
                            size = 0
                if parts:
                    writer.write(b"".join(parts))
                rows = cur.rowcount
            written = writer.finish()
        except BaseException:
            writer.discard()
            if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise
        if row is None or first is None:
            return None
        if ordered:
            return rows, ar.read_key(first), ar.read_key(bytes(row[: ar.HEAD_BYTES])), written
        return rows, _as_key(low), _as_key(high), written

    def _in_turn(self, taken: _Range, session: Session, batch: _Batch | None) -> None:
        """Wait for the ranges before this one; then record the segment and COMMIT."""
        with self._turn:
            while self._turn_number != taken.number and self._failed is None:
                self._turn.wait()
            if self._failed is not None:
                if batch is not None:
                    (self.directory / taken.name).unlink(missing_ok=True)
                raise _Stopped
        try:
            if batch is not None:
                self._record_and_commit(taken, session, batch)
        finally:
            with self._turn:
                self._turn_number += 1
                self._turn.notify_all()

    def _record_and_commit(self, taken: _Range, session: Session, batch: _Batch) -> None:
        """Checked on disk: recorded (durably); only then COMMIT the batch's delete."""
        segment = ar.Segment(
            name=taken.name,
            rows=batch.rows,
            bytes=batch.scan.size,
            sha256=batch.scan.sha256,
            first=batch.first,
            last=batch.last,
            pass_no=self.manifest.passes,
            archived_at=ar.now_iso(),
        )
        ar.record_segment(self.directory, self.manifest, segment)
        self.totals.written += 1
        self.totals.archived += batch.rows
        self._commit(taken, session)
        segment.state = "deleted"
        segment.deleted = segment.rows
        segment.deleted_at = ar.now_iso()
        ar.record_deleted(self.directory, segment)
        self.totals.deleted += segment.rows
        self.totals.skipped += batch.skipped
        self.log(
            f"{segment.name}: {segment.rows} rows archived and deleted"
            + (f", {batch.skipped} locked by another session and left" if batch.skipped else "")
        )

    def _commit(self, taken: _Range, session: Session) -> None:
        conn, deadline = session
        with deadline(f"commit the delete of {taken.name}"):
            conn.execute("COMMIT")

    # -- a resumed delete --------------------------------------------------------------

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
        conn, deadline = self.sessions[-1]
        with deadline(f"delete the rows of {segment.name}"), conn.transaction():
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
            if missing:  # changed since archived, or deleted before (its commit went through)
                found = conn.execute(self._present, (",".join(sorted(missing)),)).fetchone()
                assert found is not None
                kept = sorted(set(str(found["ids"]).split(",")) - {""})
        # archived and gone: rows whose first delete did commit count too
        segment.state = "deleted"
        segment.deleted = segment.rows - len(kept)
        segment.kept = kept
        segment.deleted_at = ar.now_iso()
        ar.record_deleted(self.directory, segment)
        self.totals.deleted += len(gone)
        self.totals.kept += len(kept)
        self.log(
            f"{segment.name}: {segment.rows} rows archived, {len(gone)} deleted now"
            + (f", {len(kept)} changed meanwhile and kept in the table" if kept else "")
        )


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
