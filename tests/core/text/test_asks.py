from __future__ import annotations

import pytest

from triage_core.text.asks import (
    MAX_ASK_CHARS,
    MAX_ASKS,
    ask_flags,
    ask_flags_in,
    find_asks,
    is_ask,
)
from triage_core.text.sentences import joined_leading, sentences


@pytest.mark.parametrize(
    "sentence",
    [
        "Could you send me the Q3 report?",
        "Can you join the call",
        "Would you mind checking this",
        "Please review the attached contract.",
        "Pls confirm.",
        "Kindly advise.",
        "I need the numbers by Friday.",
        "We also need a quote.",
        "I'd like a refund.",
        "I’d like a refund.",
        "Let me know what you think.",
        "Is it possible to move the meeting.",
        "Any chance you could look at it.",
        "What time works for you?",
    ],
)
def test_asks(sentence: str) -> None:
    assert is_ask(sentence) is True


@pytest.mark.parametrize(
    "sentence",
    [
        "Please find attached the report.",
        "Please note the office is closed.",
        "Please do not reply to this email.",
        "Let me know if you have any questions.",
        "Don't hesitate to contact us.",
        "Feel free to call me?",
        "Click here to unsubscribe.",
        "The server restarted at noon.",
        "Canyou believe it.",  # not the words "can you"
        "",
        "x" * 500 + "?",  # a run-on blob is not an ask
    ],
)
def test_not_asks(sentence: str) -> None:
    assert is_ask(sentence) is False


def test_find_asks_cleans_and_keeps_order() -> None:
    text = (
        "Hi Bob,\n\nHope you are well. Could you send me the Q3 report by Friday? "
        "Please find attached the draft.\nI also need the budget numbers.\n"
        "Let me know if you have any questions.\nhi Bob, can we meet tomorrow?\n\nThanks,\nAlice"
    )
    assert find_asks(text) == [
        "Could you send me the Q3 report by Friday?",
        "I also need the budget numbers.",
        "Can we meet tomorrow?",
    ]


def test_ask_flags_align_with_sentences() -> None:
    assert ask_flags("Hello. Could you help? Please find attached. Why?") == (
        False,
        True,
        False,
        True,
    )
    assert ask_flags("") == ()


def test_asks_are_short_deduplicated_and_bounded() -> None:
    long_ask = "Could you " + "really " * 30 + "help?"
    (cleaned,) = find_asks(long_ask)
    assert len(cleaned) <= MAX_ASK_CHARS and cleaned.endswith("…")
    assert find_asks("Why? Why? Why?") == ["Why?"]
    many = " ".join(f"Question {i}?" for i in range(20))
    assert len(find_asks(many)) == MAX_ASKS


@pytest.mark.parametrize(
    "text",
    [
        "Hello. Could you help? Please find attached. Why? Let me know if you have any questions.",
        "Hi Bob,\nI need the numbers.\nPlease note the change.\nCan we meet?\nThanks,\nAlice",
        "İstanbul office: could you call them? They asked twice.",
    ],
)
def test_flags_of_a_leading_view_are_the_first_flags(text: str) -> None:
    parts = sentences(text)
    for count in range(len(parts) + 1):
        assert ask_flags_in(joined_leading(text, count), parts[:count]) == ask_flags(text)[:count]
