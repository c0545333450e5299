"""The service's own signals in Prometheus, read the way the runbook's P1 and P2 sections
ask: latency and error rate against the P1 thresholds (P95 > 2 s, errors > 5%), CPU and
memory, model inference latency and the queue backlog (P1); classification confidence,
fallback rate and category mix against last week (P2, "accuracy trends" and "data drift").

The queries are the alert rules' own expressions (alerts/email-triage.rules.yml), so a
finding here and a page from Alertmanager never disagree about a threshold. Where the
runbook points at Grafana or MLflow dashboards, the numbers come from the same Prometheus
those dashboards read; a check that finds no samples says so (a note), rather than
claiming the service is healthy.

CPU and memory come from cAdvisor's container metrics against the Kubernetes limits when
Prometheus has them (kube-state-metrics), else from the processes' own `process_*`
metrics (no limit known: reported, never judged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Imported with this module, not on first use inside concurrently running checks (where
# imports race and eat into the timeout): the engine imports step modules up front.
import prometheus_api_client  # noqa: F401

from triage_ops.clients.errors import ClientError
from triage_ops.clients.prometheus import PrometheusClient
from triage_ops.engine.contract import StepContext
from triage_ops.findings import Finding

JOB = 'job="email-triage"'

P95_LATENCY = (
    "histogram_quantile(0.95, sum by (le) "
    f"(rate(http_request_duration_seconds_bucket{{{JOB}}}[5m])))"
)
ERROR_RATE = (
    f'sum(rate(http_requests_total{{{JOB},status=~"5.."}}[5m]))'
    f" / sum(rate(http_requests_total{{{JOB}}}[5m]))"
)
MODEL_P95 = (
    "histogram_quantile(0.95, sum by (le, backend) "
    "(rate(model_inference_duration_seconds_bucket[5m])))"
)
QUEUE_DEPTH = "max(email_queue_depth)"
FALLBACK_RATE = (
    "sum(rate(classification_fallback_total[15m])) / sum(rate(emails_processed_total[15m]))"
)
CONFIDENCE_MEDIAN = (
    "histogram_quantile(0.5, sum by (le)"
    " (rate(classification_confidence_bucket[{window}]{offset})))"
)
CATEGORY_SHARE = (
    "sum by (category) (increase(emails_processed_total[{window}]{offset}))"
    " / scalar(sum(increase(emails_processed_total[{window}]{offset})))"
)
CONTAINER_CPU = (
    'sum by (pod) (rate(container_cpu_usage_seconds_total{{namespace="{ns}",'
    'container!="",pod=~"{deployment}-.*"}}[5m]))'
    ' / sum by (pod) (kube_pod_container_resource_limits{{namespace="{ns}",'
    'resource="cpu",pod=~"{deployment}-.*"}})'
)
CONTAINER_MEMORY = (
    'sum by (pod) (container_memory_working_set_bytes{{namespace="{ns}",'
    'container!="",pod=~"{deployment}-.*"}})'
    ' / sum by (pod) (kube_pod_container_resource_limits{{namespace="{ns}",'
    'resource="memory",pod=~"{deployment}-.*"}})'
)
PROCESS_CPU = 'sum by (instance) (rate(process_cpu_seconds_total{job=~"email-triage.*"}[5m]))'
PROCESS_MEMORY = 'sum by (instance) (process_resident_memory_bytes{job=~"email-triage.*"})'


def _param(ctx: StepContext, name: str, default: float) -> float:
    return float(ctx.params.get(name, default))


def _prometheus(ctx: StepContext) -> PrometheusClient:
    return ctx.clients.prometheus()


def _scalar(ctx: StepContext, promql: str) -> float | None:
    value: float | None = _prometheus(ctx).scalar(promql)
    return value


def _series(ctx: StepContext, promql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _prometheus(ctx).query(promql)
    return rows


def _unreachable(ctx: StepContext, exc: ClientError) -> list[Finding]:
    return [ctx.finding("TRI-PROM-001", f"cannot read metrics: {exc}", system=exc.system)]


def _against_threshold(
    ctx: StepContext,
    *,
    query: str,
    limit: float,
    no_data: str,
    over: Callable[[float], Finding],
    fine: Callable[[float], str],
) -> list[Finding]:
    """One number from Prometheus against a threshold: no samples is said, not judged;
    above the threshold is the `over` finding; otherwise `fine` says what was seen."""
    try:
        value = _scalar(ctx, query)
    except ClientError as exc:
        return _unreachable(ctx, exc)
    if value is None:
        ctx.note(no_data)
        return []
    if value > limit:
        return [over(value)]
    ctx.note(fine(value))
    return []


def check_latency(ctx: StepContext) -> list[Finding]:
    """P95 HTTP latency of the API over 5 minutes against the P1 threshold (2 s)."""
    limit = _param(ctx, "p95_seconds", 2.0)
    return _against_threshold(
        ctx,
        query=P95_LATENCY,
        limit=limit,
        no_data="no API requests in the last 5 minutes: no latency to judge",
        over=lambda p95: ctx.finding(
            "TRI-PERF-001",
            f"P95 latency {p95:.2f} s is above {limit:g} s",
            p95_seconds=round(p95, 3),
            threshold_seconds=limit,
            query=P95_LATENCY,
        ),
        fine=lambda p95: f"P95 latency {p95 * 1000:.0f} ms (threshold {limit:g} s)",
    )


def check_error_rate(ctx: StepContext) -> list[Finding]:
    """5xx answers over all answers, 5 minutes, against the P1 threshold (5%)."""
    limit = _param(ctx, "error_ratio", 0.05)
    return _against_threshold(
        ctx,
        query=ERROR_RATE,
        limit=limit,
        no_data="no API requests in the last 5 minutes: no error rate to judge",
        over=lambda ratio: ctx.finding(
            "TRI-PERF-002",
            f"{ratio:.1%} of API requests answered 5xx (threshold {limit:.0%})",
            error_ratio=round(ratio, 4),
            threshold=limit,
            query=ERROR_RATE,
        ),
        fine=lambda ratio: f"5xx ratio {ratio:.2%} (threshold {limit:.0%})",
    )


def check_cpu_memory(ctx: StepContext) -> list[Finding]:
    """CPU and memory of the API pods against their limits (the scaling triggers' 70% and
    80%); without container metrics, the processes' own usage, reported but not judged."""
    cpu_limit = _param(ctx, "cpu_ratio", 0.70)
    memory_limit = _param(ctx, "memory_ratio", 0.80)
    deployment = str(ctx.params.get("deployment", ctx.config.api_deployment))
    names = {"ns": ctx.config.namespace, "deployment": deployment}
    try:
        cpu = _series(ctx, CONTAINER_CPU.format(**names))
        memory = _series(ctx, CONTAINER_MEMORY.format(**names))
        if not cpu and not memory:
            processes_cpu = _series(ctx, PROCESS_CPU)
            processes_memory = _series(ctx, PROCESS_MEMORY)
    except ClientError as exc:
        return _unreachable(ctx, exc)
    if not cpu and not memory:
        if not processes_cpu and not processes_memory:
            ctx.note("no CPU or memory metrics in Prometheus")
            return []
        cores = {r["labels"].get("instance", "?"): r["value"] for r in processes_cpu}
        rss = {r["labels"].get("instance", "?"): r["value"] for r in processes_memory}
        ctx.note(
            "no container limits known; process usage: "
            + ", ".join(
                f"{i} {cores.get(i, 0):.2f} cores {rss.get(i, 0) / 2**20:.0f} MiB"
                for i in sorted(set(cores) | set(rss))
            )
        )
        return []
    findings = []
    hot_cpu = {r["labels"].get("pod", "?"): r["value"] for r in cpu if r["value"] > cpu_limit}
    hot_memory = {
        r["labels"].get("pod", "?"): r["value"] for r in memory if r["value"] > memory_limit
    }
    if hot_cpu:
        worst = max(hot_cpu.values())
        findings.append(
            ctx.finding(
                "TRI-PERF-003",
                f"{len(hot_cpu)} pod(s) above {cpu_limit:.0%} of their CPU limit"
                f" (highest {worst:.0%})",
                pods={k: round(v, 3) for k, v in sorted(hot_cpu.items())},
                threshold=cpu_limit,
            )
        )
    if hot_memory:
        worst = max(hot_memory.values())
        findings.append(
            ctx.finding(
                "TRI-PERF-004",
                f"{len(hot_memory)} pod(s) above {memory_limit:.0%} of their memory limit"
                f" (highest {worst:.0%})",
                pods={k: round(v, 3) for k, v in sorted(hot_memory.items())},
                threshold=memory_limit,
            )
        )
    if not findings:
        ctx.note(f"{len(cpu)} pod(s) under {cpu_limit:.0%} CPU and {memory_limit:.0%} memory")
    return findings


