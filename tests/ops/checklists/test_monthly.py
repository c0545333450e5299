"""`triage-ops check monthly` against a real PostgreSQL primary (migrations, rows) and its
base backups: the restore test for real, the disaster-recovery document fresh and old, and
the capacity planning step (with its chart). Also the daily backup step on that backup."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ops.backup.helpers import basebackup, insert_emails, owned, reachable
from tests.ops.checklists.conftest import DAY, invoke, report_of, step_ctx, write_config
from triage_core.service.settings import Secret
from triage_core.service.store import migrate
from triage_ops.config import OpsConfig
from triage_ops.procedures import checklists
from triage_ops.sandbox.postgres import PostgresServer, start_postgres

pytestmark = pytest.mark.timeout(120)

ROWS = {"queued": 2, "processed": 25, "failed": 3}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reachable(tmp_path_factory.mktemp("monthly"))


@pytest.fixture(scope="module")
def primary(base: Path) -> Iterator[PostgresServer]:
    server = start_postgres(base / "primary", password="pw-Monthly-5ecret")
    try:
        migrate(server.url())
        insert_emails(server, ROWS, prefix="monthly")
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def good_backups(base: Path, primary: PostgresServer) -> Path:
    backups = owned(base / "good")
    basebackup(primary, backups / "20260101T000000Z")
    return backups


@pytest.fixture(scope="module")
def broken_backups(base: Path, primary: PostgresServer, good_backups: Path) -> Path:
    """A good backup, then a newer one whose data file no longer matches its manifest."""
    backups = owned(base / "broken")
    basebackup(primary, backups / "20260101T000000Z")
    newer = basebackup(primary, backups / "20260102T000000Z")
    (newer / "PG_VERSION").write_text("99\n", encoding="utf-8")
    return backups


def monthly(config: Path, *params: str) -> tuple[int, dict[str, Any]]:
    args = ["--config", str(config), "--output", "json", "check", "monthly"]
    for param in params:
        args += ["--param", param]
    result = invoke(*args)
    assert result.stdout, result.stderr
    return result.exit_code, report_of(result)


def test_monthly_restores_the_latest_backup(
    tmp_path: Path, primary: PostgresServer, good_backups: Path, prometheus_calm: str
) -> None:
    doc = tmp_path / "disaster-recovery.md"
    doc.write_text("# Disaster recovery\n", encoding="utf-8")
    chart = tmp_path / "capacity.png"
    config = write_config(
        tmp_path / "ops.yaml",
        database_url=primary.url(),
        backup_dir=str(good_backups),
        dr_document=str(doc),
        prometheus_url=prometheus_calm,
        audit_log=str(tmp_path / "audit.jsonl"),
    )
    code, report = monthly(config, "capacity_since=8d", f"capacity_chart={chart}")
    assert (code, report["exit_code"], report["status"]) == (0, 0, "ok"), report["findings"]
    assert report["runbook"] == "check-monthly"
    steps = {s["id"]: s for s in report["steps"]}
    assert list(steps) == ["restore-test", "dr-document", "capacity-plan"]
    assert {s["status"] for s in steps.values()} == {"ok"}
    [restored] = steps["restore-test"]["notes"]
    assert restored.startswith("restore test of 20260101T000000Z: ")
    assert steps["dr-document"]["notes"] == [
        "disaster-recovery.md changed 0 days ago (review every 180)"
    ]
    assert steps["capacity-plan"]["notes"][0] == f"chart: {chart}"
    assert steps["capacity-plan"]["notes"][1].startswith("volume ")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_monthly_with_a_broken_backup_and_an_old_document(
    tmp_path: Path, primary: PostgresServer, broken_backups: Path, prometheus_calm: str
) -> None:
    doc = tmp_path / "disaster-recovery.md"
    doc.write_text("# Disaster recovery (2025)\n", encoding="utf-8")
    old = time.time() - 400 * DAY
    os.utime(doc, (old, old))
    config = write_config(
        tmp_path / "ops.yaml",
        database_url=primary.url(),
        backup_dir=str(broken_backups),
        dr_document=str(doc),
        dr_max_age_days=365,
        prometheus_url=prometheus_calm,
        audit_log=str(tmp_path / "audit.jsonl"),
    )
    code, report = monthly(config, "capacity_since=8d")
    assert (code, report["exit_code"], report["status"]) == (2, 2, "critical")
    assert [(f["step"], f["code"], f["severity"]) for f in report["findings"]] == [
        ("restore-test", "TRI-BACKUP-010", "critical"),
        ("dr-document", "TRI-CHECK-003", "warning"),
    ]
    restore, stale = report["findings"]
    assert restore["summary"].startswith(
        "restore test of 20260102T000000Z failed at verify: "
    )  # the newest backup is the one restored
    assert stale["summary"] == (
        f"disaster-recovery document {doc} last changed 400 days ago (review every 365)"
    )
    assert stale["evidence"]["age_days"] == pytest.approx(400.0, abs=0.01)


def test_the_daily_backup_step_verifies_within_its_timeout(
    primary: PostgresServer, good_backups: Path
) -> None:
    config = OpsConfig(database_url=Secret(primary.url()), backup_dir=str(good_backups))
    ctx = step_ctx(config, timeout=5.0)
    assert checklists.check_backup_fresh(ctx) == []
    assert ctx.notes[0].startswith("latest base backup 20260101T000000Z: ")
    assert ctx.notes[1].startswith("pg_verifybackup: 20260101T000000Z verified in ")
    # an explicit budget is kept as given
    given = step_ctx(config, timeout=5.0, backup_verify_timeout_s=30)
    assert checklists.check_backup_fresh(given) == []
