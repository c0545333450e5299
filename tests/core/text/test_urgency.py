from __future__ import annotations

from triage_core.text.urgency import CRITICAL, HIGH, SOFT, UrgencyHit, find_urgency


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
