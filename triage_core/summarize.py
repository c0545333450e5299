"""Extractive summary of what the sender wrote: a few of their own sentences, unedited.

Extractive on purpose: a summary made of the sender's sentences cannot invent a fact, costs
microseconds, and needs no model. Only `email.newest` is read (no quoted history, no
signature: the parser split them off). Greetings ("Hi Bob,") and sign-offs ("Thanks,",
"Best regards") are never picked, and neither is anything after a sign-off (the name).

Candidates are the first `MAX_CANDIDATES` sentences of the sender's own text (text/own.py:
its opening, and its closing lines when long) that are not greetings or sign-offs. Score of
a candidate (higher is better; ties keep the earlier sentence):

    position          3 for the first candidate, 2 for the second, 1 for the third
    asks something    +2  (text/asks.py)
    names a deadline  +2  (text/dates.py)
    subject overlap   +1 per content word of the subject (4+ letters) it contains, at most +3
                      (a substring test: "port" would count in "report"; rare enough)
    length            -2 under 4 words, -1 over 40 words

The top `max_sentences` are kept in their original order, joined, and cut to `max_chars`
on a word boundary with "…" (with no more candidates than that, all are kept and none is
scored). An empty body falls back to the subject, without its "Re:" prefixes.
"""

from __future__ import annotations

import re

from triage_core.config import SummaryConfig
from triage_core.errors import ConfigError
from triage_core.message import Email
from triage_core.text.asks import ask_flags, ask_flags_in
from triage_core.text.clip import clip
from triage_core.text.dates import deadlines
from triage_core.text.own import own_text
from triage_core.text.sentences import JoinedSentences, joined_leading, sentences

# Only the opening sentences compete: the gist of an email is at its top, and this bounds
# the work on long mail.
MAX_CANDIDATES = 6
# Greetings and sign-offs are short: longer sentences skip those two regex tests.
FORMULA_MAX_CHARS = 80
POSITION_SCORES = (3, 2, 1)
ASK_BONUS = 2
DEADLINE_BONUS = 2
SUBJECT_WORD_BONUS = 1
SUBJECT_BONUS_MAX = 3
SHORT_WORDS, SHORT_PENALTY = 4, -2
LONG_WORDS, LONG_PENALTY = 40, -1

_GREETING = (
    r"(?:hi|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening|day)"
    r"|morning|afternoon|all|team|folks|everyone)\b[^.!?]{0,40}[,!:.]?"
)
_SIGN_OFF = (
    r"(?:thanks?(?:\s+(?:you|so\s+much|a\s+lot|again|in\s+advance))?|thx|cheers|best"
    r"|(?:best|kind|warm|many)\s+(?:regards|wishes|thanks)|regards|sincerely"
    r"|yours(?:\s+(?:truly|sincerely))?|all\s+the\s+best|talk\s+soon|take\s+care"
    r"|sent\s+from\s+my\s+\w+(?:\s+\w+)?|--|—)"
    r"(?:\s+\w+){0,3}[,.!]*"
)
# Both tests in one call: a sentence that is a sign-off is never read as a greeting, and
# `fullmatch` tries the first alternative in full before the second.
_FORMULA = re.compile(rf"(?P<sign_off>{_SIGN_OFF})|{_GREETING}", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]{4,}")
# The same words in ASCII text (lower-cased: no capitals), found without Unicode lookups.
_ASCII_WORD = re.compile(r"[a-z]{4,}")
# Reply prefixes say nothing about the content; "Fwd:" does (it is a forward), so it stays.
_SUBJECT_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|antw)\s*(?:\[\d+\])?\s*:)+", re.IGNORECASE)
_STOPWORDS = frozenset(
    (
        "your",
        "were",
        "with",
        "this",
        "that",
        "from",
        "have",
        "about",
        "what",
        "when",
        "where",
        "which",
        "their",
        "there",
        "them",
        "they",
        "then",
        "than",
        "been",
        "being",
        "also",
        "just",
        "more",
        "some",
        "such",
        "only",
        "other",
        "over",
        "very",
        "please",
        "thanks",
        "hello",
        "dear",
        "would",
        "could",
        "should",
        "into",
    )
)


