from __future__ import annotations

from triage_core.classify.decision import decide


def test_spam_needs_a_majority() -> None:
    assert decide({"question": 0.29, "meeting": 0.2, "spam": 0.35}) == ("question", 0.29)
    assert decide({"question": 0.3, "spam": 0.5}) == ("spam", 0.5)


def test_without_spam_it_is_the_argmax_with_stable_ties() -> None:
    assert decide({"a": 0.4, "b": 0.4, "c": 0.2}) == ("a", 0.4)


def test_only_spam_or_nothing() -> None:
    assert decide({"spam": 0.2}) == ("spam", 0.2)
    assert decide({}) == ("", 0.0)
