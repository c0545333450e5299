"""The dependency checks of the runbook's P0 "Investigation Steps" (database connectivity,
Redis connectivity, the AI models, readiness) and of its `scripts/health_check.py`, which
`triage-ops health` is: the recovery validation's classify call, the queue moving, the
fallback switch, and Prometheus itself.

Each check is `check_x(ctx: StepContext) -> list[Finding]` (empty: passed; what it saw goes
to `ctx.note`). Every call is bounded by its client's timeout (the run's `--timeout`), which
is also the figure the findings quote. A check never raises for its dependency's failure:
it catches its client's typed error and turns it into its own finding, naming the system,
its address and why (refused, timed out after N s, credentials refused, ...). A system
that is not configured is TRI-DEP-001 (unknown: the check could not run), except the
optional ones (replica, Prometheus), which are a note.

What this does differently from the runbook, and why:
- "Verify database connectivity" runs `get_db_connection()` in a pod and prints a status;
  here: connect, `SELECT 1`, version, pg_is_in_recovery() and the round trip, bounded by
  the run's timeout (libpq's connect_timeout and statement_timeout). A primary that is in
  recovery is a failure: the service could not write.
- The replica's lag is `now() - pg_last_xact_replay_timestamp()` only while WAL is left
  to replay: on an idle primary that timestamp ages without any lag, so a replica that
  replayed everything it received has lag 0.
- `redis-cli -h redis-cluster ping` has no timeout (a hung Redis hangs the responder) and
  pings one server; here every PING is bounded, the queue's Redis is pinged too when it
  is a separate server, and on a cluster every master is pinged.
- "Redis down: flush corrupted data if needed": never FLUSHDB (it deletes the queued
  email too); the finding's command is the safe cache-only flush, as a dry run.
- "AI models unavailable: switch to fallback classification mode": the finding carries
  the command that does it, `triage-ops model fallback on`.
- The recovery validation's curl posts `{"subject": "Test", "body": "Test email"}`; here
  the body carries a nonce, so the API's result cache cannot answer for a model that is
  down, and the answer must hold a category (an HTTP 200 alone proves little).
- The runbook has no queue check ("no email processing" is a P0 symptom): depth, pending
  and consumers are sampled twice, `queue_sample_interval_s` apart; the queue is "not
  moving" when email waits and none was acknowledged in between.

Step params (all optional): postgres_slow_ms (1000), replica_max_lag_s (30),
classify_max_latency_ms (2000), classify_subject ("Test"), queue_sample_interval_s (1.0).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

# The client libraries are imported with this module, never inside a check: the engine
# imports every step's module in one thread before any check starts. Inside concurrent
# checks, imports race (a package with circular imports, such as requests, hands one
# thread a partially initialised module: ImportError) and eat into the dependency's
# timeout (a cold `import redis` takes ~0.5 s: the engine would abandon the check of a
# hung Redis as a step that overran, before the client's own timeout could name Redis).
import psycopg
import redis

import triage_ops.clients.model_server
import triage_ops.clients.postgres
import triage_ops.clients.redis
import triage_ops.clients.service_api  # noqa: F401
from triage_core.errors import ConfigError
from triage_core.service import keys
from triage_ops.clients.errors import (
    AuthFailed,
    ClientError,
    NotFound,
    TimedOut,
    Unreachable,
)
from triage_ops.engine.contract import StepContext
from triage_ops.errors import UsageError
from triage_ops.findings import Finding

T = TypeVar("T")

DEFAULT_POSTGRES_SLOW_MS = 1000.0
DEFAULT_REPLICA_MAX_LAG_S = 30.0
DEFAULT_CLASSIFY_MAX_LATENCY_MS = 2000.0  # the runbook's P1 latency threshold
DEFAULT_QUEUE_SAMPLE_INTERVAL_S = 1.0

_PRIMARY_SQL = (
    "SELECT 1 AS one, current_setting('server_version') AS server_version,"
    " pg_is_in_recovery() AS in_recovery"
)
_REPLICA_SQL = """
SELECT pg_is_in_recovery() AS in_recovery,
       current_setting('server_version') AS server_version,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       pg_last_xact_replay_timestamp()::text AS last_replayed_at,
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age_s,
       COALESCE(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false) AS caught_up
