"""The audit timeline: who did what, when, with which plan, and how it ended.

An append-only JSON Lines file. Each entry carries `prev`, the SHA-256 of the previous
line as written, and `hash`, the SHA-256 of its own canonical JSON (sorted keys, without
`hash`). Editing an entry breaks its hash; deleting, inserting or moving one breaks the
`prev` of the entry after it; `verify()` names the first line where the chain breaks.
(Cutting entries off the END leaves a valid shorter chain: the optional Postgres mirror is
the copy to compare with.)

Two processes appending at once must not interleave or fork the chain: the read of the
last line and the write of the new one happen under an exclusive `flock`, and the line is
fsync'ed before the lock is released.

Every entry goes through the scrubber first (`triage_ops.engine.scrub`): secrets never
reach the file or the mirror. The mirror (table `triage_ops_audit`, created if absent) is
written after the local file; when it fails, the local entry stands and a warning is
logged.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage_ops.engine.errors import AuditError
from triage_ops.engine.scrub import Scrubber

GENESIS = "0" * 64
FIELDS = (
    "seq", "ts", "user", "host", "incident", "kind", "runbook", "step", "summary", "plan",
    "before", "after", "outcome", "findings", "details", "prev", "hash",
)  # fmt: skip
MIRROR_TABLE = "triage_ops_audit"
_TAIL_CHUNK = 8192
logger = logging.getLogger("triage_ops.audit")

_MIRROR_DDL = f"""
CREATE TABLE IF NOT EXISTS {MIRROR_TABLE} (
    hash      text PRIMARY KEY,
    seq       bigint NOT NULL,
    ts        timestamptz NOT NULL,
    "user"    text NOT NULL,
    host      text NOT NULL,
    incident  text,
    kind      text NOT NULL,
    runbook   text,
    step      text,
    summary   text NOT NULL,
    plan      jsonb,
    before    jsonb,
    after     jsonb,
    outcome   text,
    findings  jsonb NOT NULL,
    details   jsonb,
    prev      text NOT NULL,
    line      text NOT NULL
);
CREATE INDEX IF NOT EXISTS {MIRROR_TABLE}_incident ON {MIRROR_TABLE} (incident, ts)
"""


def default_path(config: Any = None) -> Path:
    """config.audit_log, else $XDG_STATE_HOME/triage-ops/audit.jsonl (~/.local/state/...)."""
    configured = str(getattr(config, "audit_log", "") or "")
    if configured:
        return Path(configured).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "triage-ops" / "audit.jsonl"


def canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    entries: int  # entries read (up to the break, when there is one)
    broken_at: int | None  # 1-based line number of the first entry that does not fit
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "broken_at": self.broken_at,
            "reason": self.reason,
        }


class AuditLog:
    def __init__(
        self,
        path: Path | str,
        *,
        mirror_dsn: str | None = None,
        secrets: Iterable[str] = (),
        mirror_timeout: float = 3.0,
    ) -> None:
        self.path = Path(path)
        self.mirror_dsn = mirror_dsn or None
        self.mirror_timeout = mirror_timeout
        self.scrub = Scrubber([*secrets, *([mirror_dsn] if mirror_dsn else [])])
        self._lock = threading.Lock()
        self._mirror_ready = False

    # -- writing -----------------------------------------------------------------------

    def ensure_writable(self) -> None:
        """Fail before anything is changed if the timeline cannot be written."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.close(fd)
        except OSError as exc:
            raise AuditError(
                f"the audit log {self.path} is not writable: {exc.strerror}"
                " (set audit_log in the config or TRIAGE_OPS_AUDIT_LOG)"
            ) from None

    def append(
        self,
        *,
        kind: str,
        summary: str,
        incident: str | None = None,
        runbook: str | None = None,
        step: str | None = None,
        plan: Any = None,
        before: Any = None,
        after: Any = None,
        outcome: str | None = None,
        findings: Iterable[Any] = (),
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write one entry (scrubbed) at the end of the chain and return it as written."""
        body: dict[str, Any] = self.scrub(
            {
                "incident": incident,
                "kind": kind,
                "runbook": runbook,
                "step": step,
                "summary": summary,
                "plan": plan,
                "before": before,
                "after": after,
                "outcome": outcome,
                "findings": list(findings),
                "details": dict(details) if details is not None else None,
            }
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    entry, line = self._chain(fd, body)
                    _write_all(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)  # releases the flock
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror}") from None
        if self.mirror_dsn:
            self._mirror(entry, line)
        return entry

    def _chain(self, fd: int, body: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
        last, complete = _last_line(fd)
        prefix = b""
        if last is None:
            seq, prev = 1, GENESIS
        else:
            prev = line_hash(last)
            last_seq = _seq_of(last)
            seq = last_seq + 1 if last_seq is not None else _count_lines(fd) + 1
            if not complete:
                prefix = b"\n"  # a cut-short line stays as it is; verify() will name it
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entry: dict[str, Any] = {"seq": seq, "ts": now, "user": _user(), "host": _host()}
        entry.update(body)
        entry["prev"] = prev
        entry["hash"] = entry_hash(entry)
        entry = {k: entry[k] for k in FIELDS}
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        return entry, prefix + line

    def _mirror(self, entry: Mapping[str, Any], line: bytes) -> None:
        try:
            from psycopg.types.json import Jsonb

            from triage_ops.clients.postgres import PostgresClient

            client = PostgresClient(
                self.mirror_dsn or "", timeout=self.mirror_timeout, role="audit mirror"
            )
            with client.connect() as conn:
                if not self._mirror_ready:
                    conn.execute(_MIRROR_DDL)
                    self._mirror_ready = True
                json_fields = ("plan", "before", "after", "findings", "details")
                values = {k: (Jsonb(entry[k]) if k in json_fields else entry[k]) for k in FIELDS}
                values["line"] = line.decode().strip()
                columns = ", ".join(f'"{k}"' for k in values)
                marks = ", ".join(f"%({k})s" for k in values)
                conn.execute(
                    f"INSERT INTO {MIRROR_TABLE} ({columns}) VALUES ({marks})"
                    " ON CONFLICT (hash) DO NOTHING",
                    values,
                )
        # The mirror is a copy: whatever goes wrong there (down, refused, no rights, a bad
        # URL), the local entry is written and the run goes on.
        except Exception as exc:
            logger.warning(
                "audit mirror not written (%s: %s); the entry is in %s",
                type(exc).__name__,
                self.scrub.text(str(exc).strip().splitlines()[0] if str(exc).strip() else ""),
                self.path,
            )

    # -- reading -----------------------------------------------------------------------

    def entries(self, incident: str | None = None) -> Iterator[dict[str, Any]]:
        """Entries in file order (of one incident, if given). A line that is not JSON
        raises AuditError: run `verify()` to see where the file is damaged."""
        if not self.path.exists():
            return
        try:
            with self.path.open("rb") as handle:
                for number, raw in enumerate(handle, 1):
                    try:
                        entry = json.loads(raw)
                    except ValueError:
                        raise AuditError(
                            f"{self.path}: line {number} is not a JSON entry"
                            " (`triage-ops audit verify` says more)"
                        ) from None
                    if incident is None or entry.get("incident") == incident:
                        yield entry
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror}") from None

    def verify(self) -> AuditVerification:
        if not self.path.exists():
            return AuditVerification(True, 0, None, "no audit log yet")
        prev, expected_seq, count = GENESIS, 1, 0
        try:
            with self.path.open("rb") as handle:
                for number, raw in enumerate(handle, 1):
                    problem = _check_line(raw, prev=prev, seq=expected_seq)
                    if problem:
                        return AuditVerification(False, count, number, f"line {number}: {problem}")
                    count += 1
                    prev, expected_seq = line_hash(raw), expected_seq + 1
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {self.path}: {exc.strerror}") from None
        return AuditVerification(True, count, None, f"{count} entries, chain intact")


def _check_line(raw: bytes, *, prev: str, seq: int) -> str:
    if not raw.endswith(b"\n"):
        return "cut short (a write did not finish)"
    try:
        entry = json.loads(raw)
    except ValueError:
        return "not JSON"
    if not isinstance(entry, dict) or tuple(entry) != FIELDS:
        return "not an audit entry (its fields differ)"
    if entry["hash"] != entry_hash(entry):
        return f"entry {entry['seq']} was edited (its hash does not match its content)"
    if entry["prev"] != prev:
        return (
            f"entry {entry['seq']} does not follow the line before it (an entry was deleted,"
            " inserted, moved or edited before it)"
        )
    if entry["seq"] != seq:
        return f"entry numbered {entry['seq']} where {seq} was expected"
    return ""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _last_line(fd: int) -> tuple[bytes | None, bool]:
    """The file's last line (without its newline) and whether it ended with one; read
    backwards in chunks, so appending stays cheap however long the timeline grows."""
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return None, True
    complete = os.pread(fd, 1, end - 1) == b"\n"
    position, buffer = (end - 1 if complete else end), b""
    while position > 0:
        size = min(_TAIL_CHUNK, position)
        position -= size
        buffer = os.pread(fd, size, position) + buffer
        newline = buffer.rfind(b"\n")
        if newline >= 0:
            return buffer[newline + 1 :], complete
    return buffer, complete


def _count_lines(fd: int) -> int:
    end = os.lseek(fd, 0, os.SEEK_END)
    count, offset = 0, 0
    while offset < end:
        chunk = os.pread(fd, 1 << 20, offset)
        count += chunk.count(b"\n")
        offset += len(chunk)
    return count + (0 if end == 0 or os.pread(fd, 1, end - 1) == b"\n" else 1)


def _seq_of(line: bytes) -> int | None:
    try:
        seq = json.loads(line).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _host() -> str:
    return socket.gethostname()
