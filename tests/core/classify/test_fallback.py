from __future__ import annotations

from collections.abc import Sequence

import pytest

from triage_core.classify.base import Classifier, Prediction
from triage_core.classify.fallback import FORCED_REASON, Classified, FallbackClassifier
from triage_core.classify.rules import RulesClassifier
from triage_core.errors import BackendUnavailable
from triage_core.message import Email

EMAILS = [Email(subject="Production is down"), Email(subject="Invoice overdue")]


class Stub:
    """A primary that answers "question" or raises what it is told to."""

    name = "stub"

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return ("question", "request")

    def predict(self, email: Email) -> Prediction:
        return self.predict_batch([email])[0]

    def predict_batch(self, emails: Sequence[Email]) -> list[Prediction]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return [Prediction("question", 0.9, self.name, {"question": 0.9, "request": 0.1})] * len(
            emails
        )


def test_is_a_classifier_with_the_primarys_name_and_labels() -> None:
    clf = FallbackClassifier(Stub(), RulesClassifier())
    assert isinstance(clf, Classifier)
    assert (clf.name, clf.labels) == ("stub", ("question", "request"))


def test_primary_answers_when_healthy() -> None:
    clf = FallbackClassifier(Stub(), RulesClassifier())
    assert (
        clf.classify_batch(EMAILS)
        == [
            Classified(Prediction("question", 0.9, "stub", {"question": 0.9, "request": 0.1}), None)
        ]
        * 2
    )
    assert clf.predict(EMAILS[0]).backend == "stub"


def test_fallback_answers_when_primary_is_unavailable() -> None:
    reason = "tfserving at http://127.0.0.1:8501: timed out after 2.0s"
    clf = FallbackClassifier(Stub(BackendUnavailable(reason)), RulesClassifier())
    results = clf.classify_batch(EMAILS)
    assert [(c.prediction.category, c.prediction.backend) for c in results] == [
        ("incident", "rules"),
        ("billing", "rules"),
    ]
    assert [c.degraded_reason for c in results] == [reason, reason]
    assert all(c.degraded for c in results)
    prediction, why = clf.classify(EMAILS[0])  # a tuple, too
    assert (prediction.backend, why) == ("rules", reason)
    assert [p.backend for p in clf.predict_batch(EMAILS)] == ["rules", "rules"]


def test_forced_fallback_does_not_call_the_primary() -> None:
    primary = Stub()
    clf = FallbackClassifier(primary, RulesClassifier(), force_fallback=True)
    (result,) = clf.classify_batch(EMAILS[:1])
    assert (result.prediction.backend, result.degraded_reason) == ("rules", FORCED_REASON)
    assert primary.calls == 0


def test_force_fallback_callable_is_read_on_every_call() -> None:
    switch = {"on": False}
    clf = FallbackClassifier(Stub(), RulesClassifier(), force_fallback=lambda: switch["on"])
    assert clf.predict(EMAILS[0]).backend == "stub"
    switch["on"] = True
    assert clf.forced is True
    assert clf.classify(EMAILS[0]) == (clf.fallback.predict(EMAILS[0]), FORCED_REASON)
    switch["on"] = False
    assert clf.predict(EMAILS[0]).backend == "stub"


def test_other_errors_are_not_hidden() -> None:
    clf = FallbackClassifier(Stub(ValueError("bug in the backend")), RulesClassifier())
    with pytest.raises(ValueError, match="bug in the backend"):
        clf.predict(EMAILS[0])


def test_both_failing_raises_with_both_reasons() -> None:
    clf = FallbackClassifier(
        Stub(BackendUnavailable("primary down")), Stub(BackendUnavailable("no model"))
    )
    with pytest.raises(BackendUnavailable) as info:
        clf.predict(EMAILS[0])
    assert str(info.value) == "primary down; fallback stub failed too: no model"


def test_empty_batch_calls_nobody() -> None:
    primary = Stub()
    assert FallbackClassifier(primary, RulesClassifier()).classify_batch([]) == []
    assert primary.calls == 0


def test_empty_reason_still_marks_degraded() -> None:
    clf = FallbackClassifier(Stub(BackendUnavailable()), RulesClassifier())
    assert clf.classify(EMAILS[0]).degraded_reason == "BackendUnavailable"


def test_tfserving_down_degrades_to_rules_and_the_breaker_keeps_it_fast() -> None:
    from dataclasses import replace

    from tests.core.classify.fake_tfserving import closed_port_url
    from triage_core.classify.tfserving import TFServingClassifier
    from triage_core.config import TFServingConfig

    url = closed_port_url()
    config = replace(TFServingConfig(url=url), retries=0, breaker_failures=2)
    clf = FallbackClassifier(TFServingClassifier(config), RulesClassifier())
    reasons = [clf.classify(EMAILS[0]).degraded_reason for _ in range(3)]
    assert reasons == [
        f"tfserving at {url}: connection refused",
        f"tfserving at {url}: connection refused",
        f"tfserving at {url}: circuit open after 2 consecutive failures (next trial in 30.0s)",
    ]
    assert clf.predict(EMAILS[1]) == RulesClassifier().predict(EMAILS[1])