"""


# -- helpers -------------------------------------------------------------------------------


def _param(ctx: StepContext, name: str, default: float) -> float:
    value = ctx.params.get(name, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UsageError(f"step param {name} must be a number, not {value!r}") from None


def _not_configured(ctx: StepContext, what: str, setting: str, exc: Exception) -> Finding:
    return ctx.finding(
        "TRI-DEP-001",
        f"{what} not checked: {exc}",
        system=what,
        setting=setting,
    )


def _reason(exc: ClientError) -> str:
    """A short word for why: what an engineer scans a report for."""
    text = str(exc).lower()
    if isinstance(exc, TimedOut):
        return "timed out"
    if isinstance(exc, AuthFailed):
        return "authentication failed"
    if "refused" in text:
        return "connection refused"
    if isinstance(exc, Unreachable):
        return "unreachable"
    if isinstance(exc, NotFound):
        return "not found"
    return "error"


def _no_answer(exc: ClientError, timeout: float) -> str:
    """How a dependency failed to answer, in the summary's words."""
    if isinstance(exc, TimedOut):
        return f"within {timeout:g} s (timed out)"
    return f"({_reason(exc)})"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# -- PostgreSQL ------------------------------------------------------------------------------


def check_postgres_primary(ctx: StepContext) -> list[Finding]:
    """Connect, `SELECT 1`, version, in-recovery, latency. Down, refused, credentials
    refused and timed out are each their own finding."""
    try:
        client = ctx.clients.postgres()
    except UsageError as exc:
        return [_not_configured(ctx, "PostgreSQL primary", "database_url", exc)]
    where = f"PostgreSQL primary at {client.address}"
    started = time.perf_counter()
    try:
        with client.connect() as conn:
            row = conn.execute(_PRIMARY_SQL).fetchone()
    except ConfigError as exc:
        return [_not_configured(ctx, "PostgreSQL primary", "database_url", exc)]
    except ClientError as exc:
        return [
            _postgres_failure(
                ctx,
                exc,
                where=where,
                address=client.address,
                started=started,
                timeout=client.timeout,
            )
        ]
    except psycopg.Error as exc:
        failed = client.translate(exc, "SELECT 1")
        return [
            _postgres_failure(
                ctx,
                failed,
                where=where,
                address=client.address,
                started=started,
                timeout=client.timeout,
            )
        ]
    latency_ms = _elapsed_ms(started)
    assert row is not None
    version = str(row["server_version"])
    evidence = {"address": client.address, "latency_ms": latency_ms, "server_version": version}
    if row["in_recovery"]:
        return [
            ctx.finding(
                "TRI-DB-005",
                f"{where} is in recovery (read-only): the service cannot write",
                **evidence,
            )
        ]
    slow_ms = _param(ctx, "postgres_slow_ms", DEFAULT_POSTGRES_SLOW_MS)
    if latency_ms > slow_ms:
        return [
            ctx.finding(
                "TRI-DB-006",
                f"{where} took {latency_ms:.0f} ms to connect and answer SELECT 1"
                f" (threshold {slow_ms:.0f} ms)",
                threshold_ms=slow_ms,
                **evidence,
            )
        ]
    ctx.note(f"PostgreSQL primary {client.address}: SELECT 1 in {latency_ms:.1f} ms (v{version})")
    return []


def _postgres_failure(
    ctx: StepContext, exc: ClientError, *, where: str, address: str, started: float, timeout: float
) -> Finding:
    evidence = {
        "address": address,
        "reason": _reason(exc),
        "error": str(exc),
        "elapsed_ms": _elapsed_ms(started),
    }
    if isinstance(exc, TimedOut):
        return ctx.finding(
            "TRI-DB-002", f"{where} did not answer within {timeout:g} s (timed out)", **evidence
        )
    if isinstance(exc, AuthFailed):
        return ctx.finding("TRI-DB-003", f"{where} refused the configured credentials", **evidence)
    if isinstance(exc, Unreachable):
        return ctx.finding("TRI-DB-001", f"{where} is down ({_reason(exc)})", **evidence)
    return ctx.finding("TRI-DB-004", f"{where} answered with an error: {exc}", **evidence)


