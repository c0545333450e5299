"""Every real message we have goes through the whole pipeline without an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CPYTHON_EMAILS
from triage_core import DEFAULT_CATEGORIES, Pipeline
from triage_core.model import corpus

VALID = {*DEFAULT_CATEGORIES, "other"}


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline()


def test_every_cpython_test_email_message(pipeline: Pipeline) -> None:
    files = sorted(CPYTHON_EMAILS.glob("msg_*.txt"))
    assert len(files) >= 45
    for f in files:
        r = pipeline.triage(f.read_bytes(), source=str(f))
        assert r.category in VALID, f
        assert not [e for e in r.errors if e.stage != "parse"], (f, r.errors)


@pytest.mark.corpus
def test_all_6046_spamassassin_messages(pipeline: Pipeline, spamassassin_dir: Path) -> None:
    n = 0
    for m in corpus.iter_messages(corpus.ALL_SETS, spamassassin_dir):
        r = pipeline.triage(m.raw)
        assert r.category in VALID, m.path
        assert r.priority in ("P0", "P1", "P2", "P3"), m.path
        assert not [e for e in r.errors if e.stage != "parse"], (m.path, r.errors)
        assert not [e for e in r.errors if "internal" in e.error], (m.path, r.errors)
        n += 1
    assert n == corpus.EXPECTED_COUNT
