"""Checks that only the scheduled checklists need (`triage-ops check daily|weekly|monthly`,
the runbook's "Routine Maintenance Procedures"). The checklists themselves are runbooks
(runbooks/check-daily.yaml, check-weekly.yaml, check-monthly.yaml) that mostly reuse the
incident, backup, alert, database and security checks; these fill the gaps.

What the runbook's checklists say, and what is done instead:

- "Review overnight alerts and incidents": Alertmanager only knows what fires now, so the
  alerts that fired and resolved overnight come from Prometheus' own `ALERTS` history
  (`check_overnight_alerts`), and the incidents from our audit timeline, where `triage-ops
  incident ...` records them (`check_recent_incidents`), not from memory. An incident
  still open is listed whatever its age.
- `curl .../query?query=up{job="email-triage"} | jq .` prints JSON for a person to read:
  `check_service_up` judges it (0 = the ServiceDown alert's condition; no series at all =
  Prometheus does not scrape the service, so no alert can fire).
- `redis-cli info stats` likewise (`check_cache_stats`): hit rate, evictions, rejected
  connections, and memory against maxmemory, on every master of a cluster.
- "Review resource utilization trends": the last day's CPU and memory against the same
  day a week before (`check_resource_trends`), from the queries `capacity report` uses.
- "Verify backup completion status": the backup procedure's check, with pg_verifybackup
  bounded by the step's own timeout (`check_backup_fresh`), so the daily run cannot
  overrun because a backup is large (it says so instead: TRI-BACKUP-009).
- "Review and rotate application secrets": the age of the database secret, from the last
  verified rotation in the audit timeline, else the Secret's creation time
  (`check_secret_age`), against `secret_max_age_days`.
- "Analyze cost optimization opportunities": pods that use a small share of the CPU they
  request over a week (`check_cost_signals`); growth per week and the projected volume
  (`check_capacity_growth`, the numbers of `capacity report`).
- "Review and update disaster recovery procedures": the document exists and was changed
  within `dr_max_age_days` (`check_dr_document`).

Every check is bounded by the clients' timeout; one that cannot reach its system says so
with an `unknown` finding (TRI-PROM-001, or the engine's TRI-ENGINE-002), never "fine".
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage_ops.clients.errors import ClientError, NotFound
from triage_ops.engine.contract import StepContext
from triage_ops.errors import UsageError
from triage_ops.findings import Finding

if TYPE_CHECKING:
    from triage_ops.engine.audit import AuditLog

SERVICE_JOB = "email-triage"
# pg_verifybackup gets the step's timeout less this, so its own "no result within N s"
# (TRI-BACKUP-009) wins over the engine abandoning the step.
VERIFY_MARGIN_S = 1.0
# An alert series whose last firing sample is this many steps before the end still fires.
_STILL_FIRING_STEPS = 2


def _timeline(ctx: StepContext) -> AuditLog:
    """The audit timeline of the config, read only (nothing is appended here)."""
    from triage_ops.engine.audit import AuditLog, default_path

    return AuditLog(default_path(ctx.config))


def _epoch(text: str) -> float:
    """Unix time of an ISO 8601 timestamp ("Z" or an offset; naive means UTC)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _hours(ctx: StepContext) -> float:
    hours = float(ctx.params.get("since_hours", 24))
    if hours <= 0:
        raise UsageError(f"since_hours must be positive, not {hours:g}")
    return hours


def _prometheus_down(ctx: StepContext, exc: ClientError) -> list[Finding]:
    return [ctx.finding("TRI-PROM-001", f"cannot read metrics: {exc}", system=exc.system)]


# -- daily -------------------------------------------------------------------------------


def check_recent_incidents(ctx: StepContext) -> list[Finding]:
    """Incidents opened or resolved in the last `since_hours` (default 24), and every
    incident still open whatever its age, from the audit timeline."""
    from triage_ops.engine.errors import AuditError
    from triage_ops.incidents import list_incidents

    hours = _hours(ctx)
    cutoff = time.time() - hours * 3600
    try:
        incidents = list_incidents(_timeline(ctx))
    except AuditError as exc:
        raise UsageError(str(exc)) from None  # the check cannot run: unknown, not "fine"
    listed = [
        i
        for i in incidents
        if not i.resolved
        or i.started_at.timestamp() >= cutoff
        or (i.resolved_at is not None and i.resolved_at.timestamp() >= cutoff)
    ]
    if not listed:
        ctx.note(f"no incident in the last {hours:g} h and none open")
        return []
    still_open = [i for i in listed if not i.resolved]
    return [
        ctx.finding(
            "TRI-CHECK-001",
            f"{len(listed)} incident(s) in the last {hours:g} h or still open,"
            f" {len(still_open)} not resolved: " + ", ".join(i.id for i in listed),
            since_hours=hours,
            incidents=[
                {
                    "id": i.id,
                    "severity": i.severity,
                    "status": i.status,
                    "title": i.title,
                    "started_at": _iso(i.started_at.timestamp()),
                    "resolved_at": _iso(i.resolved_at.timestamp()) if i.resolved_at else None,
                }
                for i in listed
            ],
        )
    ]