def check_postgres_replica(ctx: StepContext) -> list[Finding]:
    """Only when a replica is configured: it answers, it replays WAL, and how far behind."""
    if not ctx.config.database_replica_url:
        ctx.note("no PostgreSQL replica configured (database_replica_url): not checked")
        return []
    try:
        client = ctx.clients.postgres(replica=True)
    except UsageError as exc:
        return [_not_configured(ctx, "PostgreSQL replica", "database_replica_url", exc)]
    where = f"PostgreSQL replica at {client.address}"
    started = time.perf_counter()
    try:
        with client.connect() as conn:
            row = conn.execute(_REPLICA_SQL).fetchone()
    except ConfigError as exc:
        return [_not_configured(ctx, "PostgreSQL replica", "database_replica_url", exc)]
    except (ClientError, psycopg.Error) as exc:
        failed = exc if isinstance(exc, ClientError) else client.translate(exc, "replica status")
        return [
            ctx.finding(
                "TRI-DB-011",
                f"{where} does not answer {_no_answer(failed, client.timeout)}"
                if isinstance(failed, Unreachable)
                else f"{where}: {_reason(failed)}",
                address=client.address,
                reason=_reason(failed),
                error=str(failed),
                elapsed_ms=_elapsed_ms(started),
            )
        ]
    assert row is not None
    evidence: dict[str, Any] = {
        "address": client.address,
        "latency_ms": _elapsed_ms(started),
        "server_version": str(row["server_version"]),
        "receive_lsn": row["receive_lsn"],
        "replay_lsn": row["replay_lsn"],
        "last_replayed_at": row["last_replayed_at"],
    }
    if not row["in_recovery"]:
        return [
            ctx.finding(
                "TRI-DB-012",
                f"{where} is not in recovery: it no longer follows the primary",
                **evidence,
            )
        ]
    age = row["replay_age_s"]
    lag_s = 0.0 if row["caught_up"] else (None if age is None else round(float(age), 1))
    evidence["lag_s"] = lag_s
    max_lag = _param(ctx, "replica_max_lag_s", DEFAULT_REPLICA_MAX_LAG_S)
    if lag_s is not None and lag_s > max_lag:
        return [
            ctx.finding(
                "TRI-DB-013",
                f"{where} lags {lag_s:.0f} s behind the primary (threshold {max_lag:g} s)",
                threshold_s=max_lag,
                **evidence,
            )
        ]
    shown = "unknown (nothing replayed yet)" if lag_s is None else f"{lag_s:g} s"
    ctx.note(f"PostgreSQL replica {client.address}: in recovery, replay lag {shown}")
    return []


# -- Redis -----------------------------------------------------------------------------------


def _redis_address(url: str) -> str:
    """host:port of a Redis URL (the first node of a cluster's list), nothing secret."""
    first = url.split(",")[0].strip()
    try:
        parts = urlsplit(first)
        host, port = parts.hostname or "localhost", parts.port or 6379
    except ValueError:
        return "<invalid Redis URL>"
    more = " (cluster)" if "," in url else ""
    return f"{host}:{port}{more}"


def check_redis(ctx: StepContext) -> list[Finding]:
    """PING the cache Redis and, when it is another server, the queue's Redis (both at
    once, so two hung servers cost one timeout); on a cluster, every master."""
    try:
        client = ctx.clients.redis()
    except UsageError as exc:
        return [_not_configured(ctx, "Redis", "redis_url", exc)]
    separate = client.queue_url != client.url
    targets = [("cache" if separate else "cache and queue", False)]
    if separate:
        targets.append(("queue", True))

    def ping(queue: bool) -> float:
        if client.cluster and not queue:
            started = time.perf_counter()
            for master in client.masters():
                client.call(master.ping, "PING")
            return _elapsed_ms(started)
        return client.ping(queue=queue)

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = [
            (role, queue, pool.submit(_attempt, partial(ping, queue))) for role, queue in targets
        ]
        outcomes = [(role, queue, future.result()) for role, queue, future in futures]

    findings: list[Finding] = []
    for role, queue, (latency_ms, failure) in outcomes:
        address = _redis_address(client.queue_url if queue else client.url)
        if failure is None:
            ctx.note(f"Redis ({role}) {address}: PING {latency_ms:.2f} ms")
            continue
        evidence = {
            "address": address,
            "role": role,
            "reason": _reason(failure),
            "error": str(failure),
        }
        if isinstance(failure, AuthFailed):
            findings.append(
                ctx.finding(
                    "TRI-REDIS-003",
                    f"Redis at {address} ({role}) refused the configured credentials",
                    **evidence,
                )
            )
            continue
        code = "TRI-REDIS-002" if queue else "TRI-REDIS-001"
        if isinstance(failure, Unreachable):
            how = _no_answer(failure, client.timeout)
            summary = f"Redis at {address} ({role}) did not answer PING {how}"
        else:
            summary = f"Redis at {address} ({role}) answered PING with an error: {failure}"
        findings.append(ctx.finding(code, summary, **evidence))
    return findings


