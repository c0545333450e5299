"""The archive on disk: one directory per retention policy run, holding gzip'd segments in
PostgreSQL's COPY text format and one `manifest.json` that says what each segment holds and
how far the run got.

    DIR/manifest.json                 the policy, the cutoff, the columns, every segment
    DIR/journal.jsonl                 progress since the manifest was last rewritten
    DIR/segment-000001.pgcopy.gz      one batch: `zcat` shows it, `COPY ... FROM` reads it
    DIR/.lock                         flock'ed while a run or a restore uses DIR

A segment line is one row: the table's columns in the manifest's `columns` order (`id`
and `created_at` first), then the row version the run saw (`xmin`), so that a delete
can tell "the row we archived" from "a row someone changed since". COPY text format keeps
one row per line (newlines and tabs inside values are escaped), renders every type,
jsonb included, in a form COPY FROM reads back exactly, and is what PostgreSQL produces
fastest.

Durability order, which is what makes a killed run safe to resume: a segment is written to
`NAME.tmp`, fsync'ed, renamed, the directory fsync'ed, then read back from disk and checked
(SHA-256 of the file, gzip CRC, row count, ids) BEFORE the manifest names it (a line
appended to the journal and fsync'ed); the manifest names it BEFORE any of its rows is
deleted; the manifest is itself replaced atomically (write, fsync, rename, fsync the
directory). A file the manifest does not name was never
the basis of a delete and is removed on the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage_ops.errors import ActionFailed, UsageError

FORMAT = "triage-retention/v1"
MANIFEST = "manifest.json"
JOURNAL = "journal.jsonl"
LOCK_FILE = ".lock"
SEGMENT_SUFFIX = ".pgcopy.gz"
VERSION_COLUMN = "xmin"  # the row version appended to each line (not a table column)
GZIP_LEVEL = 1  # level 1 is ~3x faster than the default 6 for 10-15% more bytes
_GZIP_WBITS = 31  # a gzip member (header + CRC32 + length): `zcat` and `gzip -t` read it
_READ_BLOCK = 1 << 20
_FLUSH_AT = 1 << 20  # compress in ~1 MiB slices: few calls, bounded buffer
_NL = ord("\n")
_HEAD_BYTES = 256  # holds a line's key: its id and created_at, the first two fields


class ArchiveError(ActionFailed):
    """The archive cannot be trusted (a checksum, a count or the manifest is wrong)."""


class ArchiveBusy(ActionFailed):
    """Another process holds the archive directory's lock."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Key:
    """A keyset position: rows are archived in (created_at, id) order. `created_at` is
    kept as PostgreSQL printed it (ISO, UTC, microseconds) and handed back as text, so
    no precision is lost in between."""

    created_at: str
    id: str

    def to_json(self) -> dict[str, str]:
        return {"created_at": self.created_at, "id": self.id}

    @classmethod
    def from_json(cls, data: Any) -> Key | None:
        if not data:
            return None
        return cls(created_at=str(data["created_at"]), id=str(data["id"]))


@dataclass
class Segment:
    name: str
    rows: int
    bytes: int
    sha256: str
    first: Key
    last: Key
    pass_no: int
    archived_at: str
    state: str = "verified"  # verified (on disk, checked) -> deleted (its delete committed)
    deleted: int = 0  # archived rows no longer in the table after the segment's delete
    kept: list[str] = field(default_factory=list)  # archived ids left in the table (changed)
    deleted_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["first"], data["last"] = self.first.to_json(), self.last.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Segment:
        first, last = Key.from_json(data["first"]), Key.from_json(data["last"])
        assert first is not None and last is not None
        return cls(
            name=str(data["name"]),
            rows=int(data["rows"]),
            bytes=int(data["bytes"]),
            sha256=str(data["sha256"]),
            first=first,
            last=last,
            pass_no=int(data["pass_no"]),
            archived_at=str(data["archived_at"]),
            state=str(data["state"]),
            deleted=int(data["deleted"]),
            kept=[str(i) for i in data["kept"]],
            deleted_at=data.get("deleted_at"),
        )


