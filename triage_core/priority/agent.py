"""The priority agent: category, urgency, deadlines and sender signals added up.

Every signal adds or removes points and leaves a reason a person can check, so a P0 is
never a mystery. The table is deliberately additive and small; tune it here and in the
tests together.

Scoring table (points; the total is clamped to 0..100):

    signal                                   points   reason
    category base                            below    "category incident"
      incident 60, complaint 45, billing 40, request 40, meeting 35, question 35,
      personal 30, other/custom 25, notification 15, newsletter 10, spam 0
      confidence < 0.5: halfway to 25                 "category incident (low confidence 0.42)"
    urgency, strongest phrase                +30/+20/+10  "urgency: 'production is down'"
      (tiers in text/urgency.py) + 5 per further distinct phrase, at most +10 more
    urgency only denied ("no rush")          -10      "says it is not urgent"
    deadline (the most pressing one)                  "deadline today 17:00"
      past due (up to 14 days ago)           +20      "deadline Friday 21 Nov (past due)"
      today                                  +25
      tomorrow                               +15
      within 7 days                          +5
      later                                  0        (no reason)
    VIP sender (exact address)               +20      "VIP sender cfo@example.com"
    VIP domain (or a subdomain of it)        +15      "VIP domain bigcustomer.com"
      (only when the sender is not itself a VIP)
    only cc'd                                -10      "only cc'd"
    bulk / automated headers                 -30      "bulk mail (List-Id)"
    reply in a thread                        +5       "reply in an ongoing thread"

Urgency reads the subject and `email.newest` (never the quoted history); deadlines are read
relative to the email's Date header. Spam skips the text signals and is capped at 10
points, always P3: spam is written to look urgent. Levels come from
`PriorityConfig.thresholds` (P0 >= t0, P1 >= t1, P2 >= t2, else P3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from triage_core.config import PriorityConfig
from triage_core.errors import ConfigError
from triage_core.message import Email
from triage_core.priority.senders import (
    bulk_reason,
    domain_of,
    matching_domain,
    normalise_address,
    normalise_domain,
    only_cced,
)
from triage_core.result import PRIORITIES
from triage_core.text.dates import as_reference, deadlines
from triage_core.text.own import own_text
from triage_core.text.urgency import UrgencyHit, urgency_hits_of

BASE_SCORES: dict[str, int] = {
    "incident": 60,
    "complaint": 45,
    "billing": 40,
    "request": 40,
    "meeting": 35,
    "question": 35,
    "personal": 30,
    "other": 25,
    "notification": 15,
    "newsletter": 10,
    "spam": 0,
}
NEUTRAL_BASE = 25  # "other" and categories of a custom taxonomy
LOW_CONFIDENCE = 0.5
URGENCY_EXTRA_PER_PHRASE = 5
URGENCY_EXTRA_MAX = 10
URGENCY_DENIED = -10
DEADLINE_PAST_DUE = 20
DEADLINE_TODAY = 25
DEADLINE_TOMORROW = 15
DEADLINE_THIS_WEEK = 5
PAST_DUE_WINDOW_DAYS = 14
VIP_SENDER = 20
VIP_DOMAIN = 15
ONLY_CC = -10
BULK = -30
THREAD_REPLY = 5
SPAM_CAP = 10


@dataclass(frozen=True, slots=True)
class PriorityAssessment:
    level: str  # "P0".."P3"
    score: int  # 0..100
    reasons: tuple[str, ...]


class PriorityAgent:
    """Scores one email; see the module docstring for the table."""

    def __init__(self, config: PriorityConfig) -> None:
        thresholds = tuple(config.thresholds)
        if len(thresholds) != 3 or not 100 >= thresholds[0] > thresholds[1] > thresholds[2] >= 0:
            raise ConfigError(
                f"priority.thresholds must be three descending scores within 0..100, "
                f"got {list(thresholds)}"
            )
        self.config = config
        self._thresholds = thresholds
        self._vip_senders = frozenset(normalise_address(a) for a in config.vip_senders)
        self._vip_domains = tuple(normalise_domain(d) for d in config.vip_domains)
        self._self = frozenset(normalise_address(a) for a in config.self_addresses)

    def __call__(self, email: Email, *, category: str, confidence: float) -> PriorityAssessment:
        reasons: list[str] = []
        score = self._base(category, confidence, reasons)
        if category != "spam":
            text = own_text(email)
            score += self._urgency(email.subject, text, reasons)
            score += self._deadline(text, email.date, reasons)
        score += self._sender(email, reasons)
        if only_cced(email, self._self):
            score += ONLY_CC
            reasons.append("only cc'd")
        if email.is_bulk:
            score += BULK
            reasons.append(bulk_reason(email) or "bulk mail")
        if email.is_reply:
            score += THREAD_REPLY
            reasons.append("reply in an ongoing thread")
        if category == "spam":
            score = min(score, SPAM_CAP)
        score = max(0, min(100, score))
        return PriorityAssessment(self._level(score), score, tuple(reasons))

    def _base(self, category: str, confidence: float, reasons: list[str]) -> int:
        base = BASE_SCORES.get(category, NEUTRAL_BASE)
        if confidence < LOW_CONFIDENCE:
            base = (base + NEUTRAL_BASE) // 2
            reasons.append(f"category {category} (low confidence {confidence:.2f})")
        else:
            reasons.append(f"category {category}")
        return base

    @staticmethod
    def _urgency(subject: str, text: str, reasons: list[str]) -> int:
        hits: tuple[UrgencyHit, ...] = urgency_hits_of(subject, text)
        found = [h for h in hits if not h.negated]
        if not found:
            if hits:
                reasons.append("says it is not urgent")
                return URGENCY_DENIED
            return 0
        strongest = max(found, key=lambda h: h.weight)  # the first among equals
        others = {h.phrase for h in found} - {strongest.phrase}
        reasons.append(f"urgency: '{strongest.phrase}'")
        extra = min(URGENCY_EXTRA_MAX, URGENCY_EXTRA_PER_PHRASE * len(others))
        return strongest.weight + extra

    @staticmethod
    def _deadline(text: str, date: datetime | None, reasons: list[str]) -> int:
        best, best_reason = 0, ""
        today = as_reference(date).date()
        for deadline in deadlines(text, reference=date):
            days = (deadline.when.date() - today).days
            if days < -PAST_DUE_WINDOW_DAYS:
                continue
            if days < 0:
                points, reason = DEADLINE_PAST_DUE, f"deadline {deadline.label} (past due)"
            elif days == 0:
                points, reason = DEADLINE_TODAY, f"deadline {deadline.label}"
            elif days == 1:
                points, reason = DEADLINE_TOMORROW, f"deadline {deadline.label}"
            elif days <= 7:
                points, reason = DEADLINE_THIS_WEEK, f"deadline {deadline.label}"
            else:
                continue
            if points > best:
                best, best_reason = points, reason
        if best:
            reasons.append(best_reason)
        return best

    def _sender(self, email: Email, reasons: list[str]) -> int:
        if not self._vip_senders and not self._vip_domains:
            return 0  # nothing to match: the common configuration
        sender = normalise_address(email.from_addr)
        if sender and sender in self._vip_senders:
            reasons.append(f"VIP sender {sender}")
            return VIP_SENDER
        vip = matching_domain(domain_of(sender), self._vip_domains)
        if vip is not None:
            reasons.append(f"VIP domain {vip}")
            return VIP_DOMAIN
        return 0

    def _level(self, score: int) -> str:
        p0, p1, p2 = self._thresholds
        if score >= p0:
            return PRIORITIES[0]
        if score >= p1:
            return PRIORITIES[1]
        return PRIORITIES[2] if score >= p2 else PRIORITIES[3]
