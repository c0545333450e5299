"""Urgency language and how strong each phrase is.

Weights are points on the priority agent's 0..100 scale. Three tiers, so that the list stays
easy to review: something is broken or at risk right now (30), the writer explicitly asks
for speed (20), a softer nudge (10). Negated phrases ("not urgent", "no rush") are reported
separately: the writer told us the opposite, which is a signal too.
"""

from __future__ import annotations

from dataclasses import dataclass

from triage_core.text.matching import PhraseMatcher, is_negated
from triage_core.text.scan import lower_same_length

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


def urgency_hits(text: str) -> tuple[UrgencyHit, ...]:
    """All hits, negated ones included. Not cached: only the priority agent reads urgency,
    once per text, so a cache would only add its bookkeeping to every email."""
    return tuple(
        UrgencyHit(m.phrase, URGENCY_PHRASES[m.phrase], m.negated) for m in _MATCHER.find(text)
    )


# Between a subject and a body scanned together. NUL is neither a word character nor
# whitespace, so no phrase reaches across it and a phrase may end right before it; the
# newline then stands where `spaced` puts the space that opens every text.
_SEPARATOR = "\0\n"


def urgency_hits_of(subject: str, text: str) -> tuple[UrgencyHit, ...]:
    """`urgency_hits(subject) + urgency_hits(text)`, with one scan instead of two: most
    subjects are short, and each scan has a fixed cost. A phrase is negated by the words
    before it in its own string only, as when the two are read apart."""
    if not subject or not text:
        return urgency_hits(subject) + urgency_hits(text)
    offset = len(subject) + len(_SEPARATOR)
    hits = []
    for m in _MATCHER.find(subject + _SEPARATOR + text, negation=False):
        if m.start < offset:
            negated = is_negated(lower_same_length(subject), m.start)
        else:
            negated = is_negated(lower_same_length(text), m.start - offset)
        hits.append(UrgencyHit(m.phrase, URGENCY_PHRASES[m.phrase], negated))
    return tuple(hits)
