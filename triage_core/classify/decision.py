"""How a score distribution becomes a category: one rule for every backend.

Spam wins only with a majority (p(spam) >= 0.5); otherwise the best of the other labels.
Calling legitimate mail spam hides it from a person, which costs more than letting a spam
through, so a spam score that merely beats a split field of business categories is not
enough. The embedded model and a model served over TF Serving (which returns the same
distribution) therefore always agree.
"""

from __future__ import annotations

from collections.abc import Mapping

SPAM = "spam"
SPAM_MAJORITY = 0.5


def decide(scores: Mapping[str, float]) -> tuple[str, float]:
    """(category, confidence). Ties go to the first label in `scores` order, so answers are
    stable. An empty distribution gives ("", 0.0)."""
    spam = scores.get(SPAM)
    if spam is not None and spam >= SPAM_MAJORITY:
        return SPAM, spam
    best_label, best = "", -1.0
    for label, p in scores.items():
        if label != SPAM and p > best:
            best_label, best = label, p
    if not best_label and spam is not None:
        return SPAM, spam
    return best_label, max(best, 0.0)
