"""After a run, and on demand: is the table what the policy says, and is the archive what
the manifest says?

After a run (the engine's verify step), cheaply enough to run every time: no policy row
older than the cutoff is left; every segment file still has the SHA-256 the manifest
recorded when it was read back before its delete committed (so the bytes on disk are the
bytes that were checked); and the smallest and largest key of every segment are gone from
the table unless the manifest lists them as kept. (That every deleted row is in the
archive is enforced when it happens: a segment is the DELETE's own RETURNING, counted
against the server's count and read back before COMMIT.) `retention status DIR --verify`
is the deep check: every segment decompressed, counted and its ids parsed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psycopg import sql

from triage_ops.engine.contract import StepContext
from triage_ops.errors import UsageError
from triage_ops.findings import Finding
from triage_ops.procedures.retention import archive as ar
from triage_ops.procedures.retention.policy import Policy
from triage_ops.procedures.retention.session import one, session


def check_files(
    directory: Path, manifest: ar.Manifest, *, deep: bool = True
) -> tuple[list[str], dict[str, ar.Scan]]:
    """(problems, scans of the good segments); without `deep` only each file's SHA-256
    is compared (no scans are returned)."""
    problems: list[str] = []
    scans: dict[str, ar.Scan] = {}
    for segment in manifest.segments:
        try:
            if deep:
                scans[segment.name] = ar.check_segment(directory, segment)
            elif ar.file_sha256(directory / segment.name) != segment.sha256:
                problems.append(f"{segment.name}: checksum mismatch")
        except ar.ArchiveError as exc:
            problems.append(str(exc))
    return problems, scans


def verify_run(ctx: StepContext, directory: Path) -> list[Finding]:
    manifest = ar.load_manifest(directory)
    if manifest is None:
        raise ar.ArchiveError(f"{directory} holds no manifest after the run")
    policy = Policy.from_json(manifest.policy)
    where: dict[str, Any] = {"archive_dir": str(directory)}
    findings: list[Finding] = []
    problems, _ = check_files(directory, manifest, deep=False)
    for problem in problems:
        findings.append(ctx.finding("TRI-RET-003", f"archive segment unusable: {problem}", **where))
    table = sql.Identifier(manifest.table)
    edges = sorted(
        {
            key.id
            for segment in manifest.segments
            if segment.state == "deleted"
            for key in (segment.first, segment.last)
            if key.id not in segment.kept
        }
    )
    with (
        session(ctx.clients.postgres(), lock=False, what="retention verify") as (conn, deadline),
        deadline("count the rows left"),
    ):
        remaining = int(
            one(
                conn,
                sql.SQL(
                    "SELECT count(*) AS n FROM {t}"
                    " WHERE created_at < %s::timestamptz AND status = ANY(%s::text[])"
                ).format(t=table),
                (manifest.cutoff, list(policy.statuses)),
            )["n"]
        )
        still_there = int(
            one(
                conn,
                sql.SQL("SELECT count(*) AS n FROM {t} WHERE id = ANY(%s::uuid[])").format(t=table),
                (edges,),
            )["n"]
        )
    if still_there:
        findings.append(
            ctx.finding(
                "TRI-RET-004",
                f"{still_there} row(s) the archive records as deleted are in the table",
                rows=still_there,
                **where,
            )
        )
    totals = manifest.totals()
    if manifest.state != "complete":
        findings.append(
            ctx.finding(
                "TRI-RET-002",
                f"the run stopped before the end: {remaining} policy row(s) older than"
                f" {manifest.cutoff} remain; the same command resumes it",
                remaining=remaining,
                **where,
            )
        )
    elif remaining:
        findings.append(
            ctx.finding(
                "TRI-RET-001",
                f"{remaining} policy row(s) older than {manifest.cutoff} remain"
                f" ({totals['kept']} archived row(s) changed during the run and were kept)",
                remaining=remaining,
                **where,
            )
        )
    ctx.note(
        f"{totals['rows']} rows in {totals['segments']} segment(s), {totals['deleted']} deleted,"
        f" {remaining} policy rows left"
    )
    return findings


def archive_status(directory: Path, *, check: bool = False) -> dict[str, Any]:
    """What the manifest says, without the database: complete or partial, rows, segments;
    with `check`, every segment is also read back in full and checked."""
    manifest = ar.load_manifest(directory)
    if manifest is None:
        raise UsageError(f"{directory} holds no retention archive ({ar.MANIFEST} not found)")
    totals = manifest.totals()
    complete = manifest.state == "complete" and totals["pending"] == 0
    report: dict[str, Any] = {
        "archive_dir": str(directory),
        "state": "complete" if complete else "partial",
        "database": manifest.database,
        "table": manifest.table,
        "policy": Policy.from_json(manifest.policy).describe(),
        "cutoff": manifest.cutoff,
        "schema_version": manifest.schema_version,
        "passes": manifest.passes,
        **totals,
        "created_at": manifest.created_at,
        "updated_at": manifest.updated_at,
        "restores": len(manifest.restores),
    }
    if check:
        problems, _ = check_files(directory, manifest, deep=True)
        report["checked"] = True
        report["problems"] = problems
    return report
