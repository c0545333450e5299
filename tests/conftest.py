"""Shared fixtures: the real corpora and small, hand-made inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CPYTHON_EMAILS = ROOT / "tests" / "corpora" / "cpython_test_email"
SPAMASSASSIN = ROOT / ".cache" / "corpora" / "spamassassin"
EXAMPLES = ROOT / "examples"

# The `triage/v1` JSON contract, field by field and in order, written down once for every
# test that checks a result (the library's `to_dict()` and the API's responses).
TRIAGE_V1_KEYS = [
    "schema",
    "message_id",
    "source",
    "subject",
    "from",
    "category",
    "category_confidence",
    "priority",
    "priority_score",
    "priority_reasons",
    "summary",
    "needs_reply",
    "draft",
    "backend",
    "degraded",
    "timings_ms",
    "errors",
]


@pytest.fixture(scope="session")
def spamassassin_dir() -> Path:
    """The SpamAssassin corpus, fetched by `make test` (`triage corpus fetch`) before pytest
    runs; fetched here if someone runs pytest directly."""
    from triage_core.model import corpus

    corpus.fetch(SPAMASSASSIN)
    return SPAMASSASSIN
