"""Putting a base backup's files into a data directory (a copy: the backup itself is never
touched), and running `pg_verifybackup` over them.

PostgreSQL 15's pg_verifybackup reads plain-format backups only (tar support came in 18),
so a tar backup is unpacked first (`base.tar` into the directory, `pg_wal.tar` into its
pg_wal/, the manifest beside them) and verified there. Tablespaces (one more tar each) and
compressions other than gzip are not handled: those backups are reported, not guessed at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from triage_ops.procedures.backup.locate import PLAIN, BaseBackup
from triage_ops.sandbox.postgres import pg_bin


class BackupFilesError(RuntimeError):
    """The backup could not be copied or unpacked (the message says which file)."""


@dataclass(frozen=True)
class Verification:
    ok: bool
    ran: bool  # False: pg_verifybackup could not run at all (missing, timed out)
    errors: tuple[str, ...]  # pg_verifybackup's error lines, at most 20
    seconds: float
    exit_code: int | None = None


def copy_into(backup: BaseBackup, datadir: Path, *, owner: tuple[int, int] | None) -> None:
    """`datadir` (which must not exist) becomes a copy of the backup, owned by `owner`
    (the server's user) with the 0700 mode the server insists on."""
    try:
        if backup.format == PLAIN:
            shutil.copytree(backup.path, datadir, symlinks=True)
        else:
            datadir.mkdir(mode=0o700)
            base = _tar(backup.path, "base")
            assert base is not None  # required=True raises instead
            _untar(base, datadir)
            wal = _tar(backup.path, "pg_wal", required=False)
            if wal is not None:
                (datadir / "pg_wal").mkdir(mode=0o700, exist_ok=True)
                _untar(wal, datadir / "pg_wal")
            shutil.copy2(backup.path / "backup_manifest", datadir / "backup_manifest")
    except (OSError, tarfile.TarError, shutil.Error) as exc:
        raise BackupFilesError(f"cannot copy base backup {backup.path}: {exc}") from None
    datadir.chmod(0o700)
    if owner is not None:
        for root, dirs, files in os.walk(datadir):
            os.chown(root, *owner)
            for name in (*dirs, *files):
                os.chown(Path(root) / name, *owner, follow_symlinks=False)


def verify(datadir: Path, *, timeout_s: float) -> Verification:
    """`pg_verifybackup DIR`: every file against the manifest's checksums, and the WAL
    the backup needs parsed with pg_waldump (the manifest's WAL-Ranges)."""
    binary = pg_bin() / "pg_verifybackup"
    started = time.monotonic()
    try:
        done = subprocess.run(
            [str(binary), str(datadir)],
            capture_output=True,
            text=True,
            timeout=max(1.0, timeout_s),
            check=False,
        )
    except FileNotFoundError:
        return Verification(False, False, (f"{binary} not found",), 0.0)
    except subprocess.TimeoutExpired:
        elapsed = round(time.monotonic() - started, 2)
        return Verification(False, False, (f"no result within {timeout_s:g} s",), elapsed)
    elapsed = round(time.monotonic() - started, 2)
    lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
    errors = tuple(ln for ln in lines if "successfully verified" not in ln)[:20]
    return Verification(done.returncode == 0, True, errors, elapsed, done.returncode)


def _tar(path: Path, stem: str, *, required: bool = True) -> Path | None:
    for name in (f"{stem}.tar", f"{stem}.tar.gz"):
        if (path / name).is_file():
            return path / name
    others = sorted(p.name for p in path.glob(f"{stem}.tar.*"))
    if others:
        raise BackupFilesError(f"{path}: {others[0]}: only uncompressed or gzip tars are read")
    if required:
        raise BackupFilesError(f"{path}: no {stem}.tar")
    return None


def _untar(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
