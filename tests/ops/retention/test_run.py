"""`triage-ops retention run` against a real PostgreSQL: exactly the policy's rows are
archived and deleted, nothing else; dry runs write nothing; runs resume; a row a worker
changes is archived as it was deleted, or kept; a locked row is skipped, not waited for;
keys the client cannot order as bytes are sorted by the server; two runs never race."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.ops.retention.harness import env_for, invoke
from tests.ops.retention.rows import ids, scalar, seed, seed_mix, snapshot
from triage_core.service.store.dsn import describe
from triage_ops.procedures.retention import archive as ar
from triage_ops.procedures.retention.batches import Pipeline
from triage_ops.procedures.retention.session import ADVISORY_LOCK_KEY

pytestmark = pytest.mark.timeout(120)

POLICY = "status = 'processed' AND created_at < now() - interval '90 days'"
WIDER = "status IN ('processed', 'failed') AND created_at < now() - interval '90 days'"


def run(env: dict[str, str], archive: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    result = invoke(
        env, "-o", "json", "retention", "run", "--archive-to", str(archive), "--yes", *args
    )
    return result.code, result.json(), result.err


def archived_ids(archive: Path) -> list[str]:
    manifest = ar.load_manifest(archive)
    assert manifest is not None
    return [i for s in manifest.segments for i in ar.check_segment(archive, s).ids]


def test_archives_and_deletes_exactly_the_policy_rows(db: str, tmp_path: Path) -> None:
    seed_mix(db)
    before = snapshot(db)
    policy = ids(db, POLICY)
    stays = ids(db) - policy
    assert (len(policy), len(stays)) == (300, 130)
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)

    code, out, err = run(env, archive, "--older-than", "90d", "--batch-size", "70")

    assert code == 0, err
    assert out["outcome"] == "ok"
    assert out["findings"] == []
    after = out["after"]
    assert {
        k: after[k] for k in ("rows_archived", "rows_deleted", "rows_kept", "rows_skipped_locked")
    } == {"rows_archived": 300, "rows_deleted": 300, "rows_kept": 0, "rows_skipped_locked": 0}
    assert (after["complete"], after["segments_written"], after["pass"]) == (True, 5, 1)
    # the table holds exactly the other rows, every column untouched
    assert ids(db) == stays
    assert snapshot(db) == [row for row in before if str(row["id"]) in stays]
    # the archive holds exactly the policy rows, each once, in five checked segments
    archived = archived_ids(archive)
    assert sorted(archived) == sorted(policy)
    manifest = ar.load_manifest(archive)
    assert manifest is not None
    assert [s.rows for s in manifest.segments] == [70, 70, 70, 70, 20]
    assert all(s.state == "deleted" and s.deleted == s.rows for s in manifest.segments)
    assert all(s.name.endswith(".pgcopy.zst") for s in manifest.segments)
    # each segment's keys are its smallest and largest (created_at, id): the batches
    # follow each other in key order, and the manifest's position is the last key
    policy_keys = sorted(
        (str(r["created_at"].isoformat()), str(r["id"])) for r in before if str(r["id"]) in policy
    )
    firsts = [policy_keys[i][1] for i in (0, 70, 140, 210, 280)]
    lasts = [policy_keys[i][1] for i in (69, 139, 209, 279, 299)]
    assert [s.first.id for s in manifest.segments] == firsts
    assert [s.last.id for s in manifest.segments] == lasts
    assert manifest.position == manifest.segments[-1].last
    assert manifest.policy == {
        "older_than": "90d",
        "older_than_s": 90 * 86400,
        "statuses": ["processed"],
    }
    assert manifest.cutoff == after["cutoff"]
    assert manifest.columns[:2] == ["id", "created_at"]
    assert sorted(manifest.columns) == sorted(before[0])
    assert dict(zip(manifest.columns, manifest.column_types, strict=True)) == {
        "id": "uuid",
        "created_at": "timestamp with time zone",
        "message_id": "text",
        "status": "text",
        "category": "text",
        "priority": "text",
        "summary": "text",
        "result": "jsonb",
        "attempts": "integer",
        "error": "text",
        "processed_at": "timestamp with time zone",
    }
    assert manifest.format == "triage-retention/v2"

    # nothing left to do: a second run is a no-op
    code, out, err = run(env, archive)
    assert (code, out["outcome"]) == (0, "noop"), err
    assert ids(db) == stays

    status = invoke(env, "-o", "json", "retention", "status", str(archive), "--verify")
    assert status.code == 0
    report = status.json()
    assert {k: report[k] for k in ("state", "segments", "rows", "deleted", "kept", "pending")} == {
        "state": "complete",
        "segments": 5,
        "rows": 300,
        "deleted": 300,
        "kept": 0,
        "pending": 0,
    }
    assert (report["problems"], report["policy"]) == ([], "status processed older than 90d")


def test_status_widens_the_policy(db: str, tmp_path: Path) -> None:
    seed_mix(db)
    wider = ids(db, WIDER)
    stays = ids(db) - wider
    archive = tmp_path / "archive"
    code, out, err = run(
        env_for(db, tmp_path), archive, "--older-than", "90d", "--status", "processed",
        "--status", "failed",
    )  # fmt: skip
    assert code == 0, err
    assert (out["after"]["rows_archived"], out["after"]["rows_deleted"]) == (340, 340)
    assert ids(db) == stays
    assert scalar(db, "SELECT count(*) FROM emails WHERE status IN ('queued', 'processing')") == 40
    assert sorted(archived_ids(archive)) == sorted(wider)


def test_dry_run_writes_nothing(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGTZ", "UTC")  # timestamps as the run prints them
    seed_mix(db)
    before = snapshot(db)
    oldest, newest = scalar(
        db,
        "SELECT ARRAY[min(created_at), max(created_at)]::text[] FROM emails WHERE " + POLICY,
    )
    size = scalar(db, "SELECT sum(pg_column_size(e.*)) FROM emails e WHERE " + POLICY)
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    for flags in (["--dry-run"], []):
        prefix = [] if flags else ["--dry-run"]
        result = invoke(
            env, *prefix, "-o", "json", "retention", "run", "--older-than", "90d",
            "--archive-to", str(archive), *flags,
        )  # fmt: skip
        assert result.code == 0, result.err
        out = result.json()
        assert out["outcome"] == "dry-run"
        counts = out["plan"]["dry_run"]
        assert (counts["rows"], counts["resume"], counts["batch_size"]) == (300, False, 10000)
        assert counts["old_rows_kept_by_status"] == {"failed": 40, "processing": 10, "queued": 30}
        assert abs(counts["bytes_estimate"] - size) <= 1  # 300 rows: the sample is all
        assert (counts["oldest"], counts["newest"]) == (oldest, newest)
        assert out["plan"]["summary"].startswith("archive 300 emails rows (status processed")
    assert snapshot(db) == before
    assert not archive.exists()


def test_asks_before_deleting(db: str, tmp_path: Path) -> None:
    seed_mix(db)
    archive = tmp_path / "archive"
    result = invoke(
        env_for(db, tmp_path), "retention", "run", "--older-than", "90d",
        "--archive-to", str(archive),
    )  # fmt: skip
    assert result.code == 3
    assert result.err.splitlines()[-1] == (
        "triage-ops: error: this change needs --yes when not run from a terminal"
        " (--dry-run shows the plan)"
    )
    assert len(ids(db, POLICY)) == 300
    assert not archive.exists()


def test_resumes_after_the_time_budget_with_the_same_cutoff(db: str, tmp_path: Path) -> None:
    seed_mix(db)
    stays = ids(db) - ids(db, POLICY)
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)

    code, out, _ = run(env, archive, "--older-than", "90d", "--batch-size", "50",
                       "--max-duration", "1s")  # fmt: skip
    assert (code, out["outcome"]) == (2, "unverified")
    assert out["after"]["complete"] is False
    assert out["after"]["rows_deleted"] == out["after"]["rows_archived"] == 50
    assert [f["code"] for f in out["findings"]] == ["TRI-ACTION-002", "TRI-RET-002"]
    assert out["findings"][1]["command"] == f"triage-ops retention run --archive-to {archive}"
    assert len(ids(db, POLICY)) == 250
    cutoff = out["after"]["cutoff"]
    status = invoke(env, "retention", "status", str(archive))
    assert status.code == 1  # partial

    # another policy for the same archive is refused; the archive's own is resumed
    refused = invoke(
        env, "retention", "run", "--archive-to", str(archive), "--older-than", "30d", "--yes"
    )
    assert (refused.code, refused.out) == (3, "")
    assert refused.err.splitlines() == [
        "triage-ops: error: the archive was started with policy status processed older than"
        " 90d, not status processed older than 30d: resume it without --older-than/--status,"
        " or archive to a new directory"
    ]
    (archive / "segment-000099.pgcopy.zst").write_bytes(b"left by a killed run")
    code, out, err = run(env, archive)
    assert (code, out["outcome"]) == (0, "ok"), err
    after = out["after"]
    assert (after["complete"], after["cutoff"], after["rows_deleted"]) == (True, cutoff, 250)
    assert after["orphans_removed"] == ["segment-000099.pgcopy.zst"]
    assert ids(db) == stays
    assert len(archived_ids(archive)) == len(set(archived_ids(archive))) == 300


def _fail_the_second_commit(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The run stops between recording segment 2 and committing its delete (as a kill
    there would): its transaction is rolled back, its segment stays `verified`."""
    original = Pipeline._commit
    calls: list[str] = []

    def commit(self: Pipeline, taken: Any, *args: Any) -> None:
        calls.append(taken.name)
        if len(calls) == 2:
            raise RuntimeError("killed between the record and the COMMIT")
        original(self, taken, *args)

    monkeypatch.setattr(Pipeline, "_commit", commit)
    return calls


