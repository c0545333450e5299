"""Sentence splitting tuned for email, not prose.

Email text is hard-wrapped at ~72 columns, so a newline alone is not a sentence end; but
short lines ("Hi Bob,", "Thanks,"), blank lines and bullets are, because that is how people
structure mail. Inside a line the usual rules apply, minus the classic false ends:
abbreviations ("e.g.", "Mr."), initials ("J. Smith"), decimals and versions ("3.5", "v2.1"),
which have no space after the dot, and a dot followed by a lower-case word.

The summarizer, the asks finder and the responder all split the same `email.newest`; a
small cache (strings cache their own hash, so a hit costs a dict lookup) means the work is
done once per email.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from triage_core.text.scan import lower_same_length

# A line at least this long that ends without punctuation was wrapped by the mail client:
# the next line continues the same sentence.
WRAP_MIN_CHARS = 40
# Bounds the work on a hostile 100 kB single-paragraph body.
MAX_SENTENCES = 400

# Words whose trailing dot is not a sentence end; kept in `_SPLIT` as look-behinds.
ABBREVIATIONS = (
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "eg",
    "ie",
    "cf",
    "approx",
    "fig",
    "vol",
    "ref",
    "dept",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
)


def _abbreviation_lookbehinds() -> str:
    # A look-behind must have a fixed width: one per word length.
    by_len: dict[int, list[str]] = {}
    for word in ABBREVIATIONS:
        by_len.setdefault(len(word), []).append(re.escape(word))
    return "".join(rf"(?<!\b(?:{'|'.join(words)})\. )" for _, words in sorted(by_len.items()))


_BULLET = re.compile(r"(?:[-*•·‣◦–+]|\d{1,3}[.)]|[a-zA-Z][)])\s+")
_ODD_SPACES = ("\t", "\xa0", "\f", "\v", "\u2009", "\u202f")
_SPACE_RUN = re.compile("  +")
_BULLET_LINE = re.compile(r"\n(?:[-*•·‣◦–+]|\d{1,3}[.)]|[a-zA-Z][)])\s")
_BULLET_MARKS = frozenset("-*•·‣◦–+")
_BULLET_AFTER = frozenset(".)")
# `_bullet`'s cheap test (a mark first, or "." / ")" second or third) on every line but the
# first of a paragraph at once: most paragraphs of short lines have no bullet at all.
_MAYBE_BULLET_LINE = re.compile("\n(?:[-*•·‣◦–+]|[^\n]{1,2}[.)])")
# The space that ends a sentence inside a block (blocks have single spaces): after
# terminal punctuation (and closing quotes/brackets), not after an abbreviation or an
# initial ("J. Smith"), and not before a lower-case word ("approx. ten"). It begins with a
# literal space, so `re.split` finds candidates at memchr speed, and all blocks are split
# in one C call, joined by " \n " (no block holds a newline). The first look-behind only
# filters: one class test rejects the spaces after a word (nearly all of them) before the
# exact alternatives are tried.
_SPLIT = re.compile(
    r" (?:\n |(?<=[.!?…\"'”’)\]] )"
    r"(?:(?<=[.!?…] )|(?<=[.!?…][\"'”’)\]] ))"
    r"(?<!\b[A-Z]\. )"
    rf"(?i:{_abbreviation_lookbehinds()})"
    r"(?![a-z]))"
)
_TERMINAL = frozenset(".!?:;…")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, whitespace collapsed, bullet markers removed, empties dropped."""
    return list(sentences(text))


@lru_cache(maxsize=64)
def sentences(text: str) -> tuple[str, ...]:
    """`split_sentences` as a cached tuple, for stages that read the same text."""
    blocks = _blocks(text)
    if not blocks:
        return ()
    # One split for all blocks: " \n " between two blocks is a split point of its own, and
    # no look-around of `_SPLIT` reads past it differently from a block's start or end.
    # Every block gives at least one sentence: the first MAX_SENTENCES blocks are enough.
    out = _SPLIT.split(" \n ".join(blocks[:MAX_SENTENCES]))
    if len(out) > MAX_SENTENCES:
        del out[MAX_SENTENCES:]
    return tuple(out)


@dataclass(frozen=True, slots=True)
class JoinedSentences:
    """Every sentence of a text, lower-cased, in one string: " s0\\0 s1\\0 ...".

    Scanning all sentences is then one regex call instead of one per sentence (the call
    overhead dominated), and `index_of` maps a hit back to its sentence. Each sentence is
    preceded by a space (the word boundary the scan patterns start with) and followed by
    NUL, which no pattern's `\\s` or `\\w` crosses."""

    lowered: str
    starts: tuple[int, ...]  # offset of the space before each sentence

    def index_of(self, pos: int) -> int:
        return bisect_right(self.starts, pos) - 1


