"""Everything a request handler needs, built once per process: the pipeline, the store,
the Redis clients and what sits on them (queue, result cache, fallback switch), the access
guard and the readiness probes.

Nothing here does I/O when constructed. `open()` (the app's lifespan) starts the store's
pool without waiting for PostgreSQL and warms the pipeline; Redis clients are built on
first use. So the process starts, and `/readyz` says what is missing, while PostgreSQL or
Redis is down; when they come back the same objects reconnect, without a restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

import triage_core
from triage_core.config import PipelineConfig
from triage_core.pipeline import Pipeline
from triage_core.result import TriageResult
from triage_core.service import metrics
from triage_core.service.api.auth import AccessGuard
from triage_core.service.api.body import EmailInput
from triage_core.service.api.errors import NotFound, ServiceUnavailable
from triage_core.service.api.ratelimit import TokenBucketLimiter
from triage_core.service.api.readiness import ProbeFailed, ReadinessChecker
from triage_core.service.api.redis_handle import RedisHandle
from triage_core.service.cache import ResultCache
from triage_core.service.control import FallbackSwitch
from triage_core.service.queue import Queue
from triage_core.service.redis_clients import RedisUnavailable
from triage_core.service.settings import ServiceSettings
from triage_core.service.store import QUEUED, Store, StoreError, StoreUnavailable

log = logging.getLogger("triage_core.service.api")

# What a client is told to wait before retrying after a 503.
RETRY_AFTER_S = "5"
_WARM_UP = b"Subject: warm-up\r\nMessage-ID: <warm-up@triage.local>\r\n\r\nwarm-up\r\n"


@dataclass(frozen=True, slots=True)
class Enqueued:
    id: str
    status: str
    message_id: str
    created: bool

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "status": self.status, "message_id": self.message_id}


class ApiState:
    def __init__(self, settings: ServiceSettings, *, pipeline: Pipeline | None = None) -> None:
        self.settings = settings
        # Triage is CPU-bound: one thread at a time per process. Forty threads taking turns
        # on the GIL around each Redis call cost ~40% more CPU per request and made p99 spiky
        # (benchmarks/results/api_load.txt). Set by the lifespan, inside the event loop.
        self.work_limiter: anyio.CapacityLimiter | None = None
        self.redis = RedisHandle(
            settings.redis_url,
            cluster=settings.redis_cluster,
            timeout_s=settings.redis_timeout_s,
            name="redis",
        )
        self.queue_redis = self.redis
        if settings.queue_redis_url and settings.queue_redis_url != settings.redis_url:
            self.queue_redis = RedisHandle(
                settings.queue_redis_url,
                cluster=settings.redis_cluster,
                timeout_s=settings.redis_timeout_s,
                name="queue redis",
            )
        if pipeline is None:
            config = (
                PipelineConfig.from_yaml(settings.pipeline_config)
                if settings.pipeline_config
                else PipelineConfig()
            )
            forced_by_config = config.classifier.force_fallback
            pipeline = Pipeline(
                config, force_fallback=lambda: forced_by_config or self.fallback_on()
            )
        self.pipeline = pipeline
        self.store = Store(settings) if settings.database_url else None
        limiter = (
            TokenBucketLimiter(settings.rate_limit_per_minute)
            if settings.rate_limit_per_minute > 0
            else None
        )
        self.guard = AccessGuard(settings.api_keys, limiter=limiter)
        self.readiness = ReadinessChecker(self._probes())
        self._lock = threading.Lock()
        self._cache: ResultCache | None = None
        self._queue: Queue | None = None
        self._switch: FallbackSwitch | None = None
        self._store_open = False

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        if self.store is not None:
            # on failure: logged, retried on first use, reported by /readyz meanwhile
            with contextlib.suppress(ServiceUnavailable):
                self._open_store()
        try:
            _ = self.pipeline.classifier.labels  # loads the model before the first request
            self.pipeline.triage(_WARM_UP)
        except Exception:  # the app still starts; /readyz reports the model check
            log.exception("pipeline warm-up failed")

    def close(self) -> None:
        if self.store is not None and self._store_open:
            self.store.close()
        self._store_open = False
        self.redis.close()
        if self.queue_redis is not self.redis:
            self.queue_redis.close()

    def _open_store(self) -> Store:
        store = self.store
        if store is None:
            raise ServiceUnavailable(
                "no database is configured (TRIAGE_DATABASE_URL)",
                headers={"Retry-After": RETRY_AFTER_S},
            )
        if not self._store_open:
            with self._lock:
                if not self._store_open:
                    try:
                        store.open()  # does not wait for the server
                    except StoreError as exc:
                        log.warning("store: %s", exc)
                        raise _unavailable("the store", exc) from exc
                    self._store_open = True
        return store

    # -- Redis-backed parts, built on first use ------------------------------------------

    def fallback_on(self) -> bool:
        switch = self._switch
        if switch is None:
            try:
                # the switch key lives with the queue keys (keys.CONTROL_PREFIX), on the
                # queue's Redis, where the workers and the ops CLI read and write it too
                client = self.queue_redis.client()
            except RedisUnavailable:
                return False  # never read: off (the switch keeps its last value itself)
            with self._lock:
                if self._switch is None:
                    self._switch = FallbackSwitch(client, poll_s=self.settings.fallback_poll_s)
                switch = self._switch
        return switch.is_on()

    def cache(self) -> ResultCache | None:
        if self._cache is None:
            try:
                client = self.redis.client()
            except RedisUnavailable:
                return None
            with self._lock:
                if self._cache is None:
                    self._cache = ResultCache(
                        client, ttl_s=self.settings.cache_ttl_s, salt=self.cache_salt()
                    )
        return self._cache

    def cache_salt(self) -> bytes:
        """Results depend on the code, the configuration and the model: a new release, a
        new config or a retrained model file must not be served an old one's results.
        (A model behind TF Serving is identified by its config only: flush the cache with
        the ops CLI after rolling out a new version there.)"""
        config = self.pipeline.config
        parts = [triage_core.__version__, repr(config)]
        if config.classifier.model_path:
            try:
                stat = Path(config.classifier.model_path).stat()
                parts.append(f"{stat.st_size}:{stat.st_mtime_ns}")
            except OSError:
                parts.append("model file unreadable")
        return hashlib.sha256("|".join(parts).encode("utf-8", "surrogatepass")).digest()

    def queue(self) -> Queue:
        if self._queue is None:
            try:
                client = self.queue_redis.client()
            except RedisUnavailable as exc:
                raise _unavailable("the queue", exc) from exc
            with self._lock:
                if self._queue is None:
                    self._queue = Queue(client, settings=self.settings)
        return self._queue

    # -- the work (blocking: called in a worker thread) ----------------------------------

    def triage(self, data: EmailInput) -> dict[str, Any]:
        """The `triage/v1` dict for one email, from the cache when it has it.

        The cache is skipped while fallback mode is on: a cached answer of the primary
        model is exactly what the operator switched away from. A cache hit is not counted
        in the processing metrics (`emails_processed_total` and friends): nothing ran."""
        cache = None if self.fallback_on() else self.cache()
        key = data.kind.encode("ascii") + b"\n" + data.content
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                return hit
        result: TriageResult = self.pipeline.triage(data.item)
        metrics.observe_result(result)
        out = result.to_dict()
        if cache is not None:
            cache.put(key, out)  # degraded results are not stored (the cache's rule)
        return out

    def enqueue(self, data: EmailInput) -> Enqueued:
        """Idempotent on Message-ID: the first call creates the row (status queued) and
        adds the email to the queue; a later call with the same Message-ID returns the
        same id and the row's current status. A row still `queued` is added to the queue
        again, so a request that failed between the row and the queue (Redis down: 503)
        is completed by the client's retry; the worker is idempotent on the email id."""
        from triage_core.parsing import parse_email

        message_id = parse_email(data.item, limits=self.pipeline.config.limits).message_id
        store = self._open_store()
        try:
            email_id, created = store.enqueue(message_id)
            status = QUEUED
            if not created:
                record = store.get(email_id)
                status = record.status if record is not None else QUEUED
        except StoreUnavailable as exc:
            raise _unavailable("the store", exc) from exc
        if status == QUEUED:
            queue = self.queue()
            try:
                queue.enqueue(email_id, encode_payload(data))
            except RedisUnavailable as exc:
                raise _unavailable("the queue", exc) from exc
        return Enqueued(email_id, status, message_id, created)

    def email(self, email_id: str) -> dict[str, Any]:
        store = self._open_store()
        try:
            record = store.get(email_id)
        except StoreUnavailable as exc:
            raise _unavailable("the store", exc) from exc
        if record is None:
            raise NotFound(f"no email with id {email_id[:100]!r}", field="id")
        return record.to_dict()

    # -- readiness ------------------------------------------------------------------------

    def _probes(self) -> dict[str, Callable[[], object]]:
        probes: dict[str, Callable[[], object]] = {}
        if self.store is not None:
            probes["postgres"] = self._ping_store
        probes["redis"] = self.redis.ping
        if self.queue_redis is not self.redis:
            probes["redis_queue"] = self.queue_redis.ping
        probes["model"] = self._check_model
        return probes

    def _ping_store(self) -> None:
        self._open_store().ping()

    def _check_model(self) -> None:
        """The model backend: a remote one (TF Serving) must report its model AVAILABLE;
        an embedded one must load its labels."""
        classifier = self.pipeline.classifier
        primary = getattr(classifier, "primary", classifier)
        status = getattr(primary, "status", None)
        if callable(status):
            answer = status()
            if not getattr(answer, "available", False):
                state = getattr(answer, "state", "UNKNOWN")
                error = getattr(answer, "error", None)
                raise ProbeFailed(
                    f"{primary.name} model not available ({state})"
                    + (f": {error}" if error else "")
                )
            return
        if not classifier.labels:
            raise ProbeFailed(f"{classifier.name} model has no labels")


def encode_payload(data: EmailInput) -> bytes:
    """The queue entry's payload as the worker decodes it (`worker.decode_payload`): raw
    RFC 822 bytes as received, or the email's JSON object (the `email` member, not the
    request envelope) so the worker triages the same mapping the API saw."""
    if isinstance(data.item, dict):
        return json.dumps(data.item, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return data.item


def _unavailable(what: str, exc: Exception) -> ServiceUnavailable:
    log.warning("%s unavailable: %s", what, exc)
    return ServiceUnavailable(
        f"{what} is unavailable: retry later", headers={"Retry-After": RETRY_AFTER_S}
    )