def test_an_interrupted_delete_is_finished_by_the_next_run(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_mix(db)
    stays = ids(db) - ids(db, POLICY)
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    _fail_the_second_commit(monkeypatch)
    code, out, _ = run(env, archive, "--older-than", "90d", "--batch-size", "100")
    assert (code, out["outcome"]) == (2, "failed")
    assert out["error"] == "RuntimeError: killed between the record and the COMMIT"
    manifest = ar.load_manifest(archive)
    assert manifest is not None
    assert [(s.name, s.state) for s in manifest.segments] == [
        ("segment-000001.pgcopy.zst", "deleted"),
        ("segment-000002.pgcopy.zst", "verified"),
    ]
    # the second batch is archived, its delete rolled back; the third, which the server
    # had already deleted and streamed, rolled back too, its file never recorded
    assert len(ids(db, POLICY)) == 200
    assert sorted(p.name for p in archive.glob("segment-*")) == [
        "segment-000001.pgcopy.zst",
        "segment-000002.pgcopy.zst",
    ]

    monkeypatch.undo()
    code, out, err = run(env, archive)
    assert (code, out["outcome"]) == (0, "ok"), err
    assert out["after"]["resumed_segments"] == ["segment-000002.pgcopy.zst"]
    assert out["after"]["rows_deleted"] == 200
    assert ids(db) == stays
    assert len(set(archived_ids(archive))) == len(archived_ids(archive)) == 300


def test_a_row_a_worker_changes_before_its_batch_is_archived_as_changed(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The segment is what the DELETE removed: a row rewritten (still the policy's) goes
    with its new content, a row requeued (no longer the policy's) is not deleted."""
    seed_mix(db)
    before = {str(r["id"]): r for r in snapshot(db)}
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    oldest = sorted(ids(db, POLICY), key=lambda i: (before[i]["created_at"], i))
    requeued, rewritten = oldest[0], oldest[1]  # both in the first batch
    original = Pipeline._stream
    calls: list[int] = []

    def worker_writes_first(self: Pipeline, *args: Any) -> Any:
        if not calls:
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute("UPDATE emails SET status = 'queued' WHERE id = %s", (requeued,))
                conn.execute(
                    "UPDATE emails SET result = '{\"rewritten\": true}' WHERE id = %s",
                    (rewritten,),
                )
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(Pipeline, "_stream", worker_writes_first)
    code, out, err = run(env, archive, "--older-than", "90d", "--batch-size", "100")
    assert (code, out["outcome"]) == (0, "ok"), err
    assert (out["after"]["rows_deleted"], out["after"]["rows_kept"]) == (299, 0)
    assert ids(db, POLICY) == set()
    assert scalar(db, "SELECT status FROM emails WHERE id = %s", (requeued,)) == "queued"
    assert requeued not in archived_ids(archive)
    assert rewritten in archived_ids(archive) and rewritten not in ids(db)

    restored = invoke(env, "-o", "json", "retention", "restore", str(archive), "--yes")
    assert restored.code == 0, restored.err
    assert restored.json()["after"]["inserted"] == 299
    rows = {str(r["id"]): r for r in snapshot(db)}
    assert rows[rewritten]["result"] == {"rewritten": True}  # as it was deleted
    assert rows[requeued]["status"] == "queued"
    unchanged = set(before) - {requeued, rewritten}
    assert {i: rows[i] for i in unchanged} == {i: before[i] for i in unchanged}


def test_a_row_changed_before_an_interrupted_delete_is_finished_stays(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one window left between archiving and deleting: a segment recorded whose
    delete did not commit. Its rows changed since (row version) are kept, not deleted."""
    seed_mix(db)
    before = {str(r["id"]): r for r in snapshot(db)}
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    _fail_the_second_commit(monkeypatch)
    code, out, _ = run(env, archive, "--older-than", "90d", "--batch-size", "100")
    assert (code, out["outcome"]) == (2, "failed")
    manifest = ar.load_manifest(archive)
    assert manifest is not None
    pending = ar.check_segment(archive, manifest.segments[1]).ids
    requeued, rewritten = pending[0], pending[1]
    with psycopg.connect(db, autocommit=True) as conn:  # a worker, before the resume
        conn.execute("UPDATE emails SET status = 'queued' WHERE id = %s", (requeued,))
        conn.execute(
            "UPDATE emails SET result = '{\"rewritten\": true}' WHERE id = %s", (rewritten,)
        )

    monkeypatch.undo()
    code, out, _ = run(env, archive)
    # neither changed row was deleted; the still-processed one is reported as left over
    assert (code, out["outcome"]) == (2, "unverified")
    assert out["after"]["resumed_segments"] == ["segment-000002.pgcopy.zst"]
    assert (out["after"]["rows_deleted"], out["after"]["rows_kept"]) == (198, 2)
    assert [f["code"] for f in out["findings"]] == ["TRI-ACTION-002", "TRI-RET-001"]
    assert out["findings"][1]["summary"].startswith("1 policy row(s) older than")
    assert ids(db, POLICY) == {rewritten}
    manifest = ar.load_manifest(archive)
    assert manifest is not None
    assert manifest.segments[1].kept == sorted([requeued, rewritten])

    # the next run archives the leftover (a second pass); restore brings back the
    # latest copy of each row, never the stale one
    code, out, err = run(env, archive)
    assert (code, out["outcome"], out["after"]["pass"]) == (0, "ok", 2), err
    assert out["after"]["rows_deleted"] == 1
    assert ids(db, POLICY) == set()
    restored = invoke(env, "-o", "json", "retention", "restore", str(archive), "--yes")
    assert restored.code == 0, restored.err
    assert restored.json()["after"]["inserted"] == 299
    rows = {str(r["id"]): r for r in snapshot(db)}
    assert rows[rewritten]["result"] == {"rewritten": True}
    assert rows[requeued]["status"] == "queued"
    unchanged = set(before) - {requeued, rewritten}
    assert {i: rows[i] for i in unchanged} == {i: before[i] for i in unchanged}


def test_two_runs_never_race(db: str, tmp_path: Path) -> None:
    seed_mix(db)
    archive = tmp_path / "archive"
    with psycopg.connect(db, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        code, out, _ = run(env_for(db, tmp_path), archive, "--older-than", "90d")
    assert (code, out["outcome"]) == (2, "failed")
    assert out["error"] == (
        "RetentionBusy: another retention run or restore holds the retention lock on"
        f" {describe(db)}: wait for it to finish (retention run not started)"
    )
    assert len(ids(db, POLICY)) == 300
    assert not (archive / "manifest.json").exists()


def test_a_row_a_worker_holds_locked_is_skipped_not_waited_for(db: str, tmp_path: Path) -> None:
    seed_mix(db)
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    rows = snapshot(db, POLICY)
    locked = min(rows, key=lambda r: (r["created_at"], r["id"]))["id"]  # in the first batch
    with psycopg.connect(db) as worker:  # a transaction holding the row, as a worker does
        worker.execute("SELECT 1 FROM emails WHERE id = %s FOR UPDATE", (locked,))
        code, out, err = run(env, archive, "--older-than", "90d", "--batch-size", "100")
    assert (code, out["outcome"]) == (2, "unverified")
    after = out["after"]
    assert (after["rows_deleted"], after["rows_kept"], after["rows_skipped_locked"]) == (299, 0, 1)
    assert [f["code"] for f in out["findings"]] == ["TRI-ACTION-002", "TRI-RET-001"]
    assert "segment-000001.pgcopy.zst: a row is locked by another session: skipping it" in err
    assert ids(db, POLICY) == {str(locked)}
    assert str(locked) not in archived_ids(archive)

    code, out, err = run(env, archive)
    assert (code, out["outcome"], out["after"]["rows_deleted"]) == (0, "ok", 1), err
    assert ids(db, POLICY) == set()
    assert sorted(archived_ids(archive)) == sorted(str(r["id"]) for r in rows)


def _as_text(db: str, query: str) -> list[tuple[str, ...]]:
    """Rows as PostgreSQL prints them in UTC (Python has no BC dates nor -infinity)."""
    with psycopg.connect(db, options="-c TimeZone=UTC -c DateStyle=ISO,YMD") as conn:
        return [tuple(r) for r in conn.execute(query).fetchall()]


def test_keys_the_client_cannot_order_are_sorted_by_the_server(db: str, tmp_path: Path) -> None:
    """A BC date and -infinity do not compare as bytes: their batch is redone with the
    server sorting the rows, and every segment still has its true first and last key."""
    seed(db, tag="op", status="processed", n=50, age_days=120)
    with psycopg.connect(db, autocommit=True) as conn:
        for tag, when in (("bc", "4000-03-15 12:00:00+00 BC"), ("inf", "-infinity")):
            conn.execute(
                "INSERT INTO emails (message_id, status, created_at) VALUES (%s, 'processed', %s)",
                (f"<{tag}@test.example>", when),
            )
    everything = "SELECT e::text FROM emails e ORDER BY id"
    before = _as_text(db, everything)
    keys = _as_text(
        db, "SELECT created_at::text, id::text FROM emails e ORDER BY e.created_at, e.id"
    )
    assert keys[0][0] == "-infinity" and keys[1][0] == "4000-03-15 12:00:00+00 BC"
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    code, out, err = run(env, archive, "--older-than", "90d", "--batch-size", "20")
    assert (code, out["outcome"]) == (0, "ok"), err
    assert out["after"]["rows_deleted"] == 52
    assert ids(db) == set()
    manifest = ar.load_manifest(archive)
    assert manifest is not None
    assert [s.rows for s in manifest.segments] == [20, 20, 12]
    assert [(s.first.created_at, s.first.id, s.last.created_at, s.last.id)
            for s in manifest.segments] == [
        (*keys[0], *keys[19]), (*keys[20], *keys[39]), (*keys[40], *keys[51])
    ]  # fmt: skip
    restored = invoke(env, "retention", "restore", str(archive), "--yes")
    assert restored.code == 0, restored.err
    assert _as_text(db, everything) == before