def _attempt(fn: Callable[[], T]) -> tuple[T | None, ClientError | None]:
    try:
        return fn(), None
    except ClientError as exc:
        return None, exc


# -- the model server ------------------------------------------------------------------------


def check_model_server(ctx: StepContext) -> list[Finding]:
    """The configured model is AVAILABLE on the model server (TF Serving status)."""
    try:
        client = ctx.clients.model_server()
    except UsageError as exc:
        return [_not_configured(ctx, "model server", "model_server_url", exc)]
    where = f"model server at {client.address}"
    name = client.model_name
    started = time.perf_counter()
    try:
        status = client.state()
    except ClientError as exc:
        evidence = {
            "address": client.address,
            "model": name,
            "reason": _reason(exc),
            "error": str(exc),
            "elapsed_ms": _elapsed_ms(started),
        }
        if isinstance(exc, Unreachable):
            return [
                ctx.finding(
                    "TRI-MODEL-001",
                    f"The {where} did not answer {_no_answer(exc, client.timeout)}",
                    **evidence,
                )
            ]
        if isinstance(exc, NotFound):
            return [
                ctx.finding(
                    "TRI-MODEL-002", f"The {where} does not serve model {name!r}", **evidence
                )
            ]
        return [
            ctx.finding("TRI-MODEL-003", f"The {where} answered with an error: {exc}", **evidence)
        ]
    evidence = {
        "address": client.address,
        "model": name,
        "version": status.version,
        "state": status.state,
        "latency_ms": _elapsed_ms(started),
    }
    if not status.available:
        detail = f": {status.error}" if status.error else ""
        return [
            ctx.finding(
                "TRI-MODEL-002",
                f"Model {name!r} on the {where} is {status.state or 'in no state'}, not AVAILABLE"
                f"{detail}",
                error=status.error,
                **evidence,
            )
        ]
    ctx.note(f"model {name!r} version {status.version} AVAILABLE on {client.address}")
    return []


# -- the API ---------------------------------------------------------------------------------


def check_api_ready(ctx: StepContext) -> list[Finding]:
    """The API's `/readyz`, naming the dependencies it reports failed."""
    try:
        api = ctx.clients.service_api()
    except UsageError as exc:
        return [_not_configured(ctx, "API", "api_url", exc)]
    where = f"API at {api.address}"
    started = time.perf_counter()
    try:
        ready = api.readyz()
    except ClientError as exc:
        evidence = {
            "address": api.address,
            "reason": _reason(exc),
            "error": str(exc),
            "elapsed_ms": _elapsed_ms(started),
        }
        if isinstance(exc, Unreachable):
            return [
                ctx.finding(
                    "TRI-API-001",
                    f"{where} did not answer /readyz {_no_answer(exc, api.timeout)}",
                    **evidence,
                )
            ]
        return [
            ctx.finding("TRI-API-003", f"{where} answered /readyz with an error: {exc}", **evidence)
        ]
    if not ready["ready"]:
        checks: Mapping[str, Any] = ready["checks"]
        failed = ready["failed"]
        named = ", ".join(
            f"{name} ({checks.get(name, {}).get('error') or 'failed'})" for name in failed
        )
        return [
            ctx.finding(
                "TRI-API-002",
                f"{where} is not ready: {named or 'no reason given'}",
                address=api.address,
                failed=failed,
                checks=checks,
                latency_ms=ready["latency_ms"],
            )
        ]
    ctx.note(
        f"API {api.address}: ready ({', '.join(ready['checks'])}) in {ready['latency_ms']:.0f} ms"
    )
    return []