@dataclass
class Manifest:
    table: str
    database: str  # host:port/dbname: never a password
    schema_version: int
    columns: list[str]  # file order; VERSION_COLUMN follows them on every line
    policy: dict[str, Any]
    cutoff: str  # ISO 8601, UTC: fixed when the archive is created, kept by every resume
    created_at: str
    updated_at: str = ""
    state: str = "running"  # running (partial) | complete
    passes: int = 1
    position: Key | None = None  # the last key archived in the current pass
    segments: list[Segment] = field(default_factory=list)
    restores: list[dict[str, Any]] = field(default_factory=list)
    format: str = FORMAT

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "table": self.table,
            "database": self.database,
            "schema_version": self.schema_version,
            "columns": self.columns,
            "version_column": VERSION_COLUMN,
            "policy": self.policy,
            "cutoff": self.cutoff,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "state": self.state,
            "passes": self.passes,
            "position": self.position.to_json() if self.position else None,
            "totals": self.totals(),
            "segments": [s.to_json() for s in self.segments],
            "restores": self.restores,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest (format {data.get('format')!r})")
        return cls(
            table=str(data["table"]),
            database=str(data["database"]),
            schema_version=int(data["schema_version"]),
            columns=[str(c) for c in data["columns"]],
            policy=dict(data["policy"]),
            cutoff=str(data["cutoff"]),
            created_at=str(data["created_at"]),
            updated_at=str(data.get("updated_at", "")),
            state=str(data["state"]),
            passes=int(data["passes"]),
            position=Key.from_json(data.get("position")),
            segments=[Segment.from_json(s) for s in data["segments"]],
            restores=list(data.get("restores", [])),
        )

    def totals(self) -> dict[str, int]:
        return {
            "segments": len(self.segments),
            "rows": sum(s.rows for s in self.segments),
            "deleted": sum(s.deleted for s in self.segments),
            "kept": sum(len(s.kept) for s in self.segments),
            "pending": sum(1 for s in self.segments if s.state != "deleted"),
            "bytes": sum(s.bytes for s in self.segments),
        }

    def next_segment_name(self) -> str:
        return f"segment-{len(self.segments) + 1:06d}{SEGMENT_SUFFIX}"


# -- the manifest and its journal ------------------------------------------------------
#
# Rewriting the whole manifest after every batch would cost O(segments) per batch (a long
# run: O(n^2)). Between compactions, progress is appended to `journal.jsonl` instead, one
# fsync'ed line per event; `load_manifest` replays it over `manifest.json`. A line torn by
# a kill is the last one and was never acted on (its fsync had not returned): it is
# ignored. `save_manifest` compacts: the whole manifest, atomically, then no journal.


def manifest_path(directory: Path) -> Path:
    return directory / MANIFEST


def journal_path(directory: Path) -> Path:
    return directory / JOURNAL


def load_manifest(directory: Path) -> Manifest | None:
    path = manifest_path(directory)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        manifest = Manifest.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        raise ArchiveError(f"{path} is not a valid retention manifest: {exc}") from None
    try:
        lines = journal_path(directory).read_bytes().split(b"\n")
    except FileNotFoundError:
        return manifest
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            _replay(manifest, json.loads(line))
        except (ValueError, KeyError, TypeError, AssertionError) as exc:
            if number == len(lines):  # torn by a kill while being written: never acted on
                break
            raise ArchiveError(f"{JOURNAL} line {number} is damaged: {exc}") from None
    return manifest


def _replay(manifest: Manifest, event: dict[str, Any]) -> None:
    """Idempotent: a journal left over from before a compaction replays harmlessly."""
    if "segment" in event:
        segment = Segment.from_json(event["segment"])
        if all(s.name != segment.name for s in manifest.segments):
            manifest.segments.append(segment)
            manifest.position = segment.last
    elif "deleted" in event:
        done = event["deleted"]
        for segment in manifest.segments:
            if segment.name == done["name"]:
                segment.state = "deleted"
                segment.deleted = int(done["deleted"])
                segment.kept = [str(i) for i in done["kept"]]
                segment.deleted_at = done.get("deleted_at")
    else:
        raise ValueError(f"unknown event {sorted(event)}")


def append_event(directory: Path, event: dict[str, Any], *, durable: bool) -> None:
    """One line at the end of the journal; `durable` returns only once it is on disk."""
    path = journal_path(directory)
    new = not path.exists()
    with path.open("ab") as handle:
        handle.write(json.dumps(event, separators=(",", ":")).encode("utf-8") + b"\n")
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    if new and durable:
        fsync_dir(directory)


def record_segment(directory: Path, manifest: Manifest, segment: Segment) -> None:
    """Durably: the segment exists and was checked. Only after this may its rows go."""
    manifest.segments.append(segment)
    manifest.position = segment.last
    append_event(directory, {"segment": segment.to_json()}, durable=True)


