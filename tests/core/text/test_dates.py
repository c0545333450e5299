"""Deadlines read relative to a fixed Date header: Mon 24 Nov 2025 09:00 +0000.

(The brief said "Mon 24 Nov 2026", but 24 Nov 2026 is a Tuesday; 2025 keeps "Monday" and
"Friday 28 Nov" true.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triage_core.text.dates import _PARSERS, Deadline, _parse, as_reference, find_deadlines

REF = datetime(2025, 11, 24, 9, 0, tzinfo=UTC)  # a Monday


def at(day: int, hour: int = 17, minute: int = 0, *, month: int = 11, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "when", "label", "phrase"),
    [
        ("Please send it today.", at(24), "today", "today"),
        ("Can we talk tonight?", at(24, 20), "tonight", "tonight"),
        ("Tomorrow works.", at(25), "tomorrow", "Tomorrow"),
        ("I need it by EOD.", at(24), "EOD today", "by EOD"),
        ("by end of day tomorrow please", at(25), "EOD tomorrow", "by end of day tomorrow"),
        ("by the end of the business day", at(24), "EOD today", "by the end of the business day"),
        ("COB Friday", at(28), "COB Friday 28 Nov", "COB Friday"),
        ("close of business", at(24), "COB today", "close of business"),
        ("Send it by 5pm.", at(24), "today 17:00", "by 5pm"),
        ("by 17:00", at(24), "today 17:00", "by 17:00"),
        ("before noon", at(24, 12), "today 12:00", "before noon"),
        ("by midnight", at(24, 23, 59), "today 23:59", "by midnight"),
        ("by 8am", at(25, 8), "tomorrow 08:00", "by 8am"),  # 08:00 has passed: tomorrow
        ("at 5 p.m. today", at(24), "today 17:00", "at 5 p.m. today"),
        ("TODAY\nat 5 PM", at(24), "today 17:00", "TODAY at 5 PM"),
        ("tomorrow at 10am", at(25, 10), "tomorrow 10:00", "tomorrow at 10am"),
        ("by Friday", at(28), "Friday 28 Nov", "by Friday"),
        ("this Friday at 3pm", at(28, 15), "Friday 28 Nov 15:00", "this Friday at 3pm"),
        ("on Monday", at(24), "Monday 24 Nov", "on Monday"),  # today is Monday
        ("next Monday", at(1, month=12), "Monday 1 Dec", "next Monday"),
        ("next Friday", at(5, month=12), "Friday 5 Dec", "next Friday"),
        ("Nov 28", at(28), "Friday 28 Nov", "Nov 28"),
        ("November 28th", at(28), "Friday 28 Nov", "November 28th"),
        ("28 November 2026", at(28, year=2026), "Saturday 28 Nov 2026", "28 November 2026"),
        ("the 28th of November", at(28), "Friday 28 Nov", "28th of November"),
        ("2025-11-28", at(28), "Friday 28 Nov", "2025-11-28"),
        ("due 11/28", at(28), "Friday 28 Nov", "due 11/28"),
        ("11/28/2025", at(28), "Friday 28 Nov", "11/28/2025"),
        (
            "Friday, Nov 28 at 2:30pm",
            at(28, 14, 30),
            "Friday 28 Nov 14:30",
            "Friday, Nov 28 at 2:30pm",
        ),
        ("in 2 hours", at(24, 11), "today 11:00", "in 2 hours"),
        ("in 30 minutes", at(24, 9, 30), "today 09:30", "in 30 minutes"),
        ("in a couple of days", at(26, 9), "Wednesday 26 Nov", "in a couple of days"),
        ("sometime this week", at(28), "end of week", "this week"),
        ("by the end of the week", at(28), "end of week", "by the end of the week"),
        ("EOW", at(28), "end of week", "EOW"),
        ("next week", at(5, month=12), "next week", "next week"),
        ("by end of month", at(30), "end of month", "by end of month"),
        ("Jan 5", at(5, month=1, year=2026), "Monday 5 Jan 2026", "Jan 5"),  # next January
        ("it was due Nov 20", at(20), "Thursday 20 Nov", "due Nov 20"),  # past due stays past
        ("deadline: 2025-12-01", at(1, month=12), "Monday 1 Dec", "deadline: 2025-12-01"),
        ("by May 2", at(2, month=5, year=2026), "Saturday 2 May 2026", "by May 2"),
    ],
)
def test_single_deadline(text: str, when: datetime, label: str, phrase: str) -> None:
    assert find_deadlines(text, reference=REF) == [Deadline(when, label, phrase)]


@pytest.mark.parametrize(
    "text",
    [
        "last Friday was fun",
        "Feb 30",
        "at 13pm",
        "at 25:00",
        "add 1/2 cup of sugar",  # a slash date without a year needs a cue word
        "3/4 of us agreed",
        "I may 2 things",
        "see http://x.com/11/28/a",
        "version 2.11/28",
        "1999-02-30",
        "the geodesic todays eodx",
        "",
    ],
)
def test_not_a_deadline(text: str) -> None:
    assert find_deadlines(text, reference=REF) == []


def test_several_in_text_order_and_one_per_label() -> None:
    text = "Draft by Friday, final by 2025-12-01. Again: by Friday! Call me tomorrow at 9am."
    assert [(d.label, d.phrase) for d in find_deadlines(text, reference=REF)] == [
        ("Friday 28 Nov", "by Friday"),
        ("Monday 1 Dec", "by 2025-12-01"),
        ("tomorrow 09:00", "tomorrow at 9am"),
    ]


def test_times_keep_the_reference_offset() -> None:
    ref = datetime(2025, 11, 24, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    (d,) = find_deadlines("by 5pm", reference=ref)
    assert d.when == datetime(2025, 11, 24, 17, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert d.when.utcoffset() == timedelta(hours=-5)


def test_reference_day_in_its_own_offset() -> None:
    # 23:30 on Sunday in New York is Monday in UTC: "tomorrow" is Monday there.
    ref = datetime(2025, 11, 23, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    (d,) = find_deadlines("tomorrow", reference=ref)
    assert (d.when.date().isoformat(), d.label) == ("2025-11-24", "tomorrow")


def test_weekend_email_end_of_week_is_the_coming_friday() -> None:
    saturday = datetime(2025, 11, 29, 10, 0, tzinfo=UTC)
    (d,) = find_deadlines("by end of week", reference=saturday)
    assert d.when == datetime(2025, 12, 5, 17, 0, tzinfo=UTC)


def test_naive_reference_is_utc_and_none_is_now() -> None:
    (d,) = find_deadlines("by 5pm", reference=datetime(2025, 11, 24, 9, 0))
    assert d.when == at(24)
    assert as_reference(None).tzinfo is UTC
    assert abs(as_reference(None) - datetime.now(UTC)) < timedelta(seconds=5)


def test_year_label_only_when_year_differs() -> None:
    (d,) = find_deadlines("on 2026-11-28", reference=REF)
    assert d.label == "Saturday 28 Nov 2026"


def test_bounded_on_hostile_input() -> None:
    text = "by Friday " * 5_000 + "1/" * 10_000 + "9" * 10_000
    found = find_deadlines(text, reference=REF)
    assert [d.label for d in found] == ["Friday 28 Nov"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789/:-. apmbyondtfriwek", max_size=120))
def test_any_text_gives_aware_deadlines_with_phrases_from_it(text: str) -> None:
    for d in find_deadlines(text, reference=REF):
        assert d.when.tzinfo is not None
        assert d.phrase and d.phrase.lower() in " ".join(text.lower().split())


def _first_parser(norm: str) -> str | None:
    """The reading rule: the parsers tried in turn, the first that reads all of it."""
    for kind, rx in _PARSERS:
        if rx.fullmatch(norm):
            return kind
    return None


@pytest.mark.parametrize(
    ("norm", "kind"),
    [
        ("2025-11-28", "iso"),
        ("1234-5-6", None),
        ("11/28", "slash"),
        ("11/28/2025", "slash"),
        ("28th of nov", "date"),
        ("nov. 28th, 2025", "date"),
        ("may 2", "date"),
        ("5pm", "time"),
        ("5 p.m.", "time"),
        ("17:00", "time"),
        ("25:00", "time"),
        ("noon", "time"),
        ("tonight", "rel"),
        ("next friday", "wd"),
        ("last monday", "wd"),
        ("in 2 hours", "in"),
        ("in a couple of days", "in"),
        ("the end of the week", "week"),
        ("end of month", "week"),
        ("eow", "week"),
        ("this week", "week"),
        ("eod", "eod"),
        ("end of the business day", "eod"),
        ("close of play", "eod"),
        ("end of business", "eod"),
        ("friday 5pm", None),
    ],
)
def test_one_call_finds_the_parser_that_reads_a_piece(norm: str, kind: str | None) -> None:
    piece = _parse(norm, 0, len(norm))
    assert (piece.kind if piece else None) == kind == _first_parser(norm)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789/:-. apmnoyhrsxtdfwiek", max_size=24))
def test_one_call_finds_the_parser_on_any_piece(norm: str) -> None:
    norm = " ".join(norm.split())
    piece = _parse(norm, 0, len(norm))
    assert (piece.kind if piece else None) == _first_parser(norm)
