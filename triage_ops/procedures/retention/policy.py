"""The retention policy: how old, which statuses. Parsed and checked once, up front, so a
typo is one line and exit 3 before anything touches the database."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from triage_core.service.store.records import PROCESSED, STATUSES
from triage_ops.errors import UsageError

_DURATION = re.compile(r"^(?P<n>[0-9]{1,6})(?P<unit>[smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DEFAULT_STATUSES: tuple[str, ...] = (PROCESSED,)


def parse_duration(text: str) -> int:
    """Seconds in "90d", "12h", "2w", "30m", "45s"; anything else (zero, negative, no unit,
    a fraction) is a UsageError (exit 3)."""
    match = _DURATION.match(text.strip().lower())
    if match is None or int(match["n"]) == 0:
        raise UsageError(
            f"invalid duration {text!r}: a whole number and one of s, m, h, d, w (e.g. 90d)"
        )
    return int(match["n"]) * _UNITS[match["unit"]]


def parse_batch_size(text: str | int, *, maximum: int) -> int:
    """A whole number of rows in 1..maximum; anything else is a UsageError (exit 3)."""
    value = str(text).strip()
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise UsageError(f"invalid --batch-size {text!r}: a whole number from 1 to {maximum}")
    return int(value)


@dataclass(frozen=True)
class Policy:
    """Rows of `emails` created more than `older_than` before the run's cutoff instant
    AND in one of `statuses` go to the archive; nothing else is touched."""

    older_than: str  # as given: "90d"
    older_than_s: int
    statuses: tuple[str, ...]

    @classmethod
    def parse(cls, older_than: str, statuses: Iterable[str] = ()) -> Policy:
        seconds = parse_duration(older_than)
        chosen = tuple(sorted({s.strip().lower() for s in statuses} or set(DEFAULT_STATUSES)))
        unknown = [s for s in chosen if s not in STATUSES]
        if unknown:
            raise UsageError(f"invalid --status {', '.join(unknown)}: one of {', '.join(STATUSES)}")
        return cls(older_than=older_than.strip().lower(), older_than_s=seconds, statuses=chosen)

    def to_json(self) -> dict[str, Any]:
        return {
            "older_than": self.older_than,
            "older_than_s": self.older_than_s,
            "statuses": list(self.statuses),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        return cls(
            older_than=str(data["older_than"]),
            older_than_s=int(data["older_than_s"]),
            statuses=tuple(str(s) for s in data["statuses"]),
        )

    def describe(self) -> str:
        return f"status {'|'.join(self.statuses)} older than {self.older_than}"
