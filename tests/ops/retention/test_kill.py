"""Reliability: `triage-ops retention run` SIGKILLed at random points, over and over.

After every kill: no row is lost (every row missing from the table is in a segment the
manifest names, whose file passes its checksum and count), no row other than the policy's
is ever deleted, no id is archived twice (beyond what the manifest lists as kept), and
the manifest's position is its last segment's last key. Finally a run completes, the table
holds exactly the other rows, and a restore gives back the original table.

The kill points are random (the seed is printed on failure: RETENTION_KILL_SEED=... pins
it); the test also counts how many kills landed while the run was working.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.ops.retention.harness import child_argv, child_env, env_for, invoke
from tests.ops.retention.rows import ids, seed, snapshot
from triage_ops.procedures.retention import archive as ar

POLICY = "status = 'processed' AND created_at < now() - interval '90 days'"
ITERATIONS = 12
BATCH = "20"


def _wait_for_backends_to_go(db: str) -> None:
    """A killed client's sessions end (and free the retention lock) when their server
    process notices the closed socket."""
    deadline = time.monotonic() + 15
    with psycopg.connect(db, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'triage-ops'"
                " AND datname = current_database()"
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError("the killed run's sessions did not end within 15 s")


def _segments(archive: Path) -> int:
    manifest = ar.load_manifest(archive) if archive.exists() else None
    return len(manifest.segments) if manifest is not None else 0


def _killed(
    child: subprocess.Popen[bytes], rng: random.Random, archive: Path, recorded: int
) -> bool:
    """SIGKILL the run at a random point: one time in five during its start-up (plan,
    locks, manifest), otherwise a few milliseconds after it recorded a random number of
    new segments, which lands anywhere in a batch (the DELETE and its COPY, zstd,
    fsync, read-back, journal, COMMIT; a batch of 20 rows takes a few milliseconds, and
    the next one is already being deleted). False if it finished first."""
    started = time.monotonic()
    early = rng.uniform(0.05, 0.5) if rng.random() < 0.2 else None
    target = recorded + rng.randint(1, 10)
    jitter = rng.uniform(0.0, 0.015)
    while child.poll() is None:
        elapsed = time.monotonic() - started
        assert elapsed < 60, "the run neither progressed nor finished within 60 s"
        if (early is not None and elapsed >= early) or (
            early is None and _segments(archive) >= target
        ):
            time.sleep(jitter if early is None else 0)
            child.kill()  # SIGKILL: no cleanup of any kind
            child.communicate()
            return True
        time.sleep(0.005)
    return False


def _check_invariants(
    db: str, archive: Path, *, everything: set[str], policy: set[str], note: str
) -> None:
    present = ids(db)
    missing = everything - present
    assert missing <= policy, f"{note}: a row outside the policy was deleted"
    manifest = ar.load_manifest(archive) if archive.exists() else None
    if manifest is None:
        assert not missing, f"{note}: rows deleted without a manifest"
        return
    in_segments: Counter[str] = Counter()
    kept: set[str] = set()
    for segment in manifest.segments:
        scan = ar.check_segment(archive, segment)  # checksum, gzip, count
        in_segments.update(scan.ids)
        kept.update(segment.kept)
        if segment.state == "deleted":
            left = set(scan.ids) & present - set(segment.kept)
            assert not left, f"{note}: {segment.name} is marked deleted, rows remain"
    lost = missing - set(in_segments)
    assert not lost, f"{note}: {len(lost)} deleted row(s) in no checked segment"
    twice = {i for i, n in in_segments.items() if n > 1} - kept
    assert not twice, f"{note}: {len(twice)} row(s) archived twice"
    if manifest.segments:
        assert manifest.position == manifest.segments[-1].last, note


@pytest.mark.timeout(300)
def test_killed_at_random_points_loses_nothing(db: str, tmp_path: Path) -> None:
    seed(db, tag="op", status="processed", n=6000, age_days=120)
    seed(db, tag="of", status="failed", n=300, age_days=150)
    seed(db, tag="oq", status="queued", n=200, age_days=100)
    seed(db, tag="np", status="processed", n=300, age_days=5)
    before = snapshot(db)
    everything = ids(db)
    policy = ids(db, POLICY)
    assert (len(everything), len(policy)) == (6800, 6000)
    archive = tmp_path / "archive"
    env = child_env(env_for(db, tmp_path))
    argv = child_argv(
        "retention", "run", "--older-than", "90d", "--archive-to", str(archive),
        "--batch-size", BATCH, "--yes",
    )  # fmt: skip
    seed_value = int(os.environ.get("RETENTION_KILL_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed_value)
    kills = 0
    completed_at = None
    for iteration in range(ITERATIONS):
        note = f"RETENTION_KILL_SEED={seed_value} iteration {iteration}"
        recorded = _segments(archive)
        child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if _killed(child, rng, archive, recorded):
            kills += 1
        else:
            err = child.communicate()[1].decode()
            assert child.returncode == 0, f"{note}: exit {child.returncode}: {err}"
            completed_at = iteration
            break
        _wait_for_backends_to_go(db)
        _check_invariants(db, archive, everything=everything, policy=policy, note=note)

    # a last run completes (or finds the work done), and the table is what the policy says
    final = invoke(env_for(db, tmp_path), "-o", "json", "retention", "run",
                   "--archive-to", str(archive), "--yes")  # fmt: skip
    assert final.code == 0, f"seed {seed_value}: {final.err}"
    assert final.json()["outcome"] in ("ok", "noop")
    assert ids(db) == everything - policy
    _check_invariants(db, archive, everything=everything, policy=policy, note="final")
    manifest = ar.load_manifest(archive)
    assert manifest is not None and manifest.state == "complete"
    archived = [i for s in manifest.segments for i in ar.check_segment(archive, s).ids]
    assert sorted(archived) == sorted(policy)
    assert kills >= 8, f"seed {seed_value}: only {kills} kill(s) landed mid-run"
    print(f"seed {seed_value}: {kills} kills, completed at iteration {completed_at}")

    restored = invoke(env_for(db, tmp_path), "retention", "restore", str(archive), "--yes")
    assert restored.code == 0, restored.err
    assert snapshot(db) == before
