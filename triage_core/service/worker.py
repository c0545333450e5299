"""The queue worker: Redis Stream entries in, committed `emails` rows out.

One batch at a time, in this order, so that a crash anywhere loses nothing:

1. `queue.read()`: up to `worker_batch_size` entries (stale entries of dead workers first);
2. `store.mark_processing()`: the rows show that work started (and count the attempt);
3. triage every payload with the pipeline (raw RFC 822 bytes, or a JSON object when the
   payload starts with `{`);
4. `store.save_results()`: every result of the batch in ONE transaction;
5. `queue.ack()` only after that commit.

A worker killed between 4 and 5 leaves its entries pending; another worker reclaims them
(XAUTOCLAIM) and saves again, which the store makes a no-op: an email can be triaged twice,
never lost and never stored twice.

Failures of one email. A payload that cannot be decoded never will be: it is marked failed
and dead-lettered at once. An email whose triage raises, or whose row the database refuses,
stays pending and is retried when reclaimed; at its `queue_max_attempts`-th delivery it is
marked failed and dead-lettered. (The queue itself dead-letters an entry delivered more
often than that, which is what happens to an email that crashes its worker every time.)

Failures of a dependency. Redis or PostgreSQL down: the worker keeps its batch, retries
with backoff for a while, then leaves the entries pending and waits for the dependency,
never exiting and never spinning.

SIGTERM (and SIGINT) finish the batch in hand, then stop: `python -m
triage_core.service.worker` or `triage worker`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from triage_core.service import metrics
from triage_core.service.redis_clients import RedisUnavailable
from triage_core.service.store import Store, StoreError, StoreUnavailable

if TYPE_CHECKING:
    from triage_core.pipeline import Pipeline
    from triage_core.result import TriageResult
    from triage_core.service.queue import Queue, QueueEntry
    from triage_core.service.settings import ServiceSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often the queue gauges (email_queue_depth / email_queue_pending) are sampled.
QUEUE_SAMPLE_S = 5.0
# Backoff while Redis or PostgreSQL is down: doubles from the first to the last value.
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
_WARMUP = b"Message-ID: <warm-up@triage.invalid>\r\nSubject: warm-up\r\n\r\nwarm-up\r\n"


class PayloadError(ValueError):
    """A queue payload that can never be triaged (not JSON although it starts with `{`)."""


def decode_payload(payload: bytes) -> bytes | dict[str, Any]:
    """Raw message bytes as they are; a JSON object (payload starting with `{`) as a dict."""
    if not payload.startswith(b"{"):
        return payload
    try:
        data: dict[str, Any] = json.loads(payload)  # "{" + valid JSON: always an object
    except ValueError as exc:  # UnicodeDecodeError included
        raise PayloadError(f"payload is not valid JSON: {exc}") from None
    return data


@dataclass
class BatchOutcome:
    """What one batch did, by entry count (for tests and logs)."""

    read: int = 0
    saved: int = 0
    retried: int = 0  # failed this time, left pending for another delivery
    dead_lettered: int = 0


class Worker:
    """One consumer of the queue. Holds no connections of its own: `run_worker` builds and
    closes them; tests pass their own (a stub pipeline, a small batch)."""

    def __init__(
        self,
        *,
        settings: ServiceSettings,
        consumer: str,
        store: Store,
        queue: Queue,
        pipeline: Pipeline,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.store = store
        self.queue = queue
        self.pipeline = pipeline
        self.stop = stop
        self.max_attempts = settings.queue_max_attempts
        # A batch whose store call fails is retried this long before its entries are left
        # to be reclaimed: well before another worker would reclaim them anyway.
        self.store_retry_s = max(settings.queue_claim_idle_ms / 2000.0, 0.5)
        self._next_sample = 0.0

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        """Batches until `stop` is set; waits out Redis and PostgreSQL outages."""
        backoff = BACKOFF_FIRST_S
        group_ready = False
        outage: str | None = None
        while not self.stop.is_set():
            try:
                if not group_ready:
                    self.queue.ensure_group()
                    group_ready = True
                self.run_once()
                self._sample_queue()
            except (RedisUnavailable, StoreUnavailable) as exc:
                if outage is None:  # one line per outage, not one per retry
                    log.warning("worker %s waiting: %s", self.consumer, exc)
                outage = str(exc)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            if outage is not None:
                log.warning("worker %s resumed", self.consumer)
                outage = None
            backoff = BACKOFF_FIRST_S
        log.info("worker %s stopped", self.consumer)

    def run_once(self) -> BatchOutcome:
        """Reads one batch and settles every entry of it (saved and acknowledged, left
        pending for a retry, or dead-lettered)."""
        entries = self.queue.read(
            self.consumer,
            count=self.settings.worker_batch_size,
            block_ms=self.settings.worker_block_ms,
        )
        outcome = BatchOutcome(read=len(entries))
        if not entries:
            return outcome
        valid: list[QueueEntry] = []
        for entry in entries:
            if _is_uuid(entry.email_id):
                valid.append(entry)
            else:  # no row to mark: the dead-letter stream is the only record
                self.queue.dead_letter(entry, f"email id {entry.email_id!r} is not a uuid")
                metrics.observe_failure()
                outcome.dead_lettered += 1
        if not valid:
            return outcome
        self._with_store_retry(lambda: self.store.mark_processing([e.email_id for e in valid]))

        results: list[tuple[QueueEntry, TriageResult]] = []
        failures: list[tuple[QueueEntry, str, bool]] = []  # (entry, reason, permanent)
        for entry in valid:
            try:
                item = decode_payload(entry.payload)
            except PayloadError as exc:
                failures.append((entry, str(exc), True))
                continue
            try:
                results.append((entry, self.pipeline.triage(item)))
            except Exception as exc:  # one email's bug must not stall the batch
                log.exception("triage of email %s raised", entry.email_id)
                failures.append((entry, f"triage failed: {_describe(exc)}", False))

        saved, refused = self._save(results)
        self.queue.ack([entry for entry, _ in saved])
        for _, result in saved:
            metrics.observe_result(result)
        outcome.saved = len(saved)
        failures.extend(refused)
        for entry, reason, permanent in failures:
            if permanent or entry.attempts >= self.max_attempts:
                self._give_up(entry, reason)
                outcome.dead_lettered += 1
            else:
                log.warning(
                    "email %s failed (attempt %d of %d), will be retried: %s",
                    entry.email_id,
                    entry.attempts,
                    self.max_attempts,
                    reason,
                )
                outcome.retried += 1
        return outcome

    # -- steps ---------------------------------------------------------------------------

    def _save(
        self, results: Sequence[tuple[QueueEntry, TriageResult]]
    ) -> tuple[list[tuple[QueueEntry, TriageResult]], list[tuple[QueueEntry, str, bool]]]:
        """The whole batch in one transaction; if the database refuses it (not: is down),
        each email on its own, so that one bad row cannot block the others."""
        if not results:
            return [], []
        pairs = [(entry.email_id, result) for entry, result in results]
        try:
            self._with_store_retry(lambda: self.store.save_results(pairs))
            return list(results), []
        except StoreUnavailable:
            raise
        except StoreError as exc:
            log.warning("batch of %d refused (%s): saving one by one", len(results), exc)
        saved: list[tuple[QueueEntry, TriageResult]] = []
        refused: list[tuple[QueueEntry, str, bool]] = []
        for entry, result in results:
            try:
                self._with_store_retry(partial(self.store.save_results, [(entry.email_id, result)]))
                saved.append((entry, result))
            except StoreUnavailable:
                raise
            except StoreError as exc:
                refused.append((entry, f"save failed: {exc}", False))
        return saved, refused

    def _give_up(self, entry: QueueEntry, reason: str) -> None:
        # the row first: a crash in between re-delivers the entry, and both are idempotent
        self._with_store_retry(lambda: self.store.mark_failed(entry.email_id, reason))
        self.queue.dead_letter(entry, reason)
        metrics.observe_failure()

    def _with_store_retry(self, call: Callable[[], T]) -> T:
        """`call()`, retried with backoff while PostgreSQL is unavailable, for at most
        `store_retry_s` (and not after `stop`); then the last `StoreUnavailable` escapes."""
        deadline = time.monotonic() + self.store_retry_s
        delay = BACKOFF_FIRST_S
        while True:
            try:
                return call()
            except StoreUnavailable:
                if self.stop.is_set() or time.monotonic() + delay > deadline:
                    raise
                self.stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)

    def _sample_queue(self) -> None:
        now = time.monotonic()
        if now < self._next_sample:
            return
        self._next_sample = now + QUEUE_SAMPLE_S
        stats = self.queue.stats()
        metrics.set_queue(depth=stats.depth, pending=stats.pending)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


# -- the process ---------------------------------------------------------------------------


def build_pipeline(settings: ServiceSettings, *, force_fallback: Callable[[], bool]) -> Pipeline:
    from triage_core.config import PipelineConfig
    from triage_core.pipeline import Pipeline

    config = (
        PipelineConfig.from_yaml(settings.pipeline_config)
        if settings.pipeline_config
        else PipelineConfig()
    )
    pipeline = Pipeline(config, force_fallback=force_fallback)
    pipeline.triage(_WARMUP)  # load the model now: a broken artifact fails at start
    return pipeline


def run_worker(settings: ServiceSettings, *, consumer: str, stop: threading.Event) -> None:
    """Connects to Redis and PostgreSQL, then runs batches until `stop` is set. Returns
    after the batch in hand is settled; the connections are closed on the way out."""
    from triage_core.service.control import FallbackSwitch
    from triage_core.service.queue import Queue
    from triage_core.service.redis_clients import connect

    url = settings.queue_redis_url or settings.redis_url
    with Store(settings) as store:  # first: a missing database URL fails at once
        client = _connect_redis(
            lambda: connect(
                url, cluster=settings.redis_cluster, timeout_s=settings.redis_timeout_s
            ),
            stop,
        )
        if client is None:  # stopped before Redis answered
            return
        try:
            switch = FallbackSwitch(client, poll_s=settings.fallback_poll_s)
            pipeline = build_pipeline(settings, force_fallback=switch.is_on)
            worker = Worker(
                settings=settings,
                consumer=consumer,
                store=store,
                queue=Queue(
                    client,
                    settings=settings,
                    on_abandoned=lambda entry, reason: _abandoned(store, entry, reason),
                ),
                pipeline=pipeline,
                stop=stop,
            )
            log.info("worker %s started (batch %d)", consumer, settings.worker_batch_size)
            worker.run()
        finally:
            client.close()


def _connect_redis(make: Callable[[], T], stop: threading.Event) -> T | None:
    """A cluster client contacts the cluster when built: retry until it answers."""
    delay = BACKOFF_FIRST_S
    warned = False
    while not stop.is_set():
        try:
            return make()
        except RedisUnavailable as exc:
            if not warned:
                log.warning("worker waiting for Redis: %s", exc)
                warned = True
            stop.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
    return None


def serve_metrics(port: int, *, host: str = "0.0.0.0") -> None:
    """/metrics for Prometheus on `port` (a daemon thread). In multiprocess mode the
    exposition sums every process writing to PROMETHEUS_MULTIPROC_DIR."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    registry = REGISTRY
    if metrics.multiprocess_enabled():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=host, registry=registry)


