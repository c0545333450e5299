"""Keyword rules: the backend that answers when no model can.

It must be deterministic, fast (it classifies every email while the model server is down)
and explainable: each category collects evidence from the table below, and the evidence
turns into probabilities by additive smoothing, so one weak cue gives a weak answer and an
email without any cue is `other` with the uniform (lowest possible) confidence.

Evidence (weights add up per category; a phrase counts once per field however often it is
repeated, so "FREE FREE FREE" is one cue; a negated phrase counts for nothing, so "this is
not urgent" is no incident cue):

==============  =========================================================  ==============
where           cue                                                        weight
==============  =========================================================  ==============
subject         a phrase of `PHRASES` (intent is densest in the subject)   2 x w
newest text     a phrase of `PHRASES` (first `SCAN_CHARS` characters)      w
newest text     each "?" (at most 3)                                       question 0.75
subject         ends with "?"                                              question 1.5
subject         Invitation: / Accepted: / Declined: ... (calendar mail)    meeting 3
subject         >= 3 of "!" and "$"; shouted (>= 70 % capitals)            spam 1.5 each
header          List-Unsubscribe                                           newsletter 2
header          List-Id                                                    newsletter 1
header          Precedence: bulk | list                                    newsletter 1
header          Precedence: junk                                           notification 1
header          Auto-Submitted other than "no" (RFC 3834 machine mail)     notification 3
From            no-reply / notifications / mailer-daemon ... local part    notification 3
From            newsletter / news / digest ... local part                  newsletter 2
From            billing / invoice / payments ... local part                billing 1.5
attachment      .ics / .vcs or text/calendar                               meeting 4
attachment      file name with invoice / receipt / statement / bill        billing 2
==============  =========================================================  ==============

`PHRASES` lists per category strong cues (w = 2), weak ones (w = 1) and hints (w = 0.5:
common words such as "free" or "call" that only count together with other evidence; alone
they stay under the pipeline's confidence floor). A phrase may sit under several
categories ("could you" is both a request and a question).

Probabilities: p(c) = (score(c) + ALPHA) / (sum of scores + ALPHA x categories). With
ALPHA = 0.25 and ten categories, one weak cue gives 0.36, one strong subject cue 0.59, two
strong cues 0.7 and more, evenly split evidence stays below 0.4. The confidence is the
winner's p.

Matching is `triage_core.text.matching.PhraseMatcher`, the one every text stage uses
(whole words, any case, a phrase starts after whitespace or an opening bracket and ends at
any punctuation, longest phrase first, no overlaps, negated by a negator among the three
words before it in the same clause), with one key per category and tier
("incident.strong"), so the rules read text exactly as urgency and asks do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from triage_core.classify.base import Prediction
from triage_core.message import Email
from triage_core.result import DEFAULT_CATEGORIES, OTHER
from triage_core.text.matching import PhraseMatcher

STRONG = 2.0
WEAK = 1.0
HINT = 0.5
SUBJECT_FACTOR = 2.0
ALPHA = 0.25
# The newest text is read this far: intent shows in the first paragraphs, and the bound
# keeps the cost per email flat on a 1 MB body.
SCAN_CHARS = 1_500
SUBJECT_CHARS = 500


class Cues(NamedTuple):
    strong: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()  # common words that only add up with other evidence


# Per category. Matched whole-word and case-insensitively; list the inflections and the
# spellings you mean ("invoice", "invoices"; "sev-1", "sev 1"). "can't" matches "can’t" too;
# list "cant" as well where mail writes it without the apostrophe.
# fmt: off
PHRASES: Mapping[str, Cues] = {
    "incident": Cues(
        strong=(
            "outage", "outages", "incident", "sev1", "sev 1", "sev-1", "sev2", "sev 2", "sev-2",
            "is down", "are down", "went down", "is currently down", "server down",
            "site down", "service down", "production down", "prod down", "down for everyone",
            "500 error", "500 errors", "error 500", "http 500", "internal server error",
            "502 bad gateway", "503 service unavailable", "504 gateway timeout",
            "not responding", "unresponsive", "service unavailable", "data loss",
            "security breach", "emergency", "crashed", "crashing", "pagerduty",
            "error rate", "root cause", "postmortem", "post-mortem", "degraded",
            "disk full", "out of memory",
        ),
        weak=(
            "urgent", "urgently", "critical", "crash", "broken", "failing", "failure",
            "failures", "timed out", "latency", "on-call", "rollback", "roll back", "hotfix",
            "breach", "vulnerability", "customers affected", "users affected",
            "cannot log in", "can't log in", "can't login", "cant log in", "cant login",
            "stopped working", "not working",
        ),
        hints=("down", "errors", "timeout", "timeouts", "alert", "on call"),
    ),
    "request": Cues(
        strong=(
            "could you please", "can you please", "would you please", "please send",
            "please review", "please confirm", "please approve", "please provide",
            "please update", "please let me know", "action required", "need you to",
            "request for", "requesting", "kindly",
        ),
        weak=(
            "please", "could you", "can you", "would you", "i need", "we need",
            "let me know", "get back to me", "follow up", "following up", "approval",
            "approve", "by eod", "by end of day", "deadline", "asap", "send me",
            "forward me",
        ),
        hints=("request", "requested"),
    ),
    "question": Cues(
        strong=(
            "quick question", "i have a question", "does anyone know", "anyone know",
            "any idea", "any ideas", "how do i", "how can i", "how do you", "is it possible",
            "is there a way", "what is the", "i was wondering", "do you know",
        ),
        weak=(
            "question", "questions", "wondering", "could you", "can you", "clarify",
            "does anyone", "any suggestions",
        ),
        hints=("why", "what is", "what's", "whats", "when will", "where can", "how to", "advice",
               "curious"),
    ),
    "meeting": Cues(
        strong=(
            "meeting", "meetings", "reschedule", "rescheduled", "calendar invite",
            "updated invitation", "meeting invite", "conference call", "zoom call",
            "zoom link", "google meet", "teams meeting", "agenda", "schedule a call",
            "schedule a meeting", "set up a call", "book a time", "are you available",
            "one-on-one", "standup", "stand-up",
        ),
        weak=("invite", "invitation", "calendar", "availability"),
        hints=("meet", "call", "schedule", "available", "sync", "catch up", "lunch",
               "tomorrow at"),
    ),
    "billing": Cues(
        strong=(
            "invoice", "invoices", "refund", "refunds", "refunded", "billing", "payment",
            "payments", "past due", "overdue", "amount due", "balance due", "receipt",
            "overcharged", "double charged", "purchase order", "credit note",
        ),
        weak=(
            "billed", "charged", "renewal", "credit card", "bank transfer", "wire transfer",
        ),
        hints=("bill", "charge", "charges", "paid", "pay", "subscription", "pricing", "price",
               "quote", "tax", "vat", "balance", "order"),
    ),
    "complaint": Cues(
        strong=(
            "complaint", "complain", "unacceptable", "very disappointed",
            "extremely disappointed", "terrible service", "poor service", "worst service",
            "not happy", "fed up", "ridiculous", "outrageous", "escalate this",
            "speak to your manager", "still not fixed", "still waiting", "overcharged",
        ),
        weak=(
            "disappointed", "frustrated", "frustrating", "annoyed", "unhappy",
            "dissatisfied", "cancel my", "again and again",
        ),
        hints=("terrible", "awful", "horrible", "worst", "poor", "upset", "angry",
               "no response"),
    ),
    "newsletter": Cues(
        strong=(
            "newsletter", "unsubscribe", "weekly digest", "daily digest", "monthly digest",
            "view in browser", "view this email in your browser", "email preferences",
            "manage your subscription", "update your preferences", "this week in",
            "you are receiving this", "you received this email because",
        ),
        weak=("digest", "edition", "top stories", "subscribers", "subscribe", "mailing list"),
        hints=("read more", "announcement", "announcing", "released"),
    ),
    "notification": Cues(
        strong=(
            "do not reply", "do-not-reply", "automated message", "this is an automated",
            "automatically generated", "password reset", "reset your password",
            "verification code", "verify your email", "security alert", "new sign-in",
            "new login", "has been shipped", "order confirmation", "build failed",
            "build succeeded", "pull request", "commented on", "mentioned you",
            "out of office", "auto-reply", "automatic reply", "delivery status notification",
            "undeliverable",
        ),
        weak=("notification", "notifications", "tracking number", "assigned to you"),
        hints=("reminder", "your account", "confirm your", "shipped", "delivered",
               "status update", "has been updated", "was updated", "alert"),
    ),
    "spam": Cues(
        strong=(
            "viagra", "cialis", "click here", "act now", "limited time offer", "100% free",
            "risk free", "risk-free", "you have won", "you've won", "youve won", "winner",
            "lottery", "million dollars", "make money", "earn money", "work from home",
            "no credit check", "lowest price", "lowest prices", "order now", "buy now",
            "dear friend", "this is not spam", "this is not a spam", "weight loss",
            "lose weight", "casino", "online pharmacy", "cash bonus", "get paid",
            "removal instructions", "to be removed", "remove me", "opt-out", "opt out",
            "mortgage rates", "refinance", "debt free", "financial freedom",
            "guaranteed", "satisfaction guaranteed", "no obligation", "free trial",
            "special promotion", "xxx", "hot singles",
        ),
        weak=("cheap", "discount", "loan", "loans", "income", "prize", "exclusive",
              "promotion", "adult"),
        hints=("free", "offer", "offers", "cash", "money", "bonus", "deal", "deals", "save",
               "savings", "credit", "investment", "profit", "sale", "amazing", "incredible",
               "congratulations", "selected", "claim"),
    ),
    "personal": Cues(
        strong=(
            "happy birthday", "miss you", "love you", "my family", "your family",
            "congratulations on", "wedding", "baby", "see you soon", "thinking of you",
            "how are you", "how have you been", "long time no see",
        ),
        weak=("family", "kids", "mom", "dad", "birthday", "vacation", "hugs", "love"),
        hints=("weekend", "dinner", "holiday", "party", "friend", "friends", "thanks",
               "thank you", "cheers"),
    ),
}
# fmt: on

# Local parts of sender addresses (the part before "@"), matched anywhere inside it.
_NOREPLY_SENDER = re.compile(
    r"no-?reply|no_reply|do-?not-?reply|do_not_reply|notif|alerts|mailer-daemon|postmaster"
    r"|bounce|automated"
)
_NEWSLETTER_SENDER = re.compile(r"newsletter|news|digest|updates|marketing|promo")
_BILLING_SENDER = re.compile(r"billing|invoice|payment|accounts|receivable")
_BILLING_FILE = re.compile(r"invoice|receipt|statement|bill")
# Subject prefixes that calendar software writes on invitations and the answers to them.
_CALENDAR_PREFIXES = (
    "invitation:", "updated invitation:", "accepted:", "declined:", "tentative:",
    "canceled event:", "cancelled event:", "new event:",
)  # fmt: skip


TIERS = {"strong": STRONG, "weak": WEAK, "hints": HINT}


def phrase_table() -> dict[str, tuple[str, ...]]:
    """The table as `PhraseMatcher` keys: "incident.strong", "incident.weak", ..."""
    table: dict[str, tuple[str, ...]] = {}
    for category in DEFAULT_CATEGORIES:
        cues = PHRASES[category]
        for tier in TIERS:
            table[f"{category}.{tier}"] = getattr(cues, tier)
    return table


_N = len(DEFAULT_CATEGORIES)
_IDX = {c: i for i, c in enumerate(DEFAULT_CATEGORIES)}
_Q, _SPAM, _MEETING = _IDX["question"], _IDX["spam"], _IDX["meeting"]
_BILLING, _NEWS, _NOTIFY = _IDX["billing"], _IDX["newsletter"], _IDX["notification"]
_UNIFORM = 1.0 / _N


def _rule_of(key: str) -> tuple[int, float]:
    """(category index, weight) of a matcher key such as "incident.strong"."""
    category, _, tier = key.partition(".")
    return _IDX[category], TIERS[tier]


_MATCHER = PhraseMatcher(phrase_table())
_RULE_OF = {key: _rule_of(key) for key in phrase_table()}


# --- the classifier ---------------------------------------------------------------------


class RulesClassifier:
    name = "rules"

    def __init__(self) -> None:
        self._labels = DEFAULT_CATEGORIES

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def __call__(self, email: Email) -> Prediction:
        return self.predict(email)

    def predict(self, email: Email) -> Prediction:
        scores = evidence(email)
        total = sum(scores)
        if total <= 0.0:
            return Prediction(
                category=OTHER,
                confidence=_UNIFORM,
                backend=self.name,
                scores=dict.fromkeys(self._labels, _UNIFORM),
            )
        norm = total + ALPHA * _N
        probs = {label: (s + ALPHA) / norm for label, s in zip(self._labels, scores, strict=True)}
        label = self._labels[scores.index(max(scores))]  # first of equals: stable
        return Prediction(category=label, confidence=probs[label], backend=self.name, scores=probs)

    def predict_batch(self, emails: Sequence[Email]) -> list[Prediction]:
        return [self.predict(email) for email in emails]


def evidence(email: Email) -> list[float]:
    """Evidence per category, in `DEFAULT_CATEGORIES` order (see the module's table)."""
    scores = [0.0] * _N
    subject = email.subject[:SUBJECT_CHARS]
    newest = email.newest[:SCAN_CHARS]
    for text, factor in ((subject, SUBJECT_FACTOR), (newest, 1.0)):
        if text:
            _add_phrases(scores, text, factor=factor)
    if subject:
        _add_subject_shape(scores, subject)
    if newest:
        questions = newest.count("?")
        if questions:
            scores[_Q] += 0.75 * min(questions, 3)
    _add_headers(scores, email)
    if email.attachments:
        _add_attachments(scores, email)
    return scores


def _add_phrases(scores: list[float], text: str, *, factor: float) -> None:
    # A phrase counts once per field and key; a phrase under two keys feeds both.
    counted: set[tuple[str, str]] = set()
    for m in _MATCHER.find(text):
        if not m.negated and (m.key, m.phrase) not in counted:
            counted.add((m.key, m.phrase))
            index, weight = _RULE_OF[m.key]
            scores[index] += weight * factor


def _add_subject_shape(scores: list[float], subject: str) -> None:
    stripped = subject.strip()
    if stripped.endswith("?"):
        scores[_Q] += 1.5
    if stripped[:24].lower().startswith(_CALENDAR_PREFIXES):
        scores[_MEETING] += 3.0
    if subject.count("!") + subject.count("$") >= 3:
        scores[_SPAM] += 1.5
    upper = sum(map(str.isupper, subject))
    if upper >= 6:  # cheap gate: most subjects are not shouted
        letters = sum(map(str.isalpha, subject))
        if letters >= 8 and upper >= 0.7 * letters:
            scores[_SPAM] += 1.5


def _add_headers(scores: list[float], email: Email) -> None:
    if email.list_unsubscribe:
        scores[_NEWS] += 2.0
    if email.list_id:
        scores[_NEWS] += 1.0
    precedence = email.precedence.strip().lower()
    if precedence in ("bulk", "list"):
        scores[_NEWS] += 1.0
    elif precedence == "junk":
        scores[_NOTIFY] += 1.0
    auto = email.auto_submitted.strip().lower()
    if auto and auto != "no":
        scores[_NOTIFY] += 3.0
    local = email.from_addr.partition("@")[0].lower()
    if local:
        if _NOREPLY_SENDER.search(local):
            scores[_NOTIFY] += 3.0
        elif _NEWSLETTER_SENDER.search(local):
            scores[_NEWS] += 2.0
        elif _BILLING_SENDER.search(local):
            scores[_BILLING] += 1.5


def _add_attachments(scores: list[float], email: Email) -> None:
    calendar = billing = False
    for attachment in email.attachments[:50]:
        name = attachment.filename.lower()
        if name.endswith((".ics", ".vcs")) or attachment.content_type.lower() == "text/calendar":
            calendar = True
        elif _BILLING_FILE.search(name):
            billing = True
    if calendar:
        scores[_MEETING] += 4.0
    if billing:
        scores[_BILLING] += 2.0
