"""`triage-ops retention restore`: the rows come back exactly as they were (every column,
jsonb included), a second restore inserts nothing, a damaged archive restores nothing, and
a Message-ID taken since is never overwritten."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

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
    segment = archive / "segment-000003.pgcopy.zst"
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))

    result = invoke(env, "retention", "restore", str(archive), "--yes")
    assert result.code == 2
    assert result.err.splitlines()[-1].startswith(
        "triage-ops: error: the archive fails its checks, nothing restored:"
        " segment-000003.pgcopy.zst: "
    )
    assert len(ids(db)) == 130

    status = invoke(env, "retention", "status", str(archive), "--verify")
    assert status.code == 2
    assert "segment-000003.pgcopy.zst: " in status.err


def _v1_archive(db: str, archive: Path) -> list[str]:
    """What a v1 run (gzip segments, no column types) left when it was killed between
    recording its second segment and deleting that segment's rows."""
    from triage_core.service.store.dsn import describe
    from triage_ops.procedures.retention.session import SESSION_SETTINGS

    options = " ".join(f"-c {k}={v.replace(' ', '')}" for k, v in SESSION_SETTINGS.items())
    archive.mkdir()
    segments: list[dict[str, Any]] = []
    with psycopg.connect(db, autocommit=True, options=options) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'emails'::regclass"
                " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )
        ]
        columns = ["id", "created_at", *[n for n in names if n not in ("id", "created_at")]]
        cutoff = str(conn.execute("SELECT (now() - interval '90 days')::text").fetchone()[0])  # type: ignore[index]
        after = ""
        for number in (1, 2):
            query = (
                f"COPY (SELECT {', '.join(columns)}, xmin FROM emails WHERE created_at <"
                f" '{cutoff}' AND status = 'processed'{after} ORDER BY created_at, id LIMIT 64)"
                " TO STDOUT"
            )
            with conn.cursor().copy(query) as copy:
                data = b"".join(bytes(row) for row in copy)
            lines = data.decode().splitlines()
            first, last = (line.split("\t", 2) for line in (lines[0], lines[-1]))
            name = f"segment-{number:06d}.pgcopy.gz"
            (archive / name).write_bytes(gzip.compress(data, compresslevel=1))
            blob = (archive / name).read_bytes()
            segments.append({
                "name": name, "rows": 64, "bytes": len(blob),
                "sha256": hashlib.sha256(blob).hexdigest(),
                "first": {"created_at": first[1], "id": first[0]},
                "last": {"created_at": last[1], "id": last[0]},
                "pass_no": 1, "archived_at": "2026-01-01T00:00:00Z", "state": "verified",
                "deleted": 0, "kept": [], "deleted_at": None,
            })  # fmt: skip
            after = f" AND (created_at, id) > ('{last[1]}', '{last[0]}')"
            if number == 1:
                ids_ = [line.split("\t", 1)[0] for line in lines]
                conn.execute("DELETE FROM emails WHERE id = ANY(%s::uuid[])", (ids_,))
                segments[0].update(state="deleted", deleted=64, deleted_at="2026-01-01T00:00:01Z")
    manifest = {
        "format": "triage-retention/v1", "table": "emails", "database": describe(db),
        "schema_version": 2, "columns": columns, "version_column": "xmin",
        "policy": {"older_than": "90d", "older_than_s": 7776000, "statuses": ["processed"]},
        "cutoff": cutoff, "created_at": "2026-01-01T00:00:00Z", "updated_at": "",
        "state": "running", "passes": 1, "position": segments[-1]["last"],
        "totals": {}, "segments": segments, "restores": [],
    }  # fmt: skip
    (archive / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return [line.split("\t", 1)[0] for line in lines]


def test_a_v1_archive_resumes_and_restores(db: str, tmp_path: Path) -> None:
    """An archive the gzip (v1) code left half done: the new code checks it, finishes its
    pending delete, goes on in zstd segments, and restores both kinds exactly."""
    seed_mix(db)
    before = snapshot(db)
    archive = tmp_path / "archive"
    pending = _v1_archive(db, archive)
    env = env_for(db, tmp_path)
    assert len(ids(db, POLICY)) == 300 - 64
    status = invoke(env, "-o", "json", "retention", "status", str(archive), "--verify")
    assert status.code == 1  # partial
    assert (status.json()["problems"], status.json()["pending"]) == ([], 1)

    result = invoke(env, "-o", "json", "retention", "run", "--archive-to", str(archive), "--yes")
    assert result.code == 0, result.err
    after = result.json()["after"]
    assert after["resumed_segments"] == ["segment-000002.pgcopy.gz"]
    assert (after["rows_archived"], after["rows_deleted"]) == (300 - 128, 300 - 64)
    assert ids(db, POLICY) == set() and not set(pending) & ids(db)
    manifest = json.loads((archive / "manifest.json").read_text())
    assert manifest["format"] == "triage-retention/v2"
    assert [s["compression"] for s in manifest["segments"]] == ["gzip", "gzip", "zstd"]

    code, out = restore(env, archive, "--yes")
    assert (code, out["outcome"]) == (0, "ok")
    assert snapshot(db) == before
