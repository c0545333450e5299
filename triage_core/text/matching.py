"""Whole-word phrase matching with negation, shared by every stage that reads intent.

Urgency, asks and the rules classifier all need the same two things: find listed phrases on
word boundaries ("insurgent" holds no "urgent"), and know when the writer denied them
("this is not urgent", "no rush"). Doing it once here keeps their answers consistent.

Speed: one regex per matcher. The phrases form a single alternation, longest first so
"as soon as possible" wins over "as soon"; it is compiled factored by common prefix (a
trie), because Python's regex engine tries alternatives one after another and a flat list
of 50 phrases would be tried at every candidate position. Matching runs on a lower-cased
copy without IGNORECASE and the regex starts with a literal space (see `spaced`): measured
on the SpamAssassin corpus that is ~2x faster than a word boundary or a look-behind. The
negation check reads the words before a match backwards with one more regex: ~1 us a
match, where tokenizing the 80-character window cost ~5 us, more than the scan itself.
With the ~400 phrases of the rules classifier, `find` takes ~25 us per email (subject +
first 1,500 characters of the newest text) over the SpamAssassin corpus.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from triage_core.text.scan import lower_same_length, spaced

# Words that deny what follows them within the same clause. "no need to" is covered by "no".
_NEGATORS = frozenset(
    {
        "not",
        "no",
        "never",
        "without",
        "nothing",
        "hardly",
        # "cannot" is one word; "can not" is covered by "not".
        "cannot",
        # Contractions written without the apostrophe, common in quick mail.
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "wasnt",
        "arent",
        "werent",
        "havent",
        "hasnt",
        "hadnt",
        "wouldnt",
        "shouldnt",
        "couldnt",
    }
)
NEGATION_WINDOW_WORDS = 3
# How far back (chars) the negation check looks: three words and their spaces fit easily,
# and the bound keeps the look-back constant on a 100 kB body.
_LOOKBACK_CHARS = 80
_CLAUSE_END = re.compile(r"[.!?;,]|\bbut\b")
_WORD = re.compile(r"[\w'’]+")
_NON_WORD = re.compile(r"[^\w'’]")
_APOSTROPHES = "'’"


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    key: str
    phrase: str  # the listed phrase (lower case), not the text as written
    start: int
    end: int
    negated: bool


# The words before a phrase, read backwards ("is not urgent" -> "tnegru ton si"): `match`
# at 0 finds a negator among the first three words, skipping neither a clause mark (not in
# `_SEP`) nor "but", in a few steps instead of tokenizing the whole window. Possessive
# quantifiers over disjoint classes: no backtracking inside a word or a gap.
_SEP = r"[^\w'’.!?;,]"
_NEGATED_BACK = re.compile(
    rf"{_SEP}*+(?:(?!tub(?![\w'’]))[\w'’]++{_SEP}++){{0,{NEGATION_WINDOW_WORDS - 1}}}"
    rf"(?:(?:{'|'.join(sorted(w[::-1] for w in _NEGATORS))})(?![\w'’])|t['’]n[\w'’]*+)"
)
# "but" as a clause end inside a run of word characters and apostrophes ("but's").
_BUT_IN_WORD = re.compile(r"['’]but\b|\bbut['’]")


def is_negated(text: str, start: int) -> bool:
    """True when a negator occurs within the three words before `start`, in the same clause
    (a clause ends at . ! ? ; , or "but").

    Reads backwards from `start` (the negation check used to cost more than the phrase
    scan); `_is_negated_in_window` decides the rare cases that need the whole window: a
    word cut by its start, or "but" inside a word with apostrophes."""
    lo = start - _LOOKBACK_CHARS if start > _LOOKBACK_CHARS else 0
    window = text[lo:start].lower()
    if "but" in window and _BUT_IN_WORD.search(window):
        return _is_negated_in_window(window, cut=bool(lo))
    negator = _NEGATED_BACK.match(window[::-1])
    if negator is None:
        return False
    if lo and negator.end() == len(window):
        return _is_negated_in_window(window, cut=True)  # the negator may be a cut word
    return True


def _is_negated_in_window(window: str, *, cut: bool) -> bool:
    """`is_negated` on the lower-cased window, reading all of it; `cut` when the window
    does not begin at the start of the text."""
    last_end = 0
    for m in _CLAUSE_END.finditer(window):
        last_end = m.end()
    if cut and not last_end:
        # The window may begin in the middle of a word: "cannot" must not read as "not".
        gap = _NON_WORD.search(window)
        last_end = gap.end() if gap else len(window)
    words = _WORD.findall(window, last_end)
    return any(_is_negator(w) for w in words[-NEGATION_WINDOW_WORDS:])


def _is_negator(word: str) -> bool:
    return word in _NEGATORS or word.endswith(("n't", "n’t"))


def _escape_char(ch: str) -> str:
    if ch == " ":
        return r"\s+"  # "as soon  as\npossible" in hard-wrapped mail
    if ch in _APOSTROPHES:
        return "['’]"
    return re.escape(ch)


_Trie = dict[str, "_Trie"]


def _trie_regex(phrases: Iterable[str]) -> str:
    """The alternation of `phrases`, longest first, factored by common prefixes.

    At a trie node the branches start with different characters, so at most one can match
    there and their order does not matter; "the phrase may end here" is the last, optional
    choice, so a longer phrase is always tried before its prefix (leftmost-longest)."""
    root: _Trie = {}
    for phrase in sorted(phrases, key=lambda p: (-len(p), p)):
        node = root
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: _Trie) -> str:
        ends_here = "" in node
        branches = [_escape_char(ch) + render(child) for ch, child in node.items() if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends_here:
            if len(branches) == 1 and not body.startswith("(?:"):
                body = "(?:" + body + ")"
            return body + "?"
        return body

    return render(root)


def _normalise_phrase(phrase: str) -> str:
    return " ".join(phrase.lower().split())


class PhraseMatcher:
    """Finds listed phrases in text and says whether each was negated.

    `phrases` maps a key (e.g. a category or an urgency signal) to its phrases; a phrase
    listed under several keys yields one match per key."""

    __slots__ = ("_keys_of", "_pattern", "_phrase_of")

    def __init__(self, phrases: Mapping[str, Iterable[str]]) -> None:
        keys_of: dict[str, list[str]] = {}
        for key, items in phrases.items():
            for raw in items:
                phrase = _normalise_phrase(raw)
                if not phrase:
                    raise ValueError(f"empty phrase under key {key!r}")
                owners = keys_of.setdefault(phrase, [])
                if key not in owners:
                    owners.append(key)
        self._keys_of = {p: tuple(k) for p, k in keys_of.items()}
        # Text as matched -> listed phrase. The usual case, " " + the phrase as listed (the
        # regex match begins with its boundary space), is one lookup; "as soon  as possible"
        # and "don’t" fold back through the normalised form (never begins with a space).
        phrase_of = {p.replace("’", "'"): p for p in keys_of}
        phrase_of.update((" " + p, p) for p in keys_of)
        self._phrase_of = phrase_of
        # The leading space is the start boundary (see `spaced`); the end boundary is a
        # look-ahead inside the regex, so "eod todays" can still fall back to "eod".
        self._pattern: re.Pattern[str] | None = (
            re.compile(f" (?:{_trie_regex(keys_of)})(?!\\w)") if keys_of else None
        )

    def find(self, text: str, *, negation: bool = True) -> list[PhraseMatch]:
        """Every match, in text order, never overlapping (the longest phrase wins).

        `negation=False` skips the negation check (every match has `negated=False`) for
        callers that do not use it."""
        if self._pattern is None or not text:
            return []
        lowered = lower_same_length(text)
        phrase_of, keys_of = self._phrase_of, self._keys_of
        out: list[PhraseMatch] = []
        for m in self._pattern.finditer(spaced(lowered)):
            # In `spaced` coordinates the match starts one char early (its boundary space)
            # and everything is shifted one char right: the two cancel out for `start`.
            start, end = m.span()
            matched = m.group()
            phrase = phrase_of.get(matched)
            if phrase is None:
                # From the match itself: `spaced` may have turned a "/" inside it into a
                # space.
                phrase = phrase_of[" ".join(matched.split()).replace("’", "'")]
            negated = negation and is_negated(lowered, start)
            for key in keys_of[phrase]:
                out.append(PhraseMatch(key, phrase, start, end - 1, negated))
        return out

    def keys(self, text: str, *, include_negated: bool = False) -> set[str]:
        return {m.key for m in self.find(text) if include_negated or not m.negated}
