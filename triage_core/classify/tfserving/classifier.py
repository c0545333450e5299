"""The TF Serving backend: a remote model behind a circuit breaker.

The transport (REST or gRPC) only moves bytes; this class owns the breaker, the decoding
and the one rule that matters to the pipeline: whatever goes wrong, the caller gets
`BackendUnavailable` with a one-line reason, quickly, so the fallback can answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from triage_core.classify.base import Prediction
from triage_core.classify.tfserving.breaker import CircuitBreaker
from triage_core.classify.tfserving.protocol import (
    MalformedResponseError,
    ModelStatus,
    parse_model_status,
    parse_predict_response,
    request_text,
    to_prediction,
)
from triage_core.config import TFServingConfig
from triage_core.errors import BackendUnavailable, ConfigError
from triage_core.message import Email

PROTOCOLS = ("rest", "grpc")


class Transport(Protocol):
    @property
    def endpoint(self) -> str: ...

    def predict(self, texts: Sequence[str]) -> Any: ...

    def status(self) -> Any: ...

    def metadata(self) -> Any: ...

    def close(self) -> None: ...


class TFServingClassifier:
    name = "tfserving"

    def __init__(
        self,
        config: TFServingConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if config.protocol not in PROTOCOLS:
            raise ConfigError(
                f"classifier.tfserving.protocol: unknown protocol {config.protocol!r} "
                f"(known: {', '.join(PROTOCOLS)})"
            )
        if not config.labels:
            raise ConfigError("classifier.tfserving.labels: must name at least one label")
        if config.timeout_s <= 0:
            raise ConfigError("classifier.tfserving.timeout_s: must be > 0")
        self._config = config
        self._transport: Transport
        if config.protocol == "grpc":
            from triage_core.classify.tfserving.grpc import GrpcTransport

            self._transport = GrpcTransport(config)
        else:
            from triage_core.classify.tfserving.rest import RestTransport

            self._transport = RestTransport(config)
        self.breaker = CircuitBreaker(
            failures=max(1, config.breaker_failures),
            reset_s=config.breaker_reset_s,
            clock=clock,
        )

    @property
    def labels(self) -> tuple[str, ...]:
        return self._config.labels

    def __call__(self, email: Email) -> Prediction:
        return self.predict(email)

    def predict(self, email: Email) -> Prediction:
        return self.predict_batch([email])[0]

    def predict_batch(self, emails: Sequence[Email]) -> list[Prediction]:
        """One request for the whole batch: a round trip costs far more than a row."""
        if not emails:
            return []
        if not self.breaker.allow():
            raise self._unavailable(
                f"circuit open after {self.breaker.consecutive_failures} consecutive "
                f"failures (next trial in {self.breaker.retry_in():.1f}s)"
            )
        max_chars = self._config.max_text_chars
        texts = [request_text(email, max_chars=max_chars) for email in emails]
        ok = False
        try:
            data = self._transport.predict(texts)
            rows = parse_predict_response(data, labels=self.labels, count=len(texts))
            ok = True
        except MalformedResponseError as exc:
            raise self._unavailable(f"malformed response: {exc}") from exc
        finally:
            # Whatever failed (down, timeout, garbage, or a bug), it counts against the
            # breaker; a trial call that never reports would leave it half-open.
            if ok:
                self.breaker.record_success()
            else:
                self.breaker.record_failure()
        return [to_prediction(row, backend=self.name) for row in rows]

    def status(self) -> ModelStatus:
        """A health probe: never raises for an unreachable server, and bypasses the
        breaker (the probe is how one learns the server is back)."""
        try:
            return parse_model_status(self._transport.status())
        except BackendUnavailable as exc:
            return ModelStatus(available=False, version=None, state="UNREACHABLE", error=str(exc))
        except MalformedResponseError as exc:
            return ModelStatus(
                available=False,
                version=None,
                state="UNKNOWN",
                error=str(self._unavailable(f"malformed response: {exc}")),
            )

    def metadata(self) -> dict[str, Any]:
        try:
            data = self._transport.metadata()
        except MalformedResponseError as exc:
            raise self._unavailable(f"malformed response: {exc}") from exc
        if not isinstance(data, dict):
            raise self._unavailable("malformed response: metadata is not a JSON object")
        return data

    def close(self) -> None:
        self._transport.close()

    def _unavailable(self, reason: str) -> BackendUnavailable:
        return BackendUnavailable(f"tfserving at {self._transport.endpoint}: {reason}")
