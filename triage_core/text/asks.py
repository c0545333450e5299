"""What the sender asks for: the sentences a reply has to answer.

A sentence asks when it is a question or holds a request cue ("could you", "please",
"I need", "let me know"). Boilerplate that looks like a request but is not one is
excluded ("please find attached", "please do not reply", "let me know if you have any
questions" closes nearly every mail). Asks are cleaned for display: greeting stripped,
length capped on a word boundary.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from triage_core.text.clip import clip
from triage_core.text.matching import PhraseMatcher
from triage_core.text.sentences import JoinedSentences, joined, sentences

MAX_ASKS = 5
MAX_ASK_CHARS = 160
# Beyond this a "sentence" is a run-on paragraph (HTML residue, a pasted log): not an ask.
MAX_SENTENCE_CHARS = 400


def _cue_phrases() -> list[str]:
    modal = ("could", "can", "would", "will", "won't", "can't", "couldn't", "cant")
    who = ("you", "u", "we", "someone", "anyone")
    adverb = ("", "also ", "really ", "still ", "just ", "urgently ")
    wants = ("need", "want", "would like", "would appreciate")
    phrases = [f"{m} {w}" for m in modal for w in who]
    phrases += [f"{p} {a}{v}" for p in ("i", "we") for a in adverb for v in wants]
    phrases += [
        f"{p}'d {a}{v}" for p in ("i", "we") for a in ("", "also ") for v in ("like", "appreciate")
    ]
    phrases += [
        "please",
        "pls",
        "plz",
        "kindly",
        "need you to",
        "are you able",
        "is it possible",
        "would it be possible",
        "let me know",
        "let us know",
        "get back to me",
        "do you know",
        "do you have",
        "do you mind",
        "any chance",
        "send me",
        "can i",
        "may i",
    ]
    return phrases


# Request-shaped boilerplate: a sentence holding one of these is not an ask.
_DENY_PHRASES = (
    *(
        f"please {v}"
        for v in (
            "find",
            "see",
            "note",
            "be advised",
            "do not reply",
            "don't reply",
            "ignore",
            "disregard",
            "read our privacy",
            "read the privacy",
            "visit",
            "click",
            "unsubscribe",
            "forward this",
        )
    ),
    "don't hesitate",
    "do not hesitate",
    "feel free",
    "let me know if you have any",
    "let us know if you have any",
    "let me know if you need anything",
    "let us know if you need anything",
    "unsubscribe",
    "click here",
)
# One matcher for both: its longest-first rule makes "let me know if you have any" win
# over "let me know" at the same place.
_MATCHER = PhraseMatcher({"cue": _cue_phrases(), "deny": _DENY_PHRASES})
_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening)|greetings)\b[^,!:]{0,40}[,!:]\s*",
    re.IGNORECASE,
)


def find_asks(text: str) -> list[str]:
    """The asking sentences of `text`, in order, cleaned, at most `MAX_ASKS`."""
    return list(asks(text))


@lru_cache(maxsize=64)
def asks(text: str) -> tuple[str, ...]:
    """`find_asks` as a cached tuple, for stages that read the same text."""
    out: list[str] = []
    for sentence, asking in zip(sentences(text), ask_flags(text), strict=True):
        if asking:
            cleaned = clean_ask(sentence)
            if cleaned and cleaned not in out:
                out.append(cleaned)
                if len(out) >= MAX_ASKS:
                    break
    return tuple(out)


@lru_cache(maxsize=64)
def ask_flags(text: str) -> tuple[bool, ...]:
    """For each of `sentences(text)`, whether it asks (the summarizer scores by it too).

    Same rule as `is_ask`, computed with one scan over all sentences."""
    parts = sentences(text)
    if not parts:
        return ()
    return ask_flags_in(joined(text), parts)


def ask_flags_in(view: JoinedSentences, parts: Sequence[str]) -> tuple[bool, ...]:
    """`ask_flags` for the sentences that `view` joins (`parts`, the same sentences).

    The summarizer passes the view of its first few sentences only: a phrase never spans
    two sentences of a view (NUL ends each one), so their flags do not depend on the rest."""
    matches = _MATCHER.find(view.lowered, negation=False)
    if not matches:  # the common case: only questions ask
        return tuple([s[-1:] == "?" and len(s) <= MAX_SENTENCE_CHARS for s in parts])
    cued: set[int] = set()
    denied: set[int] = set()
    for m in matches:
        (cued if m.key == "cue" else denied).add(view.index_of(m.start))
    return tuple(
        [
            (i in cued or s[-1:] == "?") and i not in denied and len(s) <= MAX_SENTENCE_CHARS
            for i, s in enumerate(parts)
        ]
    )


def is_ask(sentence: str) -> bool:
    if not sentence or len(sentence) > MAX_SENTENCE_CHARS:
        return False
    keys = {m.key for m in _MATCHER.find(sentence, negation=False)}
    return "deny" not in keys and ("cue" in keys or sentence[-1] == "?")


def clean_ask(sentence: str) -> str:
    text = _GREETING.sub("", sentence, count=1)
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    return clip(text, MAX_ASK_CHARS)
