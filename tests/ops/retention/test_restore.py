"""`triage-ops retention restore`: the rows come back exactly as they were (every column,
jsonb included), a second restore inserts nothing, a damaged archive restores nothing, and
a Message-ID taken since is never overwritten."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.ops.retention.harness import env_for, invoke
from tests.ops.retention.rows import ids, seed_mix, snapshot

pytestmark = pytest.mark.timeout(120)

POLICY = "status = 'processed' AND created_at < now() - interval '90 days'"


def archived(db: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    result = invoke(
        env, "retention", "run", "--older-than", "90d", "--archive-to", str(archive),
        "--batch-size", "64", "--yes",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert ids(db, POLICY) == set()
    return archive, env


def restore(env: dict[str, str], archive: Path, *flags: str) -> tuple[int, dict[str, object]]:
    result = invoke(env, "-o", "json", "retention", "restore", str(archive), *flags)
    return result.code, result.json()


def test_round_trip_is_exact_and_idempotent(db: str, tmp_path: Path) -> None:
    seed_mix(db)
    before = snapshot(db)
    archive, env = archived(db, tmp_path)

    code, out = restore(env, archive, "--dry-run")
    assert (code, out["outcome"]) == (0, "dry-run")
    plan = out["plan"]
    assert isinstance(plan, dict)
    assert {k: plan["dry_run"][k] for k in ("segments", "rows", "would_insert")} == {
        "segments": 5,
        "rows": 300,
        "would_insert": 300,
    }
    assert len(ids(db)) == 130  # the dry run inserted nothing

    code, out = restore(env, archive, "--yes")
    assert (code, out["outcome"], out["findings"]) == (0, "ok", [])
    assert out["after"] == {
        "archive_dir": str(archive),
        "segments": 5,
        "candidates": 300,
        "inserted": 300,
        "already_present": 0,
        "message_id_conflicts": 0,
    }
    assert snapshot(db) == before  # every column of every row, jsonb included

    code, out = restore(env, archive, "--yes")
    assert (code, out["outcome"]) == (0, "noop")
    plan = out["plan"]
    assert isinstance(plan, dict)
    assert (plan["dry_run"]["would_insert"], plan["dry_run"]["already_present"]) == (0, 300)
    assert snapshot(db) == before

    # a restored archive is not resumed: its rows would be archived twice
    again = invoke(env, "retention", "run", "--archive-to", str(archive), "--yes")
    assert again.code == 3
    assert again.err.splitlines()[-1] == (
        "triage-ops: error: this archive has been restored into the table: archive to a new"
        " directory"
    )


def test_a_taken_message_id_is_not_overwritten(db: str, tmp_path: Path) -> None:
    seed_mix(db)
    archive, env = archived(db, tmp_path)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO emails (message_id, status) VALUES ('<op-5@test.example>', 'queued')"
        )
    code, out = restore(env, archive, "--yes")
    assert (code, out["outcome"]) == (2, "unverified")
    after = out["after"]
    assert isinstance(after, dict)
    assert (after["inserted"], after["message_id_conflicts"]) == (299, 1)
    findings = out["findings"]
    assert isinstance(findings, list)
    assert [f["code"] for f in findings] == ["TRI-ACTION-002", "TRI-RET-005"]
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT status FROM emails WHERE message_id = '<op-5@test.example>'"
        ).fetchall()
    assert row == [("queued",)]


def test_a_damaged_archive_restores_nothing(db: str, tmp_path: Path) -> None:
    seed_mix(db)
    archive, env = archived(db, tmp_path)
    segment = archive / "segment-000003.pgcopy.gz"
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))

    result = invoke(env, "retention", "restore", str(archive), "--yes")
    assert result.code == 2
    assert result.err.splitlines()[-1].startswith(
        "triage-ops: error: the archive fails its checks, nothing restored:"
        " segment-000003.pgcopy.gz: "
    )
    assert len(ids(db)) == 130

    status = invoke(env, "retention", "status", str(archive), "--verify")
    assert status.code == 2
    assert "segment-000003.pgcopy.gz: " in status.err