def check_classify(ctx: StepContext) -> list[Finding]:
    """The runbook's recovery validation: `POST /v1/classify` answers a category, from
    the model (not degraded), within the latency threshold."""
    try:
        api = ctx.clients.service_api()
    except UsageError as exc:
        return [_not_configured(ctx, "API", "api_url", exc)]
    where = f"API at {api.address}"
    subject = str(ctx.params.get("classify_subject", "Test"))
    body = f"Test email (triage-ops check {uuid.uuid4().hex[:12]})"
    started = time.perf_counter()
    try:
        answer = api.classify(subject=subject, body=body)
    except ClientError as exc:
        evidence = {
            "address": api.address,
            "reason": _reason(exc),
            "error": str(exc),
            "elapsed_ms": _elapsed_ms(started),
        }
        if isinstance(exc, Unreachable):
            return [
                ctx.finding(
                    "TRI-CLASSIFY-001",
                    f"POST /v1/classify to the {where} got no answer"
                    f" {_no_answer(exc, api.timeout)}",
                    **evidence,
                )
            ]
        if isinstance(exc, AuthFailed):
            return [
                ctx.finding(
                    "TRI-CLASSIFY-005",
                    f"POST /v1/classify: the {where} refused triage-ops' API key",
                    **evidence,
                )
            ]
        return [ctx.finding("TRI-CLASSIFY-002", f"POST /v1/classify failed: {exc}", **evidence)]
    latency_ms = float(answer["latency_ms"])
    evidence = {
        "address": api.address,
        "category": answer["category"],
        "confidence": answer.get("confidence"),
        "backend": answer.get("backend"),
        "degraded": bool(answer.get("degraded")),
        "latency_ms": latency_ms,
    }
    findings = []
    if evidence["degraded"]:
        findings.append(
            ctx.finding(
                "TRI-CLASSIFY-003",
                f"POST /v1/classify answered {answer['category']!r} from the fallback"
                f" classifier ({answer.get('backend')}), not the model",
                **evidence,
            )
        )
    max_ms = _param(ctx, "classify_max_latency_ms", DEFAULT_CLASSIFY_MAX_LATENCY_MS)
    if latency_ms > max_ms:
        findings.append(
            ctx.finding(
                "TRI-CLASSIFY-004",
                f"POST /v1/classify took {latency_ms:.0f} ms (threshold {max_ms:.0f} ms)",
                threshold_ms=max_ms,
                **evidence,
            )
        )
    if not findings:
        ctx.note(
            f"classify: {answer['category']} ({answer.get('confidence')}) by"
            f" {answer.get('backend')} in {latency_ms:.0f} ms"
        )
    return findings


# -- the queue -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueSample:
    """The queue as seen at one moment. The worker deletes what it acknowledges (XACK +
    XDEL), so XLEN is everything not yet done: waiting plus pending."""

    depth: int
    pending: int = 0
    entries_added: int | None = None  # XINFO STREAM's counter (Redis >= 7)
    oldest_id: str | None = None  # the oldest entry not yet acknowledged
    oldest_pending_id: str | None = None
    consumers: tuple[Mapping[str, Any], ...] = ()
    group: bool = False
    now_ms: int = 0
    dead_letter: int = 0

    def age_s(self, entry_id: str | None) -> float | None:
        if not entry_id or not self.now_ms:
            return None
        try:
            created_ms = int(entry_id.split("-", 1)[0])
        except ValueError:
            return None
        return round(max(0, self.now_ms - created_ms) / 1000, 1)