def record_deleted(directory: Path, segment: Segment) -> None:
    """Not fsync'ed: if this line is lost, the next run deletes the segment's rows again,
    which deletes nothing (only rows still as archived are deleted)."""
    event = {
        "name": segment.name,
        "deleted": segment.deleted,
        "kept": segment.kept,
        "deleted_at": segment.deleted_at,
    }
    append_event(directory, {"deleted": event}, durable=False)


def save_manifest(directory: Path, manifest: Manifest) -> None:
    """Compaction, atomic and durable: the old manifest (plus journal) or the new one,
    never half of either; then the journal is dropped."""
    manifest.updated_at = now_iso()
    path = manifest_path(directory)
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps(manifest.to_json(), indent=1).encode("utf-8")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    fsync_dir(directory)
    if journal_path(directory).exists():
        journal_path(directory).unlink()
        fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(directory: Path, *, create: bool = False) -> Iterator[None]:
    """One process per archive directory (the advisory lock in PostgreSQL covers one
    database; this covers two databases archiving into one directory by mistake)."""
    if create:
        directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ArchiveBusy(f"another retention process is using {directory}") from None
        yield
    finally:
        os.close(fd)


def remove_orphans(directory: Path, manifest: Manifest) -> list[str]:
    """Segment files the manifest does not name (a run killed while writing one, before
    any of its rows was deleted): they are removed so no row is archived twice."""
    named = {s.name for s in manifest.segments}
    removed = []
    for path in sorted(directory.iterdir()):
        name = path.name
        ours = name.startswith("segment-") and name.endswith((SEGMENT_SUFFIX, ".tmp"))
        orphan = name == MANIFEST + ".tmp" or (ours and name not in named)
        if orphan and path.is_file():
            path.unlink()
            removed.append(path.name)
    if removed:
        fsync_dir(directory)
    return removed


# -- segments --------------------------------------------------------------------------


@dataclass
class Written:
    """What went into a segment, as it streamed by: the ids and row versions a delete
    may use once the file on disk is proven to hold exactly these bytes."""

    sha256: str
    size: int  # of the file
    rows: int
    ids: list[bytes]
    versions: list[bytes]
    first: Key | None = None
    last: Key | None = None


def write_segment(path: Path, chunks: Iterable[bytes | bytearray | memoryview]) -> Written:
    """Stream COPY output (one row per chunk, as PostgreSQL sends it; several rows per
    chunk are handled too) into a gzip file at `path` via `path.tmp`, fsync'ed and
    renamed. An empty stream writes nothing and returns rows=0."""
    tmp = path.with_name(path.name + ".tmp")
    digest = hashlib.sha256()
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    ids: list[bytes] = []
    versions: list[bytes] = []
    size = 0
    pending: list[bytes] = []
    buffered = 0
    first = row = b""
    with tmp.open("wb") as handle:

        def put(data: bytes) -> None:
            nonlocal size
            if data:
                digest.update(data)
                handle.write(data)
                size += len(data)

        for chunk in chunks:
            row = bytes(chunk)
            if row.count(b"\n") == 1 and row[-1] == _NL:
                ids.append(row[: row.index(b"\t")])
                versions.append(row[row.rindex(b"\t") + 1 : -1])
            else:
                for line in row.split(b"\n")[:-1]:
                    ids.append(line[: line.index(b"\t")])
                    versions.append(line[line.rindex(b"\t") + 1 :])
            if not first:
                first = row
            pending.append(row)
            buffered += len(row)
            if buffered >= _FLUSH_AT:
                put(compressor.compress(b"".join(pending)))
                pending, buffered = [], 0
        put(compressor.compress(b"".join(pending)))
        put(compressor.flush())
        if not ids:
            handle.close()
            tmp.unlink()
            return Written(sha256="", size=0, rows=0, ids=[], versions=[])
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)
    return Written(
        sha256=digest.hexdigest(),
        size=size,
        rows=len(ids),
        ids=ids,
        versions=versions,
        first=_key(first.split(b"\n", 1)[0]),
        last=_key(row[row.rfind(b"\n", 0, len(row) - 1) + 1 : -1]),
    )


@dataclass
class Scan:
    """A segment read back from disk: checksum, rows, first and last keys; with `keys`,
    every id and row version too (what a resumed delete and a restore check use)."""

    sha256: str
    size: int
    rows: int
    first: Key | None
    last: Key | None
    ids: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


