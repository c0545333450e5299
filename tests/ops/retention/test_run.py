"""`triage-ops retention run` against a real PostgreSQL: exactly the policy's rows are
archived and deleted, nothing else; dry runs write nothing; runs resume; a row changed
between its archive and its delete is not deleted; two runs never race."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.ops.retention.harness import env_for, invoke
from tests.ops.retention.rows import ids, scalar, seed_mix, snapshot
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
    assert {k: after[k] for k in ("rows_archived", "rows_deleted", "rows_kept")} == {
        "rows_archived": 300,
        "rows_deleted": 300,
        "rows_kept": 0,
    }
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
    assert manifest.policy == {
        "older_than": "90d",
        "older_than_s": 90 * 86400,
        "statuses": ["processed"],
    }
    assert manifest.cutoff == after["cutoff"]
    assert manifest.columns[:2] == ["id", "created_at"]
    assert sorted(manifest.columns) == sorted(before[0])

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
    (archive / "segment-000099.pgcopy.gz").write_bytes(b"left by a killed run")
    code, out, err = run(env, archive)
    assert (code, out["outcome"]) == (0, "ok"), err
    after = out["after"]
    assert (after["complete"], after["cutoff"], after["rows_deleted"]) == (True, cutoff, 250)
    assert after["orphans_removed"] == ["segment-000099.pgcopy.gz"]
    assert ids(db) == stays
    assert len(archived_ids(archive)) == len(set(archived_ids(archive))) == 300


def test_an_interrupted_delete_is_finished_by_the_next_run(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_mix(db)
    stays = ids(db) - ids(db, POLICY)
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    original = Pipeline._delete_segment
    calls = []

    def crash_on_the_second(self: Pipeline, segment: ar.Segment, *args: Any) -> None:
        calls.append(segment.name)
        if len(calls) == 2:
            raise RuntimeError("killed between the archive and the delete")
        original(self, segment, *args)

    monkeypatch.setattr(Pipeline, "_delete_segment", crash_on_the_second)
    code, out, _ = run(env, archive, "--older-than", "90d", "--batch-size", "100")
    assert (code, out["outcome"]) == (2, "failed")
    assert out["error"] == "RuntimeError: killed between the archive and the delete"
    manifest = ar.load_manifest(archive)
    assert manifest is not None
    assert [(s.name, s.state) for s in manifest.segments] == [
        ("segment-000001.pgcopy.gz", "deleted"),
        ("segment-000002.pgcopy.gz", "verified"),
    ]
    assert len(ids(db, POLICY)) == 200  # the second batch is archived, not deleted

    monkeypatch.setattr(Pipeline, "_delete_segment", original)
    code, out, err = run(env, archive)
    assert (code, out["outcome"]) == (0, "ok"), err
    assert out["after"]["resumed_segments"] == ["segment-000002.pgcopy.gz"]
    assert out["after"]["rows_deleted"] == 200
    assert ids(db) == stays
    assert len(set(archived_ids(archive))) == len(archived_ids(archive)) == 300


def test_a_row_changed_between_archive_and_delete_stays(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_mix(db)
    before = {str(r["id"]): r for r in snapshot(db)}
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    original = Pipeline._delete_segment
    changed: list[str] = []

    def worker_writes_first(self: Pipeline, segment: ar.Segment, ids_: str, *args: Any) -> None:
        if not changed:  # a worker touches two archived rows before their delete
            requeued, rewritten = ids_.split(",")[:2]
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute("UPDATE emails SET status = 'queued' WHERE id = %s", (requeued,))
                conn.execute(
                    "UPDATE emails SET result = '{\"rewritten\": true}' WHERE id = %s",
                    (rewritten,),
                )
            changed.extend([requeued, rewritten])
        original(self, segment, ids_, *args)

    monkeypatch.setattr(Pipeline, "_delete_segment", worker_writes_first)
    code, out, _ = run(env, archive, "--older-than", "90d", "--batch-size", "100")
    requeued, rewritten = changed
    # neither changed row was deleted; the still-processed one is reported as left over
    assert (code, out["outcome"]) == (2, "unverified")
    assert (out["after"]["rows_deleted"], out["after"]["rows_kept"]) == (298, 2)
    assert [f["code"] for f in out["findings"]] == ["TRI-ACTION-002", "TRI-RET-001"]
    assert out["findings"][1]["summary"].startswith("1 policy row(s) older than")
    assert ids(db, POLICY) == {rewritten}
    assert scalar(db, "SELECT status FROM emails WHERE id = %s", (requeued,)) == "queued"
    assert scalar(db, "SELECT result FROM emails WHERE id = %s", (rewritten,)) == {
        "rewritten": True
    }
    manifest = ar.load_manifest(archive)
    assert manifest is not None
    assert manifest.segments[0].kept == sorted(changed)

    # the next run archives the leftover (a second pass); restore brings back the
    # latest copy of each row, never the stale one
    monkeypatch.setattr(Pipeline, "_delete_segment", original)
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
    unchanged = set(before) - set(changed)
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


def test_a_row_a_worker_holds_locked_is_skipped_not_waited_for(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_mix(db)
    archive = tmp_path / "archive"
    env = env_for(db, tmp_path)
    original = Pipeline._delete_segment
    locked: list[str] = []

    def worker_holds_a_lock(self: Pipeline, segment: ar.Segment, ids_: str, *args: Any) -> None:
        if locked:
            original(self, segment, ids_, *args)
            return
        locked.append(ids_.split(",")[0])
        with psycopg.connect(db) as worker:  # a transaction holding the row, as a worker does
            worker.execute("SELECT 1 FROM emails WHERE id = %s FOR UPDATE", (locked[0],))
            original(self, segment, ids_, *args)

    monkeypatch.setattr(Pipeline, "_delete_segment", worker_holds_a_lock)
    code, out, err = run(env, archive, "--older-than", "90d", "--batch-size", "100")
    assert (code, out["outcome"]) == (2, "unverified")
    assert (out["after"]["rows_deleted"], out["after"]["rows_kept"]) == (299, 1)
    assert [f["code"] for f in out["findings"]] == ["TRI-ACTION-002", "TRI-RET-001"]
    assert "segment-000001.pgcopy.gz: a row is locked by another session: skipping it" in err
    assert ids(db, POLICY) == set(locked)

    monkeypatch.setattr(Pipeline, "_delete_segment", original)
    code, out, err = run(env, archive)
    assert (code, out["outcome"], out["after"]["rows_deleted"]) == (0, "ok", 1), err
    assert ids(db, POLICY) == set()
