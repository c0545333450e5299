from __future__ import annotations

import pytest

from triage_core.respond.addressing import greeting, is_no_reply, reply_subject


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Q3 report", "Re: Q3 report"),
        ("Re: Q3 report", "Re: Q3 report"),
        ("RE: Q3 report", "Re: Q3 report"),
        ("Re: RE: re:Q3 report", "Re: Q3 report"),
        ("Re[2]: Q3 report", "Re: Q3 report"),
        ("AW: Q3 report", "Re: Q3 report"),
        ("Fwd: Q3 report", "Re: Fwd: Q3 report"),
        ("Re: Fwd: Q3 report", "Re: Fwd: Q3 report"),
        ("  Q3\n report ", "Re: Q3 report"),
        ("Reply needed", "Re: Reply needed"),
        ("", "Re: (no subject)"),
        ("Re:", "Re: (no subject)"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


@pytest.mark.parametrize(
    ("name", "neutral", "formal"),
    [
        ("Dana Smith", "Hi Dana,", "Dear Dana Smith,"),
        ('"Smith, Dana"', "Hi Dana,", "Dear Dana Smith,"),
        ("DANA SMITH", "Hi Dana,", "Dear Dana Smith,"),
        ("Dr. Dana Smith", "Hi Dana,", "Dear Dr. Dana Smith,"),
        ("Dana Smith (Acme)", "Hi Dana,", "Dear Dana Smith,"),
        ("Dana", "Hi Dana,", "Dear Dana,"),
        ("", "Hello,", "Hello,"),
        ("dana@example.com", "Hello,", "Hello,"),
        ("Acme Support Team", "Hello,", "Hello,"),
        ("GitHub Notifications", "Hello,", "Hello,"),
        ("12345", "Hello,", "Hello,"),
    ],
)
def test_greeting(name: str, neutral: str, formal: str) -> None:
    assert greeting(name, tone="neutral") == neutral
    assert greeting(name, tone="friendly") == neutral
    assert greeting(name, tone="formal") == formal


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("noreply@x.com", True),
        ("no-reply@x.com", True),
        ("No_Reply@x.com", True),
        ("donotreply@x.com", True),
        ("do-not-reply@x.com", True),
        ("noreply-abc@x.com", True),
        ("bounces+123@x.com", True),
        ("mailer-daemon@x.com", True),
        ("postmaster@x.com", True),
        ("dana@x.com", False),
        ("noreplying.fan@x.com", False),
        ("", False),
    ],
)
def test_no_reply(address: str, expected: bool) -> None:
    assert is_no_reply(address) is expected
