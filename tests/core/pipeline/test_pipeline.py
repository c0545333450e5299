from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import TRIAGE_V1_KEYS
from triage_core import (
    DEFAULT_CATEGORIES,
    Email,
    Pipeline,
    PipelineConfig,
    Prediction,
    TriageResult,
)
from triage_core.errors import BackendUnavailable
from triage_core.pipeline import SourcedInput

OUTAGE = (
    b"From: Priya Nair <priya@ourco.example>\r\n"
    b"To: ops@ourco.example\r\n"
    b"Subject: Production API is down\r\n"
    b"Date: Tue, 24 Nov 2026 07:04:00 +0000\r\n"
    b"Message-ID: <outage-1@ourco.example>\r\n"
    b"\r\n"
    b"The production API returns 503 for every request since 07:00. Customers cannot log in.\r\n"
    b"Please join the incident bridge now.\r\n"
)


class Raising:
    name = "broken"
    labels = ("incident",)

    def predict(self, email: Email) -> Prediction:
        raise BackendUnavailable("model server down")

    def predict_batch(self, emails: Sequence[Email]) -> list[Prediction]:
        raise BackendUnavailable("model server down")


def test_result_follows_the_json_contract() -> None:
    d = Pipeline().triage(OUTAGE).to_dict()
    assert list(d) == TRIAGE_V1_KEYS
    assert d["schema"] == "triage/v1"
    assert d["message_id"] == "<outage-1@ourco.example>"
    assert d["category"] == "incident"
    assert d["priority"] in ("P0", "P1")
    assert d["backend"] == "embedded"
    assert d["degraded"] is False
    assert set(d["timings_ms"]) == {"parse", "classify", "priority", "summarize", "respond"}
    assert d["errors"] == []


def test_accepts_bytes_str_dict_and_email_alike() -> None:
    p = Pipeline()
    as_bytes = p.triage(OUTAGE)
    as_str = p.triage(OUTAGE.decode())
    as_dict = p.triage(
        {
            "subject": "Production API is down",
            "from": "Priya Nair <priya@ourco.example>",
            "to": "ops@ourco.example",
            "date": "Tue, 24 Nov 2026 07:04:00 +0000",
            "message_id": "<outage-1@ourco.example>",
            "body": "The production API returns 503 for every request since 07:00. "
            "Customers cannot log in.\nPlease join the incident bridge now.\n",
        }
    )
    from triage_core import parse_email

    as_email = p.triage(parse_email(OUTAGE))
    for r in (as_str, as_dict, as_email):
        assert (r.category, r.priority, r.message_id) == (
            as_bytes.category,
            as_bytes.priority,
            as_bytes.message_id,
        )


def _stable(r: TriageResult) -> dict[str, object]:
    d = r.to_dict()
    d.pop("timings_ms")
    return d


def test_same_input_same_output() -> None:
    assert _stable(Pipeline().triage(OUTAGE)) == _stable(Pipeline().triage(OUTAGE))


def test_a_failing_backend_degrades_to_the_fallback() -> None:
    from triage_core.classify.fallback import FallbackClassifier
    from triage_core.classify.rules import RulesClassifier

    clf = FallbackClassifier(Raising(), RulesClassifier())
    r = Pipeline(classifier=clf).triage(OUTAGE)
    assert r.degraded is True
    assert r.backend == "rules"
    assert r.category == "incident"
    assert any(e.stage == "classify" and "model server down" in e.error for e in r.errors)


def test_no_backend_at_all_still_gives_a_result() -> None:
    r = Pipeline(classifier=Raising()).triage(OUTAGE)
    assert r.category == "other"
    assert r.degraded is True
    assert r.message_id == "<outage-1@ourco.example>"
    assert [e.stage for e in r.errors] == ["classify", "classify"]


def test_a_failing_later_stage_is_an_error_entry_not_a_lost_email(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = Pipeline()
    agent, _summarizer, responder = p._later_stages()

    def boom(*args: object, **kwargs: object) -> str:
        raise RuntimeError("summarizer exploded")

    monkeypatch.setattr(p, "_stages", (agent, boom, responder))
    r = p.triage(OUTAGE)
    assert r.category == "incident"
    assert r.summary == "Production API is down"  # the subject stands in
    assert [(e.stage, e.error) for e in r.errors] == [
        ("summarize", "RuntimeError: summarizer exploded")
    ]


def test_confidence_under_the_floor_is_other() -> None:
    config = PipelineConfig()
    config = replace(config, classifier=replace(config.classifier, confidence_floor=0.999))
    assert Pipeline(config).triage(OUTAGE).category == "other"


def test_pipe_keeps_input_order_and_sources() -> None:
    items = [
        SourcedInput(f"m{i}", OUTAGE.replace(b"outage-1", f"id-{i}".encode())) for i in range(10)
    ]
    results = list(Pipeline().pipe(items, batch_size=3))
    assert [r.source for r in results] == [f"m{i}" for i in range(10)]
    assert [r.message_id for r in results] == [f"<id-{i}@ourco.example>" for i in range(10)]


def test_workers_give_the_same_results_in_the_same_order(tmp_path: Path) -> None:
    items = [
        SourcedInput(f"m{i}", OUTAGE.replace(b"07:00", f"07:{i:02d}".encode())) for i in range(40)
    ]
    one = [_stable(r) for r in Pipeline().pipe(items)]
    two = [_stable(r) for r in Pipeline().pipe(items, workers=2, batch_size=7)]
    assert one == two


def test_an_unreadable_input_is_reported_in_its_result() -> None:
    r = Pipeline().triage(SourcedInput("in.jsonl#3", {}, error="line 3 is not valid JSON"))
    assert r.source == "in.jsonl#3"
    assert r.errors[0].stage == "read"
    assert r.errors[0].error == "line 3 is not valid JSON"


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff" * 1000, b"Subject: only a header", b"Content-Type: multipart/mixed\r\n\r\n"],
)
def test_strange_input_never_raises(raw: bytes) -> None:
    r = Pipeline().triage(raw)
    assert r.category in (*DEFAULT_CATEGORIES, "other")
    assert isinstance(r.to_dict()["summary"], str)
    assert r.priority in ("P0", "P1", "P2", "P3")