def check_overnight_alerts(ctx: StepContext) -> list[Finding]:
    """Every alert that fired in the last `since_hours` (default 24), resolved since or
    not, from Prometheus' `ALERTS` series: Alertmanager forgets an alert once it resolves."""
    hours = _hours(ctx)
    end = math.floor(time.time())
    start = end - hours * 3600
    step = max(60, math.ceil(hours * 3600 / 1000))  # at most ~1,000 points per series
    try:
        history = ctx.clients.prometheus().alerts_history(
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(end, UTC),
            step=step,
        )
    except ClientError as exc:
        return _prometheus_down(ctx, exc)
    if not history:
        ctx.note(f"no alert fired in the last {hours:g} h")
        return []
    alerts = [
        {
            "alertname": str(row["labels"].get("alertname", "")),
            "severity": str(row["labels"].get("severity", "")),
            "labels": {
                k: v for k, v in sorted(row["labels"].items()) if k not in ("alertname", "severity")
            },
            "first_seen": _iso(row["first_seen"]),
            "last_seen": _iso(row["last_seen"]),
            "firing_minutes": round(row["samples"] * step / 60, 1),
            "still_firing": row["last_seen"] >= end - _STILL_FIRING_STEPS * step,
        }
        for row in history
    ]
    names = sorted({a["alertname"] for a in alerts})
    firing = sum(1 for a in alerts if a["still_firing"])
    return [
        ctx.finding(
            "TRI-CHECK-006",
            f"{len(alerts)} alert series fired in the last {hours:g} h ({firing} still firing):"
            f" {', '.join(names)}",
            since_hours=hours,
            alerts=alerts,
        )
    ]


def check_service_up(ctx: StepContext) -> list[Finding]:
    """The runbook's `up{job="email-triage"}`, judged: a target at 0 is the ServiceDown
    alert's condition; no series at all means nothing scrapes the service."""
    from triage_ops.clients.prometheus import selector

    job = str(ctx.params.get("job") or SERVICE_JOB)
    promql = selector("up", {"job": job})
    try:
        rows = ctx.clients.prometheus().query(promql)
    except ClientError as exc:
        return _prometheus_down(ctx, exc)
    if not rows:
        return [
            ctx.finding(
                "TRI-CHECK-008",
                f"Prometheus has no {promql} series: no target of job {job} is scraped",
                job=job,
                query=promql,
            )
        ]
    down = sorted(r["labels"].get("instance", "?") for r in rows if r["value"] != 1.0)
    if down:
        return [
            ctx.finding(
                "TRI-CHECK-007",
                f"{len(down)} of {len(rows)} target(s) of job {job} down: {', '.join(down)}",
                job=job,
                down=down,
                targets=len(rows),
            )
        ]
    ctx.note(f"{promql}: {len(rows)} target(s) up")
    return []


def check_cache_stats(ctx: StepContext) -> list[Finding]:
    """The runbook's `redis-cli info stats`, on every master: hit rate, evictions and
    rejected connections since the server started, and memory against maxmemory."""
    from triage_ops.procedures.cache import masters

    ratio = float(ctx.params.get("redis_memory_ratio", 0.90))
    ops = ctx.clients.redis()
    findings: list[Finding] = []
    for master in masters(ops):
        info: dict[str, Any] = ops.call(master.client.info, f"INFO on {master.address}")
        hits, misses = int(info.get("keyspace_hits", 0)), int(info.get("keyspace_misses", 0))
        evicted = int(info.get("evicted_keys", 0))
        rejected = int(info.get("rejected_connections", 0))
        used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
        hit_rate = f"{hits / (hits + misses):.1%}" if hits + misses else "no reads"
        ctx.note(
            f"{master.address}: hit rate {hit_rate}, {evicted} evicted, {rejected} rejected"
            f" connections, {info.get('used_memory_human', used)} used"
            + (f" of {limit} bytes" if limit else " (no maxmemory)")
        )
        if evicted or rejected:
            findings.append(
                ctx.finding(
                    "TRI-CHECK-009",
                    f"Redis {master.address} evicted {evicted} key(s) and rejected {rejected}"
                    " connection(s) since it started",
                    master=master.address,
                    evicted_keys=evicted,
                    rejected_connections=rejected,
                    uptime_s=int(info.get("uptime_in_seconds", 0)),
                )
            )
        if limit and used > ratio * limit:
            findings.append(
                ctx.finding(
                    "TRI-CHECK-010",
                    f"Redis {master.address} uses {used / limit:.0%} of its maxmemory"
                    f" (threshold {ratio:.0%})",
                    master=master.address,
                    used_memory=used,
                    maxmemory=limit,
                    policy=str(info.get("maxmemory_policy", "")),
                )
            )
    return findings