def iter_lines(path: Path) -> Iterator[tuple[bytes, str]]:
    """Decompressed blocks of whole lines, plus at the end the file's SHA-256 (yielded
    with an empty block). Raises ArchiveError on a truncated or corrupt gzip stream."""
    digest = hashlib.sha256()
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    carry = b""
    try:
        with path.open("rb") as handle:
            while block := handle.read(_READ_BLOCK):
                digest.update(block)
                data = carry + decompressor.decompress(block)
                cut = data.rfind(b"\n") + 1
                carry = data[cut:]
                if cut:
                    yield data[:cut], ""
                if decompressor.eof and decompressor.unused_data:
                    raise ArchiveError(f"{path.name}: data after the end of the gzip stream")
    except zlib.error as exc:
        raise ArchiveError(f"{path.name}: corrupt gzip data ({exc})") from None
    except FileNotFoundError:
        raise ArchiveError(f"{path.name}: missing from the archive directory") from None
    if not decompressor.eof or carry:
        raise ArchiveError(f"{path.name}: truncated (the gzip stream does not end)")
    yield b"", digest.hexdigest()


def scan_segment(path: Path, *, keys: bool = True) -> Scan:
    """Read a segment back from disk: SHA-256 of the file, gzip CRC and length (zlib
    checks them at the end of the stream), rows, first and last keys, and with `keys`
    every id and row version."""
    if not keys:
        return _count_segment(path)
    ids: list[str] = []
    versions: list[str] = []
    rows = 0
    sha = ""
    first_line = last_line = b""
    for block, digest in iter_lines(path):
        if digest:
            sha = digest
            break
        if not first_line:
            first_line = block[: block.index(b"\n")]
        last_line = block[block.rfind(b"\n", 0, len(block) - 1) + 1 : -1]
        lines = block.split(b"\n")
        lines.pop()  # the empty string after the final newline
        rows += len(lines)
        for line in lines:
            ids.append(line[: line.index(b"\t")].decode("ascii"))
            versions.append(line[line.rindex(b"\t") + 1 :].decode("ascii"))
    return Scan(
        sha256=sha,
        size=path.stat().st_size,
        rows=rows,
        first=_key(first_line) if first_line else None,
        last=_key(last_line) if last_line else None,
        ids=ids,
        versions=versions,
    )


def _count_segment(path: Path) -> Scan:
    """`scan_segment` without ids: the same checks, without cutting the data into lines
    (this is the read-back before every delete)."""
    digest = hashlib.sha256()
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    rows = 0
    head = tail = b""  # the first bytes of the data; the last line (whatever its length)
    try:
        with path.open("rb") as handle:
            while block := handle.read(_READ_BLOCK):
                digest.update(block)
                data = decompressor.decompress(block)
                if not data:
                    continue
                rows += data.count(b"\n")
                if len(head) < _HEAD_BYTES:
                    head += data[: _HEAD_BYTES - len(head)]
                cut = data.rfind(b"\n", 0, len(data) - 1)
                tail = data[cut + 1 :] if cut >= 0 else tail + data
                if decompressor.eof and decompressor.unused_data:
                    raise ArchiveError(f"{path.name}: data after the end of the gzip stream")
    except zlib.error as exc:
        raise ArchiveError(f"{path.name}: corrupt gzip data ({exc})") from None
    except FileNotFoundError:
        raise ArchiveError(f"{path.name}: missing from the archive directory") from None
    if not decompressor.eof or (tail and not tail.endswith(b"\n")):
        raise ArchiveError(f"{path.name}: truncated (the gzip stream does not end)")
    return Scan(
        sha256=digest.hexdigest(),
        size=path.stat().st_size,
        rows=rows,
        first=_key(head) if rows else None,
        last=_key(tail) if rows else None,
    )


def _key(line: bytes) -> Key:
    fields = line.split(b"\t", 2)
    return Key(created_at=fields[1].decode("ascii"), id=fields[0].decode("ascii"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_READ_BLOCK):
                digest.update(block)
    except FileNotFoundError:
        raise ArchiveError(f"{path.name}: missing from the archive directory") from None
    return digest.hexdigest()


def check_segment(directory: Path, segment: Segment, *, keys: bool = True) -> Scan:
    """The segment on disk is the one the manifest describes, or ArchiveError."""
    scan = scan_segment(directory / segment.name, keys=keys)
    if scan.sha256 != segment.sha256:
        raise ArchiveError(
            f"{segment.name}: checksum mismatch (manifest {segment.sha256[:12]}...,"
            f" file {scan.sha256[:12]}...)"
        )
    if scan.rows != segment.rows:
        raise ArchiveError(f"{segment.name}: {scan.rows} rows, the manifest says {segment.rows}")
    return scan
