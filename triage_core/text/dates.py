"""Deadlines written in an email ("by EOD", "Friday 3pm", "2026-11-28"), as aware datetimes.

Everything is read relative to the email's own Date header, never to "now": an email sent
on Monday that says "by Friday" means that Friday even when it is triaged a week later, and
the result must not depend on when the test suite runs. `now` (UTC) is only the fallback
for a message without a usable Date.

How it reads text: one regex finds the pieces (a day: "today", "Friday", "Nov 28",
"2026-11-28", "11/28"; a time: "5pm", "17:00", "noon", "EOD"; a span: "in 2 hours",
"end of week"), and pieces separated only by a few joining words ("Friday at 3pm",
"by 5pm tomorrow", "EOD Friday") form one deadline. Conventions, chosen to be predictable:

- A day without a time means the end of that working day, 17:00; "EOD"/"COB" too;
  "tonight" 20:00, "noon" 12:00, "midnight" 23:59.
- A time without a day is today, or tomorrow when that time has already passed.
- "Friday" / "this Friday" / "by Friday": the next Friday on or after the email's day;
  "next Friday": the Friday of the following week (Monday-based); "last Friday": ignored.
- A date without a year is in the email's year, unless that is more than 180 days ago
  (a December email saying "Jan 5" means next January). Past dates are kept: "was due
  Nov 20" is a past-due deadline.
- "11/28" is US month/day, and without a year is only accepted after a cue word ("by",
  "on", "due", ...) or next to a time, so "1/2 cup" and "3/4 of us" are not dates.
- "this week" / "end of week" / "EOW": Friday 17:00 of the email's week (of next week
  when sent at a weekend); "next week": Friday of next week; "end of month"/"EOM".
- Time zones written after a time ("5pm EST") are not interpreted: times are in the
  Date header's offset.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from triage_core.text.scan import OPENERS, lower_same_length, spaced

# Text beyond this is not scanned: deadlines are stated near the top, and the bound keeps
# the cost flat on a 100 kB body.
MAX_SCAN_CHARS = 20_000
MAX_PIECES = 100
MAX_DEADLINES = 20
END_OF_DAY = time(17, 0)
TONIGHT = time(20, 0)
PAST_YEAR_ROLLOVER_DAYS = 180

_MONTHS = (
    "jan(?:uary)?",
    "feb(?:ruary)?",
    "mar(?:ch)?",
    "apr(?:il)?",
    "may",
    "june?",
    "july?",
    "aug(?:ust)?",
    "sep(?:t(?:ember)?)?",
    "oct(?:ober)?",
    "nov(?:ember)?",
    "dec(?:ember)?",
)
_MONTH = "|".join(_MONTHS)
_WEEKDAY = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_COUNT = (
    r"\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|twelve"
    r"|a\s+couple\s+of|a\s+few"
)
_YEAR = r"(?:19|20|21)\d\d"
_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
    "a couple of": 2,
    "a few": 3,
}
_UNITS = {"min": "minutes", "hour": "hours", "hr": "hours", "day": "days", "week": "weeks"}

# The scanner finds where pieces are; `_PARSERS` then reads the few pieces found. Every
# alternative begins with a digit or a literal letter and they are grouped by that first
# character, so at each space the engine dispatches in a step or two (see scan.py).
_DIGIT_PIECES = (  # each begins with r"\d", stripped when grouped
    r"\d\d\d\d-\d\d?-\d\d?(?![\w/-])",
    r"\d\d?/\d\d?(?:/\d\d(?:\d\d)?)?(?![\w/])",
    rf"\d\d?(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH})\.?(?:,?\s+{_YEAR})?(?!\w)",
    r"\d\d?(?::[0-5]\d)?\s?(?:[ap]m|[ap]\.m\.)(?!\w)",
    r"\d\d?:[0-5]\d(?![\d:])",
)
_WORD_PIECES = (
    *(rf"{month}\.?\s+\d\d?(?:st|nd|rd|th)?(?:,?\s+{_YEAR})?(?![\w/])" for month in _MONTHS),
    r"noon(?!\w)",
    r"mid(?:day|night)(?!\w)",
    r"to(?:day|night|morrow)(?!\w)",
    r"tmrw(?!\w)",
    rf"next\s+(?:week|{_WEEKDAY})(?!\w)",
    rf"this\s+(?:week|{_WEEKDAY})(?!\w)",
    rf"coming\s+(?:{_WEEKDAY})(?!\w)",
    rf"last\s+(?:{_WEEKDAY})(?!\w)",
    *(rf"{day}(?!\w)" for day in _WEEKDAY.split("|")),
    rf"in\s+(?:{_COUNT})\s+(?:min|hour|hr|day|week)(?:ute)?s?(?!\w)",
    r"the\s+end\s+of\s+(?:the\s+|this\s+)?(?:week|month)(?!\w)",
    r"end\s+of\s+(?:(?:the\s+|this\s+)?(?:week|month)"
    r"|(?:the\s+)?(?:business\s+|working\s+)?day|business)(?!\w)",
    r"eo[dbwm](?!\w)",
    r"c(?:ob|lose\s+of\s+(?:business|play))(?!\w)",
)


def _dispatch(pieces: tuple[str, ...]) -> str:
    by_first: dict[str, list[str]] = {}
    for piece in pieces:
        by_first.setdefault(piece[0], []).append(piece[1:])
    return "|".join(f"{first}(?:{'|'.join(rests)})" for first, rests in by_first.items())


_SCAN = re.compile(
    rf" (?:\d(?:{'|'.join(p[2:] for p in _DIGIT_PIECES)})|{_dispatch(_WORD_PIECES)})"
)
# "11/28" must survive `spaced`.
_OPENERS = tuple(ch for ch in OPENERS if ch != "/")

# How a piece is read, tried in order on its text (lower case, single spaces).
_PARSERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rx))
    for kind, rx in (
        ("iso", rf"(?P<y>{_YEAR})-(?P<m>\d\d?)-(?P<d>\d\d?)"),
        ("slash", r"(?P<m>\d\d?)/(?P<d>\d\d?)(?:/(?P<y>\d{4}|\d\d))?"),
        ("date", rf"(?P<d>\d\d?)(?:st|nd|rd|th)? (?:of )?(?P<m>{_MONTH})\.?(?:,? (?P<y>{_YEAR}))?"),
        ("date", rf"(?P<m>{_MONTH})\.? (?P<d>\d\d?)(?:st|nd|rd|th)?(?:,? (?P<y>{_YEAR}))?"),
        ("time", r"(?P<h>\d\d?)(?::(?P<min>\d\d))? ?(?P<ampm>[ap])\.?m\.?"),
        ("time", r"(?P<h>\d\d?):(?P<min>\d\d)"),
        ("time", r"(?P<noon>noon|midday|midnight)"),
        ("rel", r"today|tonight|tomorrow|tmrw"),
        ("wd", rf"(?:(?P<mod>next|this|coming|last) )?(?P<wd>{_WEEKDAY})"),
        ("in", rf"in (?P<n>{_COUNT}) (?P<unit>min|hour|hr|day|week)(?:ute)?s?"),
        ("week", r"(?:the )?end of (?:the |this )?(?P<eo>week|month)|(?P<eow>eow|eom)"),
        ("week", r"(?P<wk>this|next) week"),
        ("eod", r"eod|end of (?:the )?(?:business |working )?day"),
        ("eod", r"(?P<cob>cob|eob|close of (?:business|play)|end of business)"),
    )
)
# Which parser reads a piece, in one call rather than up to one per parser: the parsers as
# one alternation, each a numbered group (their own groups made non-capturing), so
# `fullmatch` stops at the first that reads the whole piece, as trying them in turn does.
_WHICH = re.compile(
    "|".join(f"({re.sub(r'[(][?]P<[a-z]+>', '(?:', rx.pattern)})" for _, rx in _PARSERS)
)
_DAY_KINDS = frozenset({"iso", "slash", "date", "wd", "rel"})
_TIME_KINDS = frozenset({"time", "eod"})
_SPAN_KINDS = frozenset({"in", "week"})

# Words that may sit between two pieces of one deadline: "Friday at 3pm", "5pm, Nov 28".
_JOIN = re.compile(r"[\s,]*(?:(?:at|by|before|on|around|the|of)\b[\s,]*)?(?:\(\s*)?")
_MAX_JOIN_CHARS = 12
# A cue just before a deadline makes it one ("by Friday") and is kept in `phrase`.
_CUE = re.compile(
    r"\b(?:by|before|until|till|due|due\s+by|due\s+on|on|at|no\s+later\s+than"
    r"|deadline(?:\s+is)?:?)(?:\s+the)?\s+$"
)
_CUE_LOOKBACK = 24

# English names on purpose: `calendar` follows the process locale.
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.lower(): i for i, name in enumerate(_MONTH_ABBR, start=1)}
_WEEKDAY_NUMBERS = {name.lower(): i for i, name in enumerate(_DAY_NAMES)}


@dataclass(frozen=True, slots=True)
class Deadline:
    when: datetime  # aware, in the reference's offset
    label: str  # normalised for people: "today 17:00", "EOD today", "Friday 28 Nov"
    phrase: str  # as written, with its cue word: "by 5pm"


@dataclass(frozen=True, slots=True)
class _Piece:
    kind: str
    start: int
    end: int
    parsed: re.Match[str]


def find_deadlines(text: str, *, reference: datetime | None) -> list[Deadline]:
    """Deadlines in `text` in text order, one per distinct label."""
    return list(deadlines(text, reference=reference))


def deadlines(text: str, *, reference: datetime | None) -> tuple[Deadline, ...]:
    """`find_deadlines` as a cached tuple, for stages that read the same text."""
    return _find_cached(text, as_reference(reference))


def as_reference(reference: datetime | None) -> datetime:
    """The aware moment deadlines are read against: the Date header, else now (UTC, whole
    seconds, so stages asking within the same second share the cache); a naive Date is
    taken as UTC."""
    if reference is None:
        return datetime.now(UTC).replace(microsecond=0)
    if reference.tzinfo is None:
        return reference.replace(tzinfo=UTC)
    return reference


@lru_cache(maxsize=64)
def _find_cached(text: str, reference: datetime) -> tuple[Deadline, ...]:
    scan = text[:MAX_SCAN_CHARS]
    lowered = lower_same_length(scan)
    out: list[Deadline] = []
    seen: set[str] = set()
    group: list[_Piece] = []
    for n, sm in enumerate(_SCAN.finditer(spaced(lowered, _OPENERS))):
        if n >= MAX_PIECES:
            break
        # The match starts at its boundary space, one char early in `spaced` coordinates,
        # which are themselves shifted one right: `start` needs no correction.
        piece = _parse(lowered, sm.start(), sm.end() - 1)
        if piece is None:
            continue
        if group and _joins(lowered, group, piece):
            group.append(piece)
            continue
        if group:
            _emit(scan, lowered, group, reference, out, seen)
        group = [piece]
    if group:
        _emit(scan, lowered, group, reference, out, seen)
    return tuple(out[:MAX_DEADLINES])


def _parse(lowered: str, start: int, end: int) -> _Piece | None:
    norm = " ".join(lowered[start:end].split())
    which = _WHICH.fullmatch(norm)
    if which is None or which.lastindex is None:
        return None
    kind, rx = _PARSERS[which.lastindex - 1]
    parsed = rx.fullmatch(norm)
    return None if parsed is None else _Piece(kind, start, end, parsed)


def _joins(lowered: str, group: list[_Piece], piece: _Piece) -> bool:
    gap_start = group[-1].end
    if piece.start - gap_start > _MAX_JOIN_CHARS:
        return False
    j = _JOIN.match(lowered, gap_start, piece.start)
    if j is None or j.end() != piece.start:
        return False
    kinds = {p.kind for p in group}
    if piece.kind in _SPAN_KINDS or kinds & _SPAN_KINDS:
        return False
    if piece.kind in _TIME_KINDS:
        return not kinds & _TIME_KINDS
    day_kinds = kinds & _DAY_KINDS
    if not day_kinds:
        return True
    # A weekday next to a date names the same day: "Friday, Nov 28", "Nov 28 (Friday)".
    if piece.kind == "wd":
        return "wd" not in day_kinds
    return day_kinds == {"wd"}


def _emit(
    text: str,
    lowered: str,
    group: list[_Piece],
    reference: datetime,
    out: list[Deadline],
    seen: set[str],
) -> None:
    if len(out) >= MAX_DEADLINES:
        return
    start, end = group[0].start, group[-1].end
    lookback = lowered[max(0, start - _CUE_LOOKBACK) : start]
    cue = _CUE.search(lookback)
    resolved = _resolve(group, reference, cued=cue is not None)
    if resolved is None:
        return
    when, label = resolved
    if label in seen:
        return
    seen.add(label)
    phrase_start = start - len(lookback) + cue.start() if cue else start
    out.append(Deadline(when, label, " ".join(text[phrase_start:end].split())))


def _resolve(
    group: list[_Piece], reference: datetime, *, cued: bool
) -> tuple[datetime, str] | None:
    tz = reference.tzinfo
    assert tz is not None
    today = reference.date()
    by_kind = {p.kind: p.parsed for p in group}
    if "in" in by_kind:
        return _resolve_in(by_kind["in"], reference)
    if "week" in by_kind:
        return _resolve_week(by_kind["week"], today, tz)

    day: date | None = None
    day_label = ""
    tonight = False
    for kind in ("iso", "slash", "date", "rel", "wd"):
        parsed = by_kind.get(kind)
        if parsed is None:
            continue
        if not (cued or len(group) > 1) and _ambiguous(kind, parsed):
            return None
        resolved = _resolve_day(kind, parsed, today)
        if resolved is None:
            return None
        day, day_label = resolved
        tonight = parsed.group(0) == "tonight"
        break

    clock: time | None = None
    eod_word = ""
    if "time" in by_kind:
        clock = _resolve_time(by_kind["time"])
        if clock is None:
            return None
    elif "eod" in by_kind:
        eod_word = "COB" if by_kind["eod"].groupdict().get("cob") else "EOD"
        clock = END_OF_DAY

    if day is None:
        if clock is None:
            return None
        day = today
        if not eod_word and datetime.combine(today, clock, tz) < reference:
            day = today + timedelta(days=1)
        day_label = _day_label(day, today)
    if clock is None:
        clock = TONIGHT if tonight else END_OF_DAY
        label = day_label
    elif eod_word:
        label = f"{eod_word} {day_label}"
    else:
        label = f"{'today' if tonight else day_label} {clock:%H:%M}"
    return datetime.combine(day, clock, tz), label


def _ambiguous(kind: str, parsed: re.Match[str]) -> bool:
    """A piece that is only a date after a cue word or next to another piece: "1/2 cup",
    "3/4 of us", "we may 2 ..."."""
    if kind == "slash":
        return not parsed.group("y")
    if kind == "date":
        text = parsed.group(0)
        return text.startswith("may ") and not parsed.group("y") and text[-1].isdigit()
    return False


def _resolve_day(kind: str, parsed: re.Match[str], today: date) -> tuple[date, str] | None:
    if kind == "rel":
        word = parsed.group(0)
        if word in ("today", "tonight"):
            return today, word
        return today + timedelta(days=1), "tomorrow"
    if kind == "wd":
        mod = parsed.group("mod")
        if mod == "last":
            return None
        weekday = _WEEKDAY_NUMBERS[parsed.group("wd")]
        if mod == "next":
            day = today + timedelta(days=7 - today.weekday() + weekday)
        else:
            day = today + timedelta(days=(weekday - today.weekday()) % 7)
        return day, _date_label(day, today)
    raw_month, raw_year = parsed.group("m"), parsed.group("y")
    month = int(raw_month) if raw_month.isdigit() else _MONTH_NUMBERS.get(raw_month[:3], 0)
    dom = int(parsed.group("d"))
    year = 0
    if raw_year:
        year = 2000 + int(raw_year) if len(raw_year) == 2 else int(raw_year)
    day_or_none = _make_date(year or today.year, month, dom)
    if day_or_none is None:
        return None
    day = day_or_none
    if not year and (today - day).days > PAST_YEAR_ROLLOVER_DAYS:
        rolled = _make_date(today.year + 1, month, dom)
        if rolled is None:
            return None
        day = rolled
    return day, _date_label(day, today)


def _resolve_time(parsed: re.Match[str]) -> time | None:
    groups = parsed.groupdict()
    noon = groups.get("noon")
    if noon:
        return time(23, 59) if noon == "midnight" else time(12, 0)
    hour, minute = int(parsed.group("h")), int(parsed.group("min") or 0)
    ampm = groups.get("ampm")
    if ampm is None:
        return time(hour, minute) if hour <= 23 else None
    if not 1 <= hour <= 12:
        return None
    return time(hour % 12 + (12 if ampm == "p" else 0), minute)


def _resolve_in(parsed: re.Match[str], reference: datetime) -> tuple[datetime, str] | None:
    raw = parsed.group("n")
    count = _NUMBER_WORDS[raw] if raw in _NUMBER_WORDS else int(raw)
    unit = _UNITS[parsed.group("unit")]
    if count <= 0:
        return None
    when = reference + timedelta(**{unit: count})
    label = _day_label(when.date(), reference.date())
    if unit in ("minutes", "hours"):
        label = f"{label} {when:%H:%M}"
    return when, label


def _resolve_week(parsed: re.Match[str], today: date, tz: tzinfo) -> tuple[datetime, str]:
    if parsed.groupdict().get("eo") == "month" or parsed.groupdict().get("eow") == "eom":
        last = calendar.monthrange(today.year, today.month)[1]
        return datetime.combine(today.replace(day=last), END_OF_DAY, tz), "end of month"
    friday = today + timedelta(days=4 - today.weekday())
    if parsed.groupdict().get("wk") == "next":
        return datetime.combine(friday + timedelta(days=7), END_OF_DAY, tz), "next week"
    if today.weekday() >= 5:  # written at the weekend: the coming week
        friday += timedelta(days=7)
    return datetime.combine(friday, END_OF_DAY, tz), "end of week"


def _make_date(year: int, month: int, dom: int) -> date | None:
    try:
        return date(year, month, dom)
    except ValueError:
        return None


def _day_label(day: date, today: date) -> str:
    delta = (day - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    return _date_label(day, today)


def _date_label(day: date, today: date) -> str:
    label = f"{_DAY_NAMES[day.weekday()]} {day.day} {_MONTH_ABBR[day.month - 1]}"
    return label if day.year == today.year else f"{label} {day.year}"