def check_resource_trends(ctx: StepContext) -> list[Finding]:
    """CPU and memory of the service over the last day against the same day a week
    before (`trend_growth`, default 25%): a trend, where the P1 checks see a moment."""
    from triage_ops.procedures import capacity

    limit = float(ctx.params.get("trend_growth", 0.25))
    ns = ctx.config.namespace
    pairs = {
        "cpu": (capacity.CONTAINER_CPU.format(ns=ns), capacity.CPU, "cores"),
        "memory": (capacity.CONTAINER_MEMORY.format(ns=ns), capacity.MEMORY, "MiB"),
    }
    prometheus = ctx.clients.prometheus()
    grown: dict[str, dict[str, Any]] = {}
    seen: list[str] = []
    try:
        for name, (container, process, unit) in pairs.items():
            now = before = None
            for expr in (container, process):
                now = prometheus.scalar(f"avg_over_time(({expr})[1d:5m])")
                before = prometheus.scalar(f"avg_over_time(({expr})[1d:5m] offset 1w)")
                if now is not None:
                    break
            if now is None:
                continue
            if before is None or before <= 0:
                seen.append(f"{name} {now:.3g} {unit} (last day; no baseline a week ago)")
                continue
            change = now / before - 1
            seen.append(f"{name} {now:.3g} {unit} ({change:+.0%} on a week ago)")
            if change > limit:
                grown[name] = {
                    "last_day": round(now, 3),
                    "week_before": round(before, 3),
                    "unit": unit,
                    "change": round(change, 4),
                }
    except ClientError as exc:
        return _prometheus_down(ctx, exc)
    if not seen:
        ctx.note("no CPU or memory metrics in Prometheus")
        return []
    ctx.note("; ".join(seen))
    if not grown:
        return []
    return [
        ctx.finding(
            "TRI-CHECK-011",
            "resource use grew against a week ago: "
            + ", ".join(f"{k} {v['change']:+.0%}" for k, v in grown.items())
            + f" (threshold {limit:+.0%})",
            threshold=limit,
            **grown,
        )
    ]


def check_backup_fresh(ctx: StepContext) -> list[Finding]:
    """The backup procedure's check (latest base backup complete, fresh, verified), with
    pg_verifybackup given the step's timeout: a large backup is reported as not verified
    in time (TRI-BACKUP-009) instead of the whole daily run overrunning."""
    from triage_ops.procedures.backup import check_backup

    if ctx.params.get("backup_verify_timeout_s") is not None:
        return check_backup(ctx)
    budget = max(1, math.floor(ctx.timeout - VERIFY_MARGIN_S))
    return check_backup(replace(ctx, params={**ctx.params, "backup_verify_timeout_s": budget}))


# -- weekly ------------------------------------------------------------------------------


def check_secret_age(ctx: StepContext) -> list[Finding]:
    """Days since the database secret's last verified rotation (audit timeline), else
    since the Secret was created, against `secret_max_age_days`."""
    from triage_ops.engine.errors import AuditError
    from triage_ops.procedures.kube_checks import api_down
    from triage_ops.procedures.secret_rotation import last_rotation

    name = ctx.config.db_secret_name
    max_days = float(ctx.params.get("secret_max_age_days") or ctx.config.secret_max_age_days)
    try:
        since = last_rotation(_timeline(ctx))
    except AuditError as exc:
        raise UsageError(str(exc)) from None
    source = "last rotation (audit timeline)"
    if since is None:
        try:
            meta = ctx.clients.kubernetes().get_secret_metadata(name)
        except NotFound:
            return [
                ctx.finding(
                    "TRI-SECRET-001",
                    f"secret {name} does not exist in namespace {ctx.config.namespace}:"
                    " the service has no database password",
                    secret_name=name,
                    role=ctx.config.db_service_role,
                )
            ]
        except ClientError as exc:
            return [api_down(ctx, exc)]
        since = str(meta.get("creationTimestamp") or "")
        source = "creation (no rotation in the audit timeline)"
        if not since:
            ctx.note(f"secret {name}: no creationTimestamp, age unknown")
            return []
    age_days = (time.time() - _epoch(since)) / 86400
    if age_days > max_days:
        return [
            ctx.finding(
                "TRI-SECRET-002",
                f"secret {name}: {age_days:.0f} days since its {source} (rotate every"
                f" {max_days:g} days)",
                secret_name=name,
                age_days=round(age_days, 1),
                since=since,
                max_age_days=max_days,
            )
        ]
    ctx.note(f"secret {name}: {age_days:.0f} days since its {source} (max {max_days:g})")
    return []