def check_model_latency(ctx: StepContext) -> list[Finding]:
    """P95 classification time per backend: the runbook's "verify AI model inference
    latency". The threshold is the model client's own timeout budget."""
    limit = _param(ctx, "model_p95_seconds", 0.5)
    try:
        rows = _series(ctx, MODEL_P95)
    except ClientError as exc:
        return _unreachable(ctx, exc)
    measured = {
        r["labels"].get("backend", "?"): r["value"] for r in rows if r["value"] == r["value"]
    }
    if not measured:
        ctx.note("no classifications in the last 5 minutes")
        return []
    slow = {b: v for b, v in measured.items() if v > limit}
    if slow:
        return [
            ctx.finding(
                "TRI-PERF-005",
                "model inference P95 above "
                f"{limit:g} s: " + ", ".join(f"{b} {v:.2f} s" for b, v in sorted(slow.items())),
                p95_seconds={b: round(v, 4) for b, v in sorted(measured.items())},
                threshold_seconds=limit,
            )
        ]
    ctx.note(
        "model inference P95: "
        + ", ".join(f"{b} {v * 1000:.1f} ms" for b, v in sorted(measured.items()))
    )
    return []


def check_queue_backlog(ctx: StepContext) -> list[Finding]:
    """Queue depth against the scaling trigger (1000 emails)."""
    limit = _param(ctx, "queue_depth", 1000)
    return _against_threshold(
        ctx,
        query=QUEUE_DEPTH,
        limit=limit,
        no_data="no queue depth samples (no worker or API has sampled the queue)",
        over=lambda depth: ctx.finding(
            "TRI-PERF-006",
            f"{depth:.0f} emails waiting in the queue (threshold {limit:.0f})",
            depth=int(depth),
            threshold=int(limit),
        ),
        fine=lambda depth: f"queue depth {depth:.0f}",
    )