def check_queue_moving(ctx: StepContext) -> list[Finding]:
    """Depth, pending, consumers and the oldest entry's age, sampled twice
    `queue_sample_interval_s` apart: email waiting and nothing acknowledged in between
    is TRI-QUEUE-001."""
    try:
        ops = ctx.clients.redis()
    except UsageError as exc:
        return [_not_configured(ctx, "queue", "redis_url", exc)]
    interval = _param(ctx, "queue_sample_interval_s", DEFAULT_QUEUE_SAMPLE_INTERVAL_S)
    address = _redis_address(ops.queue_url)
    try:
        first = _queue_sample(ops)
        if first.depth == 0:
            ctx.note(f"queue {keys.QUEUE_STREAM} on {address}: empty")
            return []
        time.sleep(max(0.0, interval))
        second = _queue_sample(ops)
    except ClientError as exc:
        return [
            ctx.finding(
                "TRI-QUEUE-002",
                f"The queue on Redis at {address} could not be inspected"
                f" {_no_answer(exc, ops.timeout) if isinstance(exc, Unreachable) else f'({exc})'}",
                address=address,
                reason=_reason(exc),
                error=str(exc),
            )
        ]
    if first.entries_added is not None and second.entries_added is not None:
        acknowledged = first.depth + (second.entries_added - first.entries_added) - second.depth
    else:  # before Redis 7: a shorter queue, or a new oldest entry, means acks happened
        acknowledged = max(0, first.depth - second.depth) or int(
            first.oldest_id != second.oldest_id
        )
    active = [
        c for c in second.consumers if int(c.get("pending", 0)) > 0 or c.get("idle_ms", 0) < 60_000
    ]
    idle = [int(c.get("idle_ms", 0)) for c in second.consumers]
    evidence = {
        "address": address,
        "stream": keys.QUEUE_STREAM,
        "group": keys.CONSUMER_GROUP,
        "group_exists": second.group,
        "depth": second.depth,
        "pending": second.pending,
        "waiting": max(0, second.depth - second.pending),
        "acknowledged": max(0, acknowledged),
        "interval_s": interval,
        "oldest_age_s": second.age_s(second.oldest_id),
        "oldest_pending_age_s": second.age_s(second.oldest_pending_id),
        "consumers": len(second.consumers),
        "most_recent_consumer_idle_s": round(min(idle) / 1000, 1) if idle else None,
        "dead_letter": second.dead_letter,
    }
    if second.depth > 0 and acknowledged <= 0:
        who = (
            "no consumer group (no worker ever started)"
            if not second.group
            else "no consumer in the group"
            if not second.consumers
            else f"{len(second.consumers)} consumer(s), {len(active)} recently active"
        )
        return [
            ctx.finding(
                "TRI-QUEUE-001",
                f"Queue {keys.QUEUE_STREAM} is not moving: {second.depth} email(s) waiting,"
                f" none acknowledged in {interval:g} s ({second.pending} pending,"
                f" oldest {evidence['oldest_age_s']} s old; {who})",
                **evidence,
            )
        ]
    ctx.note(
        f"queue {keys.QUEUE_STREAM}: depth {second.depth}, {max(0, acknowledged)} acknowledged"
        f" in {interval:g} s, {len(second.consumers)} consumer(s)"
    )
    return []


def _queue_sample(ops: Any) -> QueueSample:
    """Each command on its own (cluster-safe, each bounded by the client's timeout)."""
    raw = ops.client(queue=True)

    def call(fn: Callable[[], T], what: str) -> T:
        result: T = ops.call(fn, what, queue=True)
        return result

    def no_group(fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            try:
                return fn()
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc) or "no such key" in str(exc).lower():
                    return None
                raise

        return run

    stream, group = keys.QUEUE_STREAM, keys.CONSUMER_GROUP
    depth = int(call(lambda: raw.xlen(stream), "XLEN"))
    dead = int(call(lambda: raw.xlen(keys.DEAD_LETTER_STREAM), "XLEN dead-letter"))
    seconds, micros = call(lambda: raw.time(), "TIME")
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    if depth == 0:
        return QueueSample(depth=0, now_ms=now_ms, dead_letter=dead)
    info = call(no_group(lambda: raw.xinfo_stream(stream)), "XINFO STREAM") or {}
    summary = call(no_group(lambda: raw.xpending(stream, group)), "XPENDING")
    consumers = call(no_group(lambda: raw.xinfo_consumers(stream, group)), "XINFO CONSUMERS")
    first_entry = info.get("first-entry")
    added = info.get("entries-added")
    pending = int(summary["pending"]) if isinstance(summary, Mapping) else 0
    oldest_pending = summary.get("min") if isinstance(summary, Mapping) else None
    return QueueSample(
        depth=depth,
        pending=pending,
        entries_added=None if added is None else int(added),
        oldest_id=_text(first_entry[0]) if first_entry else None,
        oldest_pending_id=_text(oldest_pending) if pending and oldest_pending else None,
        consumers=tuple(
            {
                "name": _text(c.get("name")),
                "pending": int(c.get("pending", 0)),
                "idle_ms": int(c.get("idle", 0)),
            }
            for c in consumers or []
        ),
        group=summary is not None,
        now_ms=now_ms,
        dead_letter=dead,
    )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- the fallback switch ---------------------------------------------------------------------