def serve(
    settings: ServiceSettings,
    *,
    consumer: str | None = None,
    metrics_port: int = 0,
    metrics_host: str = "0.0.0.0",
) -> None:
    """The worker process: SIGTERM/SIGINT stop it after the current batch."""
    from triage_core.service.queue import consumer_name

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if metrics_port:
            serve_metrics(metrics_port, host=metrics_host)
        run_worker(settings, consumer=consumer or consumer_name(), stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if metrics.multiprocess_enabled():
            metrics.process_exited(os.getpid())


def main(argv: Sequence[str] | None = None) -> int:
    from triage_core.errors import ConfigError
    from triage_core.service.settings import ServiceSettings

    parser = argparse.ArgumentParser(
        prog="python -m triage_core.service.worker",
        description="Triage queued email into PostgreSQL (settings: TRIAGE_* env vars).",
    )
    parser.add_argument("--consumer", help="consumer name in the group (default: host:pid)")
    parser.add_argument("--settings", help="service settings YAML instead of TRIAGE_* env vars")
    parser.add_argument("--metrics-port", type=int, default=0, help="serve /metrics (0: off)")
    parser.add_argument("--metrics-host", default="0.0.0.0")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.settings:
            settings = ServiceSettings.from_yaml(args.settings)
        else:
            settings = ServiceSettings.from_env()
        serve(
            settings,
            consumer=args.consumer,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
        )
    except (ConfigError, StoreError) as exc:
        print(f"triage worker: error: {exc}", file=sys.stderr)
        return 4 if isinstance(exc, ConfigError) else 6
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _abandoned(store: Store, entry: QueueEntry, reason: str) -> None:
    """The queue dead-lettered an email by itself: record it as failed, best effort (the
    entry is already safe in the dead-letter stream if the database is down too)."""
    try:
        store.mark_failed(entry.email_id, reason)
    except StoreError as exc:
        log.warning("could not mark dead-lettered email %s failed: %s", entry.email_id, exc)