def check_fallback_rate(ctx: StepContext) -> list[Finding]:
    """Share of emails classified by the fallback over 15 minutes (P2: a model that is up
    but bypassed still means worse classifications)."""
    limit = _param(ctx, "fallback_ratio", 0.20)
    return _against_threshold(
        ctx,
        query=FALLBACK_RATE,
        limit=limit,
        no_data="no emails processed in the last 15 minutes",
        over=lambda ratio: ctx.finding(
            "TRI-DRIFT-002",
            f"{ratio:.0%} of emails classified by the fallback (threshold {limit:.0%})",
            fallback_ratio=round(ratio, 4),
            threshold=limit,
        ),
        fine=lambda ratio: f"fallback share {ratio:.1%}",
    )


def check_confidence_drift(ctx: StepContext) -> list[Finding]:
    """Median classification confidence over the last hour, absolute (< 0.5) and against
    the same hour a week ago (a fall of more than 20%): the ConfidenceDrift alert's rule."""
    floor = _param(ctx, "confidence_floor", 0.5)
    drop = _param(ctx, "confidence_drop", 0.20)
    window = str(ctx.params.get("window", "1h"))
    baseline_offset = str(ctx.params.get("baseline_offset", "1w"))
    try:
        now = _scalar(ctx, CONFIDENCE_MEDIAN.format(window=window, offset=""))
        before = _scalar(
            ctx, CONFIDENCE_MEDIAN.format(window=window, offset=f" offset {baseline_offset}")
        )
    except ClientError as exc:
        return _unreachable(ctx, exc)
    if now is None:
        ctx.note(f"no classifications in the last {window}")
        return []
    evidence: dict[str, Any] = {"median_now": round(now, 3), "window": window}
    if before is not None:
        evidence["median_baseline"] = round(before, 3)
        evidence["baseline_offset"] = baseline_offset
    if now < floor:
        return [
            ctx.finding(
                "TRI-DRIFT-001",
                f"median confidence {now:.2f} is below {floor:g}",
                **evidence,
            )
        ]
    if before is not None and before > 0 and now < (1 - drop) * before:
        return [
            ctx.finding(
                "TRI-DRIFT-001",
                f"median confidence fell {1 - now / before:.0%} against {baseline_offset} ago"
                f" ({before:.2f} -> {now:.2f})",
                **evidence,
            )
        ]
    ctx.note(
        f"median confidence {now:.2f}"
        + (f" ({before:.2f} {baseline_offset} ago)" if before is not None else "")
    )
    return []


def check_category_mix(ctx: StepContext) -> list[Finding]:
    """Category shares now against a week ago: a large shift (total variation distance)
    is data drift, or a model deployment that changed behaviour. The share of `other`
    (below the confidence floor) is the closest thing to an accuracy signal without
    labels."""
    limit = _param(ctx, "shift", 0.25)
    window = str(ctx.params.get("mix_window", "6h"))
    baseline_offset = str(ctx.params.get("baseline_offset", "1w"))
    try:
        now_rows = _series(ctx, CATEGORY_SHARE.format(window=window, offset=""))
        before_rows = _series(
            ctx, CATEGORY_SHARE.format(window=window, offset=f" offset {baseline_offset}")
        )
    except ClientError as exc:
        return _unreachable(ctx, exc)
    now = {
        r["labels"].get("category", "?"): r["value"] for r in now_rows if r["value"] == r["value"]
    }
    before = {
        r["labels"].get("category", "?"): r["value"]
        for r in before_rows
        if r["value"] == r["value"]
    }
    if not now:
        ctx.note(f"no emails processed in the last {window}")
        return []
    if not before:
        ctx.note(f"no baseline {baseline_offset} ago: category mix not compared")
        return []
    categories = sorted(set(now) | set(before))
    distance = 0.5 * sum(abs(now.get(c, 0.0) - before.get(c, 0.0)) for c in categories)
    if distance > limit:
        moved = sorted(categories, key=lambda c: -abs(now.get(c, 0.0) - before.get(c, 0.0)))[:3]
        return [
            ctx.finding(
                "TRI-DRIFT-003",
                f"category mix shifted by {distance:.0%} against {baseline_offset} ago"
                f" (most: {', '.join(moved)})",
                distance=round(distance, 3),
                now={c: round(v, 3) for c, v in sorted(now.items())},
                baseline={c: round(v, 3) for c, v in sorted(before.items())},
            )
        ]
    ctx.note(f"category mix within {distance:.0%} of {baseline_offset} ago")
    return []
