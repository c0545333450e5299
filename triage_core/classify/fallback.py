"""Degraded mode: answer from a second backend when the first cannot.

The runbook's "fallback classification mode" has two triggers: the primary backend fails
(TF Serving down, circuit open) or an operator forces the fallback (a bad model rollout).
Either way triage must go on, and every result must say it was degraded and why, so the
API can flag it and the on-call engineer can see it in metrics. Hence `classify_batch`,
which pairs each prediction with the reason for degradation (None when the primary
answered), rather than a "last reason" attribute that concurrent callers would overwrite.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from triage_core.classify.base import Classifier, Prediction
from triage_core.errors import BackendUnavailable
from triage_core.message import Email

FORCED_REASON = "fallback mode forced by configuration"


class Classified(NamedTuple):
    """A prediction and, when the fallback gave it, why (a one-line reason). A tuple, so
    `prediction, reason = classified` works as well as the attribute names."""

    prediction: Prediction
    degraded_reason: str | None = None

    @property
    def degraded(self) -> bool:
        return self.degraded_reason is not None


class FallbackClassifier:
    """A `Classifier` that answers from `primary`, or from `fallback` when `primary` raises
    `BackendUnavailable` or when `force_fallback` is true.

    `force_fallback` may be a callable, read on every call, so a running service can flip
    the mode (an admin endpoint, a watched file) without a restart. `name` and `labels`
    are the primary's: the configured taxonomy. A prediction's `backend` always names the
    backend that produced it, so a degraded answer is recognisable even through the plain
    `predict`/`predict_batch` interface."""

    def __init__(
        self,
        primary: Classifier,
        fallback: Classifier,
        *,
        force_fallback: Callable[[], bool] | bool = False,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self._force: Callable[[], bool] = (
            force_fallback if callable(force_fallback) else (lambda: bool(force_fallback))
        )

    @property
    def labels(self) -> tuple[str, ...]:
        return self.primary.labels

    @property
    def forced(self) -> bool:
        return bool(self._force())

    def __call__(self, email: Email) -> Prediction:
        return self.predict(email)

    def predict(self, email: Email) -> Prediction:
        return self.classify(email).prediction

    def predict_batch(self, emails: Sequence[Email]) -> list[Prediction]:
        return [c.prediction for c in self.classify_batch(emails)]

    def classify(self, email: Email) -> Classified:
        return self.classify_batch([email])[0]

    def classify_batch(self, emails: Sequence[Email]) -> list[Classified]:
        """One `Classified` per email, in order. The primary answers for the whole batch
        or not at all, so the reason is the same for every email of a batch."""
        if not emails:
            return []
        if self.forced:
            reason = FORCED_REASON
        else:
            try:
                return [Classified(p) for p in self.primary.predict_batch(emails)]
            except BackendUnavailable as exc:
                reason = str(exc) or type(exc).__name__
        try:
            predictions = self.fallback.predict_batch(emails)
        except BackendUnavailable as exc:
            raise BackendUnavailable(
                f"{reason}; fallback {self.fallback.name} failed too: {exc}"
            ) from exc
        return [Classified(p, reason) for p in predictions]