@lru_cache(maxsize=64)
def joined(text: str) -> JoinedSentences:
    parts = sentences(text)
    lowered = lower_same_length(" " + "\0 ".join(parts) + "\0") if parts else ""
    starts = tuple(accumulate((len(p) + 2 for p in parts[:-1]), initial=0)) if parts else ()
    return JoinedSentences(lowered, starts)


def joined_leading(text: str, count: int) -> JoinedSentences:
    """The view of the first `count` sentences only, equal to the start of `joined(text)`.

    The summarizer reads its first few sentences, not the rest. Lower-casing the part alone
    gives the same characters when the text is ASCII; otherwise `lower_same_length` may
    have lower-cased the whole view char by char (a letter that lengthens, "İ", anywhere),
    so the full view is sliced instead."""
    parts = sentences(text)
    if count >= len(parts) or not text.isascii():
        view = joined(text)
        if count >= len(parts):
            return view
        return JoinedSentences(view.lowered[: view.starts[count]], view.starts[:count])
    lead = parts[:count]
    lowered = (" " + "\0 ".join(lead) + "\0").lower() if lead else ""
    starts = tuple(accumulate([len(p) + 2 for p in lead[:-1]], initial=0)) if lead else ()
    return JoinedSentences(lowered, starts)


def _blocks(text: str) -> list[str]:
    """Paragraphs, with wrapped lines joined; a short line or a bullet inside a paragraph
    ends a block.

    Three shapes cover nearly all mail and are handled with C-speed string methods:
    wrapped prose (every line but the last is long), line-per-item text (every line is
    short: signatures, lists), and one-line paragraphs. Only paragraphs mixing long and
    short lines take the line-by-line loop.
    """
    blocks: list[str] = []
    for para in _normalise(text).split("\n\n"):
        para = para.strip("\n")
        if not para:
            continue
        if "\n" not in para:
            # `_unbullet`, inlined: one-line paragraphs are the most common shape.
            if para[0] in _BULLET_MARKS or para[1:2] in _BULLET_AFTER or para[2:3] in _BULLET_AFTER:
                para = _unbullet(para)
            blocks.append(para)
            continue
        lines = para.split("\n")
        inner = list(map(len, lines[:-1]))
        if min(inner) >= WRAP_MIN_CHARS:
            if _BULLET_LINE.search(para) is None:
                blocks.append(_unbullet(para.replace("\n", " ")))
            else:
                _line_blocks(lines, blocks)
        elif max(inner) < WRAP_MIN_CHARS:
            first = lines[0]
            if (
                first[0] in _BULLET_MARKS
                or first[1:2] in _BULLET_AFTER
                or first[2:3] in _BULLET_AFTER
                or _MAYBE_BULLET_LINE.search(para) is not None
            ):
                blocks.extend(map(_unbullet, lines))
            else:
                blocks.extend(lines)
        else:
            _line_blocks(lines, blocks)
        if len(blocks) >= MAX_SENTENCES:
            break
    return blocks


def _normalise(text: str) -> str:
    """Single spaces, no space at line ends, "\n" line breaks: with C-speed replaces, which
    are several times cheaper here than a regex substitution or a per-line strip. Runs of
    spaces are the exception: one substitution beats replacing "  " until none is left,
    which takes several passes over indented text."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for odd in _ODD_SPACES:
        if odd in text:
            text = text.replace(odd, " ")
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    if " \n" in text:
        text = text.replace(" \n", "\n")
    if "\n " in text:
        text = text.replace("\n ", "\n")
    return text.strip()


def _line_blocks(lines: list[str], blocks: list[str]) -> None:
    current: list[str] = []
    prev_wrapped = False
    for line in lines:
        # `_bullet`, inlined: this loop runs for every line of a mixed paragraph.
        if line[0] in _BULLET_MARKS or line[1:2] in _BULLET_AFTER or line[2:3] in _BULLET_AFTER:
            bullet = _BULLET.match(line)
        else:
            bullet = None
        if bullet is not None:
            line = line[bullet.end() :]
        if current and (bullet is not None or not prev_wrapped):
            blocks.append(" ".join(current))
            current = []
        current.append(line)
        prev_wrapped = len(line) >= WRAP_MIN_CHARS and line[-1] not in _TERMINAL
    if current:
        blocks.append(" ".join(current))


def _unbullet(line: str) -> str:
    bullet = _bullet(line)
    return line[bullet.end() :] if bullet is not None else line


def _bullet(line: str) -> re.Match[str] | None:
    # Cheap character tests first: the regex runs on few lines.
    if line[0] in _BULLET_MARKS or line[1:2] in _BULLET_AFTER or line[2:3] in _BULLET_AFTER:
        return _BULLET.match(line)
    return None
