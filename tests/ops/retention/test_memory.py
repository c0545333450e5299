"""Memory is bounded by neither the table nor the batch: a run whose single batch holds
~180 MiB of rows stays within the issue's 150 MB (the rows stream through 1 MiB slices
into zstd, and are read back one zstd block at a time, however well they compress)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from tests.ops.retention.harness import child_argv, child_env, env_for
from tests.ops.retention.rows import ids

ROWS = 20_000
ROW_BYTES = 9_600  # of summary text per row: ~183 MiB in the one batch
LIMIT_MB = 150  # the bound; the interpreter, psycopg and zstd take ~50 of it


@pytest.mark.timeout(120)
def test_one_huge_batch_streams_in_bounded_memory(db: str, tmp_path: Path) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO emails (message_id, status, summary, created_at)"
            " SELECT format('<big-%%s@test.example>', g), 'processed',"
            " repeat(md5(g::text), %s), now() - interval '100 days' - g * interval '1 second'"
            " FROM generate_series(1, %s) AS g",
            (ROW_BYTES // 32, ROWS),
        )
    archive = tmp_path / "archive"
    argv = child_argv(
        "-o", "json", "retention", "run", "--older-than", "90d", "--archive-to", str(archive),
        "--batch-size", "200000", "--yes",
    )  # fmt: skip
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        actions = [(os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        pid = os.posix_spawn(argv[0], argv, child_env(env_for(db, tmp_path)), file_actions=actions)
        peak = _peak_rss_until_exit(pid)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (tmp_path / "err").read_text()[-2000:]
    assert ids(db) == set()
    assert [p.name for p in archive.glob("segment-*")] == ["segment-000001.pgcopy.zst"]
    peak_mb = peak / 2**20
    batch_mib = ROWS * ROW_BYTES >> 20
    assert 20 < peak_mb < LIMIT_MB, f"peak RSS {peak_mb:.0f} MB for a {batch_mib} MiB batch"


def _peak_rss_until_exit(pid: int) -> int:
    """The child's own peak RSS, sampled every 10 ms (VmHWM of its own address space).
    Not wait4's ru_maxrss: Linux records the spawning process's high-water mark at exec,
    so a child of a large pytest process would report the test run's memory."""
    import psutil

    proc = psutil.Process(pid)
    peak = 0
    while True:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return peak
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
            return peak
        time.sleep(0.01)