def check_capacity_growth(ctx: StepContext) -> list[Finding]:
    """Email volume growth per week over `capacity_since` (default 30d) against
    `growth_per_week` (default 10%), with the projected daily volume; with
    `capacity_chart` set, the monthly planning chart is written there too."""
    from triage_ops.procedures.capacity import build, write_chart

    limit = float(ctx.params.get("growth_per_week", 0.10))
    try:
        report = build(ctx, since=str(ctx.params.get("capacity_since") or "30d"))
    except ClientError as exc:
        return _prometheus_down(ctx, exc)
    chart = str(ctx.params.get("capacity_chart") or "")
    if chart:
        ctx.note(f"chart: {write_chart(report, Path(chart))}")
    growth = report.growth_per_week
    if growth is None:
        ctx.note(f"{len(report.daily_volume)} whole day(s) of volume: too few to project (7)")
        return []
    assert report.projected_daily_30d is not None and report.projected_daily_90d is not None
    projection = (
        f"{report.daily_volume[-1]:.0f}/day now, projected {report.projected_daily_30d:.0f}/day"
        f" in 30 days and {report.projected_daily_90d:.0f}/day in 90"
    )
    if growth > limit:
        return [
            ctx.finding(
                "TRI-CHECK-004",
                f"email volume grows {growth:+.1%} a week (threshold {limit:+.0%}); {projection}",
                growth_per_week=growth,
                threshold=limit,
                daily_volume=report.daily_volume,
                projected_daily_30d=report.projected_daily_30d,
                projected_daily_90d=report.projected_daily_90d,
                peak_hourly=report.peak_hourly,
            )
        ]
    ctx.note(f"volume {growth:+.1%} a week; {projection}")
    return []


def check_cost_signals(ctx: StepContext) -> list[Finding]:
    """Pods using under `cpu_request_ratio` (default 20%) of their CPU request over a
    week: requests reserve capacity that is paid for whether used or not."""
    ratio = float(ctx.params.get("cpu_request_ratio", 0.20))
    ns = ctx.config.namespace
    promql = (
        "sum by (pod) (rate(container_cpu_usage_seconds_total"
        f'{{namespace="{ns}",container!=""}}[7d]))'
        f' / sum by (pod) (kube_pod_container_resource_requests{{namespace="{ns}",resource="cpu"}})'
    )
    try:
        rows = ctx.clients.prometheus().query(promql)
    except ClientError as exc:
        return _prometheus_down(ctx, exc)
    used = {r["labels"].get("pod", "?"): r["value"] for r in rows if math.isfinite(r["value"])}
    if not used:
        ctx.note("no container CPU usage against requests (needs cAdvisor + kube-state-metrics)")
        return []
    idle = {pod: share for pod, share in used.items() if share < ratio}
    if idle:
        return [
            ctx.finding(
                "TRI-CHECK-005",
                f"{len(idle)} of {len(used)} pod(s) used under {ratio:.0%} of their CPU request"
                " over 7 days",
                pods={k: round(v, 3) for k, v in sorted(idle.items())},
                threshold=ratio,
            )
        ]
    ctx.note(f"{len(used)} pod(s) use at least {ratio:.0%} of their CPU request")
    return []


# -- monthly -----------------------------------------------------------------------------


def check_dr_document(ctx: StepContext) -> list[Finding]:
    """The disaster-recovery document (`dr_document`) exists and changed within
    `dr_max_age_days`: the monthly review updates it."""
    path_text = str(ctx.params.get("dr_document") or ctx.config.dr_document)
    max_days = float(ctx.params.get("dr_max_age_days") or ctx.config.dr_max_age_days)
    if not path_text:
        return [ctx.finding("TRI-CHECK-002", "no dr_document configured", path="")]
    path = Path(path_text).expanduser()
    try:
        mtime = path.stat().st_mtime if path.is_file() else None
    except OSError:
        mtime = None
    if mtime is None:
        return [
            ctx.finding(
                "TRI-CHECK-002",
                f"disaster-recovery document {path} is missing or not a file",
                path=str(path),
            )
        ]
    age_days = (time.time() - mtime) / 86400
    if age_days > max_days:
        return [
            ctx.finding(
                "TRI-CHECK-003",
                f"disaster-recovery document {path} last changed {age_days:.0f} days ago"
                f" (review every {max_days:g})",
                path=str(path),
                age_days=round(age_days, 1),
                modified=_iso(mtime),
                max_age_days=max_days,
            )
        ]
    ctx.note(f"{path.name} changed {age_days:.0f} days ago (review every {max_days:g})")
    return []
