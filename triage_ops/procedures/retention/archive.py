"""The archive on disk: one directory per retention policy run, holding compressed segments
in PostgreSQL's COPY text format and one `manifest.json` that says what each segment holds
and how far the run got.

    DIR/manifest.json                 the policy, the cutoff, the columns and their types,
                                      every segment
    DIR/journal.jsonl                 progress since the manifest was last rewritten
    DIR/segment-000001.pgcopy.zst     one batch: `zstdcat` shows it, `COPY ... FROM` reads it
    DIR/.lock                         flock'ed while a run or a restore uses DIR

A segment line is one row: the table's columns in the manifest's `columns` order (`id`
and `created_at` first), then the row version the run saw (`xmin`), so that a resumed
delete can tell "the row we archived" from "a row someone changed since". COPY text
format keeps one row per line (newlines and tabs inside values are escaped), renders
every type, jsonb included, in a form COPY FROM reads back exactly, and is what the
server sends: a segment is the server's bytes, compressed, never rows parsed in Python.

Formats: `triage-retention/v2` (this code) writes zstd segments (`.pgcopy.zst`, level 1,
with zstd's content checksum): ~4x faster to write and ~5x faster to read back than gzip
-1, and smaller. `triage-retention/v1` archives (gzip segments, `.pgcopy.gz`) are still
read, checked, restored and resumed: the codec of a segment is its file name's suffix,
so a v1 archive resumed by this code holds both kinds (its manifest becomes v2).

Durability order, which is what makes a killed run safe to resume: a segment is written to
`NAME.tmp`, fsync'ed, renamed, the directory fsync'ed, then read back from disk and checked
(SHA-256 of the file, the codec's own check, row count, first and last keys) BEFORE the
manifest names it (a line appended to the journal and fsync'ed); the manifest names it
BEFORE the transaction that deleted its rows commits; the manifest is itself replaced
atomically (write, fsync, rename, fsync the directory). A file the manifest does not name
was never the basis of a committed delete and is removed on the next run.
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

import zstandard

from triage_ops.errors import ActionFailed, UsageError

FORMAT_V1 = "triage-retention/v1"  # gzip segments
FORMAT = "triage-retention/v2"  # zstd segments, column types in the manifest
FORMATS = (FORMAT_V1, FORMAT)
MANIFEST = "manifest.json"
JOURNAL = "journal.jsonl"
LOCK_FILE = ".lock"
SEGMENT_SUFFIX = ".pgcopy.zst"  # what this code writes
GZIP_SUFFIX = ".pgcopy.gz"  # v1 segments: read, never written
SEGMENT_SUFFIXES = (SEGMENT_SUFFIX, GZIP_SUFFIX)
COPY_FORMAT = "text"
VERSION_COLUMN = "xmin"  # the row version appended to each line (not a table column)
ZSTD_LEVEL = 1  # ~600 MB/s here, and a better ratio than gzip -1 (6.4x vs 4.5x on emails)
_GZIP_WBITS = 31  # a gzip member (header + CRC32 + length): `zcat` and `gzip -t` read it
_READ_BLOCK = 1 << 20
HEAD_BYTES = 256  # holds a line's key: its id and created_at, the first two fields
_CODEC_ERRORS = (zlib.error, zstandard.ZstdError)


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
    first: Key  # the smallest key (created_at, id) in the segment, whatever the line order
    last: Key  # the largest: the run's position once the segment is recorded
    pass_no: int
    archived_at: str
    state: str = "verified"  # verified (on disk, checked) -> deleted (its delete committed)
    deleted: int = 0  # archived rows no longer in the table after the segment's delete
    kept: list[str] = field(default_factory=list)  # archived ids left in the table (changed)
    deleted_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["first"], data["last"] = self.first.to_json(), self.last.to_json()
        data["compression"] = codec_of(self.name)  # derived from the name: for the reader
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
    column_types: list[str] = field(default_factory=list)  # format_type(); v1 has none
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
            "column_types": self.column_types,
            "copy_format": COPY_FORMAT,
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
        if data.get("format") not in FORMATS:
            raise ValueError(
                f"not a {' or '.join(FORMATS)} manifest (format {data.get('format')!r})"
            )
        return cls(
            format=str(data["format"]),
            table=str(data["table"]),
            database=str(data["database"]),
            schema_version=int(data["schema_version"]),
            columns=[str(c) for c in data["columns"]],
            policy=dict(data["policy"]),
            cutoff=str(data["cutoff"]),
            created_at=str(data["created_at"]),
            column_types=[str(t) for t in data.get("column_types", [])],
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

    def next_segment_number(self) -> int:
        """After the highest number named (a batch that found no row left a gap)."""
        return max((int(s.name[8:14]) for s in self.segments), default=0) + 1


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
            if codec_of(segment.name) == "zstd":
                manifest.format = FORMAT
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
    manifest.format = FORMAT  # it names a zstd segment now (a resumed v1 archive too)
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
        ours = name.startswith("segment-") and name.endswith((*SEGMENT_SUFFIXES, ".tmp"))
        orphan = name == MANIFEST + ".tmp" or (ours and name not in named)
        if orphan and path.is_file():
            path.unlink()
            removed.append(path.name)
    if removed:
        fsync_dir(directory)
    return removed


# -- segments --------------------------------------------------------------------------


def codec_of(name: str) -> str:
    return "gzip" if name.endswith(GZIP_SUFFIX) else "zstd"


class _Lines:
    """The lines of a stream that arrives in pieces of any size: how many, the start of
    the first (its key) and the whole last one, without keeping the stream."""

    __slots__ = ("head", "last", "partial", "rows")

    def __init__(self) -> None:
        self.rows = 0
        self.head = b""
        self.last = b""
        self.partial = b""  # after the last newline seen: a line still arriving

    def feed(self, data: bytes) -> None:
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        end = data.rfind(b"\n")
        if end < 0:
            self.partial += data
            return
        self.rows += data.count(b"\n")
        start = data.rfind(b"\n", 0, end) + 1
        self.last = data[start : end + 1] if start else self.partial + data[: end + 1]
        self.partial = data[end + 1 :]

    def keys(self) -> tuple[Key | None, Key | None]:
        if not self.rows:
            return None, None
        return read_key(self.head), read_key(self.last)


@dataclass
class Written:
    """What went into a segment, as it streamed by (rows and keys: when counted)."""

    sha256: str
    size: int  # of the file
    rows: int | None
    first: Key | None = None
    last: Key | None = None


class SegmentWriter:
    """One segment being written: COPY text in (whole lines, in pieces of any size), zstd
    out to `NAME.tmp`, hashed as it goes; `finish` makes it durable as `NAME`. Memory is
    what zstd keeps (its window), whatever the segment's size. Nothing is created until
    the first write: an empty batch leaves no file. Without `count_rows` the lines are
    not counted on the way in (a run counts them once, when it reads the file back, and
    has the server's own count to compare with)."""

    def __init__(self, path: Path, *, count_rows: bool = True) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.lines = _Lines() if count_rows else None
        self._digest = hashlib.sha256()
        self._size = 0
        self._ends_line = True
        self._handle: Any = None
        self._compressor: zstandard.ZstdCompressionObj | None = None

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._compressor is None:
            self._handle = self.tmp.open("wb")
            self._compressor = zstandard.ZstdCompressor(
                level=ZSTD_LEVEL, write_checksum=True
            ).compressobj()
        if self.lines is not None:
            self.lines.feed(data)
        self._ends_line = data.endswith(b"\n")
        self._put(self._compressor.compress(data))

    def _put(self, data: bytes) -> None:
        if data:
            self._digest.update(data)
            self._handle.write(data)
            self._size += len(data)

    def finish(self) -> Written:
        """fsync, rename, fsync the directory; rows=0 (and no file) for an empty stream."""
        if self._compressor is None:
            return Written(sha256="", size=0, rows=0)
        if not self._ends_line:
            self.discard()
            raise ArchiveError(f"{self.path.name}: the stream ended inside a line")
        self._put(self._compressor.flush())
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self.tmp.replace(self.path)
        fsync_dir(self.path.parent)
        first, last = self.lines.keys() if self.lines is not None else (None, None)
        return Written(
            sha256=self._digest.hexdigest(),
            size=self._size,
            rows=self.lines.rows if self.lines is not None else None,
            first=first,
            last=last,
        )

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self.tmp.unlink(missing_ok=True)


def write_segment(path: Path, chunks: Iterable[bytes | bytearray | memoryview]) -> Written:
    """A whole segment from an iterable of COPY output (see SegmentWriter)."""
    writer = SegmentWriter(path)
    try:
        for chunk in chunks:
            writer.write(bytes(chunk))
    except BaseException:
        writer.discard()
        raise
    return writer.finish()


@dataclass
class Scan:
    """A segment read back from disk: checksum, rows, the keys of its first and last
    lines (a v2 segment's lines are in the order the DELETE met the rows: the manifest
    has its smallest and largest key); with `keys`, every id and row version too (what a
    resumed delete and a restore check use)."""

    sha256: str
    size: int
    rows: int
    first: Key | None
    last: Key | None
    ids: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)


