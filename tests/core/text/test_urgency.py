from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage_core.text.urgency import (
    CRITICAL,
    HIGH,
    SOFT,
    UrgencyHit,
    find_urgency,
    urgency_hits,
    urgency_hits_of,
)


def test_hits_with_weights_in_text_order() -> None:
    assert find_urgency("URGENT: production is down, please fix ASAP") == [
        UrgencyHit("urgent", HIGH, False),
        UrgencyHit("production is down", CRITICAL, False),
        UrgencyHit("asap", HIGH, False),
    ]


def test_negated_hits_only_on_request() -> None:
    text = "Not urgent at all, no rush. Just a reminder."
    assert find_urgency(text) == [UrgencyHit("reminder", SOFT, False)]
    assert find_urgency(text, include_negated=True) == [
        UrgencyHit("urgent", HIGH, True),
        UrgencyHit("rush", SOFT, True),
        UrgencyHit("reminder", SOFT, False),
    ]


def test_no_substring_hits() -> None:
    assert find_urgency("insurgent geodesic asapx p0x") == []


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        ("URGENT", "production is down, please fix ASAP"),
        ("not", "urgent"),  # a negator ending the subject does not reach the body
        ("Re: no rush", "Not urgent. But the site is down!"),
        ("production is", "down"),  # no phrase spans the two
        ("", "asap"),
        ("asap", ""),
        ("", ""),
        ("urgent\0", "\0urgent"),
    ],
)
def test_subject_and_text_read_together_as_apart(subject: str, text: str) -> None:
    assert urgency_hits_of(subject, text) == urgency_hits(subject) + urgency_hits(text)


def test_subject_and_text_together_exact_hits() -> None:
    assert urgency_hits_of("not", "urgent") == (UrgencyHit("urgent", HIGH, False),)
    assert urgency_hits_of("Not urgent", "but production is down") == (
        UrgencyHit("urgent", HIGH, True),
        UrgencyHit("production is down", CRITICAL, False),
    )


_WORDS = st.sampled_from(
    ["urgent", "not", "no", "rush", "production", "is", "down", "asap", "but", ",", ".", "\n"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_WORDS, max_size=6), st.lists(_WORDS, max_size=20))
def test_subject_and_text_read_together_as_apart_on_any_words(
    subject: list[str], text: list[str]
) -> None:
    s, t = " ".join(subject), " ".join(text)
    assert urgency_hits_of(s, t) == urgency_hits(s) + urgency_hits(t)
