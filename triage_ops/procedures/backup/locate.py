"""Finding base backups on disk and reading when each one started.

A base backup is a directory written by `pg_basebackup -D DIR` in plain format (a data
directory with `backup_label` and `backup_manifest`) or tar format (`base.tar[.gz]`,
`pg_wal.tar[.gz]` and `backup_manifest`). pg_basebackup writes the manifest last, so a
directory without one is a backup still running or one that failed: it is listed as
incomplete, never picked as "the latest". (The runbook's `pg_basebackup --list` does not
exist: pg_basebackup keeps no catalogue; the directory is the catalogue.)

The start time is the `START TIME` line of `backup_label` (read from the tar for a tar
backup), else the manifest's entry for `backup_label` (written at the same moment).
The end time is when the manifest was written (its mtime): the earliest moment a restore
of this backup is consistent.
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triage_ops.errors import UsageError

PLAIN = "plain"
TAR = "tar"
_TAR_NAMES = ("base.tar", "base.tar.gz")
_START_TIME = re.compile(r"^START TIME: (?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?: (?P<tz>\S+))?$")
_START_WAL = re.compile(r"^START WAL LOCATION: (?P<lsn>[0-9A-F]+/[0-9A-F]+)")
_LABEL = re.compile(r"^LABEL: (?P<label>.*)$")


@dataclass(frozen=True)
class BaseBackup:
    path: Path
    format: str  # "plain" | "tar"
    start_time: datetime  # UTC
    end_time: datetime  # UTC: when backup_manifest was written
    start_lsn: str = ""
    label: str = ""

    def age_hours(self, now: datetime) -> float:
        return (now - self.start_time).total_seconds() / 3600

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat(),
            "start_lsn": self.start_lsn,
            "label": self.label,
        }


@dataclass(frozen=True)
class Inventory:
    backups: tuple[BaseBackup, ...]  # complete ones, oldest first
    incomplete: tuple[Path, ...]  # directories without backup_manifest, oldest first

    @property
    def latest(self) -> BaseBackup | None:
        return self.backups[-1] if self.backups else None


def scan(backup_dir: Path) -> Inventory:
    """Every base backup directly under `backup_dir`. A missing directory is a UsageError
    (a wrong setting), an empty one an empty inventory."""
    if not backup_dir.is_dir():
        raise UsageError(f"backup_dir {backup_dir} is not a directory")
    found: list[BaseBackup] = []
    incomplete: list[Path] = []
    for entry in sorted(backup_dir.iterdir()):
        if not entry.is_dir():
            continue
        if not (entry / "backup_manifest").is_file():
            if (entry / "backup_label").is_file() or any((entry / n).exists() for n in _TAR_NAMES):
                incomplete.append(entry)
            continue
        try:
            found.append(read(entry))
        except UsageError:
            incomplete.append(entry)
    found.sort(key=lambda b: (b.start_time, b.end_time, str(b.path)))
    incomplete.sort(key=lambda p: (p.stat().st_mtime, str(p)))
    return Inventory(tuple(found), tuple(incomplete))


def read(path: Path) -> BaseBackup:
    """One backup directory (a `--backup PATH` given by hand, or one found by `scan`)."""
    manifest_path = path / "backup_manifest"
    if not manifest_path.is_file():
        raise UsageError(f"{path} is not a complete base backup (no backup_manifest)")
    fmt = PLAIN if (path / "backup_label").is_file() else TAR
    if fmt == TAR and not any((path / n).is_file() for n in _TAR_NAMES):
        raise UsageError(f"{path}: neither backup_label nor base.tar[.gz]: not a base backup")
    label_text = _label_text(path, fmt)
    end_time = datetime.fromtimestamp(manifest_path.stat().st_mtime, tz=UTC)
    start = _start_time(label_text) if label_text else None
    if start is None:
        start = _manifest_label_time(manifest_path)
    if start is None:
        raise UsageError(f"{path}: cannot tell when the backup started (no backup_label)")
    return BaseBackup(
        path=path,
        format=fmt,
        start_time=start,
        end_time=max(end_time, start),
        start_lsn=_first(_START_WAL, label_text, "lsn"),
        label=_first(_LABEL, label_text, "label"),
    )


def _label_text(path: Path, fmt: str) -> str:
    if fmt == PLAIN:
        return (path / "backup_label").read_text(encoding="utf-8", errors="replace")
    name = next(n for n in _TAR_NAMES if (path / n).is_file())
    try:
        with tarfile.open(path / name) as tar:
            member = tar.extractfile("backup_label")
            return "" if member is None else member.read().decode("utf-8", "replace")
    except (KeyError, tarfile.TarError, OSError):
        return ""


def _start_time(label: str) -> datetime | None:
    for line in label.splitlines():
        match = _START_TIME.match(line.strip())
        if match:
            stamp = datetime.strptime(match["ts"], "%Y-%m-%d %H:%M:%S")
            # pg_basebackup writes the server's log_timezone abbreviation; UTC/GMT is the
            # usual one on servers and the only one we can read without a tz database
            # lookup: any other zone falls back to the manifest's timestamp (always GMT).
            if match["tz"] in (None, "UTC", "GMT"):
                return stamp.replace(tzinfo=UTC)
            return None
    return None


def _manifest_label_time(manifest: Path) -> datetime | None:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for item in data.get("Files", []) if isinstance(data, dict) else []:
        if isinstance(item, dict) and item.get("Path") == "backup_label":
            modified = str(item.get("Last-Modified", ""))
            try:
                stamp = datetime.strptime(modified, "%Y-%m-%d %H:%M:%S GMT")
            except ValueError:
                return None
            return stamp.replace(tzinfo=UTC)
    return None


def _first(pattern: re.Pattern[str], text: str, group: str) -> str:
    for line in text.splitlines():
        match = pattern.match(line.strip())
        if match:
            return match[group]
    return ""
