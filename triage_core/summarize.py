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
on a word boundary with "…". An empty body falls back to the subject, without its "Re:"
prefixes.
"""

from __future__ import annotations

import re

from triage_core.config import SummaryConfig
from triage_core.errors import ConfigError
from triage_core.message import Email
from triage_core.text.asks import ask_flags
from triage_core.text.clip import clip
from triage_core.text.dates import deadlines
from triage_core.text.own import own_text
from triage_core.text.sentences import JoinedSentences, joined, sentences

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

_GREETING = re.compile(
    r"(?:hi|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening|day)"
    r"|morning|afternoon|all|team|folks|everyone)\b[^.!?]{0,40}[,!:.]?",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"(?:thanks?(?:\s+(?:you|so\s+much|a\s+lot|again|in\s+advance))?|thx|cheers|best"
    r"|(?:best|kind|warm|many)\s+(?:regards|wishes|thanks)|regards|sincerely"
    r"|yours(?:\s+(?:truly|sincerely))?|all\s+the\s+best|talk\s+soon|take\s+care"
    r"|sent\s+from\s+my\s+\w+(?:\s+\w+)?|--|—)"
    r"(?:\s+\w+){0,3}[,.!]*",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]{4,}")
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
        scores = _scores(text, parts, candidates, email)
        ranked = sorted(range(len(candidates)), key=lambda rank: (-scores[rank], rank))
        chosen = sorted(ranked[: self.config.max_sentences])
        summary = " ".join(parts[candidates[rank]] for rank in chosen)
        return clip(summary, self.config.max_chars)


def _candidates(parts: tuple[str, ...]) -> list[int]:
    """Indexes (into `parts`) of the sentences that may be picked."""
    out: list[int] = []
    for index, sentence in enumerate(parts):
        if len(sentence) <= FORMULA_MAX_CHARS:
            if _SIGN_OFF.fullmatch(sentence):
                break  # what follows a sign-off is the name, a title, a phone number
            if _GREETING.fullmatch(sentence):
                continue
        out.append(index)
        if len(out) >= MAX_CANDIDATES:
            break
    return out


def _scores(text: str, parts: tuple[str, ...], candidates: list[int], email: Email) -> list[int]:
    """Score of each candidate (by rank). Subject words and deadline phrases are found with
    `str.find` over the candidates' part of the joined sentences, not a test per sentence:
    per-call overhead, not characters, is what costs here."""
    last = candidates[-1]
    flags = ask_flags(text)
    view = joined(text)
    end = view.starts[last + 1] if last + 1 < len(view.starts) else len(view.lowered)
    subject_hits = [0] * (last + 1)
    for word in _content_words(email.subject):
        for index in _holding(view, word, end):
            subject_hits[index] += 1
    dated = [False] * (last + 1)
    # Cached: the priority agent read them from the same text.
    for deadline in deadlines(own_text(email), reference=email.date):
        for index in _holding(view, deadline.phrase.lower(), end):
            dated[index] = True
    scores = []
    for rank, index in enumerate(candidates):
        words = parts[index].count(" ") + 1
        scores.append(
            (POSITION_SCORES[rank] if rank < len(POSITION_SCORES) else 0)
            + (ASK_BONUS if flags[index] else 0)
            + (DEADLINE_BONUS if dated[index] else 0)
            + min(SUBJECT_BONUS_MAX, subject_hits[index] * SUBJECT_WORD_BONUS)
            + (SHORT_PENALTY if words < SHORT_WORDS else LONG_PENALTY if words > LONG_WORDS else 0)
        )
    return scores


def _holding(view: JoinedSentences, needle: str, end: int) -> list[int]:
    """Indexes of the sentences (before offset `end`) that contain `needle`, each once."""
    found: list[int] = []
    if not needle:
        return found
    pos = view.lowered.find(needle, 0, end)
    while pos >= 0:
        index = view.index_of(pos)
        if not found or found[-1] != index:
            found.append(index)
        pos = view.lowered.find(needle, pos + len(needle), end)
    return found


def _content_words(subject: str) -> tuple[str, ...]:
    words = _WORD.findall(_SUBJECT_PREFIX.sub("", subject).lower())
    return tuple(dict.fromkeys(w for w in words if w not in _STOPWORDS))
