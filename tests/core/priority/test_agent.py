"""Every signal of the priority agent, with exact scores and reasons.

Reference Date: Mon 24 Nov 2025 09:00 +0000 (see tests/core/text/test_dates.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from triage_core.config import PriorityConfig
from triage_core.errors import ConfigError
from triage_core.message import Email
from triage_core.priority import PriorityAgent, PriorityAssessment

REF = datetime(2025, 11, 24, 9, 0, tzinfo=UTC)
ME = "me@example.com"


def mail(**fields: Any) -> Email:
    base: dict[str, Any] = {
        "subject": "Quarterly numbers",
        "from_name": "Dana Smith",
        "from_addr": "dana@partner.org",
        "to": (ME,),
        "date": REF,
        "newest": "Here are the numbers we discussed.",
    }
    base.update(fields)
    return Email(**base)


# The scoring table is tested against fixed cuts, so a refit of the default thresholds
# (scripts/fit_priority_thresholds.py) does not rewrite these expectations.
TABLE_CUTS = (80, 60, 35)


def assess(
    email: Email, category: str = "request", confidence: float = 0.9, **config: Any
) -> PriorityAssessment:
    config.setdefault("thresholds", TABLE_CUTS)
    return PriorityAgent(PriorityConfig(**config))(email, category=category, confidence=confidence)


@pytest.mark.parametrize(
    ("category", "score", "level"),
    [
        ("incident", 60, "P1"),
        ("complaint", 45, "P2"),
        ("billing", 40, "P2"),
        ("request", 40, "P2"),
        ("meeting", 35, "P2"),
        ("question", 35, "P2"),
        ("personal", 30, "P3"),
        ("other", 25, "P3"),
        ("my-custom-label", 25, "P3"),
        ("notification", 15, "P3"),
        ("newsletter", 10, "P3"),
        ("spam", 0, "P3"),
    ],
)
def test_category_base(category: str, score: int, level: str) -> None:
    assert assess(mail(), category) == PriorityAssessment(level, score, (f"category {category}",))


def test_low_confidence_moves_halfway_to_neutral() -> None:
    assert assess(mail(), "incident", confidence=0.42) == PriorityAssessment(
        "P2", 42, ("category incident (low confidence 0.42)",)
    )


def test_urgency_strongest_phrase_plus_extras() -> None:
    email = mail(subject="URGENT", newest="Production is down! Please fix it asap.")
    assert assess(email, "incident") == PriorityAssessment(
        "P0", 100, ("category incident", "urgency: 'production is down'")
    )
    # 40 + 20 (urgent) + 5 (asap) = 65
    email = mail(subject="Urgent: invoice", newest="Please send it asap.")
    assert assess(email) == PriorityAssessment("P1", 65, ("category request", "urgency: 'urgent'"))


def test_extra_urgency_is_capped() -> None:
    email = mail(newest="Urgent, asap, immediately, right away, top priority, escalate!")
    # strongest 20 + at most 10 for the rest
    assert assess(email).score == 70


@pytest.mark.parametrize(
    "newest",
    [
        "This is not urgent at all.",
        "No rush on this one.",
        "This is not an emergency.",
        "Nothing urgent here.",
        "I don't need this asap.",
    ],
)
def test_negated_urgency_lowers(newest: str) -> None:
    assert assess(mail(newest=newest)) == PriorityAssessment(
        "P3", 30, ("category request", "says it is not urgent")
    )


def test_urgency_in_quoted_history_is_ignored() -> None:
    email = mail(
        newest="Thanks, sounds good.",
        quoted="URGENT: production is down",
        body="Thanks, sounds good.\n> URGENT: production is down",
    )
    assert assess(email).reasons == ("category request",)


def test_negation_in_subject_does_not_leak_into_body() -> None:
    email = mail(subject="Not a drill", newest="Urgent: the site is down.")
    assert assess(email).reasons[1] == "urgency: 'site is down'"


@pytest.mark.parametrize(
    ("newest", "points", "reason"),
    [
        ("Please send it by 5pm.", 25, "deadline today 17:00"),
        ("I need it by EOD.", 25, "deadline EOD today"),
        ("Tomorrow is fine.", 15, "deadline tomorrow"),
        ("By Friday please.", 5, "deadline Friday 28 Nov"),
        ("It was due Nov 20.", 20, "deadline Thursday 20 Nov (past due)"),
        ("Sometime in January, Jan 15.", 0, None),  # far future
        ("The old invoice from Oct 1.", 0, None),  # more than 14 days ago: history
    ],
)
def test_deadlines(newest: str, points: int, reason: str | None) -> None:
    result = assess(mail(newest=newest))
    assert result.score == 40 + points
    assert result.reasons == (("category request", reason) if reason else ("category request",))


def test_most_pressing_deadline_wins() -> None:
    result = assess(mail(newest="Draft by Friday, but the numbers by 5pm today."))
    assert result.reasons == ("category request", "deadline today 17:00")
    assert result.score == 65


def test_deadlines_are_relative_to_the_date_header() -> None:
    # The same words a week later mean nothing urgent for "Nov 24".
    later = mail(newest="Please send it by Nov 24.", date=datetime(2025, 12, 20, 9, tzinfo=UTC))
    assert assess(later).reasons == ("category request",)
    today = mail(newest="Please send it by Nov 24.")
    assert assess(today).reasons == ("category request", "deadline Monday 24 Nov")


def test_vip_sender_exact_and_case_insensitive() -> None:
    email = mail(from_addr="CFO@Example.com")
    assert assess(email, vip_senders=("cfo@example.com",)) == PriorityAssessment(
        "P1", 60, ("category request", "VIP sender cfo@example.com")
    )
    assert assess(mail(from_addr="cfo2@example.com"), vip_senders=("cfo@example.com",)).score == 40


def test_vip_domain_and_subdomains_not_lookalikes() -> None:
    config: dict[str, Any] = {"vip_domains": ("@BigCustomer.com",)}
    for addr in ("ann@bigcustomer.com", "ann@eu.bigcustomer.com"):
        assert assess(mail(from_addr=addr), **config) == PriorityAssessment(
            "P2", 55, ("category request", "VIP domain bigcustomer.com")
        )
    for addr in ("ann@notbigcustomer.com", "ann@bigcustomer.com.evil.io"):
        assert assess(mail(from_addr=addr), **config).score == 40


def test_vip_sender_beats_vip_domain() -> None:
    result = assess(
        mail(from_addr="cfo@bigcustomer.com"),
        vip_senders=("cfo@bigcustomer.com",),
        vip_domains=("bigcustomer.com",),
    )
    assert result.reasons == ("category request", "VIP sender cfo@bigcustomer.com")


def test_only_cced_with_self_addresses() -> None:
    cced = mail(to=("boss@example.com",), cc=("Me <ME@example.com>",))
    assert assess(cced, self_addresses=(ME,)) == PriorityAssessment(
        "P3", 30, ("category request", "only cc'd")
    )
    direct = mail(to=(ME,), cc=("x@example.com",))
    assert assess(direct, self_addresses=(ME,)).reasons == ("category request",)
    neither = mail(to=("list@example.com",), cc=())
    assert assess(neither, self_addresses=(ME,)).reasons == ("category request",)


def test_only_cced_without_self_addresses() -> None:
    assert assess(mail(to=(), cc=(ME,))).reasons == ("category request", "only cc'd")
    assert assess(mail(to=("a@x.org",), cc=(ME,))).reasons == ("category request",)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"list_id": "<dev.lists.example.org>"}, "bulk mail (List-Id)"),
        ({"list_unsubscribe": "<mailto:u@x.org>"}, "bulk mail (List-Unsubscribe)"),
        ({"precedence": "Bulk"}, "bulk mail (Precedence: bulk)"),
        ({"auto_submitted": "auto-generated"}, "automated (Auto-Submitted: auto-generated)"),
    ],
)
def test_bulk_is_demoted(fields: dict[str, str], reason: str) -> None:
    assert assess(mail(**fields), "incident") == PriorityAssessment(
        "P3", 30, ("category incident", reason)
    )


def test_auto_submitted_no_is_not_bulk() -> None:
    assert assess(mail(auto_submitted="no")).reasons == ("category request",)


@pytest.mark.parametrize(
    "fields",
    [{"in_reply_to": "<a@x>"}, {"references": ("<a@x>",)}, {"subject": "Re: numbers"}],
)
def test_reply_in_thread(fields: dict[str, Any]) -> None:
    assert assess(mail(**fields)) == PriorityAssessment(
        "P2", 45, ("category request", "reply in an ongoing thread")
    )


def test_spam_skips_text_signals_and_stays_p3() -> None:
    email = mail(subject="URGENT!!!", newest="Act now, urgent, by 5pm today!", in_reply_to="<x>")
    result = assess(email, "spam", vip_domains=("partner.org",))
    assert result == PriorityAssessment(
        "P3", 10, ("category spam", "VIP domain partner.org", "reply in an ongoing thread")
    )


def test_everything_at_once_reads_like_a_person_wrote_it() -> None:
    email = mail(
        subject="Re: checkout failing",
        from_addr="cfo@example.com",
        newest="Production is down and customers cannot pay. Need a fix by 5pm.",
        to=(),
        cc=(ME,),
    )
    result = assess(email, "incident", vip_senders=("cfo@example.com",))
    assert result == PriorityAssessment(
        "P0",
        100,
        (
            "category incident",
            "urgency: 'production is down'",
            "deadline today 17:00",
            "VIP sender cfo@example.com",
            "only cc'd",
            "reply in an ongoing thread",
        ),
    )


def test_score_is_clamped_at_zero() -> None:
    email = mail(newest="No rush.", list_id="<l>", to=(), cc=(ME,))
    assert assess(email, "newsletter").score == 0


@pytest.mark.parametrize(
    ("thresholds", "level"), [((80, 60, 35), "P2"), ((40, 30, 20), "P0"), ((90, 80, 41), "P3")]
)
def test_thresholds_from_config(thresholds: tuple[int, int, int], level: str) -> None:
    assert assess(mail(), thresholds=thresholds).level == level


@pytest.mark.parametrize("thresholds", [(60, 80, 35), (80, 60, 60), (101, 60, 35), (80, 60, -1)])
def test_bad_thresholds_are_a_config_error(thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(ConfigError, match=r"priority\.thresholds"):
        PriorityAgent(PriorityConfig(thresholds=thresholds))


def test_deterministic_and_immutable() -> None:
    email = mail(subject="Urgent", newest="By Friday please, asap.")
    agent = PriorityAgent(PriorityConfig())
    results = {agent(email, category="request", confidence=0.8) for _ in range(5)}
    assert len(results) == 1
    (result,) = results
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.score = 1  # type: ignore[misc]


def test_no_date_header_reads_relative_to_now() -> None:
    result = assess(mail(date=None, newest="Please send it today."))
    assert result.reasons == ("category request", "deadline today")
