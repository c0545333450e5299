"""Date header -> aware datetime.

The common RFC 2822 shape is matched by one regex (~10x cheaper than
email.utils.parsedate_to_datetime, which stays as the fallback for everything else);
a naive or zone-less date is taken as UTC, an impossible one gives None.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from itertools import product

_RFC2822 = re.compile(
    r"\s*(?:[A-Za-z]{2,9},?\s*)?(\d{1,2})[\s-]+([A-Za-z]{3})[A-Za-z]*\.?[\s-]+(\d{2,4})\s+"
    r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([+-]\d{4}|[A-Za-z]{1,5})?"
)
# Keyed by every spelling ("Jan", "JAN", "jAn"): the month is looked up as written, which
# is exactly a lookup of its lower() form (the names are ASCII).
_MONTHS = {
    "".join(spelling): i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
    for spelling in product(*((c, c.upper()) for c in m))
}
_ZONES = {
    "ut": 0,
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "est": -300,
    "edt": -240,
    "cst": -360,
    "cdt": -300,
    "mst": -420,
    "mdt": -360,
    "pst": -480,
    "pdt": -420,
}
_TZ_CACHE: dict[int, timezone] = {0: UTC}
_ZONE_CACHE: dict[str | None, timezone] = {}


def _tz(minutes: int) -> timezone:
    tz = _TZ_CACHE.get(minutes)
    if tz is None:
        tz = timezone(timedelta(minutes=minutes))
        if len(_TZ_CACHE) < 256:
            _TZ_CACHE[minutes] = tz
    return tz


def _zone_tz(zone: str | None) -> timezone:
    """The zone as written ("-0400", "EST", none) -> tzinfo. A mailbox sees few distinct
    zone strings, so the result is kept per string. Raises ValueError for an offset of a
    day or more ("+9999"), which makes the whole date impossible."""
    tz = _ZONE_CACHE.get(zone)
    if tz is not None:
        return tz
    offset = 0
    if zone:
        if zone[0] in "+-":
            offset = int(zone[1:3]) * 60 + int(zone[3:5])
            if zone[0] == "-":
                offset = -offset
        else:
            offset = _ZONES.get(zone.lower(), 0)
    tz = _tz(offset)
    if len(_ZONE_CACHE) < 256:
        _ZONE_CACHE[zone] = tz
    return tz


def parse_date(value: str) -> datetime | None:
    if not value:
        return None
    m = _RFC2822.match(value)
    if m:
        day, mon, year, hh, mm, ss, zone = m.groups()
        month = _MONTHS.get(mon)
        if month is not None:
            y = int(year)
            if len(year) == 2:
                y += 2000 if y < 50 else 1900
            elif len(year) == 3:
                y += 1900
            try:
                return datetime(
                    y, month, int(day), int(hh), int(mm), int(ss or 0), tzinfo=_zone_tz(zone)
                )
            except ValueError:
                return None
    return _fallback(value)


def _fallback(value: str) -> datetime | None:
    try:
        dt = parsedate_to_datetime(value[:200])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt
