"""The orchestrator: one email in, one `TriageResult` out, whatever happens inside.

Error isolation is the point of this module. Each stage runs under its own guard: a stage
that raises adds an entry to `errors` and the email continues with a safe default (category
`other`, P3, no draft), so a batch never loses an email and a caller never sees a
traceback for a strange message. Results are deterministic for the same input and model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from triage_core.classify.base import Classifier, Prediction
from triage_core.config import PipelineConfig
from triage_core.message import Email
from triage_core.result import OTHER, StageError, TriageResult

if TYPE_CHECKING:
    from triage_core.priority import PriorityAgent
    from triage_core.respond import ResponseGenerator
    from triage_core.summarize import Summarizer

RawInput = bytes | str | Mapping[str, Any] | Email


@dataclass(frozen=True, slots=True)
class SourcedInput:
    """An input together with where it came from (`path`, or `path#N` inside an mbox)."""

    source: str
    data: RawInput
    error: str | None = None  # the input could not be read (e.g. a bad JSONL line)


Input = RawInput | SourcedInput


class Pipeline:
    """`Pipeline()` is the embedded default; nothing is loaded until the first email."""

    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        classifier: Classifier | None = None,
        force_fallback: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config or PipelineConfig()
        self._classifier = classifier
        self._force_fallback = force_fallback
        self._stages: tuple[PriorityAgent, Summarizer, ResponseGenerator] | None = None

    @classmethod
    def from_config(cls, path: str | Path) -> Pipeline:
        return cls(PipelineConfig.from_yaml(path))

    @property
    def classifier(self) -> Classifier:
        if self._classifier is None:
            from triage_core.classify.registry import build_classifier

            force: Callable[[], bool] | bool = self._force_fallback or False
            self._classifier = build_classifier(self.config.classifier, force_fallback=force)
        return self._classifier

    def _later_stages(self) -> tuple[PriorityAgent, Summarizer, ResponseGenerator]:
        if self._stages is None:
            from triage_core.priority import PriorityAgent
            from triage_core.respond import ResponseGenerator
            from triage_core.summarize import Summarizer

            self._stages = (
                PriorityAgent(self.config.priority),
                Summarizer(self.config.summary),
                ResponseGenerator(self.config.response),
            )
        return self._stages

    # -- one email -----------------------------------------------------------------------

    def triage(self, item: Input, *, source: str | None = None) -> TriageResult:
        timings: dict[str, float] = {}
        errors: list[StageError] = []
        if isinstance(item, SourcedInput):
            if item.error:
                errors.append(StageError("read", item.error))
            source, item = item.source, item.data
        t0 = time.perf_counter()
        email = self._parse(item, source, errors)
        t1 = time.perf_counter()
        timings["parse"] = (t1 - t0) * 1000.0
        prediction, degraded_reason = self._classify(email, errors)
        t2 = time.perf_counter()
        timings["classify"] = (t2 - t1) * 1000.0
        return self._finish(email, prediction, degraded_reason, errors, timings, t2)

    def _parse(self, item: RawInput, source: str | None, errors: list[StageError]) -> Email:
        from triage_core.parsing import parse_email

        try:
            email = parse_email(item, limits=self.config.limits, source_name=source)
        except Exception as exc:  # error isolation: a parser bug must not lose the email
            errors.append(StageError("parse", _describe(exc)))
            return Email(source=source)
        errors.extend(StageError("parse", e) for e in email.errors)
        return email

    def _classify(self, email: Email, errors: list[StageError]) -> tuple[Prediction, str | None]:
        try:
            return _classify_one(self.classifier, email)
        except Exception as exc:  # every backend, fallback included, failed
            errors.append(StageError("classify", _describe(exc)))
            return Prediction(OTHER, 0.0, "none"), "no backend could classify"

    def _finish(
        self,
        email: Email,
        prediction: Prediction,
        degraded_reason: str | None,
        errors: list[StageError],
        timings: dict[str, float],
        t_start: float,
    ) -> TriageResult:
        category, confidence = prediction.category, prediction.confidence
        if confidence < self.config.classifier.confidence_floor:
            category = OTHER
        priority_agent, summarizer, responder = self._later_stages()

        level, score, reasons = "P3", 0, ["priority unavailable"]
        try:
            assessment = priority_agent(email, category=category, confidence=confidence)
            level, score, reasons = assessment.level, assessment.score, list(assessment.reasons)
        except Exception as exc:
            errors.append(StageError("priority", _describe(exc)))
        t3 = time.perf_counter()
        timings["priority"] = (t3 - t_start) * 1000.0

        summary = email.subject
        try:
            summary = summarizer(email)
        except Exception as exc:
            errors.append(StageError("summarize", _describe(exc)))
        t4 = time.perf_counter()
        timings["summarize"] = (t4 - t3) * 1000.0

        needs_reply, draft = False, None
        try:
            draft = responder(email, category=category, priority=level)
            needs_reply = draft is not None
        except Exception as exc:
            errors.append(StageError("respond", _describe(exc)))
        timings["respond"] = (time.perf_counter() - t4) * 1000.0
        if degraded_reason:
            errors.append(StageError("classify", f"degraded: {degraded_reason}"))

        sender = email.from_addr
        if email.from_name:
            sender = f"{email.from_name} <{email.from_addr}>" if sender else email.from_name
        return TriageResult(
            message_id=email.message_id,
            category=category,
            category_confidence=confidence,
            priority=level,
            priority_score=score,
            priority_reasons=reasons,
            summary=summary,
            needs_reply=needs_reply,
            draft=draft,
            backend=prediction.backend,
            degraded=degraded_reason is not None,
            timings_ms=timings,
            errors=errors,
            source=email.source if email.source is not None else None,
            subject=email.subject,
            sender=sender,
        )

    # -- streams -------------------------------------------------------------------------

    def pipe(
        self, items: Iterable[Input], *, batch_size: int = 64, workers: int = 1
    ) -> Iterator[TriageResult]:
        """Results in input order. With `workers > 1` the emails are triaged in worker
        processes (each loads the model once); memory stays bounded because the input is
        consumed lazily, `batch_size` emails at a time per worker."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if workers <= 1:
            for item in items:
                yield self.triage(item)
            return
        yield from _pipe_in_processes(self.config, items, batch_size=batch_size, workers=workers)