def check_fallback_switch(ctx: StepContext) -> list[Finding]:
    """Whether fallback classification mode is on, and who switched it, why and when
    (an info finding: it is a state to know about during an incident, not a failure)."""
    from triage_core.service.control import ControlUnavailable, FallbackSwitch

    try:
        ops = ctx.clients.redis()
    except UsageError as exc:
        return [_not_configured(ctx, "fallback switch", "redis_url", exc)]
    address = _redis_address(ops.queue_url)
    try:
        switch = FallbackSwitch(ops.client(queue=True), poll_s=0)
        try:
            state = switch.status()
        except ControlUnavailable as exc:
            raise ops.translate(exc, "read the fallback switch", queue=True) from None
    except ClientError as exc:
        return [
            ctx.finding(
                "TRI-FALLBACK-002",
                f"The fallback switch on Redis at {address} could not be read"
                f" {_no_answer(exc, ops.timeout) if isinstance(exc, Unreachable) else f'({exc})'}",
                address=address,
                key=keys.FALLBACK_SWITCH,
                reason=_reason(exc),
                error=str(exc),
            )
        ]
    if not state["on"]:
        ctx.note("fallback classification mode: off")
        return []
    return [
        ctx.finding(
            "TRI-FALLBACK-001",
            f"Fallback classification mode is ON since {state['at'] or '?'},"
            f" switched by {state['actor'] or '?'}: {state['reason'] or 'no reason given'}",
            address=address,
            key=keys.FALLBACK_SWITCH,
            actor=state["actor"],
            reason=state["reason"],
            since=state["at"],
        )
    ]


# -- Prometheus ------------------------------------------------------------------------------


def check_prometheus(ctx: StepContext) -> list[Finding]:
    """Prometheus answers and is ready, and every scrape target is up."""
    if not ctx.config.prometheus_url:
        ctx.note("no Prometheus configured (prometheus_url): not checked")
        return []
    prometheus = ctx.clients.prometheus()
    where = f"Prometheus at {prometheus.address}"
    started = time.perf_counter()
    try:
        ready = prometheus.ready()
        targets = prometheus.targets() if ready else []
    except ClientError as exc:
        summary = (
            f"{where} did not answer {_no_answer(exc, prometheus.timeout)}"
            if isinstance(exc, Unreachable)
            else f"{where} answered with an error: {exc}"
        )
        return [
            ctx.finding(
                "TRI-PROM-010",
                summary,
                address=prometheus.address,
                reason=_reason(exc),
                error=str(exc),
                elapsed_ms=_elapsed_ms(started),
            )
        ]
    if not ready:
        return [
            ctx.finding(
                "TRI-PROM-010",
                f"{where} is not ready (starting, or replaying its write-ahead log)",
                address=prometheus.address,
                reason="not ready",
            )
        ]
    down = [t for t in targets if t["health"] == "down"]
    if down:
        named = ", ".join(f"{t['job']} {t['instance']}" for t in down)
        return [
            ctx.finding(
                "TRI-PROM-011",
                f"{where}: {len(down)} of {len(targets)} scrape target(s) down: {named}",
                address=prometheus.address,
                down=[
                    {"job": t["job"], "instance": t["instance"], "last_error": t["last_error"]}
                    for t in down
                ],
            )
        ]
    up = sum(1 for t in targets if t["health"] == "up")
    ctx.note(f"Prometheus {prometheus.address}: ready, {up} of {len(targets)} target(s) up")
    return []


# The checks by step name, for runbooks (incident-p0, health) to refer to.
CHECKS: dict[str, Callable[[StepContext], list[Finding]]] = {
    "postgres-primary": check_postgres_primary,
    "postgres-replica": check_postgres_replica,
    "redis": check_redis,
    "model-server": check_model_server,
    "api-ready": check_api_ready,
    "classify": check_classify,
    "queue-moving": check_queue_moving,
    "fallback-switch": check_fallback_switch,
    "prometheus": check_prometheus,
}
