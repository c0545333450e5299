"""Real mail: CPython's email test messages and (when fetched) the SpamAssassin corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage_core.message import Email
from triage_core.parsing import parse_email

ROOT = Path(__file__).resolve().parents[3]
CPYTHON = ROOT / "tests" / "corpora" / "cpython_test_email"
SPAMASSASSIN = ROOT / ".cache" / "corpora" / "spamassassin" / "data"


def _no_internal_error(e: Email) -> bool:
    return not any(err.startswith("internal parser error") for err in e.errors)


def test_cpython_email_test_files() -> None:
    files = sorted(p for p in CPYTHON.iterdir() if p.is_file())
    assert len(files) >= 60
    for path in files:
        e = parse_email(path.read_bytes(), source_name=path.name)
        assert _no_internal_error(e), (path.name, e.errors)
        assert e.source == path.name


def test_cpython_known_messages() -> None:
    e = parse_email((CPYTHON / "msg_07.txt").read_bytes())
    assert e.subject == "Here is your dingus fish"
    assert e.body == "Hi there,\n\nThis is the dingus fish."
    assert [(a.filename, a.content_type) for a in e.attachments] == [
        ("dingusfish.gif", "image/gif")
    ]
    e = parse_email((CPYTHON / "msg_04.txt").read_bytes())
    assert (e.from_name, e.from_addr) == ("Barry A. Warsaw", "barry@python.org")


@pytest.mark.corpus
@pytest.mark.timeout(120)
def test_spamassassin_corpus() -> None:
    if not SPAMASSASSIN.is_dir():
        pytest.skip("SpamAssassin corpus not fetched (make corpora)")
    files = sorted(SPAMASSASSIN.glob("*/*.txt"))
    assert len(files) > 6000
    with_text = 0
    for path in files:
        e = parse_email(path.read_bytes())
        assert _no_internal_error(e), (path, e.errors)
        if e.subject.strip() or e.body.strip():
            with_text += 1
    assert with_text / len(files) > 0.99
