from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from triage_core.config import SummaryConfig
from triage_core.errors import ConfigError
from triage_core.message import Email
from triage_core.summarize import Summarizer

REF = datetime(2025, 11, 24, 9, 0, tzinfo=UTC)


def summarize(config: SummaryConfig | None = None, **fields: Any) -> str:
    fields.setdefault("date", REF)
    return Summarizer(config or SummaryConfig())(Email(**fields))


def test_picks_top_sentences_in_original_order_without_greeting_or_sign_off() -> None:
    newest = (
        "Hi Bob,\n\n"
        "Our production checkout has been failing since 8am and customers cannot pay.\n"
        "The team looked at the logs this morning.\n"
        "Could you get someone to look at it right away?\n\n"
        "Thanks,\nDana\nHead of Payments"
    )
    summary = summarize(subject="Checkout failing in production", newest=newest)
    assert summary == (
        "Our production checkout has been failing since 8am and customers cannot pay. "
        "Could you get someone to look at it right away?"
    )


def test_deadline_and_ask_beat_position() -> None:
    newest = (
        "I hope the move went well. The new office looks great in the photos. "
        "We had a good quarter overall. Please send the signed contract by Friday."
    )
    assert summarize(subject="Hello", newest=newest) == (
        "I hope the move went well. Please send the signed contract by Friday."
    )


def test_reads_newest_only_not_quoted_history_nor_signature() -> None:
    email_fields: dict[str, Any] = {
        "subject": "Re: plan",
        "newest": "Sounds good, let us go with option B.",
        "quoted": "Should we pick option A or option B? Please decide today.",
        "signature": "Dana Smith | VP Sales | +1 555 0100",
        "body": "Sounds good, let us go with option B.\n> Should we pick option A or B?",
    }
    assert summarize(**email_fields) == "Sounds good, let us go with option B."


def test_html_derived_text() -> None:
    newest = (
        "Dear customer,\n\nYour order #1234 has shipped.\nIt will arrive on Nov 28.\n\n"
        "Regards,\nShop"
    )
    assert summarize(subject="Your order", newest=newest) == (
        "Your order #1234 has shipped. It will arrive on Nov 28."
    )


def test_max_sentences_and_max_chars() -> None:
    newest = "First point here. Second point here. Third point here."
    assert summarize(SummaryConfig(max_sentences=1), subject="x", newest=newest) == (
        "First point here."
    )
    long = "This sentence is rather long and keeps going with many words " * 5 + "."
    summary = summarize(SummaryConfig(max_chars=60), subject="x", newest=long)
    assert summary == "This sentence is rather long and keeps going with many…"
    assert len(summary) <= 60


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"subject": "Lunch on Friday?", "newest": ""}, "Lunch on Friday?"),
        ({"subject": "Re: RE: Lunch?", "newest": "  \n "}, "Lunch?"),
        ({"subject": "Fwd: the deck", "newest": "Hi team,\n\nThanks,\nBob"}, "Fwd: the deck"),
        ({"subject": "", "newest": ""}, ""),
    ],
)
def test_falls_back_to_subject(fields: dict[str, Any], expected: str) -> None:
    assert summarize(**fields) == expected


@pytest.mark.parametrize(
    "greeting", ["Hi Bob,", "Hello,", "Dear Dana Smith,", "Good morning team!", "Hey all"]
)
def test_greetings_never_picked(greeting: str) -> None:
    assert (
        summarize(subject="x", newest=f"{greeting}\nThe build is green.") == "The build is green."
    )


@pytest.mark.parametrize(
    "sign_off",
    ["Thanks,", "Best regards,", "Cheers", "Kind regards", "Thank you!", "Sent from my iPhone"],
)
def test_sign_offs_and_what_follows_never_picked(sign_off: str) -> None:
    newest = f"The build is green.\n\n{sign_off}\nBob Jones\nRelease manager"
    assert summarize(subject="x", newest=newest) == "The build is green."


def test_bad_config() -> None:
    with pytest.raises(ConfigError):
        Summarizer(SummaryConfig(max_sentences=0))


def test_deterministic() -> None:
    fields: dict[str, Any] = {
        "subject": "Budget",
        "newest": "One. Two? Three by Friday. Four budget items.",
    }
    assert len({summarize(**fields) for _ in range(5)}) == 1


def test_equal_scores_keep_the_earlier_sentences() -> None:
    newest = (
        "Alpha team shipped the build. Beta team fixed the tests. Gamma team wrote the docs. "
        "Delta team ran the load tests. Epsilon team cleaned the backlog. Zeta team planned "
        "the demo."
    )
    assert summarize(SummaryConfig(max_sentences=4), subject="x", newest=newest) == (
        "Alpha team shipped the build. Beta team fixed the tests. Gamma team wrote the docs. "
        "Delta team ran the load tests."
    )


def test_no_more_candidates_than_wanted_are_all_kept_in_order() -> None:
    newest = "Hi all,\n\nOne budget item. Two. Three?"
    assert summarize(SummaryConfig(max_sentences=5), subject="Budget", newest=newest) == (
        "One budget item. Two. Three?"
    )
