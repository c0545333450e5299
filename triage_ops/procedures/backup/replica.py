"""`backup verify`, the replica half: the streaming replica (database_replica_url) is in
recovery, its WAL receiver streams, and how far its replay is behind the primary.

The runbook reads `pg_last_wal_replay_lsn()` on the replica and stops there; an LSN alone
says nothing. Here the lag in bytes is `pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)`
computed on the primary, read after the replica (so it can only over-estimate by what was
written in between). The lag in seconds is the replica's `now() -
pg_last_xact_replay_timestamp()` while bytes are outstanding, and 0 when replay has caught
up (an idle primary writes no commits: the timestamp alone would grow forever).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from triage_ops.clients.errors import ClientError
from triage_ops.engine.contract import StepContext
from triage_ops.findings import Finding
from triage_ops.procedures.backup.settings import setting

LAGGING = "TRI-BACKUP-004"
REPLICA_DOWN = "TRI-BACKUP-005"
NOT_STREAMING = "TRI-BACKUP-006"
PRIMARY_DOWN = "TRI-BACKUP-007"

_REPLICA_SQL = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       pg_last_xact_replay_timestamp() AS replay_timestamp,
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS since_replay_s,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS replay_paused,
       (SELECT pid FROM pg_stat_wal_receiver LIMIT 1) AS receiver_pid,
       (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver_status
"""
_PRIMARY_SQL = """
SELECT pg_current_wal_lsn()::text AS current_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint AS lag_bytes
"""


@dataclass
class ReplicaReport:
    configured: bool
    address: str = ""
    in_recovery: bool | None = None
    streaming: bool | None = None
    receiver_status: str | None = None
    receive_lsn: str | None = None
    replay_lsn: str | None = None
    replay_paused: bool | None = None
    primary_lsn: str | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    max_lag_bytes: int = 0
    max_lag_seconds: int = 0
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "findings"}


def replica_report(ctx: StepContext) -> ReplicaReport:
    report = ReplicaReport(
        configured=bool(getattr(ctx.config, "database_replica_url", "")),
        max_lag_bytes=setting(ctx.config, "replica_max_lag_bytes", ctx.params),
        max_lag_seconds=setting(ctx.config, "replica_max_lag_seconds", ctx.params),
    )
    if not report.configured:
        ctx.note("no database_replica_url: replica not checked")
        return report
    client = ctx.clients.postgres(replica=True)
    report.address = client.address
    try:
        with client.connect() as conn:
            row = conn.execute(_REPLICA_SQL).fetchone()
    except ClientError as exc:
        report.findings.append(
            ctx.finding(REPLICA_DOWN, f"replica {client.address}: {exc}", replica=client.address)
        )
        return report
    assert row is not None
    report.in_recovery = bool(row["in_recovery"])
    report.receive_lsn = row["receive_lsn"]
    report.replay_lsn = row["replay_lsn"]
    report.replay_paused = row["replay_paused"]
    report.receiver_status = row["receiver_status"]
    # Without pg_read_all_stats only the receiver's pid is visible: a pid means it runs.
    report.streaming = report.in_recovery and (
        row["receiver_status"] == "streaming"
        or (row["receiver_status"] is None and row["receiver_pid"] is not None)
    )
    if not report.in_recovery:
        report.findings.append(
            ctx.finding(
                NOT_STREAMING,
                f"replica {client.address} is not in recovery: it was promoted, or the URL"
                " points at a primary",
                replica=client.address,
            )
        )
        return report
    if not report.streaming:
        status = row["receiver_status"] or "no WAL receiver"
        report.findings.append(
            ctx.finding(
                NOT_STREAMING,
                f"replica {client.address} is not streaming from the primary ({status})",
                replica=client.address,
                receiver_status=status,
                replay_lsn=report.replay_lsn,
            )
        )
    if report.replay_lsn is None:
        return report
    _measure_lag(ctx, report, since_replay_s=row["since_replay_s"])
    return report


def check_replica(ctx: StepContext) -> list[Finding]:
    """Daily: the replica streams and is not behind (point-in-time recovery and failover
    both depend on it)."""
    return replica_report(ctx).findings


def _measure_lag(ctx: StepContext, report: ReplicaReport, *, since_replay_s: float | None) -> None:
    primary = ctx.clients.postgres()
    try:
        with primary.connect() as conn:
            row = conn.execute(_PRIMARY_SQL, (report.replay_lsn,)).fetchone()
    except ClientError as exc:
        report.findings.append(
            ctx.finding(PRIMARY_DOWN, f"replica lag unknown: {exc}", primary=primary.address)
        )
        return
    assert row is not None
    report.primary_lsn = row["current_lsn"]
    report.lag_bytes = max(0, int(row["lag_bytes"]))
    if report.lag_bytes == 0:
        report.lag_seconds = 0.0
    elif since_replay_s is not None:
        report.lag_seconds = round(max(0.0, float(since_replay_s)), 3)
    ctx.note(
        f"replica replay lag {report.lag_bytes} bytes"
        + ("" if report.lag_seconds is None else f", {report.lag_seconds:g} s")
    )
    too_far = report.lag_bytes > report.max_lag_bytes
    too_late = report.lag_seconds is not None and report.lag_seconds > report.max_lag_seconds
    if too_far or too_late:
        report.findings.append(
            ctx.finding(
                LAGGING,
                f"replica {report.address} replays {report.lag_bytes} bytes"
                + ("" if report.lag_seconds is None else f" ({report.lag_seconds:g} s)")
                + " behind the primary"
                + (" (replay is paused)" if report.replay_paused else ""),
                replica=report.address,
                lag_bytes=report.lag_bytes,
                lag_seconds=report.lag_seconds,
                max_lag_bytes=report.max_lag_bytes,
                max_lag_seconds=report.max_lag_seconds,
                primary_lsn=report.primary_lsn,
                replay_lsn=report.replay_lsn,
                receive_lsn=report.receive_lsn,
            )
        )
