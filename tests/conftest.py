"""Shared fixtures: the real corpora and small, hand-made inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CPYTHON_EMAILS = ROOT / "tests" / "corpora" / "cpython_test_email"
SPAMASSASSIN = ROOT / ".cache" / "corpora" / "spamassassin"
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def spamassassin_dir() -> Path:
    """The SpamAssassin corpus, fetched by `make test` (`triage corpus fetch`) before pytest
    runs; fetched here if someone runs pytest directly."""
    from triage_core.model import corpus

    corpus.fetch(SPAMASSASSIN)
    return SPAMASSASSIN
