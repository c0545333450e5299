"""Urgency language and how strong each phrase is.

Weights are points on the priority agent's 0..100 scale. Three tiers, so that the list stays
easy to review: something is broken or at risk right now (30), the writer explicitly asks
for speed (20), a softer nudge (10). Negated phrases ("not urgent", "no rush") are reported
separately: the writer told us the opposite, which is a signal too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from triage_core.text.matching import PhraseMatcher

CRITICAL = 30
HIGH = 20
SOFT = 10

URGENCY_PHRASES: dict[str, int] = {
    # Something is broken or at risk now.
    "production is down": CRITICAL,
    "prod is down": CRITICAL,
    "production down": CRITICAL,
    "site is down": CRITICAL,
    "website is down": CRITICAL,
    "server is down": CRITICAL,
    "system is down": CRITICAL,
    "service is down": CRITICAL,
    "is down for everyone": CRITICAL,
    "outage": CRITICAL,
    "emergency": CRITICAL,
    "data loss": CRITICAL,
    "security breach": CRITICAL,
    "security incident": CRITICAL,
    "data breach": CRITICAL,
    "sev1": CRITICAL,
    "sev 1": CRITICAL,
    "sev-1": CRITICAL,
    "p0": CRITICAL,
    "customers are affected": CRITICAL,
    "customers cannot": CRITICAL,
    # An explicit ask for speed.
    "urgent": HIGH,
    "urgently": HIGH,
    "asap": HIGH,
    "as soon as possible": HIGH,
    "immediately": HIGH,
    "right away": HIGH,
    "right now": HIGH,
    "critical": HIGH,
    "time sensitive": HIGH,
    "time-sensitive": HIGH,
    "top priority": HIGH,
    "high priority": HIGH,
    "highest priority": HIGH,
    "escalate": HIGH,
    "escalating": HIGH,
    "escalation": HIGH,
    "blocker": HIGH,
    "blocking": HIGH,
    "showstopper": HIGH,
    "overdue": HIGH,
    "past due": HIGH,
    "final notice": HIGH,
    "action required": HIGH,
    "immediate action": HIGH,
    "without delay": HIGH,
    "sev2": HIGH,
    "sev 2": HIGH,
    "p1": HIGH,
    # A softer nudge.
    "important": SOFT,
    "priority": SOFT,
    "quickly": SOFT,
    "soon": SOFT,
    "rush": SOFT,
    "hurry": SOFT,
    "reminder": SOFT,
    "gentle reminder": SOFT,
    "following up": SOFT,
    "still waiting": SOFT,
    "waiting on": SOFT,
    "time is running out": SOFT,
    "deadline": SOFT,
}

_MATCHER = PhraseMatcher({phrase: (phrase,) for phrase in URGENCY_PHRASES})


@dataclass(frozen=True, slots=True)
class UrgencyHit:
    phrase: str  # as listed (lower case)
    weight: int
    negated: bool


def find_urgency(text: str, *, include_negated: bool = False) -> list[UrgencyHit]:
    """Urgency phrases in `text`, in text order; negated ones only when asked for."""
    return [h for h in urgency_hits(text) if include_negated or not h.negated]


@lru_cache(maxsize=64)
def urgency_hits(text: str) -> tuple[UrgencyHit, ...]:
    """All hits, negated ones included, cached for stages that read the same text."""
    return tuple(
        UrgencyHit(m.phrase, URGENCY_PHRASES[m.phrase], m.negated) for m in _MATCHER.find(text)
    )
