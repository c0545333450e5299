"""One contract for every classification backend (rules, TF Serving over real HTTP, the
embedded model): same shape of answers, whatever the source."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from tests.core.classify.fake_tfserving import FakeTFServing, serve
from triage_core.classify.base import Classifier, Prediction
from triage_core.config import TFServingConfig
from triage_core.message import Attachment, Email
from triage_core.result import OTHER

EMAILS = [
    Email(subject="Production is down", newest="All requests fail with 500 errors."),
    Email(subject="Invoice 2024-07", newest="Please find the invoice attached."),
    Email(subject="Lunch?", newest="Are you free on Friday?", from_name="Ann"),
    Email(
        subject="Weekly digest",
        newest="Top stories this week.",
        list_id="<news.example.com>",
        list_unsubscribe="<mailto:u@example.com>",
    ),
    Email(
        subject="Design review",
        newest="Invite attached.",
        attachments=(Attachment("invite.ics", "text/calendar", 1200),),
    ),
]


@pytest.fixture(scope="module")
def tfserving_url() -> Iterator[str]:
    with serve(FakeTFServing()) as fake:
        yield fake.url


@pytest.fixture(params=["rules", "tfserving", "embedded"])
def backend(request: pytest.FixtureRequest) -> Classifier:
    if request.param == "rules":
        from triage_core.classify.rules import RulesClassifier

        return RulesClassifier()
    if request.param == "tfserving":
        from triage_core.classify.tfserving import TFServingClassifier

        url = request.getfixturevalue("tfserving_url")
        return TFServingClassifier(TFServingConfig(url=url, timeout_s=5.0))
    from triage_core.classify.embedded import EmbeddedClassifier

    return EmbeddedClassifier()


def check(prediction: Prediction, clf: Classifier) -> None:
    assert isinstance(prediction, Prediction)
    assert prediction.category in (*clf.labels, OTHER)
    assert isinstance(prediction.confidence, float)
    assert 0.0 <= prediction.confidence <= 1.0
    assert not math.isnan(prediction.confidence)
    assert prediction.backend == clf.name
    if prediction.scores:
        assert set(prediction.scores) <= {*clf.labels, OTHER}
        assert all(0.0 <= p <= 1.0 for p in prediction.scores.values())
        assert math.fsum(prediction.scores.values()) == pytest.approx(1.0, abs=1e-6)


def test_is_a_classifier(backend: Classifier) -> None:
    assert isinstance(backend, Classifier)
    assert isinstance(backend.name, str) and backend.name


def test_labels_are_a_non_empty_tuple_of_str(backend: Classifier) -> None:
    labels = backend.labels
    assert isinstance(labels, tuple) and labels
    assert all(isinstance(label, str) and label for label in labels)
    assert len(set(labels)) == len(labels)


def test_predict(backend: Classifier) -> None:
    for email in EMAILS:
        check(backend.predict(email), backend)


def test_predict_batch_preserves_order_and_length(backend: Classifier) -> None:
    batch = backend.predict_batch(EMAILS)
    assert len(batch) == len(EMAILS)
    assert batch == [backend.predict(email) for email in EMAILS]
    reversed_batch = backend.predict_batch(EMAILS[::-1])
    assert reversed_batch == batch[::-1]
    assert backend.predict_batch([]) == []


def test_deterministic(backend: Classifier) -> None:
    email = EMAILS[0]
    assert backend.predict(email) == backend.predict(email)


def test_empty_email(backend: Classifier) -> None:
    check(backend.predict(Email()), backend)


def test_unicode(backend: Classifier) -> None:
    email = Email(
        subject="Ünïcödé — сервер не работает 🔥",
        newest="東京のサーバーがダウンしました。 naïve café … “quoted” \u00a0 \u200b",
        from_name="Zoë",
    )
    check(backend.predict(email), backend)


def test_undecodable_bytes_as_surrogates(backend: Classifier) -> None:
    # How a parser that uses errors="surrogateescape" hands on bytes it could not decode.
    check(backend.predict(Email(subject="bad \udcff", newest="body \udce9 \udc80")), backend)


def test_huge_text_finishes(backend: Classifier) -> None:
    email = Email(subject="x" * 10_000, newest=("outage invoice meeting " * 50_000)[:1_000_000])
    check(backend.predict(email), backend)