def _classify_one(classifier: Classifier, email: Email) -> tuple[Prediction, str | None]:
    with_status = getattr(classifier, "classify_batch", None)
    if with_status is not None:
        pairs: list[tuple[Prediction, str | None]] = with_status([email])
        return pairs[0]
    return classifier.predict(email), None


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


# -- worker processes --------------------------------------------------------------------

_worker_pipeline: Pipeline | None = None


def _init_worker(config: PipelineConfig) -> None:
    global _worker_pipeline
    _worker_pipeline = Pipeline(config)


def _triage_chunk(chunk: list[Input]) -> list[TriageResult]:
    assert _worker_pipeline is not None
    return [_worker_pipeline.triage(item) for item in chunk]


def _pipe_in_processes(
    config: PipelineConfig, items: Iterable[Input], *, batch_size: int, workers: int
) -> Iterator[TriageResult]:
    """Chunks go out with back-pressure (at most two per worker in flight), unlike
    `Pool.imap`, whose feeder thread would read an entire mbox into the task queue."""
    import multiprocessing
    from collections import deque
    from itertools import islice
    from multiprocessing.pool import AsyncResult

    ctx = multiprocessing.get_context("forkserver")
    in_flight: deque[AsyncResult[list[TriageResult]]] = deque()
    iterator = iter(items)
    with ctx.Pool(workers, initializer=_init_worker, initargs=(config,)) as pool:
        while True:
            chunk = list(islice(iterator, batch_size))
            if chunk:
                in_flight.append(pool.apply_async(_triage_chunk, (chunk,)))
            if in_flight and (not chunk or len(in_flight) >= 2 * workers):
                yield from in_flight.popleft().get()
            if not chunk and not in_flight:
                return