class Summarizer:
    def __init__(self, config: SummaryConfig) -> None:
        if config.max_sentences < 1 or config.max_chars < 1:
            raise ConfigError(
                "summary.max_sentences and summary.max_chars must be at least 1, got "
                f"{config.max_sentences} and {config.max_chars}"
            )
        self.config = config

    def __call__(self, email: Email) -> str:
        text = own_text(email)
        parts = sentences(text)
        candidates = _candidates(parts)
        if not candidates:
            subject = " ".join(_SUBJECT_PREFIX.sub("", email.subject).split())
            return clip(subject, self.config.max_chars)
        if len(candidates) <= self.config.max_sentences and "" not in parts:
            # Every candidate is kept: the scores could not change the summary. Deadlines
            # are still read (cached: the priority agent asked first) so that a Date they
            # cannot handle fails the summary exactly as the scoring would.
            deadlines(text, reference=email.date)
            return clip(" ".join([parts[index] for index in candidates]), self.config.max_chars)
        scores = _scores(text, parts, candidates, email)
        # `reverse` keeps equal scores in their original order: ties keep the earlier one.
        ranked = sorted(range(len(candidates)), key=scores.__getitem__, reverse=True)
        chosen = sorted(ranked[: self.config.max_sentences])
        summary = " ".join([parts[candidates[rank]] for rank in chosen])
        return clip(summary, self.config.max_chars)


def _candidates(parts: tuple[str, ...]) -> list[int]:
    """Indexes (into `parts`) of the sentences that may be picked."""
    out: list[int] = []
    for index, sentence in enumerate(parts):
        if len(sentence) <= FORMULA_MAX_CHARS:
            formula = _FORMULA.fullmatch(sentence)
            if formula is not None:
                if formula.lastgroup == "sign_off":
                    break  # what follows a sign-off is the name, a title, a phone number
                continue  # a greeting
        out.append(index)
        if len(out) >= MAX_CANDIDATES:
            break
    return out


def _scores(text: str, parts: tuple[str, ...], candidates: list[int], email: Email) -> list[int]:
    """Score of each candidate (by rank). Only the sentences up to the last candidate are
    read: asks are flagged, and subject words and deadline phrases found with `str.find`,
    over the joined view of those sentences, not with a test per sentence: per-call
    overhead, not characters, is what costs here."""
    count = candidates[-1] + 1
    view = joined_leading(text, count)
    if count >= len(parts) or "" in parts:
        # The flags of every sentence: cached for the responder. (An empty sentence, left
        # by a bullet mark followed only by exotic whitespace, makes `ask_flags` raise:
        # the summary fails as it did before.)
        flags = ask_flags(text)
    else:
        flags = ask_flags_in(view, parts[:count])
    subject_hits = [0] * count
    for word in _content_words(email.subject):
        _count_holding(view, word, subject_hits)
    dated = [0] * count
    # Cached: the priority agent read them from the same text.
    for deadline in deadlines(text, reference=email.date):
        _count_holding(view, deadline.phrase.lower(), dated)
    scores = []
    for rank, index in enumerate(candidates):
        score = POSITION_SCORES[rank] if rank < len(POSITION_SCORES) else 0
        if flags[index]:
            score += ASK_BONUS
        if dated[index]:
            score += DEADLINE_BONUS
        if subject_hits[index]:
            score += min(SUBJECT_BONUS_MAX, subject_hits[index] * SUBJECT_WORD_BONUS)
        words = parts[index].count(" ") + 1
        if words < SHORT_WORDS:
            score += SHORT_PENALTY
        elif words > LONG_WORDS:
            score += LONG_PENALTY
        scores.append(score)
    return scores


def _count_holding(view: JoinedSentences, needle: str, counts: list[int]) -> None:
    """Adds one to `counts[i]` for each sentence i of `view` that contains `needle`."""
    if not needle:
        return
    lowered = view.lowered
    pos = lowered.find(needle)
    while pos >= 0:
        index = view.index_of(pos)
        counts[index] += 1
        # On to the next sentence: a needle never holds the NUL that ends each sentence.
        if index + 1 >= len(view.starts):
            return
        pos = lowered.find(needle, view.starts[index + 1])


def _content_words(subject: str) -> list[str]:
    prefix = _SUBJECT_PREFIX.match(subject)  # anchored: `match` and `sub` remove the same
    if prefix is not None:
        subject = subject[prefix.end() :]
    lowered = subject.lower()
    words = (_ASCII_WORD if lowered.isascii() else _WORD).findall(lowered)
    return [w for w in dict.fromkeys(words) if w not in _STOPWORDS]