def iter_blocks(path: Path) -> Iterator[tuple[bytes, str]]:
    """The decompressed stream in pieces of at most 1 MiB, then (b"", the file's
    SHA-256). Raises ArchiveError on a truncated or corrupt stream (the codec's own
    check: zstd's content checksum, gzip's CRC32 and length) or on data after its end.
    Memory stays bounded however well the rows compressed (a segment of repetitive
    rows can be 1,000 times its size): zstd is fed one block at a time (at most 128 KiB
    out), gzip is asked for at most 1 MiB at a time."""
    codec = codec_of(path.name)
    source = _Hashing(path.name, codec)
    try:
        with path.open("rb") as handle:
            source.handle = handle
            yield from (_zstd_pieces if codec == "zstd" else _gzip_pieces)(source)
            if source.read(1, exact=False):
                raise ArchiveError(f"{path.name}: data after the end of the {codec} stream")
            sha = source.hexdigest()
    except _CODEC_ERRORS as exc:
        raise ArchiveError(f"{path.name}: corrupt {codec} data ({exc})") from None
    except FileNotFoundError:
        raise ArchiveError(f"{path.name}: missing from the archive directory") from None
    yield b"", sha


class _Hashing:
    """Reads the file for a decompressor, hashing every byte read."""

    def __init__(self, name: str, codec: str) -> None:
        self.name = name
        self.codec = codec
        self.handle: Any = None
        self._digest = hashlib.sha256()

    def read(self, size: int, *, exact: bool = True) -> bytes:
        data: bytes = self.handle.read(size)
        self._digest.update(data)
        if exact and len(data) != size:
            raise ArchiveError(f"{self.name}: truncated (the {self.codec} stream does not end)")
        return data

    def corrupt(self, why: str) -> ArchiveError:
        return ArchiveError(f"{self.name}: corrupt {self.codec} data ({why})")

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_BLOCK_MAX = 1 << 17


def _zstd_pieces(source: _Hashing) -> Iterator[tuple[bytes, str]]:
    """One zstd frame (RFC 8878), walked block by block: the frame header (magic,
    descriptor, window, dictionary id and content size fields), blocks (a 3-byte header:
    last-block bit, type, size), then the content checksum."""
    start = source.read(5)
    if start[:4] != _ZSTD_MAGIC:
        raise source.corrupt("not a zstd frame")
    descriptor = start[4]
    single_segment = descriptor >> 5 & 1
    rest = (
        (0 if single_segment else 1)
        + (0, 1, 2, 4)[descriptor & 3]
        + ((1 if single_segment else 0), 2, 4, 8)[descriptor >> 6]
    )
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    decompressor.decompress(start + source.read(rest))
    last = 0
    while not last:
        header = source.read(3)
        value = int.from_bytes(header, "little")
        last, kind, size = value & 1, value >> 1 & 3, value >> 3
        if kind == 3 or size > _ZSTD_BLOCK_MAX:
            raise source.corrupt("a block header is invalid")
        data = decompressor.decompress(header + source.read(1 if kind == 1 else size))
        if data:
            yield data, ""
    if descriptor >> 2 & 1:
        decompressor.decompress(source.read(4))  # zstd checks the content checksum
    if not decompressor.eof:
        raise source.corrupt("the frame does not end after its last block")


def _gzip_pieces(source: _Hashing) -> Iterator[tuple[bytes, str]]:
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    while not decompressor.eof:
        block = source.read(_READ_BLOCK, exact=False)
        if not block:
            raise ArchiveError(f"{source.name}: truncated (the gzip stream does not end)")
        while block and not decompressor.eof:
            data = decompressor.decompress(block, _READ_BLOCK)
            block = decompressor.unconsumed_tail
            if data:
                yield data, ""
        if decompressor.unused_data:
            raise ArchiveError(f"{source.name}: data after the end of the gzip stream")


def iter_lines(path: Path) -> Iterator[tuple[bytes, str]]:
    """`iter_blocks` cut at line ends: every block holds whole lines."""
    carry = b""
    for data, digest in iter_blocks(path):
        if digest:
            if carry:
                raise ArchiveError(f"{path.name}: truncated (the last line does not end)")
            yield b"", digest
            return
        data = carry + data
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield data[:cut], ""


def scan_segment(path: Path, *, keys: bool = True) -> Scan:
    """Read a segment back from disk: SHA-256 of the file, the codec's check, rows, first
    and last keys, and with `keys` every id and row version."""
    if not keys:
        return read_back(path)
    ids: list[str] = []
    versions: list[str] = []
    lines = _Lines()
    sha = ""
    for block, digest in iter_lines(path):
        if digest:
            sha = digest
            break
        lines.feed(block)
        rows = block.split(b"\n")
        rows.pop()  # the empty string after the final newline
        for line in rows:
            ids.append(line[: line.index(b"\t")].decode("ascii"))
            versions.append(line[line.rindex(b"\t") + 1 :].decode("ascii"))
    first, last = lines.keys()
    return Scan(
        sha256=sha,
        size=path.stat().st_size,
        rows=lines.rows,
        first=first,
        last=last,
        ids=ids,
        versions=versions,
    )


def read_back(path: Path) -> Scan:
    """`scan_segment` without ids: the same checks, without cutting the data into lines
    (this is the read-back of every segment before its delete commits)."""
    lines = _Lines()
    sha = ""
    for data, digest in iter_blocks(path):
        if digest:
            sha = digest
        else:
            lines.feed(data)
    if lines.partial:
        raise ArchiveError(f"{path.name}: truncated (the last line does not end)")
    first, last = lines.keys()
    return Scan(sha256=sha, size=path.stat().st_size, rows=lines.rows, first=first, last=last)


def read_key(line: bytes) -> Key:
    """The key of a segment line (or of its first bytes): its id and created_at."""
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
